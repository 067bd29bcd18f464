"""Reports a manager can act on, computed in the store over appointments and call summaries.

Every report is for one establishment and a period of local dates in a time
zone (the establishment's unless another is named), at most a year long. The
counting happens in SQL; percentiles too on PostgreSQL (`percentile_cont`),
while on SQLite, which has none, the one column is fetched and the same
percentile taken in Python (`_percentile`, the same linear interpolation).

What each figure means (docs/reports.md):
- misses: did-not-attend split by cause (prison, patient, clinician) plus
  "not recorded" (a window that closed with no outcome), and cancellations by cause;
- waits: from the later of first arrival and scheduled start to the first admit;
  re-admits after a drop apart;
- calls: answered, unanswered (still waiting at the end), abandoned (left the
  waiting room unadmitted); a call shorter than the establishment's minimum is not a consult;
- quality: per call, the worst loss and lowest bitrate any side reported;
- escorts: completed video consults of services flagged `escort_if_in_person`,
  times the establishment's configured cost per escort;
- precall: pre-call tests finished in the period, and failures, by wing;
- requests: health requests' waiting time against their service's target;
- attendance: per call, who was present when and on hold when, by role
  (`call_summaries.presence`: roles and times, never a name or anything clinical).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.sql import ColumnElement

from core.db.schema import establishments, wings
from core.errors import Code, ServiceError
from core.identity import Principal
from core.permissions import Permission, require_permission
from scheduling.base import require_establishment
from scheduling.call_summaries import CallSummaries
from scheduling.tables import (
    appointments,
    call_summaries,
    health_requests,
    services,
    test_calls,
)

MAX_DAYS = 366
QUALITY_ROWS = 100
"""Calls listed one by one in the quality report (worst first); exports list them all."""
ATTENDANCE_ROWS = 100
"""Calls listed in the attendance report on the page (newest first); exports list them all."""
REPORTS = ("misses", "waits", "calls", "quality", "escorts", "precall", "requests", "attendance")
CAUSES = ("prison", "patient", "clinician")
LOSS_BANDS = (("lt1", None, 1.0), ("1to5", 1.0, 5.0), ("5to10", 5.0, 10.0), ("gt10", 10.0, None))


@dataclass(frozen=True)
class Period:
    establishment_id: str
    first: date
    last: date
    zone: str
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "establishment_id": self.establishment_id,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "tz": self.zone,
        }


def _date(value: object, name: str) -> date:
    if not isinstance(value, str):
        raise ServiceError(Code.INVALID_REQUEST, f"{name} is a date (YYYY-MM-DD).")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, f"{name} is a date (YYYY-MM-DD).") from None


def _percentile(values: Sequence[float], fraction: float) -> float | None:
    """PostgreSQL's `percentile_cont`: linear interpolation between the closest ranks."""
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _presence_rows(stored: str) -> list[dict[str, Any]]:
    """A stored presence (checked field by field when kept) as the report's rows."""
    rows = json.loads(stored)
    return [
        {
            "role": row["role"],
            "n": row["n"],
            "present": row["present"],
            "on_hold": row["on_hold"],
        }
        for row in rows
    ]


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


class Reports(CallSummaries):
    """Part of `SchedulingService`: the manager's reports."""

    async def report_period(
        self,
        actor: Principal,
        establishment_id: object,
        first: object,
        last: object,
        zone: object = None,
    ) -> Period:
        """Check who asks and what for, before any figure is counted."""
        require_permission(actor, Permission.REPORTS_READ)
        if not isinstance(establishment_id, str) or not 1 <= len(establishment_id) <= 36:
            raise ServiceError(Code.INVALID_REQUEST, "establishment is required.")
        require_establishment(actor, establishment_id)
        start_day, end_day = _date(first, "from"), _date(last, "to")
        if end_day < start_day:
            raise ServiceError(Code.INVALID_REQUEST, "The period ends before it starts.")
        if (end_day - start_day).days + 1 > MAX_DAYS:
            raise ServiceError(Code.INVALID_REQUEST, "The period is at most a year.")
        async with self._db.connect() as conn:
            home = (
                await conn.execute(
                    select(establishments.c.timezone).where(establishments.c.id == establishment_id)
                )
            ).scalar()
        if home is None:
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        name = zone if zone not in (None, "") else home
        try:
            # Loading a zone reads a file the first time: off the event loop.
            tz = (
                await asyncio.to_thread(ZoneInfo, name)
                if isinstance(name, str) and len(name) <= 64
                else None
            )
        except (ZoneInfoNotFoundError, ValueError):
            tz = None
        if tz is None or not isinstance(name, str):
            raise ServiceError(Code.INVALID_REQUEST, "tz is not a known time zone.")
        start = datetime.combine(start_day, datetime.min.time(), tz).astimezone(UTC)
        end = datetime.combine(end_day + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
        return Period(establishment_id, start_day, end_day, name, start, end)

    async def report(self, period: Period, name: str, *, full: bool = False) -> dict[str, Any]:
        """One report; `full` lists every call in the quality and attendance reports (exports)."""
        if name not in REPORTS:
            raise ServiceError(Code.NOT_FOUND, "No such report.")
        async with self._db.connect() as conn:
            if name == "quality" and full:
                figures = await self._report_quality(conn, period, limit=None)
            elif name == "attendance" and full:
                figures = await self._report_attendance(conn, period, limit=None)
            else:
                figures = await getattr(self, f"_report_{name}")(conn, period)
        return {"report": name, "period": period.as_dict(), **figures}

    async def dashboard(self, period: Period) -> dict[str, Any]:
        """Every report of the dashboard: on PostgreSQL each on its own pooled connection at
        once (the store does the work; the wall time is the slowest report, not the sum);
        SQLite has one writer and little to gain, so one connection in turn."""
        out: dict[str, Any] = {"period": period.as_dict()}
        if self._db.is_sqlite:
            async with self._db.connect() as conn:
                for name in REPORTS:
                    out[name] = await getattr(self, f"_report_{name}")(conn, period)
            return out

        async def one(name: str) -> dict[str, Any]:
            async with self._db.connect() as conn:
                figures: dict[str, Any] = await getattr(self, f"_report_{name}")(conn, period)
                return figures

        for name, figures in zip(
            REPORTS, await asyncio.gather(*(one(n) for n in REPORTS)), strict=True
        ):
            out[name] = figures
        return out

    # ------------------------------------------------------------ helpers

    def _seconds(self, earlier: Any, later: Any) -> ColumnElement[Any]:
        if self._db.is_sqlite:
            return (func.julianday(later) - func.julianday(earlier)) * 86400.0
        return func.extract("epoch", later - earlier)

    async def _percentiles(
        self, conn: Any, column: Any, where: ColumnElement[bool], *joins: Any
    ) -> tuple[float | None, float | None]:
        """Median and 90th percentile of a column, in SQL where the store can."""
        source: Any = call_summaries
        for table, on in joins:
            source = source.join(table, on)
        if not self._db.is_sqlite:
            row = (
                await conn.execute(
                    select(
                        func.percentile_cont(0.5).within_group(column),
                        func.percentile_cont(0.9).within_group(column),
                    )
                    .select_from(source)
                    .where(and_(where, column.is_not(None)))
                )
            ).one()
            return _round(row[0]), _round(row[1])
        values = [
            float(v)
            for (v,) in await conn.execute(
                select(column).select_from(source).where(and_(where, column.is_not(None)))
            )
        ]
        return _round(_percentile(values, 0.5)), _round(_percentile(values, 0.9))

    @staticmethod
    def _calls_in(period: Period) -> ColumnElement[bool]:
        c = call_summaries.c
        return and_(
            c.establishment_id == period.establishment_id,
            c.scheduled_start >= period.start,
            c.scheduled_start < period.end,
        )

    # ------------------------------------------------------------ the reports

    async def _report_misses(self, conn: Any, period: Period) -> dict[str, Any]:
        a = appointments.c
        rows = await conn.execute(
            select(a.status, a.outcome_category, func.count())
            .where(
                a.establishment_id == period.establishment_id,
                a.starts_at >= period.start,
                a.starts_at < period.end,
            )
            .group_by(a.status, a.outcome_category)
        )
        booked = completed = not_recorded = 0
        missed = dict.fromkeys(CAUSES, 0)
        cancelled = {**dict.fromkeys(CAUSES, 0), "none": 0}
        for status, cause, n in rows:
            booked += n
            if status == "completed":
                completed += n
            elif status == "not_recorded":
                not_recorded += n
            elif status == "did_not_attend":
                if cause in missed:
                    missed[cause] += n
                else:
                    not_recorded += n
            elif status == "cancelled":
                cancelled[cause if cause in CAUSES else "none"] += n
        return {
            "booked": booked,
            "completed": completed,
            "did_not_attend": {**missed, "not_recorded": not_recorded},
            "cancelled": cancelled,
        }

    async def _report_waits(self, conn: Any, period: Period) -> dict[str, Any]:
        c = call_summaries.c
        where = self._calls_in(period)
        counts = (
            func.count(c.wait_s),
            func.coalesce(func.sum(case((c.admits > 1, c.admits - 1), else_=0)), 0),
            func.count(case((c.admits > 1, 1))),
        )
        if not self._db.is_sqlite:
            # One pass: percentiles skip NULLs, so the re-admit figures take only re-admits.
            readmit = case((c.admits > 1, c.readmit_wait_s))
            row = (
                await conn.execute(
                    select(
                        *counts,
                        func.percentile_cont(0.5).within_group(c.wait_s),
                        func.percentile_cont(0.9).within_group(c.wait_s),
                        func.percentile_cont(0.5).within_group(readmit),
                        func.percentile_cont(0.9).within_group(readmit),
                    ).where(where)
                )
            ).one()
            median, p90, re_median, re_p90 = (_round(v) for v in row[3:7])
        else:
            median, p90 = await self._percentiles(conn, c.wait_s, where)
            re_median, re_p90 = await self._percentiles(
                conn, c.readmit_wait_s, and_(where, c.admits > 1)
            )
            row = (await conn.execute(select(*counts).where(where))).one()
        return {
            "admitted": row[0],
            "median_s": median,
            "p90_s": p90,
            "readmits": {
                "count": int(row[1]),
                "calls": row[2],
                "median_s": re_median,
                "p90_s": re_p90,
            },
        }

    async def _report_calls(self, conn: Any, period: Period) -> dict[str, Any]:
        c = call_summaries.c
        settings = await self._report_settings(conn, period.establishment_id)
        minimum = settings.min_consult_s
        where = self._calls_in(period)
        answered = c.answer == "answered"
        consult_length = case((and_(answered, c.call_s >= minimum), c.call_s))
        row = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(case((answered, 1))),
                    func.count(case((c.answer == "unanswered", 1))),
                    func.count(case((c.answer == "abandoned", 1))),
                    func.count(case((and_(answered, c.call_s >= minimum), 1))),
                    func.count(case((and_(answered, c.call_s < minimum), 1))),
                    func.count(case((c.mode_changes > 0, 1))),
                    func.count(case((c.final_mode == "call_back", 1))),
                    *(
                        ()
                        if self._db.is_sqlite
                        else (
                            func.percentile_cont(0.5).within_group(consult_length),
                            func.percentile_cont(0.9).within_group(consult_length),
                        )
                    ),
                ).where(where)
            )
        ).one()
        if self._db.is_sqlite:
            median, p90 = await self._percentiles(
                conn, c.call_s, and_(where, answered, c.call_s >= minimum)
            )
        else:
            median, p90 = _round(row[8]), _round(row[9])
        return {
            "calls": row[0],
            "answered": row[1],
            "unanswered": row[2],
            "abandoned": row[3],
            "consults": row[4],
            "too_short": row[5],
            "min_consult_s": minimum,
            "with_mode_change": row[6],
            "call_backs": row[7],
            "median_length_s": median,
            "p90_length_s": p90,
        }

    async def _report_quality(
        self, conn: Any, period: Period, limit: int | None = QUALITY_ROWS
    ) -> dict[str, Any]:
        c = call_summaries.c
        where = and_(self._calls_in(period), c.answer == "answered")
        bands = []
        for _, low, high in LOSS_BANDS:
            test: list[ColumnElement[bool]] = []
            if low is not None:
                test.append(c.worst_loss_pct >= low)
            if high is not None:
                test.append(c.worst_loss_pct < high)
            bands.append(func.count(case((and_(*test), 1))))
        counts = (
            await conn.execute(
                select(*bands, func.count(case((c.worst_loss_pct.is_(None), 1)))).where(where)
            )
        ).one()
        query = (
            select(
                c.appointment_id,
                c.scheduled_start,
                c.call_s,
                c.final_mode,
                c.worst_loss_pct,
                c.lowest_bitrate_kbps,
            )
            .where(where)
            .order_by(
                func.coalesce(c.worst_loss_pct, literal(-1.0)).desc(),
                c.scheduled_start,
                c.appointment_id,
            )
        )
        if limit is not None:
            query = query.limit(limit)
        calls = [
            {
                "appointment_id": r.appointment_id,
                "scheduled_start": r.scheduled_start.isoformat(),
                "call_s": r.call_s,
                "final_mode": r.final_mode,
                "worst_loss_pct": r.worst_loss_pct,
                "lowest_bitrate_kbps": r.lowest_bitrate_kbps,
            }
            for r in await conn.execute(query)
        ]
        return {
            "loss_bands": {name: counts[i] for i, (name, _, _) in enumerate(LOSS_BANDS)},
            "no_reports": counts[len(LOSS_BANDS)],
            "calls": calls,
        }

    async def _report_attendance(
        self, conn: Any, period: Period, limit: int | None = ATTENDANCE_ROWS
    ) -> dict[str, Any]:
        """Who was present when, and on hold when: the roles and times the hub kept."""
        c = call_summaries.c
        where = and_(self._calls_in(period), c.presence.is_not(None))
        total = (await conn.execute(select(func.count()).where(where))).scalar_one()
        query = (
            select(c.appointment_id, c.scheduled_start, c.presence)
            .where(where)
            .order_by(c.scheduled_start.desc(), c.appointment_id)
        )
        if limit is not None:
            query = query.limit(limit)
        calls = [
            {
                "appointment_id": r.appointment_id,
                "scheduled_start": r.scheduled_start.isoformat(),
                "presence": _presence_rows(r.presence),
            }
            for r in await conn.execute(query)
        ]
        return {"calls_with_presence": total, "calls": calls}

    async def _report_escorts(self, conn: Any, period: Period) -> dict[str, Any]:
        a, s = appointments.c, services.c
        settings = await self._report_settings(conn, period.establishment_id)
        avoided = (
            await conn.execute(
                select(func.count())
                .select_from(appointments.join(services, s.id == a.service_id))
                .where(
                    a.establishment_id == period.establishment_id,
                    a.starts_at >= period.start,
                    a.starts_at < period.end,
                    a.status == "completed",
                    a.in_person.is_(False),
                    s.escort_if_in_person.is_(True),
                )
            )
        ).scalar_one()
        pence = settings.escort_cost_pence
        return {
            "avoided": avoided,
            "cost_per_escort_pence": pence,
            "cost_source": settings.escort_cost_source,
            "saved_pence": None if pence is None else avoided * pence,
        }

    async def _report_precall(self, conn: Any, period: Period) -> dict[str, Any]:
        t, w = test_calls.c, wings.c
        rows = await conn.execute(
            select(
                w.id,
                w.name,
                func.count(),
                func.count(case((t.outcome == "failed", 1))),
                func.count(case((t.outcome == "poor", 1))),
            )
            .select_from(test_calls.join(wings, w.id == t.wing_id))
            .where(
                t.establishment_id == period.establishment_id,
                t.finished_at >= period.start,
                t.finished_at < period.end,
                t.outcome.is_not(None),
            )
            .group_by(w.id, w.name)
            .order_by(w.name)
        )
        by_wing = [
            {"wing_id": r[0], "wing": r[1], "tests": r[2], "failed": r[3], "poor": r[4]}
            for r in rows
        ]
        return {
            "tests": sum(x["tests"] for x in by_wing),
            "failed": sum(x["failed"] for x in by_wing),
            "by_wing": by_wing,
        }

    async def _report_requests(self, conn: Any, period: Period) -> dict[str, Any]:
        h, s = health_requests.c, services.c
        now = self._clock.now()
        waited = self._seconds(
            h.created_at, func.coalesce(h.triaged_at, literal(now, h.created_at.type))
        )
        target_s = s.target_days * 86400
        rows = await conn.execute(
            select(
                s.id,
                s.name,
                s.target_days,
                func.count(),
                func.count(case((h.status == "received", 1))),
                func.count(case((and_(s.target_days.is_not(None), waited > target_s), 1))),
                func.max(waited),
            )
            .select_from(health_requests.outerjoin(services, s.id == h.service_id))
            .where(
                h.establishment_id == period.establishment_id,
                h.created_at >= period.start,
                h.created_at < period.end,
            )
            .group_by(s.id, s.name, s.target_days)
            .order_by(s.name)
        )
        by_service = [
            {
                "service_id": r[0],
                "service": r[1],
                "target_days": r[2],
                "requests": r[3],
                "waiting": r[4],
                "over_target": r[5],
                "longest_wait_s": _round(r[6]),
            }
            for r in rows
        ]
        median, p90 = await self._request_percentiles(conn, period, waited)
        return {
            "requests": sum(x["requests"] for x in by_service),
            "waiting": sum(x["waiting"] for x in by_service),
            "over_target": sum(x["over_target"] for x in by_service),
            "median_wait_s": median,
            "p90_wait_s": p90,
            "by_service": by_service,
        }

    async def _request_percentiles(
        self, conn: Any, period: Period, waited: Any
    ) -> tuple[float | None, float | None]:
        h = health_requests.c
        where = and_(
            h.establishment_id == period.establishment_id,
            h.created_at >= period.start,
            h.created_at < period.end,
        )
        if not self._db.is_sqlite:
            row = (
                await conn.execute(
                    select(
                        func.percentile_cont(0.5).within_group(waited),
                        func.percentile_cont(0.9).within_group(waited),
                    ).where(where)
                )
            ).one()
            return _round(row[0]), _round(row[1])
        values = [float(v) for (v,) in await conn.execute(select(waited).where(where))]
        return _round(_percentile(values, 0.5)), _round(_percentile(values, 0.9))
