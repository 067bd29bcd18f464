"""`/ws`: the thin WebSocket edge of the signalling hub (docs/signalling.md).

It checks the Origin of browser connections, caps frame size, and hands every
text frame to the hub; the protocol and its rules live in `signalling/`. A frame
the hub can relay at once (`Hub.relay_now`) is relayed from the socket's read
callback; the rest go through the connection's reader task. That fast path
(web/ws_fast.py) changes private parts of aiohttp's WebSocketResponse, so it runs
only when a check at start-up finds them in the shape it needs; otherwise, or
with THROUGHCARE_WS_FAST_PATH=off, every frame goes by aiohttp's public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

from core.errors import Code, ServiceError
from core.events import AuditRecord, AuditSink
from media.turn import IceServers
from signalling.bus.resp import Lane
from signalling.connection import Connection, Limits
from signalling.errors import CLOSE_REASONS, Close, SignallingError
from signalling.hub import Hub, HubConfig
from signalling.policy import IceServerIssuer, JoinPolicy
from signalling.reconnects import SharedWindows
from signalling.registry import encode
from signalling.store import create_store
from web.call_recording import build_recording
from web.middleware import SESSION_COOKIE
from web.state import AUDIT, BUS, CLOCK, IDENTITY, METRICS, SCHEDULING, SETTINGS, SIGNALLING
from web.test_calls import build_test_calls

try:  # private to aiohttp: a release that moves it leaves only the public path
    from web import ws_fast
except Exception as exc:  # any failure to import means "not this shape"
    ws_fast = None  # type: ignore[assignment]
    _FAST_IMPORT = f"the fast path does not import ({type(exc).__name__}: {exc})"
else:
    _FAST_IMPORT = ""

MAX_FRAME = 64 * 1024

JOIN_POLICY: web.AppKey[JoinPolicy] = web.AppKey("join_policy")
"""Optional: set before start-up to replace the scheduling join policy (tests)."""
ICE_SERVERS: web.AppKey[IceServerIssuer] = web.AppKey("ice_servers")
"""Optional: replaces the TURN credential issuer built from settings (`media/turn.py`)."""
HUB_CONFIG: web.AppKey[HubConfig] = web.AppKey("hub_config")
"""Optional: hub timings for tests; otherwise read from settings."""
AUDIT_TAP: web.AppKey[AuditSink] = web.AppKey("signalling_audit_tap")
"""Optional: a second sink that gets a copy of every signalling audit record (tests)."""


class _Tee:
    def __init__(self, first: AuditSink, second: AuditSink) -> None:
        self._first, self._second = first, second

    async def append(self, record: AuditRecord) -> int:
        sequence = await self._first.append(record)
        await self._second.append(record)
        return sequence


routes = web.RouteTableDef()
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WsPath:
    """Which way `/ws` reads and writes frames, chosen once at start-up."""

    fast: bool
    why: str

    @property
    def name(self) -> str:
        return "fast" if self.fast else "public"


WS_PATH: web.AppKey[WsPath] = web.AppKey("ws_path")


async def choose_path(setting: str) -> WsPath:
    """The fast path (web/ws_fast.py) when allowed and aiohttp's internals fit it."""
    version = f"aiohttp {aiohttp.__version__}"
    if setting == "off":
        return WsPath(False, "THROUGHCARE_WS_FAST_PATH=off")
    if ws_fast is None:
        return WsPath(False, f"{version}: {_FAST_IMPORT}")
    problem = await ws_fast.unfit()
    if problem is not None:
        return WsPath(False, f"{version}: {problem}")
    return WsPath(True, f"{version}: its WebSocket internals have the shape the fast path needs")


class _PublicSocket:
    """The hub's transport on aiohttp's public WebSocket API.

    Nothing is written from the read callback here (`Hub.relay_now` is not
    offered frames), so `writable` is never true and every frame goes by `send`.
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self.closing: asyncio.Event | None = None
        self.send: Callable[[str], Awaitable[None]] = ws.send_str

    def writable(self) -> bool:
        return False

    def write(self, text: str) -> None:
        raise RuntimeError("the public WebSocket path writes only with send")

    async def close(self, code: int, reason: str) -> None:
        """As FastSocket.close: the handler waits for the close frame to go out."""
        self.closing = asyncio.Event()
        try:
            await self._ws.close(code=code, message=reason.encode())
        finally:
            self.closing.set()


@routes.get("/ws")
async def websocket(request: web.Request) -> web.WebSocketResponse:
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") not in request.app[SETTINGS].public_origins:
        raise ServiceError(Code.FORBIDDEN, "This origin may not open a signalling connection.")
    hub = request.app[SIGNALLING]
    # No permessage-deflate: compressing secrets (tokens, TURN credentials) beside
    # attacker-chosen text leaks them (CRIME/BREACH), and frames are small.
    options: dict[str, Any] = {
        "max_msg_size": MAX_FRAME,
        "heartbeat": hub.config.heartbeat_s,
        "compress": False,
    }
    socket: ws_fast.FastSocket | _PublicSocket
    frames = None
    if request.app[WS_PATH].fast:
        assert ws_fast is not None
        fast = ws_fast.FastResponse(**options)
        ws: web.WebSocketResponse = fast
        await ws.prepare(request)
        socket, frames = ws_fast.FastSocket(fast), fast.frames
    else:
        ws = web.WebSocketResponse(**options)
        await ws.prepare(request)
        socket = _PublicSocket(ws)
    try:
        conn = hub.connect(
            socket,
            cookie_token=request.cookies.get(SESSION_COOKIE),
            address=client_address(request, request.app[SETTINGS].trusted_proxies),
        )
    except SignallingError as exc:
        code = exc.close or Close.RESTART
        if exc.retry_after_s is not None:  # a limit: the client is told when to come back
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_str(encode(exc.to_wire(), 0))
        await ws.close(code=code.value, message=CLOSE_REASONS[code].encode())
        return ws
    reader: asyncio.Task[None] | None = None
    if frames is not None:
        frames.relay = partial(hub.relay_now, conn)
    else:
        # The public path reads every frame, relayed ones too, in a task of its own:
        # a task resumes its coroutine through every frame it awaits in, and this
        # handler sits under the whole middleware stack, which each message would
        # otherwise climb back through.
        reader = asyncio.create_task(_read(ws, hub, conn), name="ws-reader")
    try:
        if reader is None:
            # The fast path relays from the read callback; what is left (hello, join,
            # pings: a few a second at most) is read here. A task per connection for
            # them would cost a connected client more memory than the climb costs CPU.
            await _read(ws, hub, conn)
        else:
            await reader
        if socket.closing is not None:
            await socket.closing.wait()
    finally:
        if reader is not None:
            reader.cancel()
        await hub.disconnected(conn)
    return ws


def client_address(request: web.Request, trusted: tuple[str, ...]) -> str | None:
    """The client's address: the peer's, or, when the peer is one of the `trusted`
    proxies (THROUGHCARE_TRUSTED_PROXIES), the one it put last in X-Forwarded-For.

    HAProxy (deploy/haproxy.cfg) drops any X-Forwarded-For a client sent and adds
    its own; from anyone else the header is the client's word and is ignored.
    """
    peer = request.remote
    if not trusted or peer is None or "X-Forwarded-For" not in request.headers:
        return peer
    try:
        peer_ip = ipaddress.ip_address(peer)
    except ValueError:
        return peer
    if not any(peer_ip in ipaddress.ip_network(net) for net in trusted):
        return peer
    forwarded = request.headers.getall("X-Forwarded-For")[-1].split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(forwarded))
    except ValueError:
        return peer


async def _read(ws: web.WebSocketResponse, hub: Hub, conn: Connection) -> None:
    receive = hub.receive
    async for message in ws:
        if message.type is WSMsgType.TEXT:
            conn.busy = True
            try:
                await receive(conn, message.data)
            finally:
                conn.busy = False
        elif message.type is WSMsgType.BINARY:
            await hub.refuse_binary(conn)


def hub_config(app: web.Application) -> HubConfig:
    settings = app[SETTINGS]
    return HubConfig(
        heartbeat_s=float(settings.ws_heartbeat_seconds),
        reclaim_s=float(settings.ws_reclaim_seconds),
        reauth_lead_s=float(settings.ws_reauth_lead_seconds),
        max_connections=settings.ws_max_connections,
        max_per_identity=settings.ws_max_per_identity,
        connect_per_identity=settings.ws_connect_per_identity,
        connect_per_address=settings.ws_connect_per_address,
        limits=Limits(
            rate=float(settings.ws_rate),
            burst=float(settings.ws_burst),
            flood_strikes=settings.ws_flood_strikes,
        ),
    )


async def signalling_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hub and its room store; after the bus, audit and identity, before the routes."""
    settings = app[SETTINGS]
    store = create_store(
        settings.redis_url.reveal() if settings.redis_url else None,
        prefix=settings.bus_prefix,
        log_size=settings.ws_replay_messages,
    )
    # With Redis, the per-identity reconnection limit is one for every node
    # (signalling/reconnects.py), on a lean connection of its own.
    counts = Lane(settings.redis_url.reveal()) if settings.redis_url else None
    policy = app.get(JOIN_POLICY) or app[SCHEDULING]
    ice_servers = app.get(ICE_SERVERS) or IceServers.from_settings(settings)
    config = app.get(HUB_CONFIG) or hub_config(app)
    hub = Hub(
        identity=app[IDENTITY],
        policy=policy,
        store=store,
        bus=app[BUS],
        audit=_Tee(app[AUDIT], tap) if (tap := app.get(AUDIT_TAP)) else app[AUDIT],
        clock=app[CLOCK],
        config=config,
        ice_servers=ice_servers,
        node_name=settings.node_name,
        test_calls=build_test_calls(app, ice_servers),
        recording=build_recording(app, ice_servers),
        shared_reconnects=(
            SharedWindows(counts, settings.bus_prefix, config.connect_per_identity)
            if counts is not None
            else None
        ),
    )
    app[METRICS].watch_signalling(hub.meters)
    path = await choose_path(settings.ws_fast_path)
    app[WS_PATH] = path
    app[METRICS].ws_fast_path.set(1 if path.fast else 0)
    log.info(
        "signalling WebSocket: %s path (%s)",
        path.name,
        path.why,
        extra={"ws_path": path.name},
    )
    await hub.start()
    app[SIGNALLING] = hub
    try:
        yield
    finally:
        await hub.close()
        await store.close()
        if counts is not None:
            await counts.close()


async def close_sockets(app: web.Application) -> None:
    """on_shutdown: every client is told to reconnect elsewhere (1012) first."""
    hub = app.get(SIGNALLING)
    if hub is not None:
        await hub.shutdown()


OPENAPI: dict[str, Any] = {
    "/ws": {
        "get": {
            "summary": "Signalling WebSocket (protocol in docs/signalling.md)",
            "tags": ["signalling"],
            "responses": {
                "101": {"description": "Switching protocols"},
                "403": {"description": "Origin not allowed"},
            },
        }
    }
}
