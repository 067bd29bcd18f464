"""Transfer and release (issue 16 item 6): balances move with the prisoner, orders the old
shop has not delivered are cancelled and refunded (and the prisoner told), and release
pays every account out with a closing entry under one receipt number, inside the
movement's one transaction. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FakeClock
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from kiosk.leaving import NOTICE_KIND, STEP, KioskLeaving
from kiosk.money_csv import EntryKind, MoneyAccount
from kiosk.money_tables import money_entries, money_holders
from kiosk.shop_tables import shop_orders
from scheduling import SchedulingService
from scheduling.release_steps import ReleaseContext
from scheduling.tables import notifications
from tests.kiosk.money_world import credits_csv
from tests.kiosk.test_shop import A, ShopWorld, make_shop
from web.state import DATABASE, SETTINGS, SUBJECT_KEYS


@pytest.fixture
async def sw(client: Any, clock: FakeClock) -> ShopWorld:
    return await make_shop(client, clock)


async def movements(sw: ShopWorld) -> SchedulingService:
    """A scheduling service whose movements run the kiosk's steps, auditing to our sink."""
    app = sw.mw.app
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    svc = SchedulingService(
        app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=sw.mw.clock,
        audit=MemorySink(),
    )
    leaving = KioskLeaving(money=sw.mw.money, audit=sw.mw.audit)
    svc.transfer_steps.register(STEP, leaving.transfer)
    svc.release_steps.register(STEP, leaving.release)
    return svc


async def three_orders(sw: ShopWorld) -> list[str]:
    """One placed (130p), one picked (500p), one delivered (65p): 1500p - 695p left."""
    placed, _ = await sw.place("basket-placed", (sw.crisps, 2))
    picked, _ = await sw.place("basket-picked", (sw.phone_credit, 1))
    delivered, _ = await sw.place("basket-deliver", (sw.crisps, 1))
    await sw.shop.picked(sw.mw.shop, picked.id, [])
    await sw.shop.picked(sw.mw.shop, delivered.id, [])
    await sw.shop.delivered(sw.mw.shop, delivered.id)
    return [placed.id, picked.id, delivered.id]


async def statuses(sw: ShopWorld, ids: list[str]) -> list[str]:
    async with sw.mw.app[DATABASE].connect() as conn:
        rows = await conn.execute(select(shop_orders.c.id, shop_orders.c.status))
        found = {r.id: r.status for r in rows}
    return [found[i] for i in ids]


async def entries(sw: ShopWorld) -> list[Any]:
    async with sw.mw.app[DATABASE].connect() as conn:
        return list(
            await conn.execute(
                select(money_entries)
                .where(money_entries.c.prisoner_id == sw.mw.prisoner.account_id)
                .order_by(money_entries.c.n)
            )
        )


async def test_on_transfer_undelivered_orders_are_refunded_and_the_balance_moves(
    sw: ShopWorld,
) -> None:
    svc = await movements(sw)
    ids = await three_orders(sw)
    assert await sw.spends() == 1500 - 695
    done = await svc.transfer(sw.mw.officer, sw.mw.prisoner.account_id, sw.mw.world.other_est)

    assert done.steps[STEP] == {
        "private_pence": 0,
        "spends_pence": 1500 - 65,
        "orders_cancelled": 2,
        "refunded_pence": 630,
    }
    assert await statuses(sw, ids) == ["cancelled", "cancelled", "delivered"]
    # The refunds were made at the old establishment; the ledger now belongs to the new one.
    refunds = [e for e in await entries(sw) if e.kind == EntryKind.REFUND.value]
    assert sorted(e.amount_pence for e in refunds) == [130, 500]
    assert {e.establishment_id for e in refunds} == {sw.mw.world.est}
    async with sw.mw.app[DATABASE].connect() as conn:
        holder = await conn.scalar(
            select(money_holders.c.establishment_id).where(
                money_holders.c.prisoner_id == sw.mw.prisoner.account_id
            )
        )
        notice = (
            await conn.execute(
                select(notifications).where(
                    notifications.c.recipient_id == sw.mw.prisoner.account_id,
                    notifications.c.kind == NOTICE_KIND,
                )
            )
        ).one()
    assert holder == sw.mw.world.other_est
    assert json.loads(notice.payload) == {"orders": 2, "refunded_pence": 630}
    # They read the same money at the new establishment, and the old pick list is clear.
    moved = Principal(sw.mw.prisoner.account_id, Role.PRISONER, sw.mw.world.other_est, "t")
    assert await sw.spends(moved) == 1500 - 65
    assert await sw.shop.pick_list(sw.mw.shop, sw.mw.world.est, None) == []
    cancelled = [r for r in sw.mw.audit.records if r.action.value == "order_cancelled"]
    assert sorted(r.details["refunded_pence"] for r in cancelled) == [130, 500]
    refund_events = [
        r
        for r in sw.mw.audit.records
        if r.action.value == "ledger_entry" and r.details["kind"] == "refund"
    ]
    assert len(refund_events) == 2


async def test_a_transfer_with_nothing_pending_tells_nobody(sw: ShopWorld) -> None:
    svc = await movements(sw)
    done = await svc.transfer(sw.mw.officer, sw.mw.prisoner.account_id, sw.mw.world.other_est)
    assert done.steps[STEP]["orders_cancelled"] == 0
    assert done.steps[STEP]["spends_pence"] == 1500
    async with sw.mw.app[DATABASE].connect() as conn:
        found = (
            await conn.execute(select(notifications).where(notifications.c.kind == NOTICE_KIND))
        ).all()
    assert found == []


async def test_release_pays_every_account_out_under_one_receipt(sw: ShopWorld) -> None:
    svc = await movements(sw)
    await sw.mw.money.post_credits(
        sw.mw.finance, sw.mw.world.est, credits_csv(f"{A},private,20.00,sent_in,postal order")
    )
    ids = await three_orders(sw)
    done = await svc.release(sw.mw.officer, sw.mw.prisoner.account_id)

    paid = done.steps[STEP]
    assert paid["receipt"].startswith("P") and len(paid["receipt"]) == 8
    assert paid == {
        "receipt": paid["receipt"],
        "private_pence": 2000,
        "spends_pence": 1500 - 65,
        "orders_cancelled": 2,
        "refunded_pence": 630,
    }
    assert await statuses(sw, ids) == ["cancelled", "cancelled", "delivered"]
    found = await entries(sw)
    payouts = [e for e in found if e.kind == EntryKind.PAYOUT.value]
    assert {(e.account, e.amount_pence, e.reference) for e in payouts} == {
        (MoneyAccount.PRIVATE.value, -2000, paid["receipt"]),
        (MoneyAccount.SPENDS.value, -(1500 - 65), paid["receipt"]),
    }
    # The payouts are the last entries and both balances end at nought.
    assert {e.kind for e in found[-2:]} == {EntryKind.PAYOUT.value}
    assert sum(e.amount_pence for e in found) == 0
    payout_events = [
        r
        for r in sw.mw.audit.records
        if r.action.value == "ledger_entry" and r.details["kind"] == "payout"
    ]
    assert sorted(r.details["amount_pence"] for r in payout_events) == [-2000, -1435]


async def test_release_with_no_money_has_no_receipt(sw: ShopWorld) -> None:
    svc = await movements(sw)
    nobody = sw.mw.prisoner2
    await sw.place("spend-it-all-", (sw.phone_credit, 1), who=nobody)
    await svc.release(sw.mw.officer, sw.mw.prisoner.account_id)
    # prisoner2 had 5000p less 500p, refunded on release: all paid out.
    done = await svc.release(sw.mw.officer, nobody.account_id)
    assert done.steps[STEP]["receipt"] is not None
    assert done.steps[STEP]["spends_pence"] == 5000

    empty = sw.mw.world.other_prisoner
    assert empty is not None
    other_officer = Principal(
        sw.mw.world.staff["officer"].account_id, Role.OFFICER, sw.mw.world.other_est, "t"
    )
    found = await svc.release(other_officer, empty.account_id)
    assert found.steps[STEP] == {
        "receipt": None,
        "private_pence": 0,
        "spends_pence": 0,
        "orders_cancelled": 0,
        "refunded_pence": 0,
    }


async def test_a_failing_later_step_leaves_the_money_and_orders_as_they_were(
    sw: ShopWorld,
) -> None:
    svc = await movements(sw)
    ids = await three_orders(sw)
    before = await entries(sw)

    async def broken(ctx: ReleaseContext) -> None:
        raise RuntimeError("the next module failed")

    svc.release_steps.register("after_kiosk", broken)
    with pytest.raises(RuntimeError):
        await svc.release(sw.mw.officer, sw.mw.prisoner.account_id)
    assert await statuses(sw, ids) == ["placed", "picked", "delivered"]
    assert [e.id for e in await entries(sw)] == [e.id for e in before]
    assert "order_cancelled" not in sw.mw.actions


async def test_the_app_registers_the_kiosk_step_for_both_movements(
    client: Any, clock: FakeClock
) -> None:
    from web.state import SCHEDULING

    svc = client.server.app[SCHEDULING]
    assert STEP in svc.release_steps.names
    assert STEP in svc.transfer_steps.names
