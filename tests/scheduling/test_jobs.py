"""Scheduling's timed work runs as jobs: reminders at 24 h and 15 min, lockdowns
lifted at their end time. Before the job runner nothing called either."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from core.clock import FakeClock
from core.config import Settings
from core.identity.passwords import SecretHasher
from scheduling.tables import lockdowns
from tests.scheduling.conftest import Sched, make_sched
from tests.world import bearer, sign_in_staff
from web.state import DATABASE, JOBS, SCHEDULING


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


async def reminders_of(sched: Sched) -> set[tuple[str, str]]:
    """The reminders in both people's inboxes (delivered by their own jobs)."""
    found = set()
    for who in (sched.patient, sched.clinician):
        _, notices = await sched.svc.inbox(who)
        found |= {(n.kind, who.account_id) for n in notices if n.kind.startswith("reminder")}
    return found


async def test_the_reminder_job_queues_both_reminders_for_both_sides(sched: Sched) -> None:
    await sched.book(at(4, 10))
    runner = sched.app[JOBS]
    sched.clock.set(at(3, 10))
    await runner.run_due()
    people = (sched.patient.account_id, sched.clinician.account_id)
    assert await reminders_of(sched) == {("reminder_24h", p) for p in people}
    sched.clock.set(at(4, 9, 45))
    await runner.run_due()
    assert await reminders_of(sched) == {
        (kind, p) for kind in ("reminder_24h", "reminder_15m") for p in people
    }


async def test_a_running_node_queues_reminders_with_nobody_calling(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, hasher: SecretHasher
) -> None:
    """The app as served, its runner claiming on its own (the other tests call run_due)."""
    from web.app import create_app

    app = create_app(replace(settings, job_workers=2, job_poll_ms=20), clock=clock, hasher=hasher)
    sched = await make_sched(await aiohttp_client(app), clock)
    await sched.book(at(4, 10))
    clock.set(at(3, 10, 1))
    # Each person's reminder is delivered by its own job: wait for both (the test's timeout
    # is the limit), then check they are the two 24-hour reminders and nothing else.
    found = await reminders_of(sched)
    while len(found) < 2:
        await asyncio.sleep(0.05)
        found = await reminders_of(sched)
    people = (sched.patient.account_id, sched.clinician.account_id)
    assert found == {("reminder_24h", p) for p in people}


async def test_a_lockdown_is_lifted_at_its_end_time_and_logged(sched: Sched, client: Any) -> None:
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(3, 12), ends_at=at(3, 14)
    )
    runner = sched.app[JOBS]
    sched.clock.set(at(3, 13, 59))
    await runner.run_due()
    assert [x.id for x in await sched.svc.current_lockdowns(sched.officer, sched.world.est)] == [
        lockdown.id
    ]
    sched.clock.set(at(3, 14, 5))
    await runner.run_due()
    async with sched.app[DATABASE].connect() as conn:
        lifted = (
            await conn.execute(select(lockdowns.c.lifted_at).where(lockdowns.c.id == lockdown.id))
        ).scalar_one()
    assert lifted == at(3, 14)
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    log = await client.get("/api/audit/events?action=lockdown_lifted", headers=manager)
    [event] = (await log.json())["events"]
    assert (event["actor"], event["subject"], event["details"]) == (
        "system",
        lockdown.id,
        # Every module the app registered (the kiosk's, the programmes') opens again.
        {"at_end": True, "restored": list(sched.app[SCHEDULING].suspensions.modules)},
    )


async def test_a_lockdown_lifted_by_hand_is_not_lifted_again(sched: Sched, client: Any) -> None:
    lockdown = await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(3, 12), ends_at=at(3, 14)
    )
    sched.clock.set(at(3, 13))
    await sched.svc.lift_lockdown(sched.officer, lockdown.id)
    sched.clock.set(at(3, 15))
    await sched.app[JOBS].run_due()
    [job] = await sched.app[JOBS].jobs(kind="scheduling.lockdown_end")
    assert job.status.value == "done"
    assert sched.audit_actions.count("lockdown_lifted") == 1, "by the officer"
    manager = bearer(await sign_in_staff(client, sched.world.staff["manager"]))
    log = await client.get("/api/audit/events?action=lockdown_lifted", headers=manager)
    assert (await log.json())["events"] == [], "and not by the job"
