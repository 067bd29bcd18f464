"""No double booking even when many bookings race for one slot."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from core.errors import ServiceError
from scheduling.tables import appointments
from tests.scheduling.conftest import Sched, at


async def test_fifty_concurrent_bookings_at_one_slot_book_exactly_one(sched: Sched) -> None:
    patients = [sched.patient.account_id, sched.patient2.account_id]

    async def attempt(i: int) -> str:
        # Different start minutes too: overlapping intervals, not just equal keys.
        when = at(4, 10) + timedelta(minutes=(i % 3) * 5)
        try:
            await sched.book(when, prisoner_id=patients[i % 2])
        except ServiceError as error:
            return error.code.slug
        return "booked"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count("booked") == 1
    assert set(outcomes) == {"booked", "conflict"}
    async with sched.svc._db.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(appointments))
    assert stored == 1
