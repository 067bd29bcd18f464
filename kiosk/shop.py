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
from dataclasses import asdict
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import (
    cells,
    prisoner_cells,
    wings,
)
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity.types import Principal, Role
from core.people.types import IncentiveLevel
from core.permissions import Permission, acts_in, require_permission
from kiosk.money import (
    Money,
    Posting,
    balances,
    entry_values,
    in_department,
    refuse_if_short,
)
from kiosk.money_csv import EntryKind, MoneyAccount, safe_text
from kiosk.shop_orders import (
    level_of,
    order_of,
    placing,
    prisoner_establishment,
    restricted_of,
    settings_of,
    spent_in_week,
    write_order,
)
from kiosk.shop_tables import (
    shop_items,
    shop_order_lines,
    shop_orders,
    shop_restrictions,
    shop_settings,
)
from kiosk.shop_types import (
    MAX_PRICE,
    MODULE,
    SHOP,
    Catalogue,
    Gate,
    Item,
    Line,
    Order,
    OrderStatus,
    Settings,
    basket,
    idempotency_key,
    item_of,
    week_window,
)


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
            establishment = await prisoner_establishment(conn, prisoner_id)
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
            settings, zone = await settings_of(conn, est)
            window = week_window(now, zone, settings)
            level = await level_of(conn, prisoner_id)
            restricted = await restricted_of(conn, prisoner_id)
            rows = await conn.execute(
                select(shop_items)
                .where(shop_items.c.establishment_id == est)
                .order_by(shop_items.c.category, shop_items.c.name)
            )
            items = [item_of(r, level, restricted) for r in rows]
            spent = await spent_in_week(conn, prisoner_id, window.week_start)
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
                state = await placing(conn, prisoner_id, est, key, list(wanted))
                if state.existing is not None:
                    return await order_of(conn, state.existing), False
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
                    spent = await spent_in_week(conn, prisoner_id, window.week_start)
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
                return await order_of(conn, str(existing)), False
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
            return [await order_of(conn, i) for i in list(ids)]

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
                order = await order_of(conn, r.id)
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
            lines = (await order_of(conn, order_id)).lines
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
            order = await order_of(conn, order_id)
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
            order = await order_of(conn, order_id)
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


def _own(actor: Principal) -> tuple[str, str]:
    if actor.role != Role.PRISONER or actor.establishment_id is None:
        raise ServiceError(Code.FORBIDDEN, "Only a prisoner orders from the shop.")
    return actor.account_id, actor.establishment_id
