"""The join policy's question, "may this person join this consult now?", and the
call's effect on the appointment (waiting room, admitted, ended)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import and_, select

from core.db.schema import devices, establishments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from scheduling.booking import Booking
from scheduling.consent import Consents
from scheduling.states import TRANSITIONS
from scheduling.tables import appointment_attendees, appointments, services
from scheduling.types import (
    ACTIVE_STATUSES,
    THIRD_PARTY_ROLES,
    AppointmentView,
    JoinDecision,
    MemberRole,
    Refusal,
    Scope,
    Status,
)

CallEvent = Literal["waiting", "admitted", "ended"]


def _refuse(refusal: Refusal, view: AppointmentView | None = None) -> JoinDecision:
    return JoinDecision(allowed=False, refusal=refusal, role=None, appointment=view)


class JoinPolicy(Booking, Consents):
    async def appointment_view(self, appointment_id: str) -> AppointmentView | None:
        async with self._db.connect() as conn:
            return await self._view(conn, appointment_id)

    async def _view(self, conn: Any, appointment_id: object) -> AppointmentView | None:
        if not isinstance(appointment_id, str) or len(appointment_id) > 36:
            return None
        row = (
            await conn.execute(
                select(
                    appointments,
                    services.c.code.label("service_code"),
                    establishments.c.relay_only,
                )
                .join(services, services.c.id == appointments.c.service_id)
                .join(establishments, establishments.c.id == appointments.c.establishment_id)
                .where(appointments.c.id == appointment_id)
            )
        ).first()
        if row is None:
            return None
        m = row._mapping
        return AppointmentView(
            id=m["id"],
            establishment_id=m["establishment_id"],
            prisoner_id=m["prisoner_id"],
            clinician_id=m["clinician_id"],
            service=m["service_code"],
            starts_at=m["starts_at"],
            ends_at=m["ends_at"],
            window_opens=m["starts_at"] - self._join_early,
            window_closes=m["ends_at"] + self._join_late,
            status=m["status"],
            relay_only=bool(m["relay_only"]),
            video_required=bool(m["video_required"]),
        )

    async def join_decision(self, principal: Principal, appointment_id: str) -> JoinDecision:
        async with self._db.connect() as conn:
            view = await self._view(conn, appointment_id)
            if view is None:
                return _refuse("not_found")
            role: MemberRole
            if principal.role == Role.PRISONER and principal.account_id == view.prisoner_id:
                role = "patient"
                if principal.device_id is None:
                    return _refuse("wrong_device", view)
                device = (
                    await conn.execute(
                        select(devices.c.establishment_id).where(
                            and_(
                                devices.c.id == principal.device_id,
                                devices.c.revoked_at.is_(None),
                                devices.c.credential_hash.is_not(None),
                            )
                        )
                    )
                ).first()
                if device is None or device.establishment_id != view.establishment_id:
                    return _refuse("wrong_device", view)
            elif principal.role == Role.CLINICIAN and principal.account_id == view.clinician_id:
                role = "clinician"
            elif principal.role.value in THIRD_PARTY_ROLES and await self._invited(
                conn, principal, view
            ):
                role = THIRD_PARTY_ROLES[principal.role.value]
            else:
                return _refuse("not_your_appointment")
            if Status(view.status) not in ACTIVE_STATUSES:
                return _refuse("not_booked", view)
            if role == "patient" and not await self._in_force(
                conn, view.prisoner_id, Scope.TELEHEALTH
            ):
                return _refuse("no_consent", view)
        now = self._clock.now()
        if now < view.window_opens:
            return _refuse("too_early", view)
        if now > view.window_closes:
            return _refuse("too_late", view)
        return JoinDecision(allowed=True, refusal=None, role=role, appointment=view)

    async def _invited(self, conn: Any, principal: Principal, view: AppointmentView) -> bool:
        """An interpreter, chaperone or officer invited to this appointment (`attendees`).

        An officer only where the establishment requires an identity check: an
        invitation made before the setting was turned off lets nobody in.
        """
        invited = await conn.scalar(
            select(appointment_attendees.c.account_id).where(
                and_(
                    appointment_attendees.c.appointment_id == view.id,
                    appointment_attendees.c.account_id == principal.account_id,
                )
            )
        )
        if invited is None:
            return False
        if principal.role == Role.OFFICER:
            return bool(
                await conn.scalar(
                    select(establishments.c.identity_check).where(
                        establishments.c.id == view.establishment_id
                    )
                )
            )
        return True

    async def record_call_event(self, appointment_id: str, event: CallEvent, actor: str) -> None:
        """waiting -> checked in; admitted -> in progress; ended changes nothing.

        An appointment is completed (or did not attend) only by the clinician's
        outcome (`mark_attended`, `mark_did_not_attend`), never by the call
        ending: a call is also ended by the window closing, and once was by a
        token running out, which recorded a consult as seen that nobody had
        finished. Repeated or late events (a patient coming back to the waiting
        room, an admit after an outcome) change nothing.
        """
        path: dict[str, list[tuple[Status, Action]]] = {
            "waiting": [(Status.CHECKED_IN, Action.CHECKED_IN)],
            "admitted": [
                (Status.CHECKED_IN, Action.CHECKED_IN),
                (Status.IN_PROGRESS, Action.CONSULT_STARTED),
            ],
            "ended": [],
        }
        if event not in path:
            raise ValueError(f"unknown call event {event!r}")
        for target, action in path[event]:
            view = await self.appointment_view(appointment_id)
            if view is None:
                return
            current = Status(view.status)
            if current == target or target not in TRANSITIONS[current]:
                continue
            try:
                await self._change(actor, appointment_id, target, action, None)
            except ServiceError as error:
                if error.code != Code.CONFLICT:
                    raise
