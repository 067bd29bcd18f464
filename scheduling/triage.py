"""Health appointment requests: a receipt at once, a triage queue, and the wait
measured against the service's target.

The request's text is clinical free text under the prisoner's own key; who
reads it is `core.clinical`'s rule, with the request's service (once triaged)
and the clinician of the consult it was booked into (once booked) as context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clinical import ClinicalRecord, Reading, reading
from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal, Role
from core.permissions import Permission, require_permission
from scheduling.base import (
    REQUEST_RESPONSE,
    REQUEST_TEXT,
    Readings,
    ServiceBase,
    new_id,
    require_establishment,
    require_visible,
    text,
    text_status,
)
from scheduling.tables import appointments, health_requests, services
from scheduling.types import HealthRequest, TextStatus

CATEGORIES = ("general", "dental", "mental_health", "substance_misuse", "medication", "other")
URGENCIES = ("routine", "soon", "urgent")
OPEN = ("received", "triaged")
# How a request closes without a consult: the words the prisoner reads, and its new status.
DECISIONS = {"advise": "advised", "decline": "declined"}
# The queue's order: most urgent first (untriaged ones after "soon"), then oldest.
URGENCY_RANK = {"urgent": 0, "soon": 1, None: 2, "routine": 3}


class Triage(ServiceBase):
    async def _requests_in(
        self,
        conn: AsyncConnection,
        reader: Principal,
        rows: Sequence[Mapping[Any, Any]],
        readings: Readings,
    ) -> list[HealthRequest]:
        """Each request as this reader may see it; a manager's readings go into `readings`."""
        access = await self._access(conn, {m["service_id"] for m in rows if m["service_id"]})
        hows = []
        for m in rows:
            sensitive, named = access.get(m["service_id"], (False, frozenset[str]()))
            record = ClinicalRecord(
                m["establishment_id"], m["prisoner_id"], m["booked_by_clinician"], sensitive, named
            )
            hows.append(reading(reader, record))
        fields = []
        for m, how in zip(rows, hows, strict=True):
            if how != Reading.WITHHOLD:
                fields.append(SealedField(m["text_enc"], m["prisoner_id"], REQUEST_TEXT, m["id"]))
                if m["response_enc"] is not None:
                    fields.append(
                        SealedField(m["response_enc"], m["prisoner_id"], REQUEST_RESPONSE, m["id"])
                    )
        opened = iter(await self._subject_keys.open_many(conn, fields))
        now = self._clock.now()
        found = []
        for m, how in zip(rows, hows, strict=True):
            status, body, response = TextStatus.WITHHELD, None, None
            if how != Reading.WITHHOLD:
                value = next(opened)
                answer = next(opened) if m["response_enc"] is not None else None
                status = text_status([value])
                body = value if isinstance(value, str) else None
                response = answer if isinstance(answer, str) else None
                if body is not None and how == Reading.SHOW_AND_LOG:
                    readings.add("requests", m["establishment_id"], m["prisoner_id"], m["id"])
            # The wait runs from asking until a consult is booked (or the request closes).
            end = m["booked_at"] or now
            found.append(
                HealthRequest(
                    id=m["id"],
                    prisoner_id=m["prisoner_id"],
                    establishment_id=m["establishment_id"],
                    category=m["category"],
                    text=body,
                    status=m["status"],
                    urgency=m["urgency"],
                    service_id=m["service_id"],
                    created_at=m["created_at"],
                    triaged_at=m["triaged_at"],
                    triaged_by=m["triaged_by"],
                    appointment_id=m["appointment_id"],
                    waited_days=round((end - m["created_at"]).total_seconds() / 86400, 2),
                    target_days=m["target_days"],
                    text_status=status,
                    response=response,
                    prisoner_name=self._open(
                        m["display_name_enc"], m["prisoner_id"], "display_name"
                    ),
                    prison_number=self._open(
                        m["prison_number_enc"], m["prisoner_id"], "prison_number"
                    ),
                )
            )
        return found

    async def _present_requests(self, reader: Principal, query: Any) -> list[HealthRequest]:
        readings = Readings()
        async with self._db.connect() as conn:
            rows = [r._mapping for r in await conn.execute(query)]
            found = await self._requests_in(conn, reader, rows, readings)
        await self._log_readings(reader, readings)
        return found

    def _query(self) -> Any:
        return (
            select(
                health_requests,
                services.c.target_days,
                appointments.c.created_at.label("booked_at"),
                appointments.c.clinician_id.label("booked_by_clinician"),
                accounts.c.display_name_enc,
                accounts.c.prison_number_enc,
            )
            .join(accounts, accounts.c.id == health_requests.c.prisoner_id)
            .outerjoin(services, services.c.id == health_requests.c.service_id)
            .outerjoin(appointments, appointments.c.id == health_requests.c.appointment_id)
        )

    async def make_request(
        self, actor: Principal, *, category: object, text_value: object
    ) -> HealthRequest:
        """A prisoner asks; the receipt comes back at once."""
        require_permission(actor, Permission.HEALTH_REQUESTS_CREATE)
        if category not in CATEGORIES:
            raise ServiceError(
                Code.INVALID_REQUEST, "The category is one of " + ", ".join(CATEGORIES) + "."
            )
        body = text(text_value, "request", required=True) or ""
        request_id = new_id()
        async with self._db.begin() as conn:
            prisoner = await self._person(conn, actor.account_id, Role.PRISONER)
            await conn.execute(
                insert(health_requests).values(
                    id=request_id,
                    prisoner_id=prisoner.id,
                    establishment_id=prisoner.establishment_id,
                    category=category,
                    text_enc=await self._seal(conn, prisoner.id, body, request_id, REQUEST_TEXT),
                    status="received",
                    created_at=self._clock.now(),
                )
            )
            await self._notify(conn, prisoner.id, "request_received", request=request_id)
        await self._record(
            Action.REQUEST_MADE,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            request=request_id,
            category=category,
        )
        [receipt] = await self._present_requests(
            actor, self._query().where(health_requests.c.id == request_id)
        )
        return receipt

    async def my_requests(self, actor: Principal) -> list[HealthRequest]:
        require_permission(actor, Permission.HEALTH_REQUESTS_CREATE)
        return await self._present_requests(
            actor,
            self._query()
            .where(health_requests.c.prisoner_id == actor.account_id)
            .order_by(health_requests.c.created_at.desc()),
        )

    async def triage_queue(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        status: str | None = None,
        service_id: str | None = None,
    ) -> list[HealthRequest]:
        """Open requests, most urgent first and then oldest; one service's when it is given."""
        require_permission(actor, Permission.HEALTH_REQUESTS_READ)
        require_establishment(actor, establishment_id)
        wanted = OPEN if status is None else (status,)
        where = [
            health_requests.c.establishment_id == establishment_id,
            health_requests.c.status.in_(wanted),
        ]
        if service_id is not None:
            where.append(health_requests.c.service_id == service_id)
        found = await self._present_requests(
            actor, self._query().where(and_(*where)).order_by(health_requests.c.created_at)
        )
        return sorted(found, key=lambda r: (URGENCY_RANK.get(r.urgency, 2), r.created_at))

    async def health_request(self, actor: Principal, request_id: str) -> HealthRequest:
        """One request: its prisoner's own, or one of the reader's establishment."""
        require_permission(actor, Permission.HEALTH_REQUESTS_READ)
        found = await self._present_requests(
            actor, self._query().where(health_requests.c.id == request_id)
        )
        if not found:
            raise ServiceError(Code.NOT_FOUND, "No such request.")
        [one] = found
        if actor.role == Role.PRISONER:
            if one.prisoner_id != actor.account_id:
                raise ServiceError(Code.NOT_FOUND, "No such request.")
        else:
            require_visible(actor, one.establishment_id, "No such request.")
        return one

    async def answer_request(
        self, actor: Principal, request_id: str, *, decision: object, message: object
    ) -> HealthRequest:
        """Close a request without a consult: advice, or a decline with its reason.

        The words are for the prisoner, who reads them with their request; the
        notice in their inbox says only that there is an answer.
        """
        require_permission(actor, Permission.HEALTH_REQUESTS_TRIAGE)
        if decision not in DECISIONS:
            raise ServiceError(Code.INVALID_REQUEST, "The decision is advise or decline.")
        words = text(message, "message", required=True) or ""
        status = DECISIONS[str(decision)]
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(health_requests).where(health_requests.c.id == request_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such request.")
            require_visible(actor, row.establishment_id, "No such request.")
            changed = await conn.execute(
                update(health_requests)
                .where(and_(health_requests.c.id == request_id, health_requests.c.status.in_(OPEN)))
                .values(
                    status=status,
                    response_enc=await self._seal(
                        conn, row.prisoner_id, words, request_id, REQUEST_RESPONSE
                    ),
                    triaged_at=row.triaged_at or now,
                    triaged_by=row.triaged_by or actor.account_id,
                )
            )
            if changed.rowcount != 1:
                raise ServiceError(
                    Code.CONFLICT,
                    "This request is no longer open.",
                    extra={"reason": "request_closed"},
                )
            await self._notify(conn, row.prisoner_id, f"request_{status}", request=request_id)
        await self._record(
            Action.REQUEST_ANSWERED,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            request=request_id,
            decision=status,
        )
        return await self.health_request(actor, request_id)

    async def triage(
        self, actor: Principal, request_id: str, *, urgency: object, service_id: object
    ) -> HealthRequest:
        require_permission(actor, Permission.HEALTH_REQUESTS_TRIAGE)
        if urgency not in URGENCIES:
            raise ServiceError(Code.INVALID_REQUEST, "The urgency is routine, soon or urgent.")
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    select(health_requests).where(health_requests.c.id == request_id)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such request.")
            require_visible(actor, row.establishment_id, "No such request.")
            service = await self._service(conn, service_id)
            if service.establishment_id != row.establishment_id:
                raise ServiceError(Code.NOT_FOUND, "No such service.")
            changed = await conn.execute(
                update(health_requests)
                .where(and_(health_requests.c.id == request_id, health_requests.c.status.in_(OPEN)))
                .values(
                    status="triaged",
                    urgency=urgency,
                    service_id=service.id,
                    triaged_at=now,
                    triaged_by=actor.account_id,
                )
            )
            if changed.rowcount != 1:
                raise ServiceError(
                    Code.CONFLICT,
                    "This request is no longer open.",
                    extra={"reason": "request_closed"},
                )
            await self._notify(conn, row.prisoner_id, "request_triaged", request=request_id)
        await self._record(
            Action.REQUEST_TRIAGED,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            request=request_id,
            urgency=urgency,
            service=service.code,
        )
        [done] = await self._present_requests(
            actor, self._query().where(health_requests.c.id == request_id)
        )
        return done
