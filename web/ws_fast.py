"""The one-node fast path of `/ws`, on aiohttp's private WebSocket internals.

A text frame the hub can relay at once (`Hub.relay_now`) is relayed from the
socket's read callback, writes made while one read is parsed leave in one
system call, and the heartbeat notes the time of each read instead of
re-arming a timer. All of that replaces parts of aiohttp's `WebSocketResponse`
that are not its public API, so `web/ws.py` runs it only when `unfit()` finds
that the installed aiohttp still has the shape this module relies on; otherwise
`/ws` runs aiohttp's public WebSocket API (docs/signalling.md, "Two paths").
Everything private to aiohttp that this module touches is named in `unfit()`.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web, web_protocol
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp._websocket.writer import WebSocketWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.web_request import BaseRequest

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
        self.sockets: list[FastSocket] = []

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


class FastResponse(web.WebSocketResponse):
    """aiohttp's WebSocket response, changed on the per-frame path.

    Its parser feeds `_Frames`, which relays before queueing, and parses each
    read with the `_Cork` open. Its heartbeat notes the time of each read
    instead of re-arming a timer on the next loop turn after every read: the
    timer, when it fires, sees whether the client was heard from within the
    interval and pings only if not. These replace aiohttp internals
    (`_post_start`, the heartbeat callbacks) that `unfit()` checks, and
    tests/signalling/test_relay_now.py checks what each does.
    """

    # Slots for what this class adds: aiohttp's response keeps its own attributes in
    # a dict, which stays compact (its keys shared by every response) up to 30 keys;
    # these four would take it past that, to a dict of its own per client (~1.3 KB).
    __slots__ = ("_clock", "_heard_at", "_pinged_at", "frames")

    frames: _Frames
    _clock: Callable[[], float]

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._heard_at = 0.0
        self._pinged_at = 0.0

    def _post_start(self, request: BaseRequest, protocol: str | None, writer: Any) -> None:
        # aiohttp's own does exactly these things (`unfit` compares the two),
        # with its own queue and heartbeat callback where ours are here.
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


class FastSocket:
    """The hub's transport on the fast path: `write` goes straight to the TCP transport."""

    def __init__(self, ws: FastResponse) -> None:
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


# ---------------------------------------------------------------- the shape it needs


class _Unfit(Exception):
    pass


POST_START = frozenset(
    {
        "self._ws_protocol =",
        "self._writer =",
        "self._reset_heartbeat()",
        "self._reader =",
        "WebSocketDataQueue()",
        "self._parser =",
        "WebSocketReader()",
        "bool()",  # compress=bool(self._compress): ours is always off
        "request.protocol.set_parser()",
        "request.protocol.keep_alive()",
    }
)
"""What aiohttp's `WebSocketResponse._post_start` does, as `FastResponse._post_start`
redoes it: every attribute it sets and every call it makes (`_effects`)."""


def _tree(function: Any) -> ast.AST:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        raise _Unfit(f"the source of {function.__qualname__} is not installed") from None
    return ast.parse(textwrap.dedent(source))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _effects(function: Any) -> set[str]:
    """The attributes a function sets (`self.x =`) and what it calls (`f()`)."""
    found: set[str] = set()
    for node in ast.walk(_tree(function)):
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and isinstance(part.ctx, ast.Store):
                        found.add(f"{_dotted(part)} =")
        elif isinstance(node, ast.Call):
            found.add(f"{_dotted(node.func)}()")
    return found


def _names(function: Any) -> set[str]:
    """Every attribute name a function reads or writes."""
    return {node.attr for node in ast.walk(_tree(function)) if isinstance(node, ast.Attribute)}


def _params(function: Any, *names: str) -> None:
    try:
        got = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        raise _Unfit(f"{function.__qualname__} has no readable signature") from None
    if got != list(names):
        raise _Unfit(f"{function.__qualname__} takes {got}, not {list(names)}")


def _method(owner: type, name: str) -> Any:
    found = getattr(owner, name, None)
    if not callable(found):
        raise _Unfit(f"{owner.__name__}.{name} is gone")
    return found


def _needs(where: str, have: set[str], wanted: set[str]) -> None:
    missing = wanted - have
    if missing:
        raise _Unfit(f"{where} no longer uses {', '.join(sorted(missing))}")


class _Protocol:
    """Enough of aiohttp's protocol for a queue that is never over its limit."""

    _reading_paused = False

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self) -> None:
        self._reading_paused = False


def _masked(text: str) -> bytes:
    """A client's masked text frame (RFC 6455 5.3), short."""
    data = text.encode()
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return bytes((0x81, 0x80 | len(data))) + mask + body


def _probe_parser(loop: asyncio.AbstractEventLoop) -> None:
    """aiohttp's parser (compiled or not) feeds `_Frames` each frame as (TEXT, text)."""
    frames = _Frames(_Protocol(), 2**16, loop=loop)  # type: ignore[arg-type]
    offered: list[str] = []

    def relay(text: str) -> bool:
        offered.append(text)
        return text == "one"

    frames.relay = relay
    parser = WebSocketReader(frames, 2**16, compress=False, decode_text=True)
    parser.feed_data(_masked("one") + _masked("two") + _masked("three"))
    # "one" relayed, "two" declined and queued, "three" queued behind it unoffered.
    if offered != ["one", "two"] or len(frames._buffer) != 2:
        raise _Unfit("aiohttp's WebSocket parser no longer feeds its queue frame by frame")
    first = frames._buffer[0][0]
    if first[0] is not WSMsgType.TEXT or first[1] != "two":
        raise _Unfit("aiohttp's parsed frames are no longer (type, text, ...) tuples")


def _check_shape() -> None:
    """What can be read of aiohttp's internals: their source (read from disk, so in a thread)."""
    response = web.WebSocketResponse
    # prepare() hands the handshake's outcome to _post_start, which we replace.
    prepare = _method(response, "prepare")
    _needs("WebSocketResponse.prepare", _effects(prepare), {"self._post_start()"})
    post_start = _method(response, "_post_start")
    _params(post_start, "self", "request", "protocol", "writer")
    effects = _effects(post_start)
    if effects != POST_START:
        added, gone = sorted(effects - POST_START), sorted(POST_START - effects)
        raise _Unfit(
            "WebSocketResponse._post_start changed:"
            + (f" now also {', '.join(added)};" if added else "")
            + (f" no longer {', '.join(gone)};" if gone else "")
        )
    # The heartbeat: ours decides whether to ping, then defers to aiohttp's, and
    # its timers must be the ones aiohttp cancels when the socket closes.
    for name in ("_reset_heartbeat", "_send_heartbeat", "_pong_not_received"):
        _params(_method(response, name), "self")
    timers = {"_heartbeat_cb", "_pong_response_cb"}
    _needs(
        "WebSocketResponse._cancel_heartbeat",
        _names(_method(response, "_cancel_heartbeat")),
        {"_heartbeat_cb", "_cancel_pong_response_cb"},
    )
    _needs(
        "WebSocketResponse._cancel_pong_response_cb",
        _names(_method(response, "_cancel_pong_response_cb")),
        {"_pong_response_cb"},
    )
    _needs(
        "WebSocketResponse._send_heartbeat",
        _names(_method(response, "_send_heartbeat")),
        {"_heartbeat_when", "_writer", *timers},
    )
    _needs(
        "WebSocketResponse._reset_heartbeat",
        _names(_method(response, "_reset_heartbeat")),
        {"_heartbeat_when", "_heartbeat_cb", "_heartbeat"},
    )
    fresh = response(heartbeat=1.0)
    for attr in ("_loop", "_heartbeat", "_max_msg_size", "_heartbeat_when", "_heartbeat_cb"):
        if not hasattr(fresh, attr):
            raise _Unfit(f"WebSocketResponse has no {attr}")
    # The request's protocol takes our parser and our read callback.
    handler = web_protocol.RequestHandler
    _params(_method(handler, "set_parser"), "self", "parser", "data_received_cb")
    _params(_method(handler, "keep_alive"), "self", "val")
    # FastSocket.writable reads the writer's and the protocol's state.
    _needs(
        "WebSocketWriter.__init__",
        _effects(WebSocketWriter.__init__),
        {"self.protocol =", "self.transport =", "self._closing ="},
    )
    _needs("BaseProtocol.__init__", _effects(BaseProtocol.__init__), {"self._paused ="})


async def unfit() -> str | None:
    """Why the installed aiohttp does not fit the fast path, or None when it does."""
    try:
        await asyncio.to_thread(_check_shape)
        # The queue and the parser are compiled: tried, not read.
        _probe_parser(asyncio.get_running_loop())
    except _Unfit as exc:
        return str(exc)
    except Exception as exc:  # anything unexpected means "not the shape we know"
        return f"checking its internals failed ({type(exc).__name__}: {exc})"
    return None
