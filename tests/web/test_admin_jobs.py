"""Admins see the job runner (GET /api/admin/jobs, /metrics), retry and cancel jobs;
nobody else does, and bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.clock import FakeClock
from core.jobs import JobContext, JobRunner
from tests.world import World, bearer, sign_in_staff
from web.state import JOBS

SECRET_ID = "A1234BC-appointment-7"


async def admin_headers(client: Any, world: World) -> dict[str, str]:
    """Once per test: a TOTP code is good for one sign-in."""
    return bearer(await sign_in_staff(client, world.staff["admin"]))


def flaky_kind(runner: JobRunner) -> list[bool]:
    """A kind that fails (once allowed) until told otherwise."""
    failing = [True]

    async def post(ctx: JobContext) -> None:
        if failing[0]:
            raise ConnectionResetError(f"community endpoint refused {ctx.payload['who']}")

    runner.register("test.post", post, max_attempts=1)
    return failing


async def test_admin_sees_counts_kinds_and_a_failed_job_but_never_its_payload(
    client: Any, world: World
) -> None:
    runner = client.server.app[JOBS]
    flaky_kind(runner)
    failed = await runner.schedule(None, "test.post", {"who": SECRET_ID}, key=SECRET_ID)
    await runner.run_due()
    headers = await admin_headers(client, world)
    resp = await client.get("/api/admin/jobs", headers=headers)
    assert resp.status == 200
    text = await resp.text()
    assert SECRET_ID not in text
    body = await resp.json()
    assert body["counts"]["failed"] == 1
    kinds = {k["kind"]: k for k in body["kinds"]}
    assert kinds["scheduling.reminders"]["every_seconds"] == 60
    assert "scheduling.lockdown_end" in kinds
    [job] = [j for j in body["jobs"] if j["id"] == failed]
    assert (job["kind"], job["status"], job["attempts"], job["last_error"]) == (
        "test.post",
        "failed",
        1,
        "ConnectionResetError",
    )
    recurring = [j for j in body["jobs"] if j["recurring"]]
    assert {j["kind"] for j in recurring} == {
        "scheduling.reminders",
        "scheduling.close_windows",
        "jobs.prune",
        "media.recordings_retention",
        "media.recordings_verify",
        "media.recordings_scratch",
    }
    only_failed = await client.get("/api/admin/jobs?status=failed", headers=headers)
    assert [j["id"] for j in (await only_failed.json())["jobs"]] == [failed]


@pytest.mark.parametrize("who", ["clinician", "manager", "officer"])
async def test_only_admins_see_jobs(client: Any, world: World, who: str) -> None:
    headers = bearer(await sign_in_staff(client, world.staff[who]))
    assert (await client.get("/api/admin/jobs", headers=headers)).status == 403
    assert (await client.get("/api/admin/jobs")).status == 401


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("status=stuck", "status is one of pending, running, done, failed, cancelled."),
        ("limit=0", "limit is a whole number from 1 to 500."),
        ("limit=-1", "limit is a whole number from 1 to 500."),
        ("limit=9999", "limit is a whole number from 1 to 500."),
        ("kind=" + "k" * 65, "kind is at most 64 characters."),
    ],
)
async def test_a_bad_query_is_refused_clearly(
    client: Any, world: World, query: str, detail: str
) -> None:
    resp = await client.get(f"/api/admin/jobs?{query}", headers=await admin_headers(client, world))
    assert resp.status == 400
    assert (await resp.json())["detail"] == detail


async def test_admin_runs_a_failed_job_again_and_it_is_logged(client: Any, world: World) -> None:
    runner = client.server.app[JOBS]
    failing = flaky_kind(runner)
    job_id = await runner.schedule(None, "test.post", {"who": "x"})
    await runner.run_due()
    failing[0] = False
    headers = await admin_headers(client, world)
    resp = await client.post(f"/api/admin/jobs/{job_id}/retry", headers=headers)
    assert resp.status == 200
    assert ((await resp.json())["status"], (await resp.json())["attempts"]) == ("pending", 0)
    assert await runner.run_due() == 1
    job = await runner.status(job_id)
    assert job is not None and job.status.value == "done"
    again = await client.post(f"/api/admin/jobs/{job_id}/retry", headers=headers)
    assert again.status == 409
    assert (await again.json())["detail"] == "Only a failed or waiting job can be run now."
    log = await client.get("/api/audit/events?action=job_retried", headers=headers)
    [event] = (await log.json())["events"]
    assert event["subject"] == job_id


async def test_admin_cancels_a_waiting_job_once_but_never_a_recurring_one(
    client: Any, world: World, clock: FakeClock
) -> None:
    runner = client.server.app[JOBS]
    flaky_kind(runner)
    job_id = await runner.schedule(
        None, "test.post", {"who": "x"}, due_at=clock.now() + timedelta(hours=1)
    )
    headers = await admin_headers(client, world)
    resp = await client.post(f"/api/admin/jobs/{job_id}/cancel", headers=headers)
    assert resp.status == 200
    assert (await resp.json())["status"] == "cancelled"
    twice = await client.post(f"/api/admin/jobs/{job_id}/cancel", headers=headers)
    assert (twice.status, (await twice.json())["detail"]) == (409, "This job has already ended.")
    [reminders] = await runner.jobs(kind="scheduling.reminders")
    refused = await client.post(f"/api/admin/jobs/{reminders.id}/cancel", headers=headers)
    assert (refused.status, (await refused.json())["detail"]) == (
        409,
        "A recurring job cannot be cancelled.",
    )
    missing = await client.post("/api/admin/jobs/no-such-job/cancel", headers=headers)
    assert missing.status == 404
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    forbidden = await client.post(f"/api/admin/jobs/{reminders.id}/retry", headers=officer)
    assert forbidden.status == 403
    log = await client.get("/api/audit/events?action=job_cancelled", headers=headers)
    assert [e["subject"] for e in (await log.json())["events"]] == [job_id]
    clock.advance(hours=2)
    await runner.run_due()
    cancelled = await runner.status(job_id)
    assert cancelled is not None
    assert (cancelled.status.value, cancelled.attempts) == ("cancelled", 0), "it never ran"


async def test_metrics_show_the_backlog_and_this_nodes_runs(
    client: Any, world: World, clock: FakeClock
) -> None:
    runner = client.server.app[JOBS]
    flaky_kind(runner)
    await runner.schedule(None, "test.post", {"who": "x"})
    await runner.run_due()
    for _ in range(3):
        await runner.schedule(None, "test.post", {"who": "y"})
    clock.advance(seconds=45)
    text = await (await client.get("/metrics")).text()
    assert 'throughcare_jobs{status="failed"} 1.0' in text
    assert 'throughcare_jobs{status="pending"} 9.0' in text, "three new and six recurring"
    assert "throughcare_jobs_due 3.0" in text, "the recurring ones are due later"
    assert "throughcare_jobs_oldest_due_seconds 45.0" in text
    assert 'throughcare_job_runs_total{kind="test.post",outcome="failed"} 1.0' in text
    assert 'throughcare_job_runs_total{kind="scheduling.reminders",outcome="done"} 1.0' in text
