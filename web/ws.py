"""`/ws`: the thin WebSocket edge of the signalling hub (docs/signalling.md).

It checks the Origin of browser connections, caps frame size, and hands every
text frame to the hub; the protocol and its rules live in `signalling/`. A frame
the hub can relay at once (`Hub.relay_now`) is relayed from the socket's read
callback; the rest go through the connection's reader task.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.web_request import BaseRequest

from core.errors import Code, ServiceError
from core.events import AuditRecord, AuditSink
from media.turn import IceServers
from signalling.connection import Connection, Limits
from signalling.errors import CLOSE_REASONS, Close, SignallingError
from signalling.hub import Hub, HubConfig
from signalling.policy import IceServerIssuer, JoinPolicy
from signalling.store import create_store
from web.middleware import SESSION_COOKIE
from web.state import AUDIT, BUS, CLOCK, IDENTITY, METRICS, SCHEDULING, SETTINGS, SIGNALLING
from web.test_calls import build_test_calls

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

_TEXT = WSMsgType.TEXT


class _Frames(WebSocketDataQueue):
    """aiohttp's queue of parsed frames, with the relay taken off it first.

    The parser feeds each frame here from the socket's read callback. A text
    frame is offered to `Hub.relay_now` only when nothing is queued ahead of
    it, so a client's frames are still handled in the order it sent them; one
    that is relayed goes no further, and every other frame is queued for the
    reader task as usual.
    """

    relay: Callable[[str], bool] | None = None

    def feed_data(self, data: Any, size: int) -> None:
        relay = self.relay
        if relay is not None and data[0] is _TEXT and not self._buffer and relay(data[1]):
            return
        super().feed_data(data, size)


class _Cork:
    """The writes made while one read is parsed, sent per socket once it is.

    A read often holds several frames for one peer (a browser's candidates come
    in bursts): corked, they leave in one write, one system call, instead of
    one each. Only the parse of a read opens the cork, and it is flushed before
    that parse returns, so nothing else ever writes to a socket between a
    corked frame and its flush. One per process: reads are parsed one at a
    time, on the event loop's thread.
    """

    def __init__(self) -> None:
        self.open = False
        self.sockets: list[_Socket] = []

    def flush(self) -> None:
        sockets, self.sockets = self.sockets, []
        for socket in sockets:
            socket.flush()


_cork = _Cork()


class _CorkedParser:
    """aiohttp's WebSocket parser, with the cork open while it parses a read."""

    __slots__ = ("_parser",)

    def __init__(self, parser: WebSocketReader) -> None:
        self._parser = parser

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        cork = _cork
        cork.open = True
        try:
            return self._parser.feed_data(data)
        finally:
            cork.open = False
            if cork.sockets:
                cork.flush()

    def feed_eof(self) -> None:
        self._parser.feed_eof()


def _text_frame(text: str) -> bytes:
    """A server's text frame (RFC 6455 5.2): FIN, opcode 1, unmasked, then the length."""
    data = text.encode()
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data


class _Response(web.WebSocketResponse):
    """aiohttp's WebSocket response, changed on the per-frame path.

    Its parser feeds `_Frames`, which relays before queueing, and parses each
    read with the `_Cork` open. Its heartbeat notes the time of each read
    instead of re-arming a timer on the next loop turn after every read: the
    timer, when it fires, sees whether the client was heard from within the
    interval and pings only if not. These replace aiohttp 3.14 internals
    (`_post_start`, the heartbeat callbacks); the dependency is pinned to 3.14
    and tests/signalling/test_relay_now.py checks each.
    """

    frames: _Frames
    _heard_at = 0.0
    _pinged_at = 0.0
    _clock: Callable[[], float]

    def _post_start(self, request: BaseRequest, protocol: str | None, writer: Any) -> None:
        self._ws_protocol = protocol
        self._writer = writer
        self._reset_heartbeat()
        loop = self._loop
        assert loop is not None
        self.frames = self._reader = _Frames(request._protocol, 2**16, loop=loop)
        self._parser = WebSocketReader(
            self._reader, self._max_msg_size, compress=False, decode_text=True
        )
        self._clock = loop.time
        self._heard_at = loop.time()
        heard = None if self._heartbeat is None else self._heard
        corked = _CorkedParser(self._parser)  # feed_data and feed_eof are all it needs
        request.protocol.set_parser(corked, data_received_cb=heard)  # type: ignore[arg-type]
        request.protocol.keep_alive(False)

    def _heard(self) -> None:
        self._heard_at = self._clock()

    def _send_heartbeat(self) -> None:
        loop, interval = self._loop, self._heartbeat
        assert loop is not None and interval is not None
        due = self._heard_at + interval
        if due > loop.time():  # heard from within the interval: look again then
            self._heartbeat_when = due
            self._heartbeat_cb = loop.call_at(due, self._send_heartbeat)
            return
        self._pinged_at = loop.time()
        super()._send_heartbeat()

    def _pong_not_received(self) -> None:
        if self._heard_at >= self._pinged_at:  # the pong (or any frame) came back
            self._pong_response_cb = None
            self._reset_heartbeat()
            return
        super()._pong_not_received()


class _Socket:
    def __init__(self, ws: _Response) -> None:
        self._ws = ws
        self.closing: asyncio.Event | None = None
        # The WebSocket's own method, not a wrapper: one coroutine less per message.
        self.send: Callable[[str], Awaitable[None]] = ws.send_str
        writer = ws._writer
        assert writer is not None  # prepared
        self._writer, self._protocol, self._transport = writer, writer.protocol, writer.transport
        self._corked: list[str] = []

    def writable(self) -> bool:
        return not (self._writer._closing or self._protocol._paused or self._transport.is_closing())

    def write(self, text: str) -> None:
        if _cork.open:
            if not self._corked:
                _cork.sockets.append(self)
            self._corked.append(text)
        else:  # a read parsed by the reader task, once its queue drained
            self._transport.write(_text_frame(text))

    def flush(self) -> None:
        corked, self._corked = self._corked, []
        self._transport.write(b"".join([_text_frame(text) for text in corked]))

    async def close(self, code: int, reason: str) -> None:
        """Closed by the hub (from another task than the reader's): the handler
        waits for this to finish, or it would drop the TCP connection before the
        close frame is out and the client would see 1006 instead of our code."""
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
    ws = _Response(max_msg_size=MAX_FRAME, heartbeat=hub.config.heartbeat_s, compress=False)
    await ws.prepare(request)
    socket = _Socket(ws)
    try:
        conn = hub.connect(socket, cookie_token=request.cookies.get(SESSION_COOKIE))
    except SignallingError as exc:
        code = exc.close or Close.RESTART
        await ws.close(code=code.value, message=CLOSE_REASONS[code].encode())
        return ws
    ws.frames.relay = partial(hub.relay_now, conn)
    # The frames are read in a task of their own: a task resumes its coroutine
    # through every frame it awaits in, and this handler sits under the whole
    # middleware stack, which each message would otherwise climb back through.
    reader = asyncio.create_task(_read(ws, hub, conn), name="ws-reader")
    try:
        await reader
        if socket.closing is not None:
            await socket.closing.wait()
    finally:
        reader.cancel()
        await hub.disconnected(conn)
    return ws


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
    policy = app.get(JOIN_POLICY) or app[SCHEDULING]
    ice_servers = app.get(ICE_SERVERS) or IceServers.from_settings(settings)
    hub = Hub(
        identity=app[IDENTITY],
        policy=policy,
        store=store,
        bus=app[BUS],
        audit=_Tee(app[AUDIT], tap) if (tap := app.get(AUDIT_TAP)) else app[AUDIT],
        clock=app[CLOCK],
        config=app.get(HUB_CONFIG) or hub_config(app),
        ice_servers=ice_servers,
        node_name=settings.node_name,
        test_calls=build_test_calls(app, ice_servers),
    )
    app[METRICS].watch_signalling(hub.meters)
    await hub.start()
    app[SIGNALLING] = hub
    try:
        yield
    finally:
        await hub.close()
        await store.close()


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
