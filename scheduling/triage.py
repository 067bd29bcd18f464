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
from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal, Role
from core.permissions import Permission, require_permission
from scheduling.base import (
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
        fields = [
            SealedField(m["text_enc"], m["prisoner_id"], REQUEST_TEXT, m["id"])
            for m, how in zip(rows, hows, strict=True)
            if how != Reading.WITHHOLD
        ]
        opened = iter(await self._subject_keys.open_many(conn, fields))
        now = self._clock.now()
        found = []
        for m, how in zip(rows, hows, strict=True):
            status, body = TextStatus.WITHHELD, None
            if how != Reading.WITHHOLD:
                value = next(opened)
                status = text_status([value])
                body = value if isinstance(value, str) else None
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
            )
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
        self, actor: Principal, establishment_id: str, *, status: str | None = None
    ) -> list[HealthRequest]:
        """Open requests, oldest first (urgent ones at the top)."""
        require_permission(actor, Permission.HEALTH_REQUESTS_READ)
        require_establishment(actor, establishment_id)
        wanted = OPEN if status is None else (status,)
        found = await self._present_requests(
            actor,
            self._query()
            .where(
                and_(
                    health_requests.c.establishment_id == establishment_id,
                    health_requests.c.status.in_(wanted),
                )
            )
            .order_by(health_requests.c.created_at),
        )
        return sorted(found, key=lambda r: (r.urgency != "urgent", r.created_at))

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
                raise ServiceError(Code.CONFLICT, "This request is no longer open.")
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
