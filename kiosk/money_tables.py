"""The money tables, declared on the shared metadata; migration 0021 creates the same."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Integer,
    String,
    Table,
    UniqueConstraint,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

money_holders = Table(
    "money_holders",
    metadata,
    Column("prisoner_id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

money_batches = Table(
    "money_batches",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("lines", Integer, nullable=False),
    Column("total_pence", BigInteger, nullable=False),
    Column("posted_by", String(36), nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    UniqueConstraint("establishment_id", "digest", name="uq_money_batches_establishment_id"),
)

money_entries = Table(
    "money_entries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("establishment_id", String(36), nullable=False),
    Column("prisoner_id", String(36), nullable=False),
    Column("account", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount_pence", BigInteger, nullable=False),
    Column("reference", String(80), nullable=False),
    Column("batch_id", String(36), nullable=True),
    Column("reverses_id", String(36), nullable=True),
    Column("order_id", String(36), nullable=True),
    Column("actor_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("amount_pence <> 0", name="not_zero"),
    UniqueConstraint("reverses_id", name="uq_money_entries_reverses_id"),
    UniqueConstraint("prisoner_id", "n", name="uq_money_entries_prisoner_id"),
)
