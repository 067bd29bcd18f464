"""Slot search, and the same rules asked of one proposed booking.

A search walks forward one local day at a time and stops as soon as it has
enough slots, so finding the next twenty free slots costs one query for the
weekly rules and one per day walked for the appointments in the way, however
far ahead availability is published.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.identity import Principal, Role
from scheduling.base import ServiceBase, require_visible
from scheduling.desk import released
from scheduling.slots import (
    BusyIndex,
    Interval,
    WeeklyRule,
    candidates,
    contains,
    expand,
    merge,
    subtract,
    widen,
)
from scheduling.tables import (
    appointment_attendees,
    appointments,
    availability,
    availability_exceptions,
    lockdowns,
)
from scheduling.tables import regime_windows as regime_table
from scheduling.times import local_dates, local_instant
from scheduling.types import ACTIVE_STATUSES, Service, Slot

MAX_SEARCH_DAYS = 120
MAX_SLOTS = 200
LONGEST = timedelta(minutes=240)
MAX_BUFFER = timedelta(minutes=60)
"""No service is longer, nor has a longer buffer (`Catalogue.create_service` refuses more)."""
WINDOW = timedelta(hours=2)
ACTIVE = [s.value for s in ACTIVE_STATUSES]


def _clip(intervals: list[Interval], lo: datetime, hi: datetime) -> list[Interval]:
    return [(max(s, lo), min(e, hi)) for s, e in intervals if s < hi and e > lo]


@dataclass
class Plan:
    """Everything about one service's time at one establishment over a range."""

    tz: ZoneInfo
    rules: dict[str, list[WeeklyRule]] = field(default_factory=lambda: defaultdict(list))
    extras: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))
    leave: dict[str, list[Interval]] = field(default_factory=lambda: defaultdict(list))
    regime: list[WeeklyRule] = field(default_factory=list)
    # Communications restrictions in force: no consult of any kind then.
    lockdowns: list[Interval] = field(default_factory=list)
    # Plain lockdowns: in-cell video consults go ahead; an escorted visit does not.
    escort_lockdowns: list[Interval] = field(default_factory=list)

    @property
    def clinicians(self) -> list[str]:
        return sorted(set(self.rules) | set(self.extras))

    # Most clinicians share a weekly pattern: expand each distinct one once a day.
    _expanded: dict[tuple[tuple[WeeklyRule, ...], date], list[Interval]] = field(
        default_factory=dict
    )
    _bounds: dict[date, Interval] = field(default_factory=dict)

    def bounds(self, day: date) -> Interval:
        if day not in self._bounds:
            self._bounds[day] = local_instant(day, 0, self.tz), local_instant(day, 24 * 60, self.tz)
        return self._bounds[day]

    def available(self, clinician: str, day: date) -> list[Interval]:
        key = (tuple(self.rules.get(clinician, ())), day)
        weekly = self._expanded.get(key)
        if weekly is None:
            weekly = self._expanded[key] = merge(expand(key[0], day, self.tz))
        extras, leave = self.extras.get(clinician), self.leave.get(clinician)
        if not extras and not leave:
            return weekly
        lo, hi = self.bounds(day)
        offered = merge(weekly + _clip(extras or [], lo, hi))
        return subtract(offered, merge(_clip(leave or [], lo, hi)))

    def regime_on(self, day: date) -> list[Interval]:
        return merge(expand(self.regime, day, self.tz))

    def blocked(self, day: date) -> list[Interval]:
        lo, hi = self.bounds(day)
        return merge(self.regime_on(day) + _clip(self.lockdowns, lo, hi))

    def open(self, clinician: str, day: date) -> list[Interval]:
        return subtract(self.available(clinician, day), self.blocked(day))


class SlotSearch(ServiceBase):
    async def _plan(
        self,
        conn: AsyncConnection,
        service: Service,
        start: datetime,
        end: datetime,
        clinicians: list[str] | None = None,
    ) -> Plan:
        plan = Plan(tz=await self._zone(conn, service.establishment_id))
        # Whole local days either side, so a day's open time (and so its slot
        # grid) is the same however the search range cuts into it.
        start, end = start - timedelta(days=1), end + timedelta(days=1)
        # One row per distinct weekly session, naming everyone who holds it.
        av = availability.c
        rule_query = (
            select(
                av.weekday,
                av.start_minute,
                av.end_minute,
                func.aggregate_strings(av.clinician_id, ",").label("who"),
            )
            .where(av.service_id == service.id)
            .group_by(av.weekday, av.start_minute, av.end_minute)
        )
        if clinicians is not None:
            rule_query = rule_query.where(av.clinician_id.in_(clinicians))
        for r in await conn.execute(rule_query):
            rule = WeeklyRule(r.weekday, r.start_minute, r.end_minute)
            for clinician in r.who.split(","):
                plan.rules[clinician].append(rule)
        # Leave (anyone's: it is rare, and applies wherever they work) and this
        # service's extra sessions, in one query.
        exc = availability_exceptions.c
        exceptions = select(exc.clinician_id, exc.kind, exc.starts_at, exc.ends_at).where(
            and_(
                or_(exc.kind == "leave", and_(exc.kind == "extra", exc.service_id == service.id)),
                exc.starts_at < end,
                exc.ends_at > start,
            )
        )
        if clinicians is not None:
            exceptions = exceptions.where(exc.clinician_id.in_(clinicians))
        for x in await conn.execute(exceptions):
            target = plan.leave if x.kind == "leave" else plan.extras
            target[x.clinician_id].append((x.starts_at, x.ends_at))
        for rw in await conn.execute(
            select(
                regime_table.c.weekday, regime_table.c.start_minute, regime_table.c.end_minute
            ).where(regime_table.c.establishment_id == service.establishment_id)
        ):
            plan.regime.append(WeeklyRule(rw.weekday, rw.start_minute, rw.end_minute))
        for ld in await conn.execute(
            select(lockdowns.c.starts_at, lockdowns.c.ends_at, lockdowns.c.kind).where(
                and_(
                    lockdowns.c.establishment_id == service.establishment_id,
                    lockdowns.c.lifted_at.is_(None),
                    lockdowns.c.confirmed_at.is_not(None),
                    lockdowns.c.starts_at < end,
                    lockdowns.c.ends_at > start,
                )
            )
        ):
            if ld.kind == "communications":
                plan.lockdowns.append((ld.starts_at, ld.ends_at))
            else:
                plan.escort_lockdowns.append((ld.starts_at, ld.ends_at))
        return plan

    async def _busy(
        self,
        conn: AsyncConnection,
        *,
        clinicians: list[str],
        prisoner_id: str | None,
        start: datetime,
        end: datetime,
        buffer: timedelta,
        exclude: str | None = None,
    ) -> tuple[dict[str, BusyIndex], BusyIndex]:
        """Clinicians' time widened by buffers, and the prisoner's own appointments."""
        a = appointments.c
        who: list[ColumnElement[bool]] = [a.clinician_id.in_(clinicians)] if clinicians else []
        if prisoner_id is not None:
            who.append(a.prisoner_id == prisoner_id)
        by_clinician: dict[str, list[Interval]] = defaultdict(list)
        prisoner: list[Interval] = []
        if who:
            margin = MAX_BUFFER
            query = select(
                a.clinician_id, a.prisoner_id, a.starts_at, a.ends_at, a.buffer_minutes
            ).where(
                and_(
                    or_(*who),
                    a.status.in_(ACTIVE),
                    a.starts_at < end + margin,
                    # A lower bound on the indexed column keeps the index range
                    # to the day, not the person's whole history.
                    a.starts_at > start - margin - LONGEST,
                    a.ends_at > start - margin,
                )
            )
            if exclude is not None:
                query = query.where(a.id != exclude)
            for r in await conn.execute(query):
                pad = max(buffer, timedelta(minutes=r.buffer_minutes))
                by_clinician[r.clinician_id].append(widen((r.starts_at, r.ends_at), pad))
                if r.prisoner_id == prisoner_id:
                    prisoner.append((r.starts_at, r.ends_at))
        indexes = {c: BusyIndex(by_clinician.get(c, [])) for c in clinicians}
        return indexes, BusyIndex(prisoner)

    async def _same_sex_clinicians(
        self, conn: AsyncConnection, clinicians: list[str], prisoner_id: str
    ) -> list[str]:
        prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
        if prisoner.sex is None or not clinicians:
            return []
        rows = await conn.execute(
            select(accounts.c.id).where(
                and_(accounts.c.id.in_(clinicians), accounts.c.sex == prisoner.sex)
            )
        )
        keep = {r.id for r in rows}
        return [c for c in clinicians if c in keep]

    async def search_slots(
        self,
        *,
        service_id: str,
        start: datetime,
        end: datetime,
        clinician_id: str | None = None,
        prisoner_id: str | None = None,
        same_sex: bool = False,
        limit: int = 20,
        actor: Principal | None = None,
        chaperone: bool = False,
    ) -> list[Slot]:
        """Free slots; for an `actor`, only at their own establishment (admins: any).

        Another establishment's service or prisoner answers as a missing one.
        With `chaperone`, only times when one of the establishment's chaperones
        is not already invited to another consult.
        """
        if end <= start:
            raise ServiceError(Code.INVALID_REQUEST, "The end must be after the start.")
        if end - start > timedelta(days=MAX_SEARCH_DAYS):
            raise ServiceError(Code.INVALID_REQUEST, "Search at most 120 days at a time.")
        if not 1 <= limit <= MAX_SLOTS:
            raise ServiceError(Code.INVALID_REQUEST, "The limit is 1 to 200.")
        if same_sex and prisoner_id is None:
            raise ServiceError(Code.INVALID_REQUEST, "A same-sex search needs the prisoner.")
        start = max(start, self._clock.now())
        async with self._db.connect() as conn:
            service = await self._service(conn, service_id)
            if actor is not None:
                require_visible(actor, service.establishment_id, "No such service.")
            if prisoner_id is not None:
                prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
                if actor is not None:
                    require_visible(actor, prisoner.establishment_id, "No such prisoner.")
                if prisoner.id in await released(conn, [prisoner.id]):
                    raise ServiceError(
                        Code.CONFLICT,
                        "The prisoner has been released.",
                        extra={"reason": "prisoner_released"},
                    )
                if prisoner.establishment_id != service.establishment_id:
                    raise ServiceError(
                        Code.INVALID_REQUEST, "The prisoner is not at this service's establishment."
                    )
            plan = await self._plan(
                conn, service, start, end, None if clinician_id is None else [clinician_id]
            )
            clinicians = plan.clinicians
            if same_sex and prisoner_id is not None:
                clinicians = await self._same_sex_clinicians(conn, clinicians, prisoner_id)
            keep = None
            if chaperone:
                keep = await self._chaperone_free(conn, service.establishment_id, start, end)
            return await self._walk(
                conn, plan, service, clinicians, prisoner_id, start, end, limit, keep
            )

    async def _chaperone_free(
        self, conn: AsyncConnection, establishment_id: str, start: datetime, end: datetime
    ) -> Callable[[datetime, datetime], bool]:
        """Whether some chaperone of the establishment is free over a slot."""
        c = accounts.c
        people = [
            r.id
            for r in await conn.execute(
                select(c.id).where(
                    and_(
                        c.establishment_id == establishment_id,
                        c.role == Role.CHAPERONE.value,
                        c.active.is_(True),
                    )
                )
            )
        ]
        taken: dict[str, list[Interval]] = {p: [] for p in people}
        if people:
            a, at = appointments.c, appointment_attendees.c
            for r in await conn.execute(
                select(at.account_id, a.starts_at, a.ends_at)
                .join(appointments, a.id == at.appointment_id)
                .where(
                    and_(
                        at.account_id.in_(people),
                        a.status.in_(ACTIVE),
                        a.starts_at < end,
                        a.ends_at > start,
                    )
                )
            ):
                taken[r.account_id].append((r.starts_at, r.ends_at))
        indexes = [BusyIndex(v) for v in taken.values()]
        return lambda s, e: any(not i.overlaps(s, e) for i in indexes)

    async def _walk(
        self,
        conn: AsyncConnection,
        plan: Plan,
        service: Service,
        clinicians: list[str],
        prisoner_id: str | None,
        start: datetime,
        end: datetime,
        limit: int,
        keep: Callable[[datetime, datetime], bool] | None = None,
    ) -> list[Slot]:
        length = timedelta(minutes=service.minutes)
        buffer = timedelta(minutes=service.buffer_minutes)
        found: list[Slot] = []
        if not clinicians:
            return found
        for day in local_dates(start, end, plan.tz):
            blocked = plan.blocked(day)
            opened: dict[str, list[Interval]] = {}
            for clinician in clinicians:
                free = subtract(plan.available(clinician, day), blocked)
                # Time already past (or too short to finish) needs no query.
                free = [iv for iv in free if iv[1] >= start + length and iv[0] + length <= end]
                if free:
                    opened[clinician] = free
            if not opened:
                continue
            step = length + buffer
            day_slots = sorted(
                (slot_start, clinician)
                for clinician, free in opened.items()
                for slot_start in candidates(free, length, step, not_before=start)
                if slot_start + length <= end
            )
            # Check the day's candidates a window at a time, earliest first, so
            # a search that is satisfied early reads only those hours' bookings.
            i = 0
            while i < len(day_slots) and len(found) < limit:
                window_start = day_slots[i][0]
                window_end = window_start + WINDOW
                j = bisect_left(day_slots, (window_end, ""), lo=i)
                chunk = day_slots[i:j]
                i = j
                busy, prisoner_busy = await self._busy(
                    conn,
                    clinicians=sorted({clinician for _, clinician in chunk}),
                    prisoner_id=prisoner_id,
                    start=window_start,
                    end=window_end + length,
                    buffer=buffer,
                )
                for slot_start, clinician in chunk:
                    slot_end = slot_start + length
                    if busy[clinician].overlaps(slot_start, slot_end):
                        continue
                    if prisoner_busy.overlaps(slot_start, slot_end):
                        continue
                    if keep is not None and not keep(slot_start, slot_end):
                        continue
                    found.append(Slot(clinician, service.id, slot_start, slot_end))
                    if len(found) >= limit:
                        break
            if len(found) >= limit:
                break
        return found

    async def _check_bookable(
        self,
        conn: AsyncConnection,
        service: Service,
        clinician_id: str,
        start: datetime,
        end: datetime,
        *,
        escorted: bool = False,
    ) -> None:
        """Refuse a time outside availability, inside a regime window, inside a
        communications restriction, or (for a visit that needs an escort) a lockdown."""
        plan = await self._plan(conn, service, start, end, [clinician_id])
        days = local_dates(start, end, plan.tz)
        available = merge(iv for day in days for iv in plan.available(clinician_id, day))
        if not contains(available, start, end):
            if BusyIndex(merge(plan.leave.get(clinician_id, []))).overlaps(start, end):
                raise ServiceError(
                    Code.CONFLICT,
                    "The clinician is on leave at this time.",
                    extra={"reason": "clinician_on_leave"},
                )
            raise ServiceError(
                Code.CONFLICT,
                "The clinician is not available at this time.",
                extra={"reason": "clinician_unavailable"},
            )
        regime = merge(iv for day in days for iv in plan.regime_on(day))
        if BusyIndex(regime).overlaps(start, end):
            raise ServiceError(
                Code.CONFLICT,
                "This time is inside a regime window.",
                extra={"reason": "regime_window"},
            )
        if BusyIndex(plan.lockdowns).overlaps(start, end):
            raise ServiceError(
                Code.CONFLICT,
                "Calls are restricted at the establishment at this time.",
                extra={"reason": "restricted"},
            )
        if escorted and BusyIndex(plan.escort_lockdowns).overlaps(start, end):
            raise ServiceError(
                Code.CONFLICT,
                "The establishment is in lockdown at this time.",
                extra={"reason": "lockdown"},
            )


def slot_dict(slot: Slot) -> dict[str, Any]:
    return {
        "clinician_id": slot.clinician_id,
        "service_id": slot.service_id,
        "starts_at": slot.starts_at.isoformat(),
        "ends_at": slot.ends_at.isoformat(),
    }
