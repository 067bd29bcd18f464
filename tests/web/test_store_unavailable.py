"""PostgreSQL going away: every request says so (503 `store_unavailable`, `Retry-After`),
and the service recovers by itself when it returns (issue 12 item 13).

Before: a write answered 500 `internal_error`, as if the service were broken.
The shared PostgreSQL is never stopped: the app reaches it through a proxy the
test takes down (tests/proxy.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from core.clock import FakeClock
from core.config import Secret, Settings
from core.identity.passwords import SecretHasher
from tests.proxy import TcpProxy, tcp_proxy
from tests.world import World, bearer, build_world, place, sign_in_staff


@pytest.fixture
def store_kind() -> str:
    return "postgres"


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    url = make_url(database_url)
    async with tcp_proxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running


@pytest.fixture
async def client(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    proxy: TcpProxy,
) -> Any:
    from web.app import create_app

    url = make_url(settings.database_url.reveal()).set(host="127.0.0.1", port=proxy.port)
    through = replace(settings, database_url=Secret(url.render_as_string(hide_password=False)))
    return await aiohttp_client(create_app(through, clock=clock, hasher=hasher))


@pytest.fixture
async def world(client: Any) -> World:
    return await build_world(client.server.app)


async def assert_store_unavailable(resp: Any) -> None:
    assert resp.status == 503, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["code"] == "store_unavailable"
    assert body["type"].endswith("/store_unavailable")
    assert int(resp.headers["Retry-After"]) > 0


async def test_with_postgresql_down_reads_and_writes_answer_503_and_recover(
    client: Any, world: World, proxy: TcpProxy, clock: FakeClock
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    assert (await client.get("/api/me", headers=bearer(officer))).status == 200
    await place(client.server.app, world.est, "W0-07")  # enrolment needs a listed cell

    proxy.down()
    await assert_store_unavailable(await client.get("/api/me", headers=bearer(officer)))
    await assert_store_unavailable(
        await client.post("/api/devices", json={"cell": "W0-07"}, headers=bearer(officer))
    )
    clock.advance(seconds=30)
    staff = world.staff["clinician"]
    await assert_store_unavailable(
        await client.post(
            "/api/auth/staff",
            json={
                "username": staff.username,
                "password": "correct horse battery staple",
                "totp": staff.code(client.server.app),
            },
        )
    )
    assert (await client.get("/readyz")).status == 503

    proxy.up()
    assert (await client.get("/api/me", headers=bearer(officer))).status == 200
    resp = await client.post("/api/devices", json={"cell": "W0-07"}, headers=bearer(officer))
    assert resp.status == 201, await resp.text()
    assert (await client.get("/readyz")).status == 200
    assert (await sign_in_staff(client, staff))["role"] == "clinician"


async def test_with_postgresql_down_a_socket_hello_is_told_to_try_later_not_1011(
    client: Any, world: World, proxy: TcpProxy
) -> None:
    from tests.signalling.conftest import Peer

    officer = await sign_in_staff(client, world.staff["officer"])
    proxy.down()
    peer = Peer(await client.ws_connect("/ws"))
    await peer.send({"type": "hello", "token": officer["access_token"]})
    assert (await peer.recv())["code"] == "unavailable"
    assert await peer.closed() == 1013
    proxy.up()
    peer = Peer(await client.ws_connect("/ws"))
    await peer.send({"type": "hello", "token": officer["access_token"]})
    assert (await peer.recv())["type"] == "welcome"
    await peer.ws.close()
