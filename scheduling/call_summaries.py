"""The plain per-call summary kept when a call ends, and each establishment's report settings.

Reports read these rows, not the audit log: the quality figures inside the log
are encrypted under each prisoner's key, and a report must not decrypt a month
of events to count them. A summary holds times, counts and link figures only
(which roles came, when the patient arrived and was admitted, how long the call
lasted, how often it changed mode, the worst loss and lowest bitrate any side
reported, the device's pre-call test result): nothing clinical, no names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.identity import Principal
from core.permissions import Permission, require_permission
from scheduling.base import require_establishment
from scheduling.join import JoinPolicy
from scheduling.tables import call_summaries, report_settings, test_calls

DEFAULT_MIN_CONSULT_S = 120
"""Below two minutes a call is counted as a call, not a consult, until a manager sets otherwise."""
MAX_MIN_CONSULT_S = 3600
MAX_ESCORT_PENCE = 10_000_000
ANSWERS = ("answered", "unanswered", "abandoned", "absent")


@dataclass(frozen=True)
class ReportSettings:
    establishment_id: str
    min_consult_s: int
    escort_cost_pence: int | None
    escort_cost_source: str | None
    configured: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "establishment_id": self.establishment_id,
            "min_consult_s": self.min_consult_s,
            "escort_cost_pence": self.escort_cost_pence,
            "escort_cost_source": self.escort_cost_source,
            "configured": self.configured,
        }


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


PRESENCE_ROLES = frozenset({"patient", "clinician", "interpreter", "chaperone", "officer"})


def _spans(value: object) -> list[list[str | None]]:
    if not isinstance(value, list):
        return []
    spans: list[list[str | None]] = []
    for span in value[:50]:
        if isinstance(span, list) and len(span) == 2:
            start, end = (_when(v) for v in span)
            if start is not None:
                spans.append([start.isoformat(), end.isoformat() if end else None])
    return spans


def _presence(value: object) -> str | None:
    """Who was present when, and on hold when: roles and times only, checked field by field."""
    if not isinstance(value, list):
        return None
    rows = [
        {
            "role": row["role"],
            "n": row["n"] if isinstance(row.get("n"), int) else 1,
            "present": _spans(row.get("present")),
            "on_hold": _spans(row.get("on_hold")),
        }
        for row in value[:20]
        if isinstance(row, dict) and row.get("role") in PRESENCE_ROLES
    ]
    return json.dumps(rows, separators=(",", ":"))


def _count(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


class CallSummaries(JoinPolicy):
    """Part of `SchedulingService`: per-call summaries and report settings."""

    async def record_call_summary(self, appointment_id: str, summary: dict[str, Any]) -> None:
        """Keep the summary the hub built when the call ended (once per appointment:
        a later end replaces it), with the device's last pre-call test result."""
        ended_at = _when(summary.get("ended_at"))
        answer = summary.get("answer")
        if ended_at is None or answer not in ANSWERS:
            raise ServiceError(Code.INVALID_REQUEST, "The call summary is incomplete.")
        async with self._db.begin() as conn:
            view = await self._view(conn, appointment_id)
            if view is None:
                raise ServiceError(Code.NOT_FOUND, "No such appointment.")
            precall = (
                await conn.execute(
                    select(test_calls.c.outcome)
                    .where(
                        test_calls.c.appointment_id == appointment_id,
                        test_calls.c.outcome.is_not(None),
                    )
                    .order_by(test_calls.c.finished_at.desc())
                    .limit(1)
                )
            ).scalar()
            attended = [r for r in summary.get("attended", []) if isinstance(r, str)]
            await conn.execute(
                delete(call_summaries).where(call_summaries.c.appointment_id == appointment_id)
            )
            await conn.execute(
                insert(call_summaries).values(
                    appointment_id=appointment_id,
                    establishment_id=view.establishment_id,
                    scheduled_start=view.starts_at,
                    attended=json.dumps(sorted(attended)[:10]),
                    patient_attended=bool(summary.get("patient_attended")),
                    first_arrival_at=_when(summary.get("first_arrival_at")),
                    first_admit_at=_when(summary.get("first_admit_at")),
                    wait_s=_count(summary.get("wait_s")),
                    admits=_count(summary.get("admits")) or 0,
                    readmit_wait_s=_count(summary.get("readmit_wait_s")),
                    call_s=_count(summary.get("call_s")),
                    ended_at=ended_at,
                    ended_reason=str(summary.get("ended_reason", ""))[:32],
                    answer=answer,
                    mode_changes=_count(summary.get("mode_changes")) or 0,
                    final_mode=str(summary.get("final_mode", "video"))[:16],
                    worst_loss_pct=_number(summary.get("worst_loss_pct")),
                    lowest_bitrate_kbps=_number(summary.get("lowest_bitrate_kbps")),
                    precall=precall,
                    presence=_presence(summary.get("presence")),
                )
            )

    async def report_settings(self, actor: Principal, establishment_id: str) -> ReportSettings:
        require_permission(actor, Permission.REPORTS_READ)
        require_establishment(actor, establishment_id)
        async with self._db.connect() as conn:
            return await self._report_settings(conn, establishment_id)

    async def _report_settings(self, conn: Any, establishment_id: str) -> ReportSettings:
        row = (
            await conn.execute(
                select(report_settings).where(
                    report_settings.c.establishment_id == establishment_id
                )
            )
        ).first()
        if row is None:
            return ReportSettings(establishment_id, DEFAULT_MIN_CONSULT_S, None, None, False)
        m = row._mapping
        return ReportSettings(
            establishment_id,
            m["min_consult_s"],
            m["escort_cost_pence"],
            m["escort_cost_source"],
            True,
        )

    async def set_report_settings(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        min_consult_s: object,
        escort_cost_pence: object,
        escort_cost_source: object,
    ) -> ReportSettings:
        """Set the shortest consult and the escort cost; a cost must say where it comes from."""
        require_permission(actor, Permission.REPORTS_CONFIGURE)
        require_establishment(actor, establishment_id)
        if (
            not isinstance(min_consult_s, int)
            or isinstance(min_consult_s, bool)
            or not 0 <= min_consult_s <= MAX_MIN_CONSULT_S
        ):
            raise ServiceError(
                Code.INVALID_REQUEST,
                f"min_consult_s is a whole number of seconds from 0 to {MAX_MIN_CONSULT_S}.",
            )
        if escort_cost_pence is not None and (
            not isinstance(escort_cost_pence, int)
            or isinstance(escort_cost_pence, bool)
            or not 0 <= escort_cost_pence <= MAX_ESCORT_PENCE
        ):
            raise ServiceError(
                Code.INVALID_REQUEST, "escort_cost_pence is a whole number of pence, or null."
            )
        source = escort_cost_source.strip() if isinstance(escort_cost_source, str) else None
        if escort_cost_pence is not None and not (source and len(source) <= 200):
            raise ServiceError(
                Code.INVALID_REQUEST,
                "escort_cost_source must say where the escort cost comes from (1 to 200 "
                "characters).",
            )
        if escort_cost_pence is None:
            source = None
        now = self._clock.now()
        async with self._db.begin() as conn:
            await conn.execute(
                delete(report_settings).where(
                    report_settings.c.establishment_id == establishment_id
                )
            )
            await conn.execute(
                insert(report_settings).values(
                    establishment_id=establishment_id,
                    min_consult_s=min_consult_s,
                    escort_cost_pence=escort_cost_pence,
                    escort_cost_source=source,
                    updated_by=actor.account_id,
                    updated_at=now,
                )
            )
        await self._audit_settings(actor, establishment_id, min_consult_s, escort_cost_pence)
        return ReportSettings(establishment_id, min_consult_s, escort_cost_pence, source, True)

    async def _audit_settings(
        self, actor: Principal, establishment_id: str, min_s: int, pence: object
    ) -> None:
        await self._audit.append(
            AuditRecord(
                Action.REPORT_SETTINGS_CHANGED,
                actor=actor.account_id,
                establishment=establishment_id,
                details={"min_consult_s": min_s, "escort_cost_pence": pence},
            )
        )
