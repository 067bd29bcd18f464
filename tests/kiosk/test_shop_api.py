"""The shop API as the device and shop staff use it: a double tap is one order, a lockdown
closes ordering with 423, and the pick list comes as a file too."""

from __future__ import annotations

from typing import Any

from core.clock import FakeClock
from tests.kiosk.money_world import credits_csv, make_money
from tests.world import bearer, sign_in_prisoner, sign_in_staff

A = "A1234BC"


async def _setup(client: Any, clock: FakeClock) -> tuple[Any, dict[str, str], dict[str, str], str]:
    mw = await make_money(client, clock)
    finance = bearer(await sign_in_staff(client, mw.finance_staff))
    await client.post(
        "/api/kiosk/money/credits",
        json={"csv": credits_csv(f"{A},spends,10.00,wages,w")},
        headers=finance,
    )
    shop_staff = bearer(await sign_in_staff(client, mw.shop_staff))
    item = await client.post(
        "/api/kiosk/shop/items",
        json={"category": "Food", "name": "Crisps", "price_pence": 65},
        headers=shop_staff,
    )
    assert item.status == 201, await item.text()
    prisoner = bearer(await sign_in_prisoner(client, mw.world.prisoners[0]))
    return mw, prisoner, shop_staff, (await item.json())["id"]


async def test_a_double_tap_answers_the_same_order(client: Any, clock: FakeClock) -> None:
    _, prisoner, _, crisps = await _setup(client, clock)
    body = {"lines": [{"item_id": crisps, "quantity": 2}]}
    headers = {**prisoner, "Idempotency-Key": "tap-0000001"}
    first = await client.post("/api/kiosk/shop/orders", json=body, headers=headers)
    second = await client.post("/api/kiosk/shop/orders", json=body, headers=headers)
    assert (first.status, second.status) == (201, 200)
    assert (await first.json())["receipt"] == (await second.json())["receipt"]
    history = await (await client.get("/api/kiosk/shop/orders", headers=prisoner)).json()
    assert len(history) == 1
    money = await (await client.get("/api/kiosk/money", headers=prisoner)).json()
    assert money["balances"]["spends"] == 1000 - 130


async def test_no_key_no_order(client: Any, clock: FakeClock) -> None:
    _, prisoner, _, crisps = await _setup(client, clock)
    resp = await client.post(
        "/api/kiosk/shop/orders",
        json={"lines": [{"item_id": crisps, "quantity": 1}]},
        headers=prisoner,
    )
    assert resp.status == 400
    assert (await resp.json())["reason"] == "idempotency_key"


async def test_a_lockdown_closes_ordering_but_not_the_catalogue(
    client: Any, clock: FakeClock
) -> None:
    mw, prisoner, _, crisps = await _setup(client, clock)
    officer = bearer(await sign_in_staff(client, mw.world.staff["officer"]))
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201
    placed = await client.post(
        "/api/kiosk/shop/orders",
        json={"lines": [{"item_id": crisps, "quantity": 1}]},
        headers={**prisoner, "Idempotency-Key": "tap-lockdown"},
    )
    assert placed.status == 423
    assert (await placed.json())["code"] == "lockdown"
    assert (await client.get("/api/kiosk/shop", headers=prisoner)).status == 200
    assert (await client.get("/api/kiosk/shop/orders", headers=prisoner)).status == 200


async def test_the_pick_list_as_a_file(client: Any, clock: FakeClock) -> None:
    _, prisoner, shop_staff, crisps = await _setup(client, clock)
    await client.post(
        "/api/kiosk/shop/orders",
        json={"lines": [{"item_id": crisps, "quantity": 3}]},
        headers={**prisoner, "Idempotency-Key": "tap-picklist"},
    )
    resp = await client.get("/api/kiosk/shop/pick-list?format=csv", headers=shop_staff)
    assert resp.status == 200
    rows = (await resp.text()).splitlines()
    assert rows[0] == "wing,cell,receipt,item,quantity,status"
    assert rows[1].endswith(",Crisps,3,placed")
