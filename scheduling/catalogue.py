"""Services, clinicians' weekly availability and its exceptions, and regime windows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, select

from core.db.schema import accounts, establishments
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.permissions import Permission, allows, require_permission
from scheduling.base import (
    ServiceBase,
    new_id,
    require_establishment,
    require_visible,
    service_from,
    text,
)
from scheduling.tables import (
    availability,
    availability_exceptions,
    regime_windows,
    service_readers,
    services,
)
from scheduling.times import clock_minute, hhmm, instant, weekday
from scheduling.types import EstablishmentView, Service

SERVICE_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
EXCEPTION_KINDS = ("leave", "extra")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_READERS = 50
READER_ROLES = (Role.CLINICIAN.value, Role.MANAGER.value)


@dataclass(frozen=True)
class AvailabilityRule:
    id: str
    clinician_id: str
    establishment_id: str
    service_id: str
    weekday: int
    start: str
    end: str


@dataclass(frozen=True)
class AvailabilityException:
    id: str
    clinician_id: str
    establishment_id: str
    service_id: str | None
    kind: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class RegimeWindow:
    id: str
    establishment_id: str
    label: str
    weekday: int
    start: str
    end: str


def _bounded_int(value: object, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ServiceError(Code.INVALID_REQUEST, f"The {name} is a whole number {low} to {high}.")
    return value


def _flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ServiceError(Code.INVALID_REQUEST, f"{name} must be true or false.")
    return value


class Catalogue(ServiceBase):
    async def establishments_for(self, actor: Principal) -> list[EstablishmentView]:
        """The establishments a manager (their own) or an admin (all) may report on."""
        require_permission(actor, Permission.SERVICES_MANAGE)
        e = establishments.c
        query = select(e.id, e.code, e.name, e.timezone).order_by(e.name, e.id)
        if not allows(actor, Permission.ANY_ESTABLISHMENT):
            query = query.where(e.id == actor.establishment_id)
        async with self._db.connect() as conn:
            rows = await conn.execute(query)
            return [EstablishmentView(r.id, r.code, r.name, r.timezone) for r in rows]

    # ------------------------------------------------------------ services

    async def create_service(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        code: object,
        name: object,
        minutes: object = 20,
        buffer_minutes: object = 5,
        target_days: object = 14,
        sensitive: object = False,
        escort_if_in_person: object = False,
    ) -> Service:
        require_permission(actor, Permission.SERVICES_MANAGE)
        require_establishment(actor, establishment_id)
        if not isinstance(code, str) or not SERVICE_CODE.match(code):
            raise ServiceError(
                Code.INVALID_REQUEST, "A service code is 2 to 32 lower-case letters or digits."
            )
        service = Service(
            id=new_id(),
            establishment_id=establishment_id,
            code=code,
            name=text(name, "name", required=True) or "",
            minutes=_bounded_int(minutes, "length in minutes", 5, 240),
            buffer_minutes=_bounded_int(buffer_minutes, "buffer in minutes", 0, 60),
            target_days=_bounded_int(target_days, "target in days", 0, 365),
            sensitive=bool(sensitive),
            escort_if_in_person=_flag(escort_if_in_person, "escort_if_in_person"),
        )
        async with self._db.begin() as conn:
            await self._zone_name(conn, establishment_id)
            taken = await conn.scalar(
                select(services.c.id).where(
                    and_(services.c.establishment_id == establishment_id, services.c.code == code)
                )
            )
            if taken is not None:
                raise ServiceError(Code.CONFLICT, "This establishment already has this service.")
            await conn.execute(insert(services).values(**service.__dict__))
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=establishment_id,
            subject=service.id,
            change="service_created",
            code=code,
        )
        return service

    async def list_services(self, establishment_id: str) -> list[Service]:
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(services)
                .where(services.c.establishment_id == establishment_id)
                .order_by(services.c.code)
            )
            return [service_from(r._mapping) for r in rows]

    async def service(self, service_id: str) -> Service:
        async with self._db.connect() as conn:
            return await self._service(conn, service_id)

    async def service_readers(self, actor: Principal, service_id: str) -> list[str]:
        """The staff a service names as readers of its clinical text (core.clinical)."""
        require_permission(actor, Permission.SERVICES_MANAGE)
        async with self._db.connect() as conn:
            service = await self._service(conn, service_id)
            require_visible(actor, service.establishment_id, "No such service.")
            rows = await conn.execute(
                select(service_readers.c.account_id)
                .where(service_readers.c.service_id == service.id)
                .order_by(service_readers.c.account_id)
            )
            return list(rows.scalars())

    async def set_service_readers(
        self, actor: Principal, service_id: str, account_ids: object
    ) -> list[str]:
        """Name who, besides each appointment's own clinician, reads a sensitive service's text.

        Each must be a clinician or healthcare manager of the service's
        establishment; the list replaces the last one.
        """
        require_permission(actor, Permission.SERVICES_MANAGE)
        if (
            not isinstance(account_ids, list)
            or len(account_ids) > MAX_READERS
            or not all(isinstance(a, str) and 0 < len(a) <= 36 for a in account_ids)
        ):
            raise ServiceError(
                Code.INVALID_REQUEST, f"The readers are a list of up to {MAX_READERS} account ids."
            )
        wanted = sorted(set(account_ids))
        async with self._db.begin() as conn:
            service = await self._service(conn, service_id)
            require_visible(actor, service.establishment_id, "No such service.")
            a = accounts.c
            found = {
                r.id
                for r in await conn.execute(
                    select(a.id).where(
                        and_(
                            a.id.in_(wanted),
                            a.role.in_(READER_ROLES),
                            a.establishment_id == service.establishment_id,
                            a.active.is_(True),
                        )
                    )
                )
            }
            if found != set(wanted):
                raise ServiceError(
                    Code.INVALID_REQUEST,
                    "A reader must be a clinician or healthcare manager of this establishment.",
                )
            await conn.execute(
                delete(service_readers).where(service_readers.c.service_id == service.id)
            )
            if wanted:
                await conn.execute(
                    insert(service_readers),
                    [{"service_id": service.id, "account_id": w} for w in wanted],
                )
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=service.establishment_id,
            subject=service.id,
            change="service_readers",
            readers=wanted,
        )
        return wanted

    # -------------------------------------------------------- availability

    async def add_availability(
        self,
        actor: Principal,
        *,
        clinician_id: object,
        service_id: object,
        weekday_value: object,
        start: object,
        end: object,
    ) -> AvailabilityRule:
        """A weekly recurring session, in the establishment's wall-clock time.

        Sessions of different services may overlap (the clinician offers either
        then); one that overlaps another of the same service is refused.
        """
        require_permission(actor, Permission.AVAILABILITY_MANAGE)
        if actor.role == Role.CLINICIAN and clinician_id != actor.account_id:
            raise ServiceError(Code.FORBIDDEN)
        day = weekday(weekday_value)
        start_minute = clock_minute(start, "start")
        end_minute = clock_minute(end, "end")
        if end_minute <= start_minute:
            raise ServiceError(Code.INVALID_REQUEST, "The end must be after the start.")
        rule_id = new_id()
        async with self._db.begin() as conn:
            service = await self._service(conn, service_id)
            require_visible(actor, service.establishment_id, "No such service.")
            clinician = await self._clinician_at(conn, clinician_id, service.establishment_id)
            clash = (
                await conn.execute(
                    select(availability.c.start_minute, availability.c.end_minute).where(
                        and_(
                            availability.c.clinician_id == clinician.id,
                            availability.c.service_id == service.id,
                            availability.c.weekday == day,
                            availability.c.start_minute < end_minute,
                            availability.c.end_minute > start_minute,
                        )
                    )
                )
            ).first()
            if clash is not None:
                raise ServiceError(
                    Code.CONFLICT,
                    f"This overlaps a session already set on {WEEKDAYS[day]}, "
                    f"{hhmm(clash.start_minute)} to {hhmm(clash.end_minute)}.",
                    extra={
                        "reason": "availability_overlap",
                        "weekday": day,
                        "start": hhmm(clash.start_minute),
                        "end": hhmm(clash.end_minute),
                    },
                )
            await conn.execute(
                insert(availability).values(
                    id=rule_id,
                    clinician_id=clinician.id,
                    establishment_id=service.establishment_id,
                    service_id=service.id,
                    weekday=day,
                    start_minute=start_minute,
                    end_minute=end_minute,
                    created_at=self._clock.now(),
                )
            )
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=service.establishment_id,
            subject=clinician.id,
            change="weekly_added",
            rule=rule_id,
        )
        return AvailabilityRule(
            rule_id,
            clinician.id,
            service.establishment_id,
            service.id,
            day,
            hhmm(start_minute),
            hhmm(end_minute),
        )

    async def remove_availability(self, actor: Principal, rule_id: str) -> None:
        require_permission(actor, Permission.AVAILABILITY_MANAGE)
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(availability).where(availability.c.id == rule_id))
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such availability.")
            require_visible(actor, row.establishment_id, "No such availability.")
            if actor.role == Role.CLINICIAN and row.clinician_id != actor.account_id:
                raise ServiceError(Code.FORBIDDEN)
            await conn.execute(delete(availability).where(availability.c.id == rule_id))
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=row.establishment_id,
            subject=row.clinician_id,
            change="weekly_removed",
            rule=rule_id,
        )

    async def availability_of(
        self, clinician_id: str, *, establishment_id: str | None = None
    ) -> list[AvailabilityRule]:
        """A clinician's weekly rules; only those at `establishment_id` when it is given."""
        query = select(availability).where(availability.c.clinician_id == clinician_id)
        if establishment_id is not None:
            query = query.where(availability.c.establishment_id == establishment_id)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                query.order_by(availability.c.weekday, availability.c.start_minute)
            )
            return [
                AvailabilityRule(
                    r.id,
                    r.clinician_id,
                    r.establishment_id,
                    r.service_id,
                    r.weekday,
                    hhmm(r.start_minute),
                    hhmm(r.end_minute),
                )
                for r in rows
            ]

    async def add_exception(
        self,
        actor: Principal,
        *,
        clinician_id: object,
        establishment_id: str,
        kind: object,
        starts_at: object,
        ends_at: object,
        service_id: object = None,
    ) -> AvailabilityException:
        """Leave (no consults) or a one-off extra session for one service."""
        require_permission(actor, Permission.AVAILABILITY_MANAGE)
        require_establishment(actor, establishment_id)
        if actor.role == Role.CLINICIAN and clinician_id != actor.account_id:
            raise ServiceError(Code.FORBIDDEN)
        if kind not in EXCEPTION_KINDS:
            raise ServiceError(Code.INVALID_REQUEST, "The kind is leave or extra.")
        start = instant(starts_at, "start")
        end = instant(ends_at, "end")
        if end <= start:
            raise ServiceError(Code.INVALID_REQUEST, "The end must be after the start.")
        exc_id = new_id()
        async with self._db.begin() as conn:
            clinician = await self._clinician_at(conn, clinician_id, establishment_id)
            x = availability_exceptions.c
            same = [x.clinician_id == clinician.id, x.kind == kind]
            if kind == "extra":
                same.append(x.service_id == service_id)
            clash = (
                await conn.execute(
                    select(x.starts_at, x.ends_at).where(
                        and_(*same, x.starts_at < end, x.ends_at > start)
                    )
                )
            ).first()
            if clash is not None:
                words = "leave" if kind == "leave" else "an extra session"
                raise ServiceError(
                    Code.CONFLICT,
                    f"This overlaps {words} already set, from {clash.starts_at.isoformat()} "
                    f"to {clash.ends_at.isoformat()}.",
                    extra={
                        "reason": f"{kind}_overlap",
                        "starts_at": clash.starts_at.isoformat(),
                        "ends_at": clash.ends_at.isoformat(),
                    },
                )
            service: Service | None = None
            if kind == "extra":
                service = await self._service(conn, service_id)
                if service.establishment_id != establishment_id:
                    raise ServiceError(Code.NOT_FOUND, "No such service.")
            await conn.execute(
                insert(availability_exceptions).values(
                    id=exc_id,
                    clinician_id=clinician.id,
                    establishment_id=establishment_id,
                    service_id=service.id if service else None,
                    kind=kind,
                    starts_at=start,
                    ends_at=end,
                    created_at=self._clock.now(),
                )
            )
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=establishment_id,
            subject=clinician.id,
            change=f"exception_{kind}",
            exception=exc_id,
        )
        return AvailabilityException(
            exc_id,
            clinician.id,
            establishment_id,
            service.id if service else None,
            str(kind),
            start,
            end,
        )

    async def exceptions_of(
        self, actor: Principal, clinician_id: str, *, establishment_id: str | None
    ) -> list[AvailabilityException]:
        """A clinician's leave and extra sessions that have not ended yet."""
        require_permission(actor, Permission.AVAILABILITY_MANAGE)
        if actor.role == Role.CLINICIAN and clinician_id != actor.account_id:
            raise ServiceError(Code.FORBIDDEN)
        x = availability_exceptions.c
        query = select(availability_exceptions).where(
            and_(x.clinician_id == clinician_id, x.ends_at > self._clock.now())
        )
        if establishment_id is not None:
            query = query.where(x.establishment_id == establishment_id)
        async with self._db.connect() as conn:
            rows = await conn.execute(query.order_by(x.starts_at))
            return [
                AvailabilityException(
                    r.id,
                    r.clinician_id,
                    r.establishment_id,
                    r.service_id,
                    r.kind,
                    r.starts_at,
                    r.ends_at,
                )
                for r in rows
            ]

    async def remove_exception(self, actor: Principal, exception_id: str) -> None:
        require_permission(actor, Permission.AVAILABILITY_MANAGE)
        x = availability_exceptions.c
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(availability_exceptions).where(x.id == exception_id))
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such leave or session.")
            require_visible(actor, row.establishment_id, "No such leave or session.")
            if actor.role == Role.CLINICIAN and row.clinician_id != actor.account_id:
                raise ServiceError(Code.FORBIDDEN)
            await conn.execute(delete(availability_exceptions).where(x.id == exception_id))
        await self._record(
            Action.AVAILABILITY_CHANGED,
            actor,
            establishment=row.establishment_id,
            subject=row.clinician_id,
            change=f"exception_{row.kind}_removed",
            exception=exception_id,
        )

    # ------------------------------------------------------ regime windows

    async def add_regime_window(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        label: object,
        weekday_value: object,
        start: object,
        end: object,
    ) -> RegimeWindow:
        """A weekly time no consult may be booked (roll check, meals, movement)."""
        require_permission(actor, Permission.REGIME_MANAGE)
        require_establishment(actor, establishment_id)
        name = text(label, "label", required=True) or ""
        if len(name) > 64:
            raise ServiceError(Code.INVALID_REQUEST, "The label is 1 to 64 characters.")
        day = weekday(weekday_value)
        start_minute = clock_minute(start, "start")
        end_minute = clock_minute(end, "end")
        if end_minute <= start_minute:
            raise ServiceError(Code.INVALID_REQUEST, "The end must be after the start.")
        window_id = new_id()
        async with self._db.begin() as conn:
            await self._zone_name(conn, establishment_id)
            await conn.execute(
                insert(regime_windows).values(
                    id=window_id,
                    establishment_id=establishment_id,
                    label=name,
                    weekday=day,
                    start_minute=start_minute,
                    end_minute=end_minute,
                    created_by=actor.account_id,
                    created_at=self._clock.now(),
                )
            )
        await self._record(
            Action.REGIME_CHANGED,
            actor,
            establishment=establishment_id,
            subject=window_id,
            change="added",
        )
        return RegimeWindow(
            window_id, establishment_id, name, day, hhmm(start_minute), hhmm(end_minute)
        )

    async def remove_regime_window(self, actor: Principal, window_id: str) -> None:
        require_permission(actor, Permission.REGIME_MANAGE)
        async with self._db.begin() as conn:
            row = (
                await conn.execute(select(regime_windows).where(regime_windows.c.id == window_id))
            ).first()
            if row is None:
                raise ServiceError(Code.NOT_FOUND, "No such regime window.")
            require_visible(actor, row.establishment_id, "No such regime window.")
            await conn.execute(delete(regime_windows).where(regime_windows.c.id == window_id))
        await self._record(
            Action.REGIME_CHANGED,
            actor,
            establishment=row.establishment_id,
            subject=window_id,
            change="removed",
        )

    async def regime_windows_of(self, establishment_id: str) -> list[RegimeWindow]:
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(regime_windows)
                .where(regime_windows.c.establishment_id == establishment_id)
                .order_by(regime_windows.c.weekday, regime_windows.c.start_minute)
            )
            return [
                RegimeWindow(
                    r.id,
                    r.establishment_id,
                    r.label,
                    r.weekday,
                    hhmm(r.start_minute),
                    hhmm(r.end_minute),
                )
                for r in rows
            ]
