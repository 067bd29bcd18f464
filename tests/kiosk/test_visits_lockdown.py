"""Visits and the things that happen to a prisoner: a lockdown closes booking (reading
still works), and one that covers booked visits cancels them, offers new times and tells
the visitors; a transfer or release cancels the visits booked where they were, while
their approved visitors stay with them. The suspension hook itself is tested generically."""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import Code, ServiceError
from scheduling.suspension import Declared, Suspensions
from tests.kiosk.visit_world import VisitWorld, make_visits
from tests.scheduling.conftest import at


@pytest.fixture
async def vw(client: Any, clock: Any) -> VisitWorld:
    return await make_visits(client, clock)


def test_a_module_hears_of_a_lockdown_only_if_it_asks() -> None:
    suspensions = Suspensions()

    async def hook(declared: Declared) -> None:
        return None

    suspensions.register("shop")
    suspensions.register("visits", on_declared=hook)
    suspensions.register("visits")  # again, without: the hook stays
    assert suspensions.modules == ("shop", "visits")
    assert suspensions.on_declared == (("visits", hook),)
    with pytest.raises(ValueError):
        suspensions.register("Bad Name", on_declared=hook)


async def test_a_failing_hook_does_not_undo_the_lockdown_and_is_named(vw: VisitWorld) -> None:
    heard: list[Declared] = []

    async def broken(declared: Declared) -> None:
        raise RuntimeError("the visits book is unavailable")

    async def listening(declared: Declared) -> None:
        heard.append(declared)

    vw.sched.svc.suspensions.register("visits", on_declared=broken)
    vw.sched.svc.suspensions.register("campus", on_declared=listening)
    lockdown = await vw.sched.svc.declare_lockdown(
        vw.officer, vw.est, starts_at=None, ends_at=at(3, 18).isoformat()
    )
    assert await vw.sched.svc.in_force(vw.est) is not None
    assert [(d.lockdown_id, d.establishment_id, d.kind) for d in heard] == [
        (lockdown.id, vw.est, "lockdown")
    ]
    [event] = [r for r in vw.sched.audit.records if r.details.get("in_force")]
    assert event.details["hooks_failed"] == ["visits"]


async def test_during_a_lockdown_booking_and_asking_are_closed_but_reading_works(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    session = await vw.session(at(10, 14))
    made, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    later = await vw.session(at(11, 14))
    lockdown = await vw.sched.svc.declare_lockdown(
        vw.officer, vw.est, starts_at=None, ends_at=at(3, 18).isoformat()
    )
    for call in (
        vw.visits.book(vw.patient, session_id=later.id, visitors=[jane.id]),
        vw.visitors.request(vw.patient, name="New Person", relationship="Friend"),
        vw.visits.cancel(vw.patient, made.id),
    ):
        with pytest.raises(ServiceError) as refused:
            await call
        assert refused.value.code == Code.LOCKDOWN
    assert [b.status for b in await vw.visits.mine(vw.patient)] == ["booked"]
    assert [v.name for v in await vw.visitors.mine(vw.patient)] == ["Jane Smith"]
    assert (await vw.visits.choices(vw.patient)).used_this_month == 1
    await vw.sched.svc.lift_lockdown(vw.officer, lockdown.id)
    await vw.visits.book(vw.patient, session_id=later.id, visitors=[jane.id])


async def test_a_lockdown_over_a_visit_cancels_it_offers_new_times_and_tells_visitors(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    covered = await vw.session(at(4, 14))
    kept = await vw.session(at(12, 14))
    full = await vw.session(at(6, 10), capacity=1)
    free_after = await vw.session(at(6, 14))
    made, _ = await vw.visits.book(vw.patient, session_id=covered.id, visitors=[jane.id])
    bob = await vw.approved(vw.patient2, name="Bob")
    await vw.visits.book(vw.patient2, session_id=full.id, visitors=[bob.id])
    untouched, _ = await vw.visits.book(vw.patient, session_id=kept.id, visitors=[jane.id])

    await vw.sched.svc.declare_lockdown(
        vw.officer, vw.est, starts_at=at(4, 0).isoformat(), ends_at=at(5, 0).isoformat()
    )
    mine = {b.id: b for b in await vw.visits.mine(vw.patient)}
    assert (mine[made.id].status, mine[made.id].cancel_reason) == ("cancelled", "lockdown")
    assert mine[untouched.id].status == "booked"
    [offer] = (await vw.visits.choices(vw.patient)).offers
    assert offer.booking.id == made.id
    # The full session after it is not offered; the free ones are, soonest first.
    assert [s.id for s in offer.sessions] == [free_after.id, kept.id]
    events = sorted(
        (p.event, p.reference) for p in await vw.visits.letters.to_print(vw.officer, vw.est)
    )
    assert ("cancelled", made.reference) in events
    assert {"visit_cancelled", "visits_offered"} <= set(vw.actions)

    rebooked, _ = await vw.visits.take_offer(
        vw.patient, made.id, session_id=free_after.id, key="offer-take-0001"
    )
    assert rebooked.session_id == free_after.id and [v.id for v in rebooked.visitors] == [jane.id]
    assert (await vw.visits.choices(vw.patient)).offers == []
    with pytest.raises(ServiceError) as taken:
        await vw.visits.take_offer(vw.patient, made.id, session_id=free_after.id)
    assert taken.value.code == Code.CONFLICT
    with pytest.raises(ServiceError) as theirs:
        await vw.visits.take_offer(vw.patient2, made.id, session_id=free_after.id)
    assert theirs.value.code == Code.NOT_FOUND


async def test_a_transfer_cancels_the_booked_visits_but_the_visitors_move(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    session = await vw.session()
    made, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    await vw.sched.svc.transfer(vw.officer, vw.patient.account_id, vw.sched.world.other_est)
    moved = [r for r in vw.sched.audit.records if r.action.value == "transferred"][-1]
    assert moved.details["visits_cancelled"] == 1
    there = vw.patient.__class__(
        vw.patient.account_id, vw.patient.role, vw.sched.world.other_est, "test"
    )
    assert [(b.id, b.cancel_reason) for b in await vw.visits.mine(there)] == [(made.id, "transfer")]
    assert [v.status for v in await vw.visitors.mine(there)] == ["approved"]
    # The letter telling Jane is in the old establishment's hall pile.
    letters = await vw.visits.letters.to_print(vw.officer, vw.est)
    assert ("cancelled", made.reference) in {(p.event, p.reference) for p in letters}
    assert "visit_cancelled" in vw.actions
    # The new establishment's staff now decide for them; the old one's do not.
    asked, _ = await vw.visitors.request(there, name="New One", relationship="Friend")
    with pytest.raises(ServiceError) as gone:
        await vw.visitors.decide(vw.officer, asked.id, approve=True)
    assert gone.value.code == Code.NOT_FOUND
    await vw.visitors.decide(vw.their_officer, asked.id, approve=True)


async def test_a_release_cancels_the_booked_visits(vw: VisitWorld) -> None:
    jane = await vw.approved(vw.patient)
    session = await vw.session()
    made, _ = await vw.visits.book(vw.patient, session_id=session.id, visitors=[jane.id])
    await vw.sched.svc.release(vw.officer, vw.patient.account_id)
    letters = await vw.visits.letters.to_print(vw.officer, vw.est)
    assert ("cancelled", made.reference) in {(p.event, p.reference) for p in letters}
    day = await vw.visits.day_list(vw.officer, vw.est, "2026-03-05")
    assert day[0].bookings == []


async def test_an_offered_time_can_be_taken_while_the_lockdown_is_in_force(
    vw: VisitWorld,
) -> None:
    jane = await vw.approved(vw.patient)
    covered = await vw.session(at(3, 14))
    after = await vw.session(at(6, 14))
    made, _ = await vw.visits.book(vw.patient, session_id=covered.id, visitors=[jane.id])
    await vw.sched.svc.declare_lockdown(
        vw.officer, vw.est, starts_at=None, ends_at=at(4, 0).isoformat()
    )
    [offer] = (await vw.visits.choices(vw.patient)).offers
    assert [s.id for s in offer.sessions] == [after.id]
    with pytest.raises(ServiceError) as closed:
        await vw.visits.book(vw.patient, session_id=after.id, visitors=[jane.id])
    assert closed.value.code == Code.LOCKDOWN
    rebooked, _ = await vw.visits.take_offer(vw.patient, made.id, session_id=after.id)
    assert (rebooked.status, rebooked.session_id) == ("booked", after.id)
