"""The money API as its callers use it: the prisoner's own statement (also in a lockdown),
finance's preview and posting, and refusals that change nothing."""

from __future__ import annotations

from typing import Any

from core.clock import FakeClock
from tests.kiosk.money_world import credits_csv, make_money
from tests.world import bearer, sign_in_prisoner, sign_in_staff

A = "A1234BC"


async def _setup(client: Any, clock: FakeClock) -> tuple[Any, dict[str, str], dict[str, str]]:
    mw = await make_money(client, clock)
    finance = bearer(await sign_in_staff(client, mw.finance_staff))
    prisoner = bearer(await sign_in_prisoner(client, mw.world.prisoners[0]))
    return mw, finance, prisoner


async def test_finance_previews_then_posts_and_the_prisoner_sees_it(
    client: Any, clock: FakeClock
) -> None:
    _, finance, prisoner = await _setup(client, clock)
    text = credits_csv(f"{A},spends,12.50,wages,Wages week 12")
    preview = await client.post(
        "/api/kiosk/money/credits/preview", json={"csv": text}, headers=finance
    )
    assert preview.status == 200
    body = await preview.json()
    assert (body["problems"], body["total_pence"], body["posted_at"]) == ([], 1250, None)
    assert (await (await client.get("/api/kiosk/money", headers=prisoner)).json())["entries"] == []
    posted = await client.post("/api/kiosk/money/credits", json={"csv": text}, headers=finance)
    assert posted.status == 201
    mine = await (await client.get("/api/kiosk/money", headers=prisoner)).json()
    assert mine["balances"] == {"spends": 1250, "private": 0}
    assert [(e["kind"], e["amount_pence"], e["reference"]) for e in mine["entries"]] == [
        ("wages", 1250, "Wages week 12")
    ]
    again = await client.post("/api/kiosk/money/credits", json={"csv": text}, headers=finance)
    assert again.status == 409
    assert (await again.json())["reason"] == "already_posted"


async def test_a_bad_line_is_named_and_nothing_is_posted(client: Any, clock: FakeClock) -> None:
    _, finance, prisoner = await _setup(client, clock)
    text = credits_csv(f"{A},spends,12.50,wages,ok", f"{A},spends,1.5,wages,<b>bad</b>")
    resp = await client.post("/api/kiosk/money/credits", json={"csv": text}, headers=finance)
    assert resp.status == 400
    assert (await resp.json())["problems"] == [{"line": 3, "problem": "amount"}]
    mine = await (await client.get("/api/kiosk/money", headers=prisoner)).json()
    assert mine["entries"] == []


async def test_a_100kb_file_is_refused_whole(client: Any, clock: FakeClock) -> None:
    _, finance, _ = await _setup(client, clock)
    text = credits_csv(f"{A},spends,1.00,wages," + "x" * 100_000)
    resp = await client.post("/api/kiosk/money/credits", json={"csv": text}, headers=finance)
    assert resp.status == 413


async def test_a_prisoner_cannot_post_or_read_anothers_money(client: Any, clock: FakeClock) -> None:
    _, _, prisoner = await _setup(client, clock)
    text = credits_csv(f"{A},spends,12.50,wages,x")
    resp = await client.post("/api/kiosk/money/credits", json={"csv": text}, headers=prisoner)
    assert resp.status == 403
    assert (await resp.json())["permission"] == "money.manage"
    found = await client.get(
        "/api/kiosk/money/prisoners", params={"prison_number": "B2345CD"}, headers=prisoner
    )
    assert found.status == 403


async def test_finance_transfer_takes_whole_pence_only(client: Any, clock: FakeClock) -> None:
    mw, finance, _ = await _setup(client, clock)
    await client.post(
        "/api/kiosk/money/credits",
        json={"csv": credits_csv(f"{A},private,5.00,sent_in,x")},
        headers=finance,
    )
    url = f"/api/kiosk/money/prisoners/{mw.prisoner.account_id}/transfers"
    for amount in (1.5, -100, "100", True, 0):
        resp = await client.post(
            url, json={"from": "private", "to": "spends", "amount_pence": amount}, headers=finance
        )
        assert resp.status == 400, amount
    ok = await client.post(
        url, json={"from": "private", "to": "spends", "amount_pence": 200}, headers=finance
    )
    assert ok.status == 201
    found = await client.get(
        "/api/kiosk/money/prisoners", params={"prison_number": A}, headers=finance
    )
    assert (await found.json())["balances"] == {"spends": 200, "private": 300}


async def test_reading_ones_money_still_works_in_a_lockdown(client: Any, clock: FakeClock) -> None:
    mw, _, prisoner = await _setup(client, clock)
    officer = bearer(await sign_in_staff(client, mw.world.staff["officer"]))
    resp = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    assert (await client.get("/api/kiosk/money", headers=prisoner)).status == 200
