"""Booking, rescheduling and every later change of an appointment's state.

Each change runs in one transaction: take the people's booking locks, check,
write, queue the notifications; the audit record follows the commit. What a
method returns is the appointment as its caller may see it (`_present`).

An appointment the caller cannot see (another prisoner's, another
establishment's) answers exactly as a missing one does: 404 "No such
appointment.", checked before any rule about its state, so no answer tells
whether the id is real. Staff who can see an appointment but may not act on
it (a clinician and a colleague's consult) get 403.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from core.db.schema import accounts, cells, devices, sessions
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.people.locations import cells_of
from core.permissions import Permission, allows, require_permission
from scheduling.base import (
    NOTES,
    OUTCOME_CODE,
    OUTCOME_NOTE,
    REASON,
    Readings,
    new_id,
    require_visible,
    text,
)
from scheduling.desk import released
from scheduling.locks import lock_people
from scheduling.reasons import Cause, reason
from scheduling.search import ACTIVE, SlotSearch
from scheduling.states import advance
from scheduling.tables import appointments, health_requests, services
from scheduling.times import instant
from scheduling.types import Appointment, OfficerAppointment, Service, Status, WaitingPatient

MAX_RANGE = timedelta(days=366)
# A patient still checked in this long after the consult's end is no longer shown waiting.
WAITING_GRACE = timedelta(hours=1)


class Booking(SlotSearch):
    # ------------------------------------------------------------- booking

    async def book(
        self,
        actor: Principal,
        *,
        prisoner_id: object,
        service_id: object,
        clinician_id: object,
        starts_at: object,
        reason_text: object = None,
        notes: object = None,
        same_sex: object = False,
        chaperone: object = False,
        video_required: object = False,
        in_person: object = False,
        request_id: object = None,
        rebook_of: str | None = None,
    ) -> Appointment:
        require_permission(actor, Permission.APPOINTMENTS_BOOK)
        if actor.role == Role.PRISONER and prisoner_id != actor.account_id:
            raise ServiceError(Code.FORBIDDEN, "A prisoner can only book for themselves.")
        start = instant(starts_at, "start")
        if start < self._clock.now():
            raise ServiceError(
                Code.INVALID_REQUEST,
                "An appointment cannot be booked in the past.",
                extra={"reason": "in_the_past"},
            )
        visit_reason = text(reason_text, "reason")
        visit_notes = text(notes, "notes")
        if request_id is not None and not isinstance(request_id, str):
            raise ServiceError(Code.INVALID_REQUEST, "The request id is not valid.")
        if not isinstance(video_required, bool):
            raise ServiceError(Code.INVALID_REQUEST, "video_required must be true or false.")
        if not isinstance(in_person, bool):
            raise ServiceError(Code.INVALID_REQUEST, "in_person must be true or false.")
        appointment_id = new_id()
        now = self._clock.now()
        async with self._db.begin() as conn:
            service = await self._service(conn, service_id)
            require_visible(actor, service.establishment_id, "No such service.")
            end = start + timedelta(minutes=service.minutes)
            prisoner, clinician = await self._parties(
                conn, actor, service, prisoner_id, clinician_id, bool(same_sex)
            )
            await self._check_bookable(
                conn,
                service,
                clinician.id,
                start,
                end,
                escorted=in_person and service.escort_if_in_person,
            )
            await lock_people(conn, clinician_id=clinician.id, prisoner_id=prisoner.id)
            await self._check_free(conn, service, clinician.id, prisoner.id, start, end)
            if request_id is not None:
                await self._claim_request(conn, request_id, prisoner.id, appointment_id)
            await conn.execute(
                insert(appointments).values(
                    id=appointment_id,
                    establishment_id=service.establishment_id,
                    prisoner_id=prisoner.id,
                    clinician_id=clinician.id,
                    service_id=service.id,
                    starts_at=start,
                    ends_at=end,
                    buffer_minutes=service.buffer_minutes,
                    status=Status.BOOKED.value,
                    reason_enc=await self._seal(
                        conn, prisoner.id, visit_reason, appointment_id, REASON
                    ),
                    notes_enc=await self._seal(
                        conn, prisoner.id, visit_notes, appointment_id, NOTES
                    ),
                    same_sex=bool(same_sex),
                    chaperone=bool(chaperone),
                    video_required=video_required,
                    in_person=in_person,
                    request_id=request_id,
                    rebook_of=rebook_of,
                    created_by=actor.account_id,
                    created_at=now,
                    updated_at=now,
                )
            )
            for person in (prisoner.id, clinician.id):
                await self._notify(
                    conn, person, "booked", appointment_id=appointment_id, starts_at=start
                )
            row = await self._appointment_row(conn, appointment_id)
        await self._record(
            Action.BOOKED,
            actor,
            establishment=service.establishment_id,
            subject=prisoner.id,
            appointment=appointment_id,
            clinician=clinician.id,
            starts_at=start.isoformat(),
            rebook_of=rebook_of,
            same_sex=bool(same_sex),
            chaperone=bool(chaperone),
            video_required=video_required,
            in_person=in_person,
        )
        return (await self._present(actor, [row]))[0]

    async def set_video_required(
        self, actor: Principal, appointment_id: str, required: object
    ) -> Appointment:
        """Mark a consult as needing video (or not): its clinician, a manager, an admin.

        Read by signalling when the consult's room opens; a room already open
        keeps what it was opened with until it is opened again.
        """
        if not isinstance(required, bool):
            raise ServiceError(Code.INVALID_REQUEST, "video_required must be true or false.")
        async with self._db.begin() as conn:
            m = await self._appointment_row(conn, appointment_id, for_update=True)
            self._may_manage(actor, m)
            if m["status"] not in ACTIVE:
                raise ServiceError(Code.CONFLICT, "This appointment is over.")
            changed = bool(m["video_required"]) != required
            if changed:
                await conn.execute(
                    update(appointments)
                    .where(appointments.c.id == m["id"])
                    .values(video_required=required, updated_at=self._clock.now())
                )
            row = await self._appointment_row(conn, appointment_id)
        if changed:
            await self._record(
                Action.VIDEO_REQUIRED_CHANGED,
                actor,
                establishment=m["establishment_id"],
                subject=m["prisoner_id"],
                appointment=m["id"],
                video_required=required,
            )
        return (await self._present(actor, [row]))[0]

    async def _parties(
        self,
        conn: AsyncConnection,
        actor: Principal,
        service: Service,
        prisoner_id: object,
        clinician_id: object,
        same_sex: bool,
    ) -> tuple[Any, Any]:
        prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
        require_visible(actor, prisoner.establishment_id, "No such prisoner.")
        if prisoner.id in await released(conn, [prisoner.id]):
            raise ServiceError(
                Code.CONFLICT,
                "The prisoner has been released.",
                extra={"reason": "prisoner_released"},
            )
        if prisoner.establishment_id != service.establishment_id or not prisoner.active:
            raise ServiceError(
                Code.INVALID_REQUEST, "The prisoner is not at this service's establishment."
            )
        clinician = await self._clinician_at(conn, clinician_id, service.establishment_id)
        if same_sex and (prisoner.sex is None or clinician.sex != prisoner.sex):
            raise ServiceError(
                Code.CONFLICT,
                "The clinician is not of the same sex as the patient.",
                extra={"reason": "not_same_sex"},
            )
        return prisoner, clinician

    async def _check_free(
        self,
        conn: AsyncConnection,
        service: Service,
        clinician_id: str,
        prisoner_id: str,
        start: datetime,
        end: datetime,
        exclude: str | None = None,
    ) -> None:
        busy, prisoner_busy = await self._busy(
            conn,
            clinicians=[clinician_id],
            prisoner_id=prisoner_id,
            start=start,
            end=end,
            buffer=timedelta(minutes=service.buffer_minutes),
            exclude=exclude,
        )
        if busy[clinician_id].overlaps(start, end):
            raise ServiceError(
                Code.CONFLICT,
                "The clinician already has an appointment then.",
                extra={"reason": "clinician_busy"},
            )
        if prisoner_busy.overlaps(start, end):
            raise ServiceError(
                Code.CONFLICT,
                "The prisoner already has an appointment then.",
                extra={"reason": "prisoner_busy"},
            )

    async def _claim_request(
        self, conn: AsyncConnection, request_id: str, prisoner_id: str, appointment_id: str
    ) -> None:
        claimed = await conn.execute(
            update(health_requests)
            .where(
                and_(
                    health_requests.c.id == request_id,
                    health_requests.c.prisoner_id == prisoner_id,
                    health_requests.c.status.in_(("received", "triaged")),
                )
            )
            .values(status="booked", appointment_id=appointment_id)
        )
        if claimed.rowcount != 1:
            raise ServiceError(
                Code.CONFLICT,
                "The request is not open for this prisoner.",
                extra={"reason": "request_closed"},
            )

    async def reschedule(
        self, actor: Principal, appointment_id: str, starts_at: object
    ) -> Appointment:
        start = instant(starts_at, "start")
        if start < self._clock.now():
            raise ServiceError(
                Code.INVALID_REQUEST,
                "An appointment cannot be booked in the past.",
                extra={"reason": "in_the_past"},
            )
        async with self._db.begin() as conn:
            m = await self._appointment_row(conn, appointment_id, for_update=True)
            self._may_manage(actor, m)
            advance(Status(m["status"]), Status.BOOKED)
            service = await self._service(conn, m["service_id"])
            end = start + timedelta(minutes=service.minutes)
            await self._check_bookable(
                conn,
                service,
                m["clinician_id"],
                start,
                end,
                escorted=bool(m["in_person"]) and service.escort_if_in_person,
            )
            await lock_people(conn, clinician_id=m["clinician_id"], prisoner_id=m["prisoner_id"])
            await self._check_free(
                conn, service, m["clinician_id"], m["prisoner_id"], start, end, exclude=m["id"]
            )
            await conn.execute(
                update(appointments)
                .where(appointments.c.id == m["id"])
                .values(starts_at=start, ends_at=end, updated_at=self._clock.now())
            )
            for person in (m["prisoner_id"], m["clinician_id"]):
                await self._notify(
                    conn, person, "rescheduled", appointment_id=m["id"], starts_at=start
                )
            row = await self._appointment_row(conn, m["id"])
        await self._record(
            Action.RESCHEDULED,
            actor,
            establishment=m["establishment_id"],
            subject=m["prisoner_id"],
            appointment=m["id"],
            previous=m["starts_at"].isoformat(),
            starts_at=start.isoformat(),
        )
        return (await self._present(actor, [row]))[0]

    # ------------------------------------------------------------ changes

    def _may_manage(self, actor: Principal, m: Any) -> None:
        """The appointment's clinician, or staff who manage any appointment of its establishment."""
        self._may_see(actor, m)
        if actor.account_id == m["clinician_id"]:
            return
        if allows(actor, Permission.APPOINTMENTS_MANAGE_ANY):
            return
        raise ServiceError(Code.FORBIDDEN)

    @staticmethod
    def _may_see(actor: Principal, m: Any) -> None:
        """Whether the appointment exists for this actor; 404 exactly as a missing one if not.

        Its prisoner sees their own; staff those of their establishment
        (officers only that and when); admins all.
        """
        if actor.role == Role.PRISONER:
            if m["prisoner_id"] != actor.account_id:
                raise ServiceError(Code.NOT_FOUND, "No such appointment.")
            return
        require_visible(actor, m["establishment_id"], "No such appointment.")

    async def cancel(
        self, actor: Principal, appointment_id: str, reason_code: object, note: object = None
    ) -> Appointment:
        why = reason(reason_code)

        def allowed(m: Any) -> None:
            if actor.role == Role.PRISONER:
                self._may_see(actor, m)
                if why.cause != Cause.PATIENT:
                    raise ServiceError(Code.FORBIDDEN)
            elif actor.role == Role.OFFICER:
                self._may_see(actor, m)
                if why.cause != Cause.PRISON:
                    raise ServiceError(Code.FORBIDDEN)
            else:
                self._may_manage(actor, m)

        return await self._change(
            actor, appointment_id, Status.CANCELLED, Action.CANCELLED, allowed, why.code, note
        )

    async def check_in(self, actor: Principal, appointment_id: str) -> Appointment:
        def allowed(m: Any) -> None:
            if actor.role in (Role.PRISONER, Role.OFFICER):
                self._may_see(actor, m)
            else:
                self._may_manage(actor, m)

        return await self._change(
            actor, appointment_id, Status.CHECKED_IN, Action.CHECKED_IN, allowed
        )

    async def mark_attended(
        self, actor: Principal, appointment_id: str, note: object = None
    ) -> Appointment:
        return await self._change(
            actor,
            appointment_id,
            Status.COMPLETED,
            Action.ATTENDED,
            lambda m: self._may_manage(actor, m),
            None,
            note,
        )

    async def mark_did_not_attend(
        self, actor: Principal, appointment_id: str, reason_code: object, note: object = None
    ) -> Appointment:
        why = reason(reason_code)
        return await self._change(
            actor,
            appointment_id,
            Status.DID_NOT_ATTEND,
            Action.DID_NOT_ATTEND,
            lambda m: self._may_manage(actor, m),
            why.code,
            note,
        )

    async def _change(
        self,
        actor: Principal | str,
        appointment_id: str,
        target: Status,
        action: Action,
        allowed: Callable[[Any], None] | None,
        reason_code: str | None = None,
        note: object = None,
        *,
        conn: AsyncConnection | None = None,
        show: bool = True,
    ) -> Appointment:
        """Move the appointment to `target`; returns it as `actor` may see it.

        With `show=False`, or a system actor (a string), or inside the
        caller's transaction (`conn`), no clinical text is decrypted.
        """
        outcome_note = text(note, "note")
        if conn is None:
            async with self._db.begin() as own:
                m, row = await self._apply(
                    own, appointment_id, target, allowed, reason_code, outcome_note
                )
        else:
            m, row = await self._apply(
                conn, appointment_id, target, allowed, reason_code, outcome_note
            )
        cause = reason(reason_code).cause.value if reason_code else None
        await self._record(
            action,
            actor,
            establishment=m["establishment_id"],
            subject=m["prisoner_id"],
            appointment=m["id"],
            previous=m["status"],
            status=target.value,
            cause=cause,
        )
        if conn is not None:
            return (await self._appointments_in(conn, None, [row], Readings()))[0]
        reader = actor if show and isinstance(actor, Principal) else None
        return (await self._present(reader, [row]))[0]

    async def _apply(
        self,
        conn: AsyncConnection,
        appointment_id: str,
        target: Status,
        allowed: Callable[[Any], None] | None,
        reason_code: str | None,
        outcome_note: str | None,
    ) -> tuple[Any, Any]:
        m = await self._appointment_row(conn, appointment_id, for_update=True)
        if allowed is not None:
            allowed(m)
        advance(Status(m["status"]), target)
        values: dict[str, Any] = {"status": target.value, "updated_at": self._clock.now()}
        if target in (Status.COMPLETED, Status.DID_NOT_ATTEND):
            # The 24 hours in which the outcome may be amended run from here.
            values["outcome_at"] = values["updated_at"]
        subject = m["prisoner_id"]
        if reason_code is not None:
            values["outcome_category"] = reason(reason_code).cause.value
            values["outcome_code_enc"] = await self._seal(
                conn, subject, reason_code, m["id"], OUTCOME_CODE
            )
        if outcome_note is not None:
            values["outcome_note_enc"] = await self._seal(
                conn, subject, outcome_note, m["id"], OUTCOME_NOTE
            )
        await conn.execute(
            update(appointments)
            .where(and_(appointments.c.id == m["id"], appointments.c.status == m["status"]))
            .values(**values)
        )
        if target == Status.CANCELLED:
            for person in (m["prisoner_id"], m["clinician_id"]):
                await self._notify(
                    conn,
                    person,
                    "cancelled",
                    appointment_id=m["id"],
                    starts_at=m["starts_at"],
                    cause=values.get("outcome_category"),
                    # The prisoner may be told a prison-caused reason ("lockdown",
                    # "court"); a patient's or clinician's own code stays sealed.
                    reason=(
                        reason_code
                        if reason_code is not None and reason(reason_code).cause == Cause.PRISON
                        else None
                    ),
                )
        return m, await self._appointment_row(conn, m["id"])

    # ------------------------------------------------------------ reading

    async def appointment(
        self, actor: Principal, appointment_id: str, *, clinical: bool = True
    ) -> Appointment:
        """One appointment; `clinical=False` when the caller needs no clinical text."""
        require_permission(actor, Permission.APPOINTMENTS_DETAIL)
        async with self._db.connect() as conn:
            m = await self._appointment_row(conn, appointment_id)
        self._may_see(actor, m)
        return (await self._present(actor if clinical else None, [m]))[0]

    async def appointments(
        self,
        actor: Principal,
        *,
        start: datetime,
        end: datetime,
        prisoner_id: str | None = None,
        clinician_id: str | None = None,
        establishment_id: str | None = None,
        clinical: bool = True,
    ) -> list[Appointment]:
        """What this person may see. Officers use `officer_view`.

        Clinical text as `core.clinical` allows it to this reader; `clinical=False`
        when the caller needs none (FHIR, which carries no free text).
        """
        if end <= start or end - start > MAX_RANGE:
            raise ServiceError(
                Code.INVALID_REQUEST, "The range is up to 366 days, end after start."
            )
        a = appointments.c
        query = select(appointments, services.c.code.label("service_code")).join(
            services, services.c.id == a.service_id
        )
        query = query.where(and_(a.starts_at < end, a.ends_at > start))
        if actor.role == Role.PRISONER:
            query = query.where(a.prisoner_id == actor.account_id)
        elif not allows(actor, Permission.APPOINTMENTS_DETAIL):
            raise ServiceError(Code.FORBIDDEN)
        elif not allows(actor, Permission.ANY_ESTABLISHMENT):
            query = query.where(a.establishment_id == actor.establishment_id)
        elif establishment_id is not None:
            query = query.where(a.establishment_id == establishment_id)
        if prisoner_id is not None:
            query = query.where(a.prisoner_id == prisoner_id)
        if clinician_id is not None:
            query = query.where(a.clinician_id == clinician_id)
        async with self._db.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query.order_by(a.starts_at, a.id))]
        return await self._present(actor if clinical else None, rows)

    async def officer_view(
        self,
        actor: Principal,
        *,
        start: datetime,
        end: datetime,
        prisoner_id: str | None = None,
    ) -> list[OfficerAppointment]:
        """That a prisoner has an appointment, and when: no service, reason or notes."""
        require_permission(actor, Permission.APPOINTMENTS_READ)
        if end <= start or end - start > MAX_RANGE:
            raise ServiceError(
                Code.INVALID_REQUEST, "The range is up to 366 days, end after start."
            )
        a = appointments.c
        query = select(a.id, a.prisoner_id, a.starts_at, a.ends_at).where(
            and_(a.starts_at < end, a.ends_at > start, a.status.in_(ACTIVE))
        )
        if not allows(actor, Permission.ANY_ESTABLISHMENT):
            query = query.where(a.establishment_id == actor.establishment_id)
        if prisoner_id is not None:
            query = query.where(a.prisoner_id == prisoner_id)
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query.order_by(a.starts_at, a.id)))
            people = await self._prisoners(conn, {r.prisoner_id for r in rows})
            cells = await self._cells(conn, {r.prisoner_id for r in rows})
        return [
            OfficerAppointment(
                r.id,
                r.prisoner_id,
                r.starts_at,
                r.ends_at,
                prisoner_name=people.get(r.prisoner_id, (None, None))[0],
                prison_number=people.get(r.prisoner_id, (None, None))[1],
                cell=cells.get(r.prisoner_id),
            )
            for r in rows
        ]

    async def _prisoners(
        self, conn: AsyncConnection, ids: set[str]
    ) -> dict[str, tuple[str, str | None]]:
        """Prisoner id -> (name, prison number), decrypted."""
        if not ids:
            return {}
        c = accounts.c
        found: dict[str, tuple[str, str | None]] = {}
        for r in await conn.execute(
            select(c.id, c.display_name_enc, c.prison_number_enc).where(c.id.in_(sorted(ids)))
        ):
            name = self._cipher.decrypt(r.display_name_enc, row=r.id, column="display_name")
            number = self._open(r.prison_number_enc, r.id, "prison_number")
            found[r.id] = (name, number)
        return found

    async def _cells(self, conn: AsyncConnection, ids: set[str]) -> dict[str, str]:
        """Prisoner id -> their cell (`core.people`), else the cell of the (still enrolled)
        device they last signed in on, for prisoners officers have not placed yet."""
        if not ids:
            return {}
        placed = {p: c.name for p, c in (await cells_of(conn, sorted(ids))).items()}
        s, d = sessions.c, devices.c
        rows = await conn.execute(
            select(s.account_id, cells.c.name.label("cell"))
            .join(devices, d.id == s.device_id)
            .join(cells, cells.c.id == d.cell_id)
            .where(and_(s.account_id.in_(sorted(ids)), d.revoked_at.is_(None)))
            .order_by(s.created_at, s.id)
        )
        # Later sessions overwrite earlier ones: the last device wins.
        return {**{r.account_id: r.cell for r in rows}, **placed}

    async def waiting_room(self, actor: Principal) -> list[WaitingPatient]:
        """The clinician's own patients checked in and waiting now, across appointments."""
        require_permission(actor, Permission.WAITING_ROOM)
        now = self._clock.now()
        a = appointments.c
        query = select(a.id, a.prisoner_id, a.starts_at, a.ends_at, a.updated_at).where(
            and_(
                a.clinician_id == actor.account_id,
                a.status == Status.CHECKED_IN.value,
                a.starts_at <= now + self._join_early,
                a.ends_at >= now - WAITING_GRACE,
            )
        )
        async with self._db.connect() as conn:
            rows = list(await conn.execute(query.order_by(a.updated_at, a.id)))
            people = await self._prisoners(conn, {r.prisoner_id for r in rows})
        return [
            WaitingPatient(
                appointment_id=r.id,
                prisoner_id=r.prisoner_id,
                prisoner_name=people.get(r.prisoner_id, ("", None))[0],
                prison_number=people.get(r.prisoner_id, ("", None))[1],
                starts_at=r.starts_at,
                ends_at=r.ends_at,
                waiting_since=r.updated_at,
            )
            for r in rows
        ]

    async def _active_of(
        self,
        conn: AsyncConnection,
        *,
        prisoner_id: str | None = None,
        establishment_id: str | None = None,
    ) -> list[Any]:
        a = appointments.c
        conditions: list[ColumnElement[bool]] = [a.status.in_(ACTIVE)]
        if prisoner_id is not None:
            conditions.append(a.prisoner_id == prisoner_id)
        if establishment_id is not None:
            conditions.append(a.establishment_id == establishment_id)
        rows = await conn.execute(select(appointments).where(and_(*conditions)))
        return [r._mapping for r in rows]
