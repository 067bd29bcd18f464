"""Pre-call tests: who may run one, when, how often, and what is kept of it.

From 24 hours before a booked consult until it ends, the prisoner's enrolled
device may run a test call on the consult's own path (signalling/test_calls.py
runs it, media/echo.py is the far end). A device runs one at a time and a few
an hour. What is kept: when, the device's cell and wing at the time, and how
it went (camera, microphone, connection, the numbers each side measured);
never anything clinical. The clinician sees the latest result in the list; a
failure is shown to the staff of the establishment, by wing and cell, until a
later test from that device passes.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import cells, devices, wings
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from scheduling.base import new_id
from scheduling.join import JoinPolicy
from scheduling.tables import appointments, test_calls
from scheduling.types import (
    ACTIVE_STATUSES,
    AppointmentView,
    PrecallAlert,
    PrecallDecision,
    PrecallRefusal,
    PrecallResult,
    PrecallSummary,
    PrecallTicket,
)

TEST_LEAD = timedelta(hours=24)
"""How long before a consult its device may test the path."""
TESTS_PER_HOUR = 3
STALE_AFTER = timedelta(minutes=3)
"""A test still open this long after it started was lost with its node: it is closed as aborted."""
ALERT_FOR = timedelta(hours=48)
"""How long a failed test stays on the staff page if nothing newer replaces it."""
OUTCOMES = frozenset({"good", "poor", "failed", "aborted"})


def _refuse(refusal: PrecallRefusal) -> PrecallDecision:
    return PrecallDecision(ticket=None, refusal=refusal)


class Readiness(JoinPolicy):
    """Part of `SchedulingService`: the store and the rules of pre-call tests."""

    tests_per_hour = TESTS_PER_HOUR

    async def begin_test_call(
        self, principal: Principal, appointment_id: str | None
    ) -> PrecallDecision:
        """May this device test now? If so, the test is open (one per device) and counted."""
        if principal.role != Role.PRISONER or principal.device_id is None:
            return _refuse("not_a_device")
        now = self._clock.now()
        async with self._db.begin() as conn:
            device = await self._device_place(conn, principal.device_id)
            if device is None or device["establishment_id"] != principal.establishment_id:
                return _refuse("not_a_device")
            view = await self._next_consult(conn, principal.account_id, appointment_id, now)
            if view is None or view.establishment_id != device["establishment_id"]:
                return _refuse("no_consult")
            t = test_calls.c
            await conn.execute(
                update(test_calls)
                .where(
                    and_(
                        t.device_id == principal.device_id,
                        t.finished_at.is_(None),
                        t.started_at < now - STALE_AFTER,
                    )
                )
                .values(finished_at=now, outcome="aborted")
            )
            running = await conn.scalar(
                select(t.id).where(
                    and_(t.device_id == principal.device_id, t.finished_at.is_(None))
                )
            )
            if running is not None:
                return _refuse("already_testing")
            recent = await conn.scalar(
                select(func.count()).where(
                    and_(
                        t.device_id == principal.device_id,
                        t.started_at > now - timedelta(hours=1),
                    )
                )
            )
            if (recent or 0) >= self.tests_per_hour:
                return _refuse("too_many")
            ticket = PrecallTicket(
                id=new_id(),
                appointment=view,
                prisoner_id=principal.account_id,
                device_id=principal.device_id,
                cell_id=device["cell_id"],
                cell=device["cell"],
                wing_id=device["wing_id"],
                wing=device["wing"],
                started_at=now,
            )
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(test_calls).values(
                            id=ticket.id,
                            establishment_id=view.establishment_id,
                            device_id=ticket.device_id,
                            prisoner_id=ticket.prisoner_id,
                            appointment_id=view.id,
                            wing_id=ticket.wing_id,
                            cell_id=ticket.cell_id,
                            started_at=now,
                        )
                    )
            except IntegrityError:
                # Another node opened one for this device a moment ago.
                return _refuse("already_testing")
        return PrecallDecision(ticket=ticket, refusal=None)

    async def finish_test_call(self, ticket: PrecallTicket, result: PrecallResult) -> None:
        """Close the test with its result (once) and write it to the audit log."""
        if result.outcome not in OUTCOMES:
            raise ValueError(f"unknown test call outcome {result.outcome!r}")
        now = self._clock.now()
        measures = result.measures or {}
        async with self._db.begin() as conn:
            t = test_calls.c
            closed = await conn.execute(
                update(test_calls)
                .where(and_(t.id == ticket.id, t.finished_at.is_(None)))
                .values(
                    finished_at=now,
                    outcome=result.outcome,
                    camera=result.camera,
                    microphone=result.microphone,
                    connection=result.connection,
                    measures=json.dumps(measures, sort_keys=True),
                )
            )
        if closed.rowcount != 1:
            return
        await self._record(
            Action.TEST_CALL_COMPLETED,
            ticket.prisoner_id,
            establishment=ticket.appointment.establishment_id,
            subject=ticket.prisoner_id,
            appointment=ticket.appointment.id,
            test=ticket.id,
            device=ticket.device_id,
            cell=ticket.cell,
            wing=ticket.wing,
            outcome=result.outcome,
            camera=result.camera,
            microphone=result.microphone,
            connection=result.connection,
            measures=measures,
            seconds=round((now - ticket.started_at).total_seconds(), 1),
        )

    async def test_call_summaries(self, appointment_ids: list[str]) -> dict[str, PrecallSummary]:
        """Appointment -> its latest finished test (aborted ones do not count)."""
        if not appointment_ids:
            return {}
        t = test_calls.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(
                    t.appointment_id, t.finished_at, t.outcome, t.camera, t.microphone, t.connection
                )
                .where(
                    and_(
                        t.appointment_id.in_(sorted(set(appointment_ids))),
                        t.finished_at.is_not(None),
                        t.outcome != "aborted",
                    )
                )
                .order_by(t.finished_at, t.id)
            )
            return {
                r.appointment_id: PrecallSummary(
                    r.appointment_id, r.finished_at, r.outcome, r.camera, r.microphone, r.connection
                )
                for r in rows
            }

    async def test_call_alerts(self, actor: Principal, establishment_id: str) -> list[PrecallAlert]:
        """Devices of the establishment whose latest test failed, by wing and cell.

        Times and places only: the consult's time, never its service or reason.
        """
        require_permission(actor, Permission.DEVICE_ALERTS_READ)
        if not allows(actor, Permission.ANY_ESTABLISHMENT) and (
            actor.establishment_id != establishment_id
        ):
            raise ServiceError(Code.FORBIDDEN)
        t = test_calls.c
        since = self._clock.now() - ALERT_FOR
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(
                    t.id,
                    t.device_id,
                    t.finished_at,
                    t.outcome,
                    t.camera,
                    t.microphone,
                    t.connection,
                    wings.c.name.label("wing"),
                    cells.c.name.label("cell"),
                    appointments.c.starts_at,
                )
                .join(wings, wings.c.id == t.wing_id)
                .join(cells, cells.c.id == t.cell_id)
                .join(appointments, appointments.c.id == t.appointment_id)
                .where(
                    and_(
                        t.establishment_id == establishment_id,
                        t.finished_at > since,
                        t.outcome != "aborted",
                    )
                )
                .order_by(t.finished_at, t.id)
            )
            latest: dict[str, Any] = {}
            for r in rows:
                latest[r.device_id] = r  # later rows replace earlier ones
        alerts = []
        for r in latest.values():
            result = PrecallResult(r.outcome, r.camera, r.microphone, r.connection)
            if r.outcome == "failed" and result.problems:
                alerts.append(
                    PrecallAlert(r.id, r.finished_at, r.wing, r.cell, result.problems, r.starts_at)
                )
        alerts.sort(key=lambda a: (a.wing, a.cell))
        return alerts

    # ----------------------------------------------------------- look-ups

    async def _device_place(self, conn: AsyncConnection, device_id: str) -> Any:
        row = (
            await conn.execute(
                select(
                    devices.c.establishment_id,
                    devices.c.cell_id,
                    cells.c.name.label("cell"),
                    cells.c.wing_id,
                    wings.c.name.label("wing"),
                )
                .join(cells, cells.c.id == devices.c.cell_id)
                .join(wings, wings.c.id == cells.c.wing_id)
                .where(
                    and_(
                        devices.c.id == device_id,
                        devices.c.revoked_at.is_(None),
                        devices.c.credential_hash.is_not(None),
                    )
                )
            )
        ).first()
        return row._mapping if row is not None else None

    async def _next_consult(
        self, conn: AsyncConnection, prisoner_id: str, appointment_id: str | None, now: datetime
    ) -> AppointmentView | None:
        """The consult asked about, or the prisoner's next one, if it is within the lead."""
        a = appointments.c
        query = select(a.id).where(
            and_(
                a.prisoner_id == prisoner_id,
                a.status.in_([s.value for s in ACTIVE_STATUSES]),
                a.starts_at <= now + TEST_LEAD,
                a.ends_at >= now,
            )
        )
        if appointment_id is not None:
            query = query.where(a.id == appointment_id)
        found = await conn.scalar(query.order_by(a.starts_at, a.id).limit(1))
        return await self._view(conn, found) if found is not None else None
