"""Audit of the kiosk (issue 16 item 8), read back from the app's own audit log as a manager
reads it: a credit, an order, its refund and a reply are events; finance looking a
prisoner's money up and wing staff reading an application are events; and no event holds
the words of an application or a reply (ids, receipts and pence only)."""

from __future__ import annotations

import json
from typing import Any

from core.clock import FakeClock
from tests.kiosk.money_world import credits_csv, join_department, make_money
from tests.world import bearer, sign_in_prisoner, sign_in_staff

A = "A1234BC"
ASKED = "May I have a second pillow please"
REPLIED = "Collect it from the wing office at five"


async def _events(client: Any, headers: dict[str, str], action: str) -> list[dict[str, Any]]:
    resp = await client.get("/api/audit/events", params={"action": action}, headers=headers)
    assert resp.status == 200, await resp.text()
    events: list[dict[str, Any]] = (await resp.json())["events"]
    return events


async def test_money_orders_and_replies_are_events_and_staff_readings_are_logged(
    client: Any, clock: FakeClock
) -> None:
    mw = await make_money(client, clock)
    world = mw.world
    prisoner_id = mw.prisoner.account_id
    await join_department(
        client.server.app, world.est, "wing-office", world.staff["officer"].account_id
    )
    finance = bearer(await sign_in_staff(client, mw.finance_staff))
    shop = bearer(await sign_in_staff(client, mw.shop_staff))
    wing = bearer(await sign_in_staff(client, world.staff["officer"]))
    manager = bearer(await sign_in_staff(client, world.staff["manager"]))
    prisoner = bearer(await sign_in_prisoner(client, world.prisoners[0]))

    # Finance pays wages in and looks the prisoner up.
    posted = await client.post(
        "/api/kiosk/money/credits",
        json={"csv": credits_csv(f"{A},spends,10.00,wages,Week 1")},
        headers=finance,
    )
    assert posted.status == 201
    looked = await client.get(
        "/api/kiosk/money/prisoners", params={"prison_number": A}, headers=finance
    )
    assert looked.status == 200

    # The prisoner orders; shop staff pick it with one line out of stock.
    crisps = await (
        await client.post(
            "/api/kiosk/shop/items",
            json={"category": "Food", "name": "Crisps", "price_pence": 65},
            headers=shop,
        )
    ).json()
    soap = await (
        await client.post(
            "/api/kiosk/shop/items",
            json={"category": "Wash", "name": "Soap", "price_pence": 120},
            headers=shop,
        )
    ).json()
    order = await (
        await client.post(
            "/api/kiosk/shop/orders",
            json={
                "lines": [
                    {"item_id": crisps["id"], "quantity": 2},
                    {"item_id": soap["id"], "quantity": 1},
                ]
            },
            headers={**prisoner, "Idempotency-Key": "audit-order-1"},
        )
    ).json()
    soap_line = next(line["id"] for line in order["lines"] if line["name"] == "Soap")
    picked = await client.post(
        f"/api/kiosk/shop/orders/{order['id']}/picked",
        json={"out_of_stock": [soap_line]},
        headers=shop,
    )
    assert picked.status == 200

    # An application, read by the wing office and answered.
    departments = await (await client.get("/api/kiosk/departments", headers=prisoner)).json()
    wing_office = next(d["id"] for d in departments if d["code"] == "wing-office")
    sent = await (
        await client.post(
            "/api/kiosk/applications",
            json={"department_id": wing_office, "text": ASKED},
            headers=prisoner,
        )
    ).json()
    assert (await client.get(f"/api/kiosk/queues/{wing_office}", headers=wing)).status == 200
    answered = await client.post(
        f"/api/kiosk/staff/applications/{sent['id']}/answer",
        json={"reply": REPLIED},
        headers=wing,
    )
    assert answered.status == 200

    ledger = await _events(client, manager, "ledger_entry")
    kinds = sorted((e["details"]["kind"], e["details"]["amount_pence"]) for e in ledger)
    assert kinds == [("order", -250), ("refund", 120), ("wages", 1000)]
    assert {e["subject"] for e in ledger} == {prisoner_id}
    by_kind = {e["details"]["kind"]: e for e in ledger}
    assert by_kind["order"]["details"]["order"] == order["id"]
    assert by_kind["refund"]["details"]["order"] == order["id"]

    [placed] = await _events(client, manager, "order_placed")
    assert placed["details"] == {
        "order": order["id"],
        "receipt": order["receipt"],
        "total_pence": 250,
    }
    [picked_event] = await _events(client, manager, "order_picked")
    assert picked_event["details"]["refunded_pence"] == 120

    [viewed] = await _events(client, manager, "money_viewed")
    assert (viewed["actor"], viewed["subject"]) == (mw.finance_staff.account_id, prisoner_id)
    [read] = await _events(client, manager, "applications_read")
    assert (read["actor"], read["subject"]) == (world.staff["officer"].account_id, prisoner_id)
    assert read["details"]["applications"] == [sent["id"]]
    [reply] = await _events(client, manager, "application_answered")
    assert reply["subject"] == sent["id"] and reply["details"]["prisoner"] == prisoner_id

    # No event holds the words.
    everything = json.dumps(
        [
            await _events(client, manager, action)
            for action in ("application_sent", "application_answered", "applications_read")
        ]
    )
    assert ASKED not in everything and REPLIED not in everything
