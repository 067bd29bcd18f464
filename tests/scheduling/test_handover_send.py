"""The hand-over reaches a real community endpoint: POSTed by a job with the Bundle's
identifier as idempotency key, retried with back-off when the receiver answers 500 (and
the manager sees that), logged when sent; the endpoint is an admin's setting (API, CLI)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select

from core.db.schema import jobs
from tests.scheduling.conftest import Sched, at
from tests.world import bearer, sign_in_staff
from web.state import JOBS


@dataclass
class Receiver:
    """A community provider's FHIR endpoint on loopback, answering from a script."""

    answers: list[int]
    seen: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append((request.headers.get("Idempotency-Key", ""), request.content_type, body))
        status = self.answers.pop(0) if self.answers else 200
        return web.json_response({"ok": status < 300}, status=status)


async def _receiver(aiohttp_server: Any, answers: list[int]) -> tuple[Receiver, str]:
    receiver = Receiver(answers)
    app = web.Application()
    app.router.add_post("/fhir/handover", receiver.handle)
    server = await aiohttp_server(app, host="127.0.0.1")
    return receiver, str(server.make_url("/fhir/handover"))


async def _release_with_sharing(client: Any, sched: Sched) -> dict[str, str]:
    await sched.book(at(4, 10))
    await sched.svc.record_consent(
        sched.patient,
        prisoner_id=sched.patient.account_id,
        scope_value="community_sharing",
        version=1,
        decision="given",
    )
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    resp = await client.post(f"/api/prisoners/{sched.patient.account_id}/release", headers=officer)
    assert resp.status == 200, await resp.text()
    return officer


async def test_the_hand_over_is_posted_once_accepted_and_logged(
    client: Any, sched: Sched, aiohttp_server: Any
) -> None:
    receiver, url = await _receiver(aiohttp_server, [201])
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    where = f"/api/establishments/{sched.world.est}/community-endpoint"
    resp = await client.put(where, json={"url": url}, headers=admin)
    assert resp.status == 200 and (await resp.json())["url"] == url
    await _release_with_sharing(client, sched)

    await sched.app[JOBS].run_due()

    [(key, content_type, bundle)] = receiver.seen
    assert content_type == "application/fhir+json"
    assert bundle["resourceType"] == "Bundle" and key == bundle["identifier"]["value"]
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["id"], listed["status"], listed["attempts"]) == (key, "sent", 1)
    # Nothing is left to retry: a second run sends nothing more.
    await sched.app[JOBS].run_due()
    assert len(receiver.seen) == 1
    events = await (
        await client.get("/api/audit/events", params={"action": "handover_sent"}, headers=manager)
    ).json()
    assert len(events["events"]) == 1


async def test_an_endpoint_answering_500_is_retried_with_back_off_and_shown_to_the_manager(
    client: Any, sched: Sched, aiohttp_server: Any
) -> None:
    receiver, url = await _receiver(aiohttp_server, [500, 500])
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    where = f"/api/establishments/{sched.world.est}/community-endpoint"
    assert (await client.put(where, json={"url": url}, headers=admin)).status == 200
    await _release_with_sharing(client, sched)
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    runner = sched.app[JOBS]

    await runner.run_due()
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["status"], listed["attempts"], listed["last_error"]) == (
        "failing",
        1,
        "http_500",
    )
    # Not again at once: the next try waits for its back-off.
    await runner.run_due()
    assert len(receiver.seen) == 1
    async with sched.svc._db.connect() as conn:
        job = (
            await conn.execute(select(jobs).where(jobs.c.kind == "scheduling.handover_send"))
        ).one()
    assert job.status == "pending" and job.available_at > sched.clock.now()

    sched.clock.advance(seconds=31)
    await runner.run_due()
    assert len(receiver.seen) == 2
    sched.clock.advance(seconds=61)
    await runner.run_due()
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["status"], listed["attempts"], listed["last_error"]) == ("sent", 3, None)
    # Every try carried the same key, so the receiver can keep the first and drop the rest.
    assert len({key for key, _, _ in receiver.seen}) == 1
    assert [b["id"] for _, _, b in receiver.seen] == [listed["id"]] * 3
    failed = await (
        await client.get(
            "/api/audit/events", params={"action": "handover_send_failed"}, headers=manager
        )
    ).json()
    assert len(failed["events"]) == 2


async def test_no_endpoint_yet_is_shown_and_the_next_try_after_an_admin_sets_one_sends(
    client: Any, sched: Sched, aiohttp_server: Any
) -> None:
    await _release_with_sharing(client, sched)
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    await sched.app[JOBS].run_due()
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["status"], listed["last_error"]) == ("failing", "no_endpoint")
    receiver, url = await _receiver(aiohttp_server, [])
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    where = f"/api/establishments/{sched.world.est}/community-endpoint"
    assert (await client.put(where, json={"url": url}, headers=admin)).status == 200
    sched.clock.advance(minutes=1)
    await sched.app[JOBS].run_due()
    assert len(receiver.seen) == 1


async def test_the_manager_downloads_the_bundle_and_the_reading_is_logged(
    client: Any, sched: Sched
) -> None:
    officer = await _release_with_sharing(client, sched)
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    resp = await client.get(f"/api/handovers/{listed['id']}/bundle", headers=manager)
    assert resp.status == 200 and resp.content_type == "application/fhir+json"
    assert "attachment" in resp.headers["Content-Disposition"]
    bundle = json.loads(await resp.read())
    assert bundle["identifier"]["value"] == listed["id"]
    # Officers and admins see no health content; another id is simply missing.
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    for other in (officer, admin, clinician):
        assert (
            await client.get(f"/api/handovers/{listed['id']}/bundle", headers=other)
        ).status == 403
    missing = await client.get(
        "/api/handovers/00000000-0000-0000-0000-000000000000/bundle", headers=manager
    )
    assert missing.status == 404
    events = await (
        await client.get(
            "/api/audit/events", params={"action": "handover_downloaded"}, headers=manager
        )
    ).json()
    assert len(events["events"]) == 1


async def test_a_bad_endpoint_is_refused_and_changes_nothing(client: Any, sched: Sched) -> None:
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    where = f"/api/establishments/{sched.world.est}/community-endpoint"
    assert (
        await client.put(where, json={"url": "https://ok.invalid/x"}, headers=admin)
    ).status == 200
    for bad in ("ftp://x.invalid/", "not a url", "https://user:pw@x.invalid/", 7, "h" * 600):
        resp = await client.put(where, json={"url": bad}, headers=admin)
        assert resp.status == 400, bad
        assert resp.content_type == "application/problem+json"
    got = await (await client.get(where, headers=admin)).json()
    assert got == {"url": "https://ok.invalid/x"}
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    assert (await client.put(where, json={"url": None}, headers=manager)).status == 403


async def test_after_the_last_try_the_manager_is_told_and_an_admins_retry_sends_it(
    client: Any, sched: Sched, aiohttp_server: Any
) -> None:
    receiver, url = await _receiver(aiohttp_server, [500] * 20)
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    where = f"/api/establishments/{sched.world.est}/community-endpoint"
    assert (await client.put(where, json={"url": url}, headers=admin)).status == 200
    await _release_with_sharing(client, sched)
    runner = sched.app[JOBS]
    for _ in range(25):
        await runner.run_due()
        sched.clock.advance(hours=2)
    assert len(receiver.seen) == 20
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["status"], listed["attempts"]) == ("failed", 20)
    async with sched.svc._db.connect() as conn:
        job = (
            await conn.execute(select(jobs).where(jobs.c.kind == "scheduling.handover_send"))
        ).one()
    assert job.status == "failed"
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    resp = await client.post(f"/api/admin/jobs/{job.id}/retry", headers=admin)
    assert resp.status == 200, await resp.text()
    await runner.run_due()
    [listed] = await (await client.get("/api/handover", headers=manager)).json()
    assert (listed["status"], len(receiver.seen)) == ("sent", 21)


async def test_release_twice_and_transfer_to_the_same_place_are_clear_refusals(
    client: Any, sched: Sched
) -> None:
    officer = await _release_with_sharing(client, sched)
    path = f"/api/prisoners/{sched.patient.account_id}"
    again = await client.post(f"{path}/release", headers=officer)
    assert again.status == 409 and again.content_type == "application/problem+json"
    assert (await again.json())["detail"] == "This prisoner has already been released."
    staying = sched.patient2.account_id
    same = await client.post(
        f"/api/prisoners/{staying}/transfer",
        json={"to_establishment_id": sched.world.est},
        headers=officer,
    )
    assert same.status == 400 and same.content_type == "application/problem+json"
    assert (await same.json())["detail"] == "The prisoner is already there."
    # The released prisoner cannot be transferred either; nothing moves.
    gone = await client.post(
        f"{path}/transfer", json={"to_establishment_id": sched.world.other_est}, headers=officer
    )
    assert gone.status == 409
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    assert len(await (await client.get("/api/handover", headers=manager)).json()) == 1
