"""The timetable's table, declared on the shared metadata; migration 0022 creates it.

An allocation is one weekly activity staff give one prisoner: its kind (work,
education, gym), a weekday and minutes after local midnight in the
establishment's zone, as regime windows are kept.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from core.db.schema import metadata
from core.db.types import UTCDateTime

kiosk_allocations = Table(
    "kiosk_allocations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(36), nullable=False),
    Index("ix_kiosk_allocations_prisoner", "prisoner_id", "weekday"),
)
