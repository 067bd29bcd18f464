"""The shop: the establishment's catalogue, orders against spends and a weekly limit, and
the shop staff's pick list.

Placing an order is one transaction that first locks the prisoner's ledger
(`Money.lock`), then checks, in order: the cut-off, each item (this establishment's,
allowed at their incentive level, not restricted for them by healthcare), the week's
limit for their level, and, by writing the debit, their spends balance. So two orders at
once are checked one after the other and can never together exceed the balance or the
limit. The week starts Monday 00:00 in the establishment's time zone.

An order is placed once per `Idempotency-Key`: the same key again (a double tap, a
retry after a lost answer) returns the first order rather than placing another.

Status: placed -> picked -> delivered. Lines marked out of stock when picked are refunded
to spends at once, by a refund entry in the ledger.

Healthcare's restriction says only "not available to you": the reason is never stored.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    accounts,
    cells,
    establishments,
    incentive_levels,
    prisoner_cells,
    wings,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity.types import Principal, Role
from core.people.incentives import levels_of
from core.people.types import IncentiveLevel
from core.permissions import Permission, acts_in, require_permission
from kiosk.money import (
    Money,
    Posting,
    balances,
    entry_values,
    in_department,
    ledger_columns,
    refuse_if_short,
)
from kiosk.money_csv import EntryKind, MoneyAccount, safe_text
from kiosk.money_tables import money_entries
from kiosk.shop_tables import (
    shop_items,
    shop_order_lines,
    shop_orders,
    shop_restrictions,
    shop_settings,
)

MODULE = "shop"
SHOP = "shop"
MAX_LINES = 30
MAX_QUANTITY = 20
MAX_PRICE = 100_000
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
DEFAULT_LIMITS = {
    IncentiveLevel.BASIC: 1_500,
    IncentiveLevel.STANDARD: 2_500,
    IncentiveLevel.ENHANCED: 4_000,
}
DEFAULT_CUTOFF = (2, 12 * 60)
"""Wednesday 12:00, for Friday's delivery."""
LEVEL_ORDER = [IncentiveLevel.BASIC, IncentiveLevel.STANDARD, IncentiveLevel.ENHANCED]


class OrderStatus(StrEnum):
    PLACED = "placed"
    PICKED = "picked"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    """Only when the prisoner left before delivery (kiosk/leaving.py): refunded in full."""


class Gate(Protocol):
    """scheduling's lockdown check (`SchedulingService.require_open`)."""

    async def require_open(self, actor: Principal, module: str) -> None: ...


@dataclass(frozen=True)
class Settings:
    limits: dict[IncentiveLevel, int]
    cutoff_weekday: int
    cutoff_minute: int


@dataclass(frozen=True)
class Item:
    id: str
    category: str
    name: str
    price_pence: int
    min_level: IncentiveLevel | None
    unavailable: str | None
    """For the prisoner asking: None, "level" (needs a higher level) or "restricted"."""


@dataclass(frozen=True)
class Line:
    id: str
    item_id: str
    name: str
    price_pence: int
    quantity: int
    out_of_stock: bool


@dataclass(frozen=True)
class Order:
    id: str
    prisoner_id: str
    receipt: str
    status: OrderStatus
    total_pence: int
    refunded_pence: int
    placed_at: datetime
    lines: list[Line]
    cell: str | None = None
    wing: str | None = None


@dataclass(frozen=True)
class Window:
    week_start: datetime
    cutoff: datetime


@dataclass(frozen=True)
class Catalogue:
    items: list[Item]
    level: IncentiveLevel
    limit_pence: int
    spent_pence: int
    spends_pence: int
    cutoff: datetime
    open: bool


def week_window(now: datetime, zone: str, settings: Settings) -> Window:
    """This week's start (Monday 00:00 local) and cut-off, as UTC instants."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    monday = local.date() - timedelta(days=local.weekday())
    start = datetime.combine(monday, time(0, 0), tzinfo=tz)
    cut_day = monday + timedelta(days=settings.cutoff_weekday)
    cut = datetime.combine(
        cut_day, time(settings.cutoff_minute // 60, settings.cutoff_minute % 60), tzinfo=tz
    )
    return Window(start.astimezone(UTC), cut.astimezone(UTC))


def quantity(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"A quantity is a whole number from 1 to {MAX_QUANTITY}.",
            extra={"reason": "bad_quantity"},
        )
    return value


def basket(value: object) -> dict[str, int]:
    """[{item_id, quantity}] -> item id -> quantity (the same item twice is added up)."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LINES:
        raise ServiceError(
            Code.INVALID_REQUEST,
            f"An order has 1 to {MAX_LINES} lines.",
            extra={"reason": "bad_basket"},
        )
    found: dict[str, int] = {}
    for line in value:
        if not isinstance(line, dict) or not isinstance(line.get("item_id"), str):
            raise ServiceError(Code.INVALID_REQUEST, "Each line names an item_id.")
        item_id = line["item_id"][:64]
        found[item_id] = found.get(item_id, 0) + quantity(line.get("quantity"))
        if found[item_id] > MAX_QUANTITY:
            quantity(found[item_id])
    return found


def idempotency_key(value: str | None) -> str:
    if value is None or not KEY.match(value):
        raise ServiceError(
            Code.INVALID_REQUEST,
            "Send an Idempotency-Key header of 8 to 64 letters, digits, - or _.",
            extra={"reason": "idempotency_key"},
        )
    return value


def _refuse(reason: str, detail: str, **extra: Any) -> ServiceError:
    return ServiceError(Code.CONFLICT, detail, extra={"reason": reason, **extra})


class Shop:
    def __init__(
        self,
        db: Database,
        *,
        money: Money,
        gate: Gate,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._db = db
        self._money = money
        self._gate = gate
        self._clock = clock
        self._audit = audit

    # ------------------------------------------------------------------ staff: set-up

    async def add_item(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        category: object,
        name: object,
        price_pence: object,
        min_level: object = None,
    ) -> Item:
        async with self._db.connect() as conn:
            await self._require_shop(conn, actor, establishment_id)
        for text, limit in ((category, 40), (name, 80)):
            if not isinstance(text, str) or not text.strip() or not safe_text(text.strip(), limit):
                raise ServiceError(
                    Code.INVALID_REQUEST, "A category and a name are plain text, not too long."
                )
        assert isinstance(category, str) and isinstance(name, str)
        if (
            isinstance(price_pence, bool)
            or not isinstance(price_pence, int)
            or not 1 <= price_pence <= MAX_PRICE
        ):
            raise ServiceError(Code.INVALID_REQUEST, "A price is a whole number of pence.")
        level = None
        if min_level is not None:
            if min_level not in [lv.value for lv in IncentiveLevel]:
                raise ServiceError(
                    Code.INVALID_REQUEST, "The level is basic, standard or enhanced."
                )
            level = IncentiveLevel(str(min_level))
        item = Item(str(uuid.uuid4()), category.strip(), name.strip(), price_pence, level, None)
        async with self._db.begin() as conn:
            await conn.execute(
                insert(shop_items).values(
                    id=item.id,
                    establishment_id=establishment_id,
                    category=item.category,
                    name=item.name,
                    price_pence=item.price_pence,
                    min_level=level.value if level else None,
                    created_at=self._clock.now(),
                )
            )
        await self._audit.append(
            AuditRecord(
                Action.SHOP_ITEM_ADDED,
                actor.account_id,
                establishment=establishment_id,
                subject=item.id,
            )
        )
        return item

    async def set_settings(
        self,
        actor: Principal,
        establishment_id: str,
        *,
        limits: object,
        cutoff_weekday: object,
        cutoff_time: object,
    ) -> Settings:
        async with self._db.connect() as conn:
            await self._require_shop(conn, actor, establishment_id)
        if not isinstance(limits, dict) or set(limits) != {lv.value for lv in IncentiveLevel}:
            raise ServiceError(
                Code.INVALID_REQUEST, "Give a limit for basic, standard and enhanced."
            )
        for value in limits.values():
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE:
                raise ServiceError(Code.INVALID_REQUEST, "A limit is a whole number of pence.")
        if (
            isinstance(cutoff_weekday, bool)
            or not isinstance(cutoff_weekday, int)
            or not 0 <= cutoff_weekday <= 6
        ):
            raise ServiceError(Code.INVALID_REQUEST, "The cut-off day is 0 (Monday) to 6 (Sunday).")
        found = (
            re.match(r"^([01]\d|2[0-3]):([0-5]\d)$", cutoff_time)
            if isinstance(cutoff_time, str)
            else None
        )
        if not found:
            raise ServiceError(Code.INVALID_REQUEST, "The cut-off time is HH:MM.")
        minute = int(found.group(1)) * 60 + int(found.group(2))
        values = {
            "limit_basic": limits["basic"],
            "limit_standard": limits["standard"],
            "limit_enhanced": limits["enhanced"],
            "cutoff_weekday": cutoff_weekday,
            "cutoff_minute": minute,
        }
        async with self._db.begin() as conn:
            done = await conn.execute(
                update(shop_settings)
                .where(shop_settings.c.establishment_id == establishment_id)
                .values(**values)
            )
            if done.rowcount == 0:
                await conn.execute(
                    insert(shop_settings).values(establishment_id=establishment_id, **values)
                )
        await self._audit.append(
            AuditRecord(
                Action.SHOP_SETTINGS_SET,
                actor.account_id,
                establishment=establishment_id,
                details={**values},
            )
        )
        return Settings(
            {IncentiveLevel(k): int(v) for k, v in limits.items()}, cutoff_weekday, minute
        )

    async def restrict(self, actor: Principal, prisoner_id: str, item_id: str) -> None:
        """Healthcare: this prisoner may not buy this item. No reason is asked or kept."""
        require_permission(actor, Permission.SHOP_HEALTH_RESTRICT)
        async with self._db.begin() as conn:
            establishment = await _prisoner_establishment(conn, prisoner_id)
            if not acts_in(actor, establishment):
                raise ServiceError(Code.NOT_FOUND, "No such prisoner.")
            item = await conn.scalar(
                select(shop_items.c.id).where(
                    shop_items.c.id == item_id, shop_items.c.establishment_id == establishment
                )
            )
            if item is None:
                raise ServiceError(Code.NOT_FOUND, "No such item.")
            exists = await conn.scalar(
                select(func.count())
                .select_from(shop_restrictions)
                .where(
                    shop_restrictions.c.prisoner_id == prisoner_id,
                    shop_restrictions.c.item_id == item_id,
                )
            )
            if not exists:
                await conn.execute(
                    insert(shop_restrictions).values(
                        prisoner_id=prisoner_id,
                        item_id=item_id,
                        set_by=actor.account_id,
                        created_at=self._clock.now(),
                    )
                )
        await self._audit.append(
            AuditRecord(
                Action.SHOP_RESTRICTED,
                actor.account_id,
                establishment=establishment,
                subject=prisoner_id,
                details={"item": item_id},
            )
        )

    # ------------------------------------------------------------------ the prisoner

    async def catalogue(self, actor: Principal) -> Catalogue:
        require_permission(actor, Permission.SHOP_ORDER)
        prisoner_id, est = _own(actor)
        now = self._clock.now()
        async with self._db.connect() as conn:
            settings, zone = await _settings(conn, est)
            window = week_window(now, zone, settings)
            level = await _level(conn, prisoner_id)
            restricted = await _restricted(conn, prisoner_id)
            rows = await conn.execute(
                select(shop_items)
                .where(shop_items.c.establishment_id == est)
                .order_by(shop_items.c.category, shop_items.c.name)
            )
            items = [_item(r, level, restricted) for r in rows]
            spent = await _spent(conn, prisoner_id, window.week_start)
            spends = (await balances(conn, prisoner_id))[MoneyAccount.SPENDS]
        return Catalogue(
            items=items,
            level=level,
            limit_pence=settings.limits[level],
            spent_pence=spent,
            spends_pence=spends,
            cutoff=window.cutoff,
            open=now < window.cutoff,
        )

    async def place(self, actor: Principal, lines: object, key: str | None) -> tuple[Order, bool]:
        """Place an order, or return the one this key already placed (then `False`)."""
        require_permission(actor, Permission.SHOP_ORDER)
        prisoner_id, est = _own(actor)
        await self._gate.require_open(actor, MODULE)
        wanted = basket(lines)
        key = idempotency_key(key)
        now = self._clock.now()
        try:
            async with self._db.begin() as conn:
                # Three statements on PostgreSQL: the prisoner's lock, everything the checks
                # need, and the order, its lines and its debit written together.
                await self._money.lock(conn, prisoner_id, est)
                state = await _placing(conn, prisoner_id, est, key, list(wanted))
                if state.existing is not None:
                    return await _order(conn, state.existing), False
                window = week_window(now, state.zone, state.settings)
                if now >= window.cutoff:
                    raise _refuse(
                        "after_cutoff",
                        "Orders for this week have closed.",
                        cutoff=window.cutoff.isoformat(),
                    )
                order_lines = []
                for item_id, count in wanted.items():
                    item = state.items.get(item_id)
                    if item is None:
                        raise ServiceError(Code.NOT_FOUND, "No such item.")
                    if item.unavailable:
                        raise _refuse(
                            item.unavailable,
                            "This item is not available to you.",
                            item_id=item_id,
                        )
                    order_lines.append((item, count))
                total = sum(item.price_pence * count for item, count in order_lines)
                spent = state.spent_in(window.week_start)
                if spent is None:  # orders dated after this week (a clock set back): count
                    spent = await _spent(conn, prisoner_id, window.week_start)
                limit = state.settings.limits[state.level]
                if spent + total > limit:
                    raise _refuse(
                        "over_limit",
                        "This order is over your weekly limit.",
                        limit_pence=limit,
                        spent_pence=spent,
                    )
                order_id = str(uuid.uuid4())
                receipt = "S" + "".join(
                    secrets.choice("ACDEFGHJKLMNPQRTUVWXY3479") for _ in range(7)
                )
                debit = Posting(
                    MoneyAccount.SPENDS, EntryKind.ORDER, -total, receipt, order_id=order_id
                )
                refuse_if_short(state.balances, [debit])
                order_row = {
                    "id": order_id,
                    "establishment_id": est,
                    "prisoner_id": prisoner_id,
                    "receipt": receipt,
                    "idempotency_key": key,
                    "status": OrderStatus.PLACED.value,
                    "total_pence": total,
                    "refunded_pence": 0,
                    "week_start": window.week_start,
                    "placed_at": now,
                }
                lines = sorted(
                    (
                        Line(str(uuid.uuid4()), item.id, item.name, item.price_pence, count, False)
                        for item, count in order_lines
                    ),
                    key=lambda line: (line.name, line.id),
                )
                line_rows = [{"order_id": order_id, **asdict(line)} for line in lines]
                entry_row = entry_values(actor, prisoner_id, est, debit, state.last_n + 1, now)
                await write_order(conn, self._db.is_sqlite, order_row, line_rows, [entry_row])
                entry = str(entry_row["id"])
                order = Order(
                    id=order_id,
                    prisoner_id=prisoner_id,
                    receipt=receipt,
                    status=OrderStatus.PLACED,
                    total_pence=total,
                    refunded_pence=0,
                    placed_at=now,
                    lines=lines,
                )
        except IntegrityError:
            # The same key raced past the check on a store without row locks: the first won.
            async with self._db.connect() as conn:
                existing = await conn.scalar(
                    select(shop_orders.c.id).where(
                        shop_orders.c.prisoner_id == prisoner_id,
                        shop_orders.c.idempotency_key == key,
                    )
                )
                if existing is None:
                    raise
                return await _order(conn, str(existing)), False
        # Both events at once: the audit log writes what is waiting together.
        await asyncio.gather(
            self._money.audit_entry(actor, est, prisoner_id, entry, debit),
            self._audit.append(
                AuditRecord(
                    Action.ORDER_PLACED,
                    actor.account_id,
                    establishment=est,
                    subject=prisoner_id,
                    details={"order": order.id, "receipt": order.receipt, "total_pence": total},
                )
            ),
        )
        return order, True

    async def history(self, actor: Principal) -> list[Order]:
        require_permission(actor, Permission.SHOP_ORDER)
        prisoner_id, _ = _own(actor)
        async with self._db.connect() as conn:
            ids = await conn.scalars(
                select(shop_orders.c.id)
                .where(shop_orders.c.prisoner_id == prisoner_id)
                .order_by(shop_orders.c.placed_at.desc(), shop_orders.c.receipt)
                .limit(100)
            )
            return [await _order(conn, i) for i in list(ids)]

    # ------------------------------------------------------------------ staff: picking

    async def pick_list(
        self, actor: Principal, establishment_id: str, wing: str | None
    ) -> list[Order]:
        """Orders still to pick or deliver, with each prisoner's cell and wing now."""
        async with self._db.connect() as conn:
            await self._require_shop(conn, actor, establishment_id)
            query = (
                select(shop_orders.c.id, cells.c.name.label("cell"), wings.c.name.label("wing"))
                .outerjoin(
                    prisoner_cells, prisoner_cells.c.prisoner_id == shop_orders.c.prisoner_id
                )
                .outerjoin(cells, cells.c.id == prisoner_cells.c.cell_id)
                .outerjoin(wings, wings.c.id == cells.c.wing_id)
                .where(
                    shop_orders.c.establishment_id == establishment_id,
                    shop_orders.c.status.in_([OrderStatus.PLACED.value, OrderStatus.PICKED.value]),
                )
                .order_by(wings.c.name, cells.c.name, shop_orders.c.receipt)
            )
            if wing:
                query = query.where(wings.c.name == wing)
            found = []
            for r in list(await conn.execute(query)):
                order = await _order(conn, r.id)
                found.append(Order(**{**order.__dict__, "cell": r.cell, "wing": r.wing}))
            return found

    async def picked(self, actor: Principal, order_id: str, out_of_stock: object) -> Order:
        """Picked: lines out of stock are refunded to spends at once."""
        if not isinstance(out_of_stock, list) or not all(isinstance(x, str) for x in out_of_stock):
            raise ServiceError(Code.INVALID_REQUEST, "out_of_stock is a list of line ids.")
        async with self._db.begin() as conn:
            row = await self._staff_order(conn, actor, order_id)
            await self._money.lock(conn, row.prisoner_id, row.establishment_id)
            status = await conn.scalar(
                select(shop_orders.c.status).where(shop_orders.c.id == order_id)
            )
            if status != OrderStatus.PLACED.value:
                raise _refuse("wrong_status", "Only a placed order can be picked.", status=status)
            lines = (await _order(conn, order_id)).lines
            missing = [line for line in lines if line.id in set(out_of_stock)]
            if len(missing) != len(set(out_of_stock)):
                raise ServiceError(Code.INVALID_REQUEST, "Those lines are not this order's.")
            refund = sum(line.price_pence * line.quantity for line in missing)
            for line in missing:
                await conn.execute(
                    update(shop_order_lines)
                    .where(shop_order_lines.c.id == line.id)
                    .values(out_of_stock=True)
                )
            await conn.execute(
                update(shop_orders)
                .where(shop_orders.c.id == order_id)
                .values(
                    status=OrderStatus.PICKED.value,
                    picked_at=self._clock.now(),
                    refunded_pence=refund,
                )
            )
            credit = None
            entry = ""
            if refund:
                credit = Posting(
                    MoneyAccount.SPENDS, EntryKind.REFUND, refund, row.receipt, order_id=order_id
                )
                entry = (
                    await self._money.write(
                        conn, actor, row.prisoner_id, row.establishment_id, [credit], locked=True
                    )
                )[0]
            order = await _order(conn, order_id)
        if credit is not None:
            await self._money.audit_entry(
                actor, row.establishment_id, row.prisoner_id, entry, credit
            )
        await self._audit.append(
            AuditRecord(
                Action.ORDER_PICKED,
                actor.account_id,
                establishment=row.establishment_id,
                subject=row.prisoner_id,
                details={"order": order_id, "refunded_pence": refund},
            )
        )
        return order

    async def delivered(self, actor: Principal, order_id: str) -> Order:
        async with self._db.begin() as conn:
            row = await self._staff_order(conn, actor, order_id)
            done = await conn.execute(
                update(shop_orders)
                .where(
                    shop_orders.c.id == order_id, shop_orders.c.status == OrderStatus.PICKED.value
                )
                .values(status=OrderStatus.DELIVERED.value, delivered_at=self._clock.now())
            )
            if done.rowcount != 1:
                raise _refuse("wrong_status", "Only a picked order can be delivered.")
            order = await _order(conn, order_id)
        await self._audit.append(
            AuditRecord(
                Action.ORDER_DELIVERED,
                actor.account_id,
                establishment=row.establishment_id,
                subject=row.prisoner_id,
                details={"order": order_id},
            )
        )
        return order

    # ------------------------------------------------------------------ internals

    async def _staff_order(self, conn: AsyncConnection, actor: Principal, order_id: str) -> Any:
        require_permission(actor, Permission.SHOP_MANAGE)
        row = (await conn.execute(select(shop_orders).where(shop_orders.c.id == order_id))).first()
        if row is None or not acts_in(actor, row.establishment_id):
            raise ServiceError(Code.NOT_FOUND, "No such order.")
        await self._require_shop(conn, actor, row.establishment_id)
        return row

    async def _require_shop(
        self, conn: AsyncConnection, actor: Principal, establishment_id: str
    ) -> None:
        require_permission(actor, Permission.SHOP_MANAGE)
        if not acts_in(actor, establishment_id):
            raise ServiceError(Code.NOT_FOUND, "No such establishment.")
        if not await in_department(conn, actor.account_id, establishment_id, SHOP):
            raise ServiceError(
                Code.FORBIDDEN,
                "Only the shop department's staff may do this.",
                extra={"reason": "not_shop"},
            )


@dataclass(frozen=True)
class _Placing:
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


async def _placing(
    conn: AsyncConnection, prisoner_id: str, est: str, key: str, item_ids: list[str]
) -> _Placing:
    """One row per wanted item of this establishment (one row with no item when none is),
    each carrying the same state: the order this key placed, the time zone and settings,
    the level, the ledger, and the spending of the latest week the prisoner ordered in.
    The week is the latest one rather than this one because this week's start needs the
    time zone read here; `_Placing.spent_in` compares."""
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
        items[str(r.item_id)] = _item(
            _ItemRow(r.item_id, r.category, r.name, r.price_pence, r.min_level),
            level,
            {str(r.item_id)} if r.restricted else set(),
        )
    return _Placing(
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
class _ItemRow:
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


def _own(actor: Principal) -> tuple[str, str]:
    if actor.role != Role.PRISONER or actor.establishment_id is None:
        raise ServiceError(Code.FORBIDDEN, "Only a prisoner orders from the shop.")
    return actor.account_id, actor.establishment_id


def _item(row: Any, level: IncentiveLevel, restricted: set[str]) -> Item:
    min_level = IncentiveLevel(row.min_level) if row.min_level else None
    unavailable = None
    if row.id in restricted:
        unavailable = "restricted"
    elif min_level and LEVEL_ORDER.index(level) < LEVEL_ORDER.index(min_level):
        unavailable = "level"
    return Item(row.id, row.category, row.name, int(row.price_pence), min_level, unavailable)


async def _settings(conn: AsyncConnection, establishment_id: str) -> tuple[Settings, str]:
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


async def _level(conn: AsyncConnection, prisoner_id: str) -> IncentiveLevel:
    return (await levels_of(conn, [prisoner_id])).get(prisoner_id, IncentiveLevel.STANDARD)


async def _restricted(conn: AsyncConnection, prisoner_id: str) -> set[str]:
    return set(
        await conn.scalars(
            select(shop_restrictions.c.item_id).where(
                shop_restrictions.c.prisoner_id == prisoner_id
            )
        )
    )


async def _spent(conn: AsyncConnection, prisoner_id: str, week_start: datetime) -> int:
    found = await conn.scalar(
        select(
            func.coalesce(func.sum(shop_orders.c.total_pence - shop_orders.c.refunded_pence), 0)
        ).where(
            and_(shop_orders.c.prisoner_id == prisoner_id, shop_orders.c.week_start == week_start)
        )
    )
    return int(found or 0)


async def _prisoner_establishment(conn: AsyncConnection, prisoner_id: str) -> str:
    row = (
        await conn.execute(
            select(accounts.c.establishment_id, accounts.c.role).where(accounts.c.id == prisoner_id)
        )
    ).first()
    if row is None or row.role != Role.PRISONER.value or row.establishment_id is None:
        raise ServiceError(Code.NOT_FOUND, "No such prisoner.")
    return str(row.establishment_id)


async def _order(conn: AsyncConnection, order_id: str) -> Order:
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
