"""Lockdown over every kiosk route (issue 16 item 7), read from the app's own router so a
route added later cannot forget it: every write a prisoner may make under /api/kiosk is
refused with the lockdown answer (423, `lockdown`) before anything else is looked at, and
changes nothing; every read a prisoner may make still answers; lifting the lockdown
reopens the writes at once."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from core.clock import FakeClock
from core.identity import Role
from kiosk.application_tables import kiosk_applications
from kiosk.money_tables import money_entries
from kiosk.shop_tables import shop_orders
from tests.kiosk.money_world import make_money
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.openapi import DOCUMENT
from web.state import DATABASE

WRITES = {"POST", "PUT", "PATCH", "DELETE"}
OPEN_IN_LOCKDOWN = {
    # Taking one of the times offered because a lockdown cancelled a visit is the
    # lockdown's own remedy, and the times offered are after it (kiosk/visits.py).
    ("POST", "/api/kiosk/visits/{booking_id}/rebook"),
}


def prisoner_routes(app: Any) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(writes, reads) under /api/kiosk that the prisoner's role may call, by the
    permission each operation documents (every route documents one)."""
    spec = app[DOCUMENT]["paths"]
    writes: set[tuple[str, str]] = set()
    reads: set[tuple[str, str]] = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or not path.startswith("/api/kiosk"):
            continue
        operation = spec[path][route.method.lower()]
        if Role.PRISONER.value not in operation.get("x-roles", []):
            continue
        (writes if route.method in WRITES else reads).add((route.method, path))
    return writes, reads


def filled(path: str) -> str:
    """Each path parameter a fresh id: the lockdown answer must not depend on it."""
    while "{" in path:
        path = path[: path.index("{")] + str(uuid.uuid4()) + path[path.index("}") + 1 :]
    return path


async def kiosk_rows(app: Any) -> tuple[int, ...]:
    async with app[DATABASE].connect() as conn:
        return tuple(
            [
                int(await conn.scalar(select(func.count()).select_from(table)) or 0)
                for table in (shop_orders, money_entries, kiosk_applications)
            ]
        )


async def test_every_prisoner_write_under_api_kiosk_is_closed_in_a_lockdown_and_reads_work(
    client: Any, clock: FakeClock
) -> None:
    app = client.server.app
    writes, reads = prisoner_routes(app)
    # The ones there are today, so the enumeration itself cannot silently find nothing.
    assert {
        ("POST", "/api/kiosk/shop/orders"),
        ("POST", "/api/kiosk/applications"),
        ("POST", "/api/kiosk/applications/{application_id}/escalate"),
    } <= writes
    assert {("GET", "/api/kiosk/money"), ("GET", "/api/kiosk/shop/orders")} <= reads

    mw = await make_money(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, mw.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, mw.world.staff["officer"]))
    declared = await client.post(
        "/api/lockdowns",
        json={"starts_at": "2026-03-03T09:00:00Z", "ends_at": "2026-03-03T18:00:00Z"},
        headers=officer,
    )
    assert declared.status == 201, await declared.text()
    before = await kiosk_rows(app)

    assert writes >= OPEN_IN_LOCKDOWN, "an exemption for a route that is gone"
    open_anyway = []
    for method, path in sorted(writes - OPEN_IN_LOCKDOWN):
        resp = await client.request(
            method,
            filled(path),
            json={},
            headers={**prisoner, "Idempotency-Key": f"lockdown-{uuid.uuid4().hex[:12]}"},
        )
        body = await resp.json(content_type=None)
        if resp.status != 423 or body.get("code") != "lockdown":
            open_anyway.append((method, path, resp.status, body.get("code")))
    assert open_anyway == [], "a prisoner's kiosk write must pass the lockdown gate first"
    assert await kiosk_rows(app) == before

    closed_reads = []
    for method, path in sorted(reads):
        resp = await client.request(method, filled(path), headers=prisoner)
        if resp.status == 423 or resp.status >= 500:
            closed_reads.append((method, path, resp.status))
    assert closed_reads == [], "reading one's own records works during a lockdown"

    lockdown_id = (await declared.json())["id"]
    lifted = await client.post(f"/api/lockdowns/{lockdown_id}/lift", json={}, headers=officer)
    assert lifted.status == 204, await lifted.text()
    still_closed = []
    for method, path in sorted(writes):
        resp = await client.request(
            method,
            filled(path),
            json={},
            headers={**prisoner, "Idempotency-Key": f"lifted-{uuid.uuid4().hex[:12]}"},
        )
        if resp.status == 423:
            still_closed.append((method, path))
    assert still_closed == [], "lifting the lockdown reopens every write at once"
