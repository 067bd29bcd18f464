"""The shop tables, declared on the shared metadata; migration 0021 creates the same
(0026 adds the index on an order's prisoner and week)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, UniqueConstraint

from core.db.schema import metadata
from core.db.types import UTCDateTime

shop_settings = Table(
    "shop_settings",
    metadata,
    Column("establishment_id", String(36), primary_key=True),
    Column("limit_basic", BigInteger, nullable=False),
    Column("limit_standard", BigInteger, nullable=False),
    Column("limit_enhanced", BigInteger, nullable=False),
    Column("cutoff_weekday", Integer, nullable=False),
    Column("cutoff_minute", Integer, nullable=False),
)

shop_items = Table(
    "shop_items",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("category", String(40), nullable=False),
    Column("name", String(80), nullable=False),
    Column("price_pence", BigInteger, nullable=False),
    Column("min_level", String(16), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_shop_items_establishment_id", "establishment_id"),
)

shop_restrictions = Table(
    "shop_restrictions",
    metadata,
    Column("prisoner_id", String(36), primary_key=True),
    Column("item_id", String(36), primary_key=True),
    Column("set_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

shop_orders = Table(
    "shop_orders",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("prisoner_id", String(36), nullable=False),
    Column("receipt", String(16), nullable=False),
    Column("idempotency_key", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("total_pence", BigInteger, nullable=False),
    Column("refunded_pence", BigInteger, nullable=False),
    Column("week_start", UTCDateTime, nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("picked_at", UTCDateTime, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    UniqueConstraint("receipt", name="uq_shop_orders_receipt"),
    UniqueConstraint("prisoner_id", "idempotency_key", name="uq_shop_orders_prisoner_id"),
    Index("ix_shop_orders_establishment_id", "establishment_id"),
    Index("ix_shop_orders_prisoner_week", "prisoner_id", "week_start"),
)

shop_order_lines = Table(
    "shop_order_lines",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("order_id", String(36), nullable=False),
    Column("item_id", String(36), nullable=False),
    Column("name", String(80), nullable=False),
    Column("price_pence", BigInteger, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("out_of_stock", Boolean, nullable=False),
    Index("ix_shop_order_lines_order_id", "order_id"),
)
