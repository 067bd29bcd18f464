"""Health appointment requests: a receipt at once, a triage queue, and the wait
measured against the service's target."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select, update

from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from scheduling.base import ServiceBase, new_id, require_establishment, require_role, text
from scheduling.tables import appointments, health_requests, services
from scheduling.types import HealthRequest

CATEGORIES = ("general", "dental", "mental_health", "substance_misuse", "medication", "other")
URGENCIES = ("routine", "soon", "urgent")
OPEN = ("received", "triaged")
TRIAGERS = (Role.CLINICIAN, Role.MANAGER, Role.ADMIN)


class Triage(ServiceBase):
    def _request(self, m: Any, now: datetime) -> HealthRequest:
        # The wait runs from asking until a consult is booked (or the request closes).
        end = m["booked_at"] or now
        return HealthRequest(
            id=m["id"],
            prisoner_id=m["prisoner_id"],
            establishment_id=m["establishment_id"],
            category=m["category"],
            text=self._open(m["text_enc"], m["id"], "text") or "",
            status=m["status"],
            urgency=m["urgency"],
            service_id=m["service_id"],
            created_at=m["created_at"],
            triaged_at=m["triaged_at"],
            triaged_by=m["triaged_by"],
            appointment_id=m["appointment_id"],
            waited_days=round((end - m["created_at"]).total_seconds() / 86400, 2),
            target_days=m["target_days"],
        )

    def _query(self) -> Any:
        return (
            select(
                health_requests,
                services.c.target_days,
                appointments.c.created_at.label("booked_at"),
            )
            .outerjoin(services, services.c.id == health_requests.c.service_id)
            .outerjoin(appointments, appointments.c.id == health_requests.c.appointment_id)
        )

    async def make_request(
        self, actor: Principal, *, category: object, text_value: object
    ) -> HealthRequest:
        """A prisoner asks; the receipt comes back at once."""
        require_role(actor, Role.PRISONER)
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
                    text_enc=self._seal(body, request_id, "text"),
                    status="received",
                    created_at=self._clock.now(),
                )
            )
            row = (
                await conn.execute(self._query().where(health_requests.c.id == request_id))
            ).one()
        await self._record(
            Action.REQUEST_MADE,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            request=request_id,
            category=category,
        )
        return self._request(row._mapping, self._clock.now())

    async def my_requests(self, actor: Principal) -> list[HealthRequest]:
        require_role(actor, Role.PRISONER)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                self._query()
                .where(health_requests.c.prisoner_id == actor.account_id)
                .order_by(health_requests.c.created_at.desc())
            )
            now = self._clock.now()
            return [self._request(r._mapping, now) for r in rows]

    async def triage_queue(
        self, actor: Principal, establishment_id: str, *, status: str | None = None
    ) -> list[HealthRequest]:
        """Open requests, oldest first (urgent ones at the top)."""
        require_role(actor, *TRIAGERS)
        require_establishment(actor, establishment_id)
        wanted = OPEN if status is None else (status,)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                self._query()
                .where(
                    and_(
                        health_requests.c.establishment_id == establishment_id,
                        health_requests.c.status.in_(wanted),
                    )
                )
                .order_by(health_requests.c.created_at)
            )
            now = self._clock.now()
            found = [self._request(r._mapping, now) for r in rows]
        return sorted(found, key=lambda r: (r.urgency != "urgent", r.created_at))

    async def triage(
        self, actor: Principal, request_id: str, *, urgency: object, service_id: object
    ) -> HealthRequest:
        require_role(actor, *TRIAGERS)
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
            require_establishment(actor, row.establishment_id)
            service = await self._service(conn, service_id)
            if service.establishment_id != row.establishment_id:
                raise ServiceError(Code.INVALID_REQUEST, "The service is not offered here.")
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
            fresh = (
                await conn.execute(self._query().where(health_requests.c.id == request_id))
            ).one()
        await self._record(
            Action.REQUEST_TRIAGED,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            request=request_id,
            urgency=urgency,
            service=service.code,
        )
        return self._request(fresh._mapping, now)
