"""Migration 0030 moves per-prisoner recording consent to the appointments still to come,
as their booking answer: never as a permission to record on its own."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import text

from core.db.migrate import downgrade, upgrade
from scheduling.types import Decision
from tests.scheduling.conftest import Sched, at
from web.state import DATABASE

pytestmark = pytest.mark.parametrize("store_kind", ["sqlite", "postgres"])
FAR = datetime(2031, 5, 6, 10, 0)  # naive UTC, as UTCDateTime stores it
PAST = datetime(2026, 1, 2, 10, 0)


@pytest.mark.allow_blocking  # alembic reads its scripts from disk
async def test_an_old_yes_becomes_the_booking_answer_of_each_coming_appointment(
    sched: Sched,
) -> None:
    db = sched.app[DATABASE]
    coming = await sched.book(at(4, 10))
    later = await sched.book(at(4, 11))
    past = await sched.book(at(4, 12))
    theirs = await sched.book(at(4, 13), prisoner_id=sched.patient2.account_id)
    await downgrade(db, "0021")
    async with db.begin() as conn:
        for appt, when in ((coming, FAR), (later, FAR), (past, PAST), (theirs, FAR)):
            await conn.execute(
                text("UPDATE appointments SET starts_at = :at WHERE id = :id"),
                {"at": when, "id": appt.id},
            )
        for prisoner, decision, withdrawn in (
            (sched.patient.account_id, "declined", None),
            (sched.patient.account_id, "given", None),  # newer: this one counts
            (sched.patient2.account_id, "given", PAST),  # withdrawn: nothing carried
        ):
            await conn.execute(
                text(
                    "INSERT INTO consents (id, prisoner_id, establishment_id, scope, form_version,"
                    " language, decision, decided_at, device_id, witness_id, withdrawn_at)"
                    " VALUES (:id, :p, :e, 'recording', 1, 'cy', :d, :at, 'dev', NULL, :w)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "p": prisoner,
                    "e": sched.world.est,
                    "d": decision,
                    "at": PAST if decision == "declined" else datetime(2026, 2, 1),
                    "w": withdrawn,
                },
            )
    await upgrade(db)
    for appt in (coming, later):
        assert await sched.svc.recording_asked_at_booking(appt.id) == Decision.GIVEN
        # A booking answer is never a permission: the device is asked again.
        assert not await sched.svc.recording_allowed(appt.id)
    assert await sched.svc.recording_asked_at_booking(past.id) is None
    assert await sched.svc.recording_asked_at_booking(theirs.id) is None
    async with db.connect() as conn:
        kept = (
            await conn.execute(text("SELECT count(*) FROM consents WHERE appointment_id IS NULL"))
        ).scalar()
    assert kept == 3
