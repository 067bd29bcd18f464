"""The catalogue as staff keep it (issue 16 item 2): shop staff list the items and change a
price or level; healthcare make an item unavailable to one prisoner and available again,
with no reason asked or kept; and the issue's bad input for money and the shop over HTTP:
each gets a clear answer and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from core.clock import FakeClock
from core.identity import Role
from kiosk.money_tables import money_entries
from kiosk.shop_tables import shop_items, shop_orders, shop_restrictions
from tests.kiosk.money_world import credits_csv, make_money
from tests.world import bearer, new_staff, sign_in_prisoner, sign_in_staff, signed_in_staff
from web.state import DATABASE

A = "A1234BC"


async def _setup(client: Any, clock: FakeClock) -> dict[str, Any]:
    mw = await make_money(client, clock)
    finance = bearer(await sign_in_staff(client, mw.finance_staff))
    posted = await client.post(
        "/api/kiosk/money/credits",
        json={"csv": credits_csv(f"{A},spends,10.00,wages,w", f"{A},private,5.00,sent_in,p")},
        headers=finance,
    )
    assert posted.status == 201
    shop = bearer(await sign_in_staff(client, mw.shop_staff))
    made = await client.post(
        "/api/kiosk/shop/items",
        json={"category": "Food", "name": "Crisps", "price_pence": 65},
        headers=shop,
    )
    assert made.status == 201
    nurse, nurse_tokens = await signed_in_staff(
        client, Role.HEALTHCARE_ADMIN, "nurse.shop", mw.world.est
    )
    return {
        "mw": mw,
        "finance": finance,
        "shop": shop,
        "nurse": bearer(nurse_tokens),
        "officer": bearer(await sign_in_staff(client, mw.world.staff["officer"])),
        "prisoner": bearer(await sign_in_prisoner(client, mw.world.prisoners[0])),
        "crisps": (await made.json())["id"],
    }


async def _rows(client: Any) -> tuple[int, ...]:
    async with client.server.app[DATABASE].connect() as conn:
        return tuple(
            [
                int(await conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (money_entries, shop_orders, shop_items, shop_restrictions)
            ]
        )


async def test_shop_staff_list_items_and_change_a_price_and_level(
    client: Any, clock: FakeClock
) -> None:
    s = await _setup(client, clock)
    listed = await (await client.get("/api/kiosk/shop/items", headers=s["shop"])).json()
    assert [(i["name"], i["price_pence"], i["min_level"]) for i in listed] == [("Crisps", 65, None)]
    changed = await client.put(
        f"/api/kiosk/shop/items/{s['crisps']}",
        json={"price_pence": 70, "min_level": "enhanced"},
        headers=s["shop"],
    )
    assert changed.status == 200, await changed.text()
    assert ((await changed.json())["price_pence"], (await changed.json())["min_level"]) == (
        70,
        "enhanced",
    )
    # A standard prisoner now sees it needs Enhanced.
    seen = await (await client.get("/api/kiosk/shop", headers=s["prisoner"])).json()
    assert [(i["price_pence"], i["unavailable"]) for i in seen["items"]] == [(70, "level")]


@pytest.mark.parametrize(
    "price",
    [1.25, "1.25", -65, 0, 100_001, True, None],
)
async def test_a_price_that_is_not_whole_pence_is_refused_and_changes_nothing(
    client: Any, clock: FakeClock, price: Any
) -> None:
    s = await _setup(client, clock)
    before = await _rows(client)
    made = await client.post(
        "/api/kiosk/shop/items",
        json={"category": "Food", "name": "Biscuits", "price_pence": price},
        headers=s["shop"],
    )
    changed = await client.put(
        f"/api/kiosk/shop/items/{s['crisps']}", json={"price_pence": price}, headers=s["shop"]
    )
    assert (made.status, changed.status) == (400, 400)
    assert await _rows(client) == before
    listed = await (await client.get("/api/kiosk/shop/items", headers=s["shop"])).json()
    assert [i["price_pence"] for i in listed] == [65]


async def test_healthcare_makes_an_item_unavailable_and_available_again_without_a_reason(
    client: Any, clock: FakeClock
) -> None:
    s = await _setup(client, clock)
    prisoner_id = s["mw"].prisoner.account_id
    view = await client.get(
        "/api/kiosk/shop/restrictions", params={"prison_number": A}, headers=s["nurse"]
    )
    assert view.status == 200
    assert [i["unavailable"] for i in (await view.json())["items"]] == [None]
    body = {"prisoner_id": prisoner_id, "item_id": s["crisps"]}
    assert (
        await client.post("/api/kiosk/shop/restrictions", json=body, headers=s["nurse"])
    ).status == 204
    seen = await (await client.get("/api/kiosk/shop", headers=s["prisoner"])).json()
    assert [i["unavailable"] for i in seen["items"]] == ["restricted"]
    order = await client.post(
        "/api/kiosk/shop/orders",
        json={"lines": [{"item_id": s["crisps"], "quantity": 1}]},
        headers={**s["prisoner"], "Idempotency-Key": "restricted-1"},
    )
    assert order.status == 409 and (await order.json())["reason"] == "restricted"
    # Nowhere is there a reason: the restriction row has none to hold.
    assert {c.name for c in shop_restrictions.columns} == {
        "prisoner_id",
        "item_id",
        "set_by",
        "created_at",
    }
    lifted = await client.post(
        "/api/kiosk/shop/restrictions", json={**body, "restricted": False}, headers=s["nurse"]
    )
    assert lifted.status == 204
    seen = await (await client.get("/api/kiosk/shop", headers=s["prisoner"])).json()
    assert [i["unavailable"] for i in seen["items"]] == [None]
    # The shop staff, an officer and the prisoner may not do it.
    for who in ("shop", "officer", "prisoner"):
        resp = await client.post("/api/kiosk/shop/restrictions", json=body, headers=s[who])
        assert resp.status == 403, who
    bad = await client.post(
        "/api/kiosk/shop/restrictions", json={**body, "restricted": "yes"}, headers=s["nurse"]
    )
    assert bad.status == 400


async def test_healthcare_of_another_establishment_finds_no_such_prisoner(
    client: Any, clock: FakeClock
) -> None:
    s = await _setup(client, clock)
    _, tokens = await signed_in_staff(
        client, Role.HEALTHCARE_ADMIN, "nurse.elsewhere", s["mw"].world.other_est
    )
    there = bearer(tokens)
    found = await client.get(
        "/api/kiosk/shop/restrictions", params={"prison_number": A}, headers=there
    )
    missing = await client.get(
        "/api/kiosk/shop/restrictions", params={"prison_number": "Z9999ZZ"}, headers=there
    )
    assert found.status == missing.status == 404
    assert (await found.json())["detail"] == (await missing.json())["detail"]


async def test_shop_staff_of_another_department_may_not_change_the_catalogue(
    client: Any, clock: FakeClock
) -> None:
    s = await _setup(client, clock)
    staff = await new_staff(
        client.server.app, Role.DEPARTMENT_STAFF, "chapel.one", s["mw"].world.est
    )
    other = bearer(await sign_in_staff(client, staff))
    before = await _rows(client)
    resp = await client.put(
        f"/api/kiosk/shop/items/{s['crisps']}", json={"price_pence": 1}, headers=other
    )
    assert resp.status == 403 and (await resp.json())["reason"] == "not_shop"
    assert (await client.get("/api/kiosk/shop/items", headers=other)).status == 403
    assert await _rows(client) == before


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"from": "private", "to": "spends", "amount_pence": -100}, 400),
        ({"from": "private", "to": "spends", "amount_pence": 1.5}, 400),
        ({"from": "private", "to": "spends", "amount_pence": "150"}, 400),
        ({"from": "private", "to": "spends", "amount_pence": 0}, 400),
        ({"from": "private", "to": "private", "amount_pence": 100}, 400),
        ({"from": "private", "to": "spends", "amount_pence": 501}, 409),
        ({"from": "private", "to": "spends", "amount_pence": 100, "reference": "<b>x</b>"}, 400),
        ({"from": "private", "to": "spends", "amount_pence": 100, "reference": "x" * 100_000}, 413),
    ],
)
async def test_a_bad_transfer_is_refused_and_changes_nothing(
    client: Any, clock: FakeClock, body: dict[str, Any], status: int
) -> None:
    s = await _setup(client, clock)
    before = await _rows(client)
    prisoner_id = s["mw"].prisoner.account_id
    resp = await client.post(
        f"/api/kiosk/money/prisoners/{prisoner_id}/transfers", json=body, headers=s["finance"]
    )
    assert resp.status == status, await resp.text()
    assert await _rows(client) == before


@pytest.mark.parametrize("quantity", [-1, 0, 1.5, "2", None, 21])
async def test_a_bad_quantity_over_http_is_refused_and_changes_nothing(
    client: Any, clock: FakeClock, quantity: Any
) -> None:
    s = await _setup(client, clock)
    before = await _rows(client)
    resp = await client.post(
        "/api/kiosk/shop/orders",
        json={"lines": [{"item_id": s["crisps"], "quantity": quantity}]},
        headers={**s["prisoner"], "Idempotency-Key": "bad-quantity"},
    )
    assert resp.status == 400 and (await resp.json())["reason"] == "bad_quantity"
    assert await _rows(client) == before
    money = await (await client.get("/api/kiosk/money", headers=s["prisoner"])).json()
    assert money["balances"] == {"spends": 1000, "private": 500}


async def test_an_item_named_in_html_or_100kb_is_refused(client: Any, clock: FakeClock) -> None:
    s = await _setup(client, clock)
    before = await _rows(client)
    for name, status in (("<img src=x onerror=alert(1)>", 400), ("x" * 100_000, 413)):
        resp = await client.post(
            "/api/kiosk/shop/items",
            json={"category": "Food", "name": name, "price_pence": 10},
            headers=s["shop"],
        )
        assert resp.status == status
    assert await _rows(client) == before
