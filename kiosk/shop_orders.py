"""What placing an order reads and writes, and the reads the shop's other steps share.

Placing reads everything it checks in one statement under the prisoner's lock
(`placing`) and writes the order, its lines and its ledger entries in one more
(`write_order`); the checks themselves are the service's (`kiosk.shop.Shop.place`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts, establishments, incentive_levels
from core.errors import Code, ServiceError
from core.identity.types import Role
from core.people.incentives import levels_of
from core.people.types import IncentiveLevel
from kiosk.money import ledger_columns
from kiosk.money_csv import MoneyAccount
from kiosk.money_tables import money_entries
from kiosk.shop_tables import (
    shop_items,
    shop_order_lines,
    shop_orders,
    shop_restrictions,
    shop_settings,
)
from kiosk.shop_types import (
    DEFAULT_CUTOFF,
    DEFAULT_LIMITS,
    Item,
    Line,
    Order,
    OrderStatus,
    Settings,
    item_of,
)


@dataclass(frozen=True)
class Placing:
    """What placing an order checks, read in one statement under the prisoner's lock."""

    existing: str | None
    zone: str
    settings: Settings
    level: IncentiveLevel
    items: dict[str, Item]
    balances: dict[MoneyAccount, int]
    last_n: int
    last_week: datetime | None
    spent_last_week: int

    def spent_in(self, week_start: datetime) -> int | None:
        """This week's spending, or None when the latest order counts against a later week."""
        if self.last_week is None or self.last_week < week_start:
            return 0
        if self.last_week == week_start:
            return self.spent_last_week
        return None


async def placing(
    conn: AsyncConnection, prisoner_id: str, est: str, key: str, item_ids: list[str]
) -> Placing:
    """One row per wanted item of this establishment (one row with no item when none is),
    each carrying the same state: the order this key placed, the time zone and settings,
    the level, the ledger, and the spending of the latest week the prisoner ordered in.
    The week is the latest one rather than this one because this week's start needs the
    time zone read here; `Placing.spent_in` compares."""
    mine = shop_orders.c.prisoner_id == prisoner_id
    last_week = select(func.max(shop_orders.c.week_start)).where(mine).scalar_subquery()
    query = (
        select(
            establishments.c.timezone,
            shop_settings.c.limit_basic,
            shop_settings.c.limit_standard,
            shop_settings.c.limit_enhanced,
            shop_settings.c.cutoff_weekday,
            shop_settings.c.cutoff_minute,
            select(shop_orders.c.id)
            .where(mine, shop_orders.c.idempotency_key == key)
            .scalar_subquery()
            .label("existing"),
            select(incentive_levels.c.level)
            .where(incentive_levels.c.prisoner_id == prisoner_id)
            .scalar_subquery()
            .label("level"),
            last_week.label("last_week"),
            select(
                func.coalesce(func.sum(shop_orders.c.total_pence - shop_orders.c.refunded_pence), 0)
            )
            .where(mine, shop_orders.c.week_start == last_week)
            .scalar_subquery()
            .label("spent"),
            *ledger_columns(prisoner_id),
            shop_items.c.id.label("item_id"),
            shop_items.c.category,
            shop_items.c.name,
            shop_items.c.price_pence,
            shop_items.c.min_level,
            exists()
            .where(
                shop_restrictions.c.prisoner_id == prisoner_id,
                shop_restrictions.c.item_id == shop_items.c.id,
            )
            .label("restricted"),
        )
        .select_from(
            establishments.outerjoin(
                shop_settings, shop_settings.c.establishment_id == establishments.c.id
            ).outerjoin(
                shop_items,
                and_(
                    shop_items.c.establishment_id == establishments.c.id,
                    shop_items.c.id.in_(item_ids),
                ),
            )
        )
        .where(establishments.c.id == est)
    )
    rows = list(await conn.execute(query))
    if not rows:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
    first = rows[0]
    if first.limit_basic is None:
        settings = Settings(dict(DEFAULT_LIMITS), *DEFAULT_CUTOFF)
    else:
        settings = Settings(
            {
                IncentiveLevel.BASIC: int(first.limit_basic),
                IncentiveLevel.STANDARD: int(first.limit_standard),
                IncentiveLevel.ENHANCED: int(first.limit_enhanced),
            },
            int(first.cutoff_weekday),
            int(first.cutoff_minute),
        )
    level = IncentiveLevel(first.level) if first.level else IncentiveLevel.STANDARD
    items = {}
    for r in rows:
        if r.item_id is None:
            continue
        items[str(r.item_id)] = item_of(
            ItemRow(r.item_id, r.category, r.name, r.price_pence, r.min_level),
            level,
            {str(r.item_id)} if r.restricted else set(),
        )
    return Placing(
        existing=None if first.existing is None else str(first.existing),
        zone=str(first.timezone or "Europe/London"),
        settings=settings,
        level=level,
        items=items,
        balances={account: int(first._mapping[account.value]) for account in MoneyAccount},
        last_n=int(first.last_n),
        last_week=first.last_week,
        spent_last_week=int(first.spent),
    )


@dataclass(frozen=True)
class ItemRow:
    id: str
    category: str
    name: str
    price_pence: int
    min_level: str | None


async def write_order(
    conn: AsyncConnection,
    sqlite: bool,
    order: dict[str, Any],
    lines: list[dict[str, Any]],
    entries: list[dict[str, Any]],
) -> None:
    """An order, its lines and its ledger entries: one statement on PostgreSQL (inserts as
    common table expressions), three on SQLite (which has none). No checks: the caller
    made them under the prisoner's lock. The bench's bare inserts use this too."""
    statements = [
        insert(shop_orders).values(order),
        insert(shop_order_lines).values(lines),
        insert(money_entries).values(entries),
    ]
    if sqlite:
        for statement in statements:
            await conn.execute(statement)
        return
    ctes = [s.cte(f"w{i}") for i, s in enumerate(statements)]
    await conn.execute(select(literal(1)).add_cte(*ctes))


async def settings_of(conn: AsyncConnection, establishment_id: str) -> tuple[Settings, str]:
    zone = await conn.scalar(
        select(establishments.c.timezone).where(establishments.c.id == establishment_id)
    )
    row = (
        await conn.execute(
            select(shop_settings).where(shop_settings.c.establishment_id == establishment_id)
        )
    ).first()
    if row is None:
        settings = Settings(dict(DEFAULT_LIMITS), *DEFAULT_CUTOFF)
    else:
        settings = Settings(
            {
                IncentiveLevel.BASIC: int(row.limit_basic),
                IncentiveLevel.STANDARD: int(row.limit_standard),
                IncentiveLevel.ENHANCED: int(row.limit_enhanced),
            },
            int(row.cutoff_weekday),
            int(row.cutoff_minute),
        )
    return settings, str(zone or "Europe/London")


async def level_of(conn: AsyncConnection, prisoner_id: str) -> IncentiveLevel:
    return (await levels_of(conn, [prisoner_id])).get(prisoner_id, IncentiveLevel.STANDARD)


async def restricted_of(conn: AsyncConnection, prisoner_id: str) -> set[str]:
    return set(
        await conn.scalars(
            select(shop_restrictions.c.item_id).where(
                shop_restrictions.c.prisoner_id == prisoner_id
            )
        )
    )


async def spent_in_week(conn: AsyncConnection, prisoner_id: str, week_start: datetime) -> int:
    found = await conn.scalar(
        select(
            func.coalesce(func.sum(shop_orders.c.total_pence - shop_orders.c.refunded_pence), 0)
        ).where(
            and_(shop_orders.c.prisoner_id == prisoner_id, shop_orders.c.week_start == week_start)
        )
    )
    return int(found or 0)


async def prisoner_establishment(conn: AsyncConnection, prisoner_id: str) -> str:
    row = (
        await conn.execute(
            select(accounts.c.establishment_id, accounts.c.role).where(accounts.c.id == prisoner_id)
        )
    ).first()
    if row is None or row.role != Role.PRISONER.value or row.establishment_id is None:
        raise ServiceError(Code.NOT_FOUND, "No such prisoner.")
    return str(row.establishment_id)


async def order_of(conn: AsyncConnection, order_id: str) -> Order:
    row = (await conn.execute(select(shop_orders).where(shop_orders.c.id == order_id))).one()
    lines = [
        Line(r.id, r.item_id, r.name, int(r.price_pence), int(r.quantity), bool(r.out_of_stock))
        for r in await conn.execute(
            select(shop_order_lines)
            .where(shop_order_lines.c.order_id == order_id)
            .order_by(shop_order_lines.c.name, shop_order_lines.c.id)
        )
    ]
    return Order(
        id=row.id,
        prisoner_id=row.prisoner_id,
        receipt=row.receipt,
        status=OrderStatus(row.status),
        total_pence=int(row.total_pence),
        refunded_pence=int(row.refunded_pence),
        placed_at=row.placed_at,
        lines=lines,
    )
