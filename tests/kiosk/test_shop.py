"""The shop: orders against spends and a weekly limit, with a receipt at once, once per
Idempotency-Key, never over the balance or limit even at once; cut-off, restrictions,
lockdown; picking with automatic refunds. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import FakeClock
from core.errors import ServiceError
from core.identity import Principal
from kiosk.money_csv import MoneyAccount
from kiosk.money_tables import money_entries
from kiosk.shop import Shop
from kiosk.shop_tables import shop_orders
from tests.kiosk.money_world import MoneyWorld, credits_csv, make_money
from tests.world import place
from web.state import DATABASE, PEOPLE, SCHEDULING

A, B = "A1234BC", "B2345CD"


@dataclass
class ShopWorld:
    mw: MoneyWorld
    shop: Shop
    crisps: str
    phone_credit: str
    coffee: str

    async def spends(self, who: Principal | None = None) -> int:
        who = who or self.mw.prisoner
        found = await self.mw.money.statement(who, who.account_id)
        return found.balances[MoneyAccount.SPENDS]

    async def orders(self) -> int:
        async with self.mw.app[DATABASE].connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(shop_orders)) or 0)

    async def place(self, key: str, *lines: tuple[str, Any], who: Principal | None = None) -> Any:
        basket = [{"item_id": item, "quantity": q} for item, q in lines]
        return await self.shop.place(who or self.mw.prisoner, basket, key)


@pytest.fixture
async def sw(client: Any, clock: FakeClock) -> ShopWorld:
    return await make_shop(client, clock)


async def make_shop(client: Any, clock: FakeClock) -> ShopWorld:
    """Crisps, phone credit and coffee (enhanced only); 15.00 and 50.00 in spends."""
    mw = await make_money(client, clock)
    app = mw.app
    shop = Shop(app[DATABASE], money=mw.money, gate=app[SCHEDULING], clock=clock, audit=mw.audit)
    crisps = await shop.add_item(
        mw.shop, mw.world.est, category="Food", name="Crisps", price_pence=65
    )
    phone = await shop.add_item(
        mw.shop, mw.world.est, category="Phone", name="Phone credit £5", price_pence=500
    )
    coffee = await shop.add_item(
        mw.shop,
        mw.world.est,
        category="Drinks",
        name="Coffee",
        price_pence=250,
        min_level="enhanced",
    )
    await shop.set_settings(
        mw.shop,
        mw.world.est,
        limits={"basic": 1000, "standard": 2000, "enhanced": 3000},
        cutoff_weekday=2,
        cutoff_time="12:00",
    )
    await mw.money.post_credits(
        mw.finance,
        mw.world.est,
        credits_csv(f"{A},spends,15.00,wages,w", f"{B},spends,50.00,wages,w"),
    )
    return ShopWorld(mw, shop, crisps.id, phone.id, coffee.id)


async def test_an_order_has_a_receipt_at_once_and_is_paid_from_spends(sw: ShopWorld) -> None:
    order, new = await sw.place("basket-0001", (sw.crisps, 2), (sw.phone_credit, 1))
    assert new and order.receipt.startswith("S") and len(order.receipt) == 8
    assert (order.status.value, order.total_pence) == ("placed", 630)
    assert await sw.spends() == 1500 - 630
    history = await sw.shop.history(sw.mw.prisoner)
    assert [o.receipt for o in history] == [order.receipt]
    assert "order_placed" in sw.mw.actions


async def test_a_double_tap_is_one_order(sw: ShopWorld) -> None:
    outcomes = await asyncio.gather(
        *(sw.place("same-basket-key", (sw.crisps, 1)) for _ in range(5))
    )
    assert len({o.id for o, _ in outcomes}) == 1
    assert [new for _, new in outcomes].count(True) == 1
    assert await sw.orders() == 1
    assert await sw.spends() == 1500 - 65


@pytest.mark.parametrize(
    ("quantity", "reason"),
    [(-1, "bad_quantity"), (0, "bad_quantity"), (1.5, "bad_quantity"), (True, "bad_quantity")],
)
async def test_a_bad_quantity_is_refused(sw: ShopWorld, quantity: Any, reason: str) -> None:
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-bad-qty", (sw.crisps, quantity))
    assert refused.value.extra["reason"] == reason
    assert await sw.orders() == 0


async def test_over_the_balance_over_the_limit_and_restricted_items_are_refused(
    sw: ShopWorld,
) -> None:
    # 15.00 in spends, a 20.00 limit: four phone credits (20.00) are over the balance.
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-0002", (sw.phone_credit, 4))
    assert refused.value.extra["reason"] == "not_enough_money"
    # Prisoner 2 has 50.00 but the standard limit is 20.00.
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-0003", (sw.phone_credit, 5), who=sw.mw.prisoner2)
    assert refused.value.extra["reason"] == "over_limit"
    # Coffee is for Enhanced only; crisps restricted by healthcare, with no reason given.
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-0004", (sw.coffee, 1))
    assert refused.value.extra["reason"] == "level"
    clinician = sw.mw.world.staff["clinician"]
    await sw.shop.restrict(
        Principal(clinician.account_id, clinician.role, sw.mw.world.est, "t"),
        sw.mw.prisoner.account_id,
        sw.crisps,
    )
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-0005", (sw.crisps, 1))
    assert refused.value.extra["reason"] == "restricted"
    assert refused.value.detail == "This item is not available to you."
    catalogue = await sw.shop.catalogue(sw.mw.prisoner)
    assert {i.name: i.unavailable for i in catalogue.items} == {
        "Coffee": "level",
        "Crisps": "restricted",
        "Phone credit £5": None,
    }
    assert await sw.orders() == 0
    assert await sw.spends() == 1500


async def test_enhanced_may_buy_coffee(sw: ShopWorld) -> None:
    officer = sw.mw.officer
    await sw.mw.app[PEOPLE].incentives.set_level(
        officer, sw.mw.prisoner.account_id, "enhanced", "Helps on the wing"
    )
    order, _ = await sw.place("basket-coffee", (sw.coffee, 1))
    assert order.total_pence == 250


async def test_orders_at_once_never_exceed_the_balance_or_the_limit(sw: ShopWorld) -> None:
    async def attempt(i: int, who: Principal) -> str:
        try:
            await sw.place(f"race-{who.account_id[:6]}-{i:04d}", (sw.phone_credit, 1), who=who)
        except ServiceError as error:
            return str(error.extra.get("reason"))
        return "placed"

    mine = await asyncio.gather(*(attempt(i, sw.mw.prisoner) for i in range(8)))
    theirs = await asyncio.gather(*(attempt(i, sw.mw.prisoner2) for i in range(8)))
    assert mine.count("placed") == 3  # 15.00 of spends buys three 5.00 credits
    assert set(mine) == {"placed", "not_enough_money"}
    assert theirs.count("placed") == 4  # the 20.00 limit, though 50.00 is there
    assert set(theirs) == {"placed", "over_limit"}
    assert await sw.spends() == 0
    assert await sw.spends(sw.mw.prisoner2) == 3000


async def test_fifty_orders_at_once_against_a_balance_for_ten_place_exactly_ten(
    sw: ShopWorld,
) -> None:
    """Fifty taps at once, each its own key, against spends that buy ten: each waits for
    the prisoner's ledger lock in turn, so ten are placed and forty refused; the ledger's
    numbers have no gap and every placed order has its one debit."""
    tea = await sw.shop.add_item(
        sw.mw.shop, sw.mw.world.est, category="Drinks", name="Tea", price_pence=150
    )

    async def attempt(i: int) -> str:
        try:
            await sw.place(f"fifty-at-once-{i:03d}", (tea.id, 1))
        except ServiceError as error:
            return str(error.extra.get("reason"))
        return "placed"

    outcomes = await asyncio.gather(*(attempt(i) for i in range(50)))
    assert outcomes.count("placed") == 10
    assert outcomes.count("not_enough_money") == 40
    assert await sw.spends() == 0
    assert await sw.orders() == 10
    async with sw.mw.app[DATABASE].connect() as conn:
        numbers = list(
            await conn.scalars(
                select(money_entries.c.n)
                .where(money_entries.c.prisoner_id == sw.mw.prisoner.account_id)
                .order_by(money_entries.c.n)
            )
        )
        debits = await conn.scalar(
            select(func.count())
            .select_from(money_entries)
            .join(shop_orders, shop_orders.c.id == money_entries.c.order_id)
            .where(money_entries.c.amount_pence == -shop_orders.c.total_pence)
        )
    assert numbers == list(range(1, 12))  # the wages, then ten debits
    assert debits == 10
    assert sw.mw.actions.count("order_placed") == 10


async def test_the_weeks_spending_is_this_weeks_less_refunds(sw: ShopWorld) -> None:
    """B's limit is 20.00 a week (50.00 in spends). Last week's orders do not count, a
    refund gives the limit back, and an order dated later than the clock (a clock set
    back) does not hide this week's spending."""
    sw.mw.clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))  # Tuesday, week of 2 March
    b = sw.mw.prisoner2
    first, _ = await sw.place("week-one-0", (sw.phone_credit, 3), (sw.crisps, 7), who=b)
    with pytest.raises(ServiceError) as refused:
        await sw.place("week-one-1", (sw.crisps, 1), who=b)
    assert refused.value.extra["reason"] == "over_limit"
    assert refused.value.extra["spent_pence"] == 1955
    sw.mw.clock.set(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))  # Monday: a new week
    await sw.place("week-two-0", (sw.phone_credit, 3), who=b)
    with pytest.raises(ServiceError) as refused:
        await sw.place("week-two-1", (sw.phone_credit, 2), who=b)
    assert refused.value.extra["spent_pence"] == 1500
    # Back in the first week (the clock set back): its 19.55 still counts.
    sw.mw.clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    with pytest.raises(ServiceError) as refused:
        await sw.place("week-one-2", (sw.crisps, 1), who=b)
    assert refused.value.extra["spent_pence"] == 1955
    # The crisps out of stock: their 4.55 refunded gives 4.55 of the limit back.
    crisps = next(line for line in first.lines if line.item_id == sw.crisps)
    await sw.shop.picked(sw.mw.shop, first.id, [crisps.id])
    assert (await sw.place("week-one-3", (sw.phone_credit, 1), who=b))[1]
    assert await sw.spends(b) == 5000 - 1955 - 1500 + 455 - 500


async def test_after_the_cut_off_orders_wait_for_next_week(sw: ShopWorld) -> None:
    # Wednesday 12:00 London (GMT in March): closed until Monday 00:00.
    sw.mw.clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-late", (sw.crisps, 1))
    assert refused.value.extra["reason"] == "after_cutoff"
    assert not (await sw.shop.catalogue(sw.mw.prisoner)).open
    sw.mw.clock.set(datetime(2026, 3, 9, 0, 0, tzinfo=UTC))
    order, _ = await sw.place("basket-monday", (sw.crisps, 1))
    assert order.status.value == "placed"


async def test_the_week_and_cut_off_follow_the_establishments_clock_in_summer(
    sw: ShopWorld,
) -> None:
    """In British Summer Time, Wednesday 12:00 in London is 11:00 UTC."""
    sw.mw.clock.set(datetime(2026, 6, 10, 10, 59, tzinfo=UTC))
    await sw.place("basket-summer-1", (sw.crisps, 1))
    sw.mw.clock.set(datetime(2026, 6, 10, 11, 0, tzinfo=UTC))
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-summer-2", (sw.crisps, 1))
    assert refused.value.extra["reason"] == "after_cutoff"


async def test_no_orders_during_a_lockdown_but_balances_still_read(sw: ShopWorld) -> None:
    await sw.mw.app[SCHEDULING].declare_lockdown(
        sw.mw.officer,
        sw.mw.world.est,
        starts_at="2026-03-03T09:00:00Z",
        ends_at="2026-03-03T18:00:00Z",
    )
    with pytest.raises(ServiceError) as refused:
        await sw.place("basket-lockdown", (sw.crisps, 1))
    assert refused.value.code.slug == "lockdown"
    assert await sw.spends() == 1500
    assert await sw.orders() == 0


async def test_picking_refunds_out_of_stock_lines_then_delivery(sw: ShopWorld) -> None:
    cell = await place(sw.mw.app, sw.mw.world.est, "W0-01")
    await sw.mw.app[PEOPLE].locations.move(sw.mw.officer, sw.mw.prisoner.account_id, cell)
    order, _ = await sw.place("basket-pick", (sw.crisps, 2), (sw.phone_credit, 1))
    assert await sw.shop.pick_list(sw.mw.shop, sw.mw.world.est, "X") == []
    listed = await sw.shop.pick_list(sw.mw.shop, sw.mw.world.est, None)
    assert [(o.receipt, o.wing) for o in listed] == [(order.receipt, "W")]
    crisps = next(line for line in order.lines if line.item_id == sw.crisps)
    with pytest.raises(ServiceError):
        await sw.shop.picked(sw.mw.finance, order.id, [crisps.id])
    picked = await sw.shop.picked(sw.mw.shop, order.id, [crisps.id])
    assert (picked.status.value, picked.refunded_pence) == ("picked", 130)
    assert await sw.spends() == 1500 - 500
    with pytest.raises(ServiceError) as again:
        await sw.shop.picked(sw.mw.shop, order.id, [])
    assert again.value.extra["reason"] == "wrong_status"
    delivered = await sw.shop.delivered(sw.mw.shop, order.id)
    assert delivered.status.value == "delivered"
    assert await sw.shop.pick_list(sw.mw.shop, sw.mw.world.est, None) == []
    # The refund counts back against the week's limit as well as the balance.
    catalogue = await sw.shop.catalogue(sw.mw.prisoner)
    assert catalogue.spent_pence == 500


async def test_staff_orders_nothing_and_a_prisoner_manages_nothing(sw: ShopWorld) -> None:
    with pytest.raises(ServiceError) as refused:
        await sw.shop.place(sw.mw.shop, [{"item_id": sw.crisps, "quantity": 1}], "staff-key-01")
    assert refused.value.code.slug == "forbidden"
    with pytest.raises(ServiceError) as refused:
        await sw.shop.add_item(
            sw.mw.prisoner, sw.mw.world.est, category="x", name="x", price_pence=1
        )
    assert refused.value.code.slug == "forbidden"
    with pytest.raises(ServiceError) as refused:
        await sw.shop.add_item(
            sw.mw.shop, sw.mw.world.est, category="Food", name="<b>x</b>", price_pence=1
        )
    assert refused.value.code.slug == "invalid_request"
