"""Visits over HTTP: what the device and the staff's visits page send and get."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.identity import Principal, Role
from tests.kiosk.conftest import make_kiosk
from tests.scheduling.conftest import at
from tests.world import bearer, new_staff, sign_in_prisoner, sign_in_staff
from web.demo import describe, seed
from web.kiosk.visits import VISITS
from web.state import IDENTITY, PEOPLE, PLACES, SCHEDULING


async def test_ask_approve_book_list_and_cancel_over_http(client: Any, clock: Any) -> None:
    k = await make_kiosk(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, k.world.prisoners[0]))
    other = bearer(await sign_in_prisoner(client, k.world.prisoners[1]))
    officer = bearer(await sign_in_staff(client, k.world.staff["officer"]))
    theirs = bearer(
        await sign_in_staff(
            client, await new_staff(client.server.app, Role.OFFICER, "off.two", k.world.other_est)
        )
    )

    tap = {**prisoner, "Idempotency-Key": "ask-visitor-0001"}
    body = {"name": "Jane Smith", "relationship": "Sister", "email": "jane@example.org"}
    first = await client.post("/api/kiosk/visitors", json=body, headers=tap)
    assert first.status == 201, await first.text()
    asked = await first.json()
    again = await client.post("/api/kiosk/visitors", json=body, headers=tap)
    assert again.status == 200 and (await again.json())["id"] == asked["id"]

    queue = await (await client.get("/api/kiosk/staff/visitor-requests", headers=officer)).json()
    assert [(v["name"], v["prisoner"]["prison_number"]) for v in queue] == [
        ("Jane Smith", "A1234BC")
    ]
    assert (
        await (await client.get("/api/kiosk/staff/visitor-requests", headers=theirs)).json() == []
    )
    resp = await client.post(
        f"/api/kiosk/staff/visitors/{asked['id']}/decision",
        json={"approve": "yes"},
        headers=officer,
    )
    assert resp.status == 400
    resp = await client.post(
        f"/api/kiosk/staff/visitors/{asked['id']}/decision", json={"approve": True}, headers=theirs
    )
    assert resp.status == 404
    resp = await client.post(
        f"/api/kiosk/staff/visitors/{asked['id']}/decision", json={"approve": True}, headers=officer
    )
    assert resp.status == 200 and (await resp.json())["status"] == "approved"

    start = at(5, 14)
    resp = await client.post(
        "/api/kiosk/staff/visit-sessions",
        json={
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "capacity": 1,
        },
        headers=officer,
    )
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    choices = await (await client.get("/api/kiosk/visits/choices", headers=prisoner)).json()
    assert [s["id"] for s in choices["sessions"]] == [session["id"]]
    assert (choices["allowance"], choices["used_this_month"]) == (3, 0)

    booking = {"session_id": session["id"], "visitor_ids": [asked["id"]]}
    tap = {**prisoner, "Idempotency-Key": "book-visit-0001"}
    first = await client.post("/api/kiosk/visits", json=booking, headers=tap)
    assert first.status == 201, await first.text()
    made = await first.json()
    again = await client.post("/api/kiosk/visits", json=booking, headers=tap)
    assert again.status == 200 and (await again.json())["reference"] == made["reference"]
    # Another prisoner: Jane is not theirs (404), and the session is full anyway.
    resp = await client.post("/api/kiosk/visits", json=booking, headers=other)
    assert resp.status == 404
    day = await (
        await client.get("/api/kiosk/staff/visits/day?day=2026-03-05", headers=officer)
    ).json()
    assert [(b["reference"], b["visitors"][0]["name"]) for b in day[0]["bookings"]] == [
        (made["reference"], "Jane Smith")
    ]
    letters = await (await client.get("/api/kiosk/staff/visit-letters", headers=officer)).json()
    assert letters == [] or all(letter["event"] == "confirmed" for letter in letters)

    resp = await client.post(f"/api/kiosk/visits/{made['id']}/cancel", headers=other)
    assert resp.status == 404
    resp = await client.post(f"/api/kiosk/staff/visits/{made['id']}/cancel", headers=theirs)
    assert resp.status == 404
    resp = await client.post(f"/api/kiosk/visits/{made['id']}/cancel", headers=prisoner)
    assert resp.status == 200 and (await resp.json())["status"] == "cancelled"
    mine = await (await client.get("/api/kiosk/visits", headers=prisoner)).json()
    assert [b["status"] for b in mine] == ["cancelled"]


async def test_bad_input_over_http_gets_a_clear_answer_and_changes_nothing(
    client: Any, clock: Any
) -> None:
    k = await make_kiosk(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, k.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, k.world.staff["officer"]))
    for body in (
        {"name": "<script>x</script>", "relationship": "Friend"},
        {"name": "x" * 100_000, "relationship": "Friend"},
        {"relationship": "Friend"},
    ):
        resp = await client.post("/api/kiosk/visitors", json=body, headers=prisoner)
        assert resp.status in (400, 413), await resp.text()
    assert await (await client.get("/api/kiosk/visitors", headers=prisoner)).json() == []
    resp = await client.post(
        "/api/kiosk/visits", json={"session_id": "nope", "visitor_ids": ["x"]}, headers=prisoner
    )
    assert resp.status == 404
    resp = await client.post(
        "/api/kiosk/visits", json={"session_id": "nope", "visitor_ids": "x"}, headers=prisoner
    )
    assert resp.status == 400
    resp = await client.get("/api/kiosk/staff/visits/day?day=tomorrow", headers=officer)
    assert resp.status == 400
    resp = await client.post(
        "/api/kiosk/staff/visit-sessions",
        json={
            "starts_at": "2026-03-05T14:00:00Z",
            "ends_at": "2026-03-05T13:00:00Z",
            "capacity": 5,
        },
        headers=officer,
    )
    assert resp.status == 400
    resp = await client.get("/api/kiosk/visits", headers=officer)
    assert resp.status == 403
    assert await (await client.get("/api/kiosk/visits", headers=prisoner)).json() == []


async def test_the_demo_seeds_visitors_sessions_and_bookings_in_each_state(
    client: Any, tmp_path: Any
) -> None:
    app = client.server.app
    data = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        app[SCHEDULING],
        places=app[PLACES],
        people=app[PEOPLE],
        visits=app[VISITS],
    )
    est = data["establishment"]["id"]
    first = data["prisoners"][0]
    me = Principal(first["account_id"], Role.PRISONER, est, "s")
    visitors = await app[VISITS].visitors.mine(me)
    assert sorted(v.status for v in visitors) == ["approved", "approved", "requested"]
    mine = await app[VISITS].mine(me)
    assert sorted(b.status for b in mine) == ["booked", "cancelled"]
    third = data["prisoners"][2]
    them = Principal(third["account_id"], Role.PRISONER, est, "s")
    refused = await app[VISITS].visitors.mine(them)
    assert [v.status for v in refused] == ["refused"] and refused[0].reason
    officer_id = next(p["account_id"] for p in data["staff"] if p["role"] == "officer")
    officer = Principal(officer_id, Role.OFFICER, est, "s")
    assert len(await app[VISITS].visitors.requests(officer, est)) == 2
    day = await app[VISITS].day_list(officer, est, data["visits"]["day"])
    assert sum(len(d.bookings) for d in day) == 2
    assert data["visits"]["booked"]["reference"] in describe(data, "http://x")
