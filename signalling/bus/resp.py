"""Lean Redis connections for the relay's path: no per-command task, lock or timer.

redis-py costs tens of microseconds of Python per command (a pooled connection
taken and given back, a lock, a coroutine chain per reply) and its pub/sub
reader as much again per message; on two nodes that was most of a relayed
message's cost. Here:

- `Lane` pipelines: every command issued in one turn of the event loop is
  written in one `write` (one system call) by a flush scheduled once for the
  turn (`call_soon`), and the replies, parsed by hiredis, resolve their futures
  in order as they arrive. One connection per lane, so Redis runs a lane's
  commands in the order they were issued.
- `Subscriber` is one pub/sub connection whose messages are handed to a
  callback straight from `data_received`, every message of a read in one go.

A Redis that answers slowly is a timeout, not a stall: each lane has at most one
timer armed, for its oldest unanswered command; when that command has waited
`timeout_s` and no reply at all came in that time the connection is dropped and
every command waiting on it fails with `RedisTimeout` (a `TimeoutError`, so an
`OSError`), which callers turn into "try again later". Replies still coming in
are a deep queue (or this node's own loop being busy), not a stuck Redis. A
lost connection fails what waited on it with `ConnectionError`; the next
command connects again.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import hiredis

DEFAULT_TIMEOUT_S = 5.0


class RedisTimeout(TimeoutError):
    """Redis did not answer within the lane's timeout; the connection was dropped."""


class RedisReplyError(Exception):
    """Redis answered a command with an error (for example NOSCRIPT)."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool
    path: str | None

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        parts = urlparse(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unsupported Redis URL scheme {parts.scheme!r}")
        db = 0
        if parts.scheme != "unix" and parts.path.strip("/"):
            db = int(parts.path.strip("/"))
        for item in parts.query.split("&"):
            key, _, value = item.partition("=")
            if key == "db" and value:
                db = int(value)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
            path=parts.path if parts.scheme == "unix" else None,
        )

    def handshake(self) -> list[tuple[bytes | str | int, ...]]:
        commands: list[tuple[bytes | str | int, ...]] = []
        if self.password is not None:
            if self.username is not None:
                commands.append(("AUTH", self.username, self.password))
            else:
                commands.append(("AUTH", self.password))
        if self.db:
            commands.append(("SELECT", self.db))
        return commands

    async def open(
        self, loop: asyncio.AbstractEventLoop, factory: Callable[[], asyncio.Protocol]
    ) -> asyncio.Transport:
        if self.path is not None:
            transport, _ = await loop.create_unix_connection(factory, self.path)
        else:
            context = ssl.create_default_context() if self.tls else None
            transport, _ = await loop.create_connection(factory, self.host, self.port, ssl=context)
        return transport


def bulk(data: bytes) -> bytes:
    """One bulk string in RESP."""
    return b"$%d\r\n%b\r\n" % (len(data), data)


def pack(args: tuple[bytes | str | int | float, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = (
            arg
            if arg.__class__ is bytes
            else arg.encode()
            if arg.__class__ is str
            else repr(arg).encode()
        )
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


class Lane(asyncio.Protocol):
    """One pipelined connection to Redis (see the module's docstring)."""

    def __init__(self, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self._endpoint = Endpoint.parse(url)
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(replyError=RedisReplyError)
        self._out: list[bytes] = []
        self._waiting: deque[tuple[asyncio.Future[object], float]] = deque()
        self._scheduled = False
        self._connecting: asyncio.Task[None] | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._why: Exception | None = None
        self._heard = 0.0
        self._closed = False

    # ------------------------------------------------------------ commands

    def call(self, *args: bytes | str | int | float) -> asyncio.Future[object]:
        """Queue one command; its reply (or error) resolves the future."""
        return self.call_packed(pack(args))

    def call_packed(self, command: bytes) -> asyncio.Future[object]:
        """`call`, for a command already in RESP (a caller that packs parts of it once)."""
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        if self._closed:
            future.set_exception(ConnectionError("Redis lane closed"))
            return future
        self._out.append(command)
        self._waiting.append((future, loop.time()))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return future

    def _flush(self) -> None:
        self._scheduled = False
        if not self._out:
            return
        transport = self._transport
        if transport is None:
            if self._connecting is None:
                assert self._loop is not None
                self._connecting = self._loop.create_task(self._connect(), name="redis-lane")
            return  # written once connected
        out, self._out = self._out, []
        transport.write(b"".join(out))
        if self._watch is None:
            self._arm()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            transport = await asyncio.wait_for(
                self._endpoint.open(loop, lambda: self), self.timeout_s
            )
        except (OSError, TimeoutError) as exc:
            self._connecting = None
            self._fail(ConnectionError(f"Redis unreachable ({type(exc).__name__})"))
            return
        self._connecting = None
        if self._closed:
            transport.close()
            return
        self._transport = transport
        hello = self._endpoint.handshake()
        if hello:
            now = loop.time()
            for _ in hello:
                self._waiting.appendleft((loop.create_future(), now))
            self._out[:0] = [pack(command) for command in hello]
        self._flush()

    def _quiet_since(self) -> float:
        return max(self._waiting[0][1], self._heard)

    def _arm(self) -> None:
        if not self._waiting or self._loop is None:
            return
        due = self._quiet_since() + self.timeout_s
        self._watch = self._loop.call_at(due, self._check)

    def _check(self) -> None:
        self._watch = None
        if not self._waiting or self._loop is None:
            return
        if self._quiet_since() + self.timeout_s <= self._loop.time():
            self._why = RedisTimeout(f"Redis did not answer within {self.timeout_s} s")
            if self._transport is not None:
                self._transport.abort()  # connection_lost fails what waits
            else:
                self._fail(self._why)
            return
        self._arm()

    # ------------------------------------------------------------ protocol

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        if self._loop is not None:
            self._heard = self._loop.time()
        while True:
            reply = reader.gets()
            if reply is False:
                break
            if not waiting:
                continue
            future = waiting.popleft()[0]
            if future.done():
                continue
            if reply.__class__ is RedisReplyError:
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._reader = hiredis.Reader(replyError=RedisReplyError)
        why, self._why = self._why, None
        self._fail(why or ConnectionError("Redis connection lost"))

    def _fail(self, exc: Exception) -> None:
        waiting, self._waiting = self._waiting, deque()
        self._out = []
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        for future, _ in waiting:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # a caller that gave up must not log "never retrieved"

    async def close(self) -> None:
        self._closed = True
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self._transport is not None:
            self._transport.close()
        self._fail(ConnectionError("Redis lane closed"))


Message = Callable[[list[tuple[bytes, bytes]]], None]
"""Called with every (channel, payload) message of one read, in order."""


class Subscriber(asyncio.Protocol):
    """One pub/sub connection. `on_messages` gets each read's messages at once;
    `on_lost` is told when the connection is gone (it reconnects with `open`)."""

    def __init__(
        self,
        url: str,
        on_messages: Message,
        on_lost: Callable[[], None],
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._endpoint = Endpoint.parse(url)
        self._on_messages = on_messages
        self._on_lost = on_lost
        self.timeout_s = timeout_s
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader()
        self._confirm: dict[bytes, list[asyncio.Future[None]]] = {}
        self._pongs: deque[asyncio.Future[None]] = deque()
        self._hello: deque[asyncio.Future[None]] = deque()

    @property
    def connected(self) -> bool:
        return self._transport is not None

    async def open(self, channels: list[bytes]) -> None:
        """Connect and subscribe to `channels`; returns once Redis confirmed them."""
        loop = asyncio.get_running_loop()
        self._reader = hiredis.Reader()
        transport = await asyncio.wait_for(self._endpoint.open(loop, lambda: self), self.timeout_s)
        self._transport = transport
        hello = self._endpoint.handshake()
        waits = []
        for command in hello:
            future: asyncio.Future[None] = loop.create_future()
            self._hello.append(future)
            waits.append(future)
            transport.write(pack(command))
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.timeout_s)
            await self.subscribe(channels)
        except BaseException:
            transport.abort()
            raise

    async def subscribe(self, channels: list[bytes]) -> None:
        if not channels:
            return
        transport = self._transport
        if transport is None:
            raise ConnectionError("Redis subscription lost")
        loop = asyncio.get_running_loop()
        waits = []
        for channel in channels:
            future: asyncio.Future[None] = loop.create_future()
            self._confirm.setdefault(channel, []).append(future)
            waits.append(future)
        transport.write(pack(("SUBSCRIBE", *channels)))
        await asyncio.wait_for(asyncio.gather(*waits), self.timeout_s)

    def unsubscribe(self, channel: bytes) -> None:
        if self._transport is not None:
            self._transport.write(pack(("UNSUBSCRIBE", channel)))

    async def ping(self) -> None:
        transport = self._transport
        if transport is None:
            raise ConnectionError("Redis subscription lost")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs.append(future)
        transport.write(pack(("PING",)))
        try:
            await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            transport.abort()
            raise RedisTimeout("Redis did not answer a ping in time") from None

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        batch: list[tuple[bytes, bytes]] = []
        while True:
            reply = reader.gets()
            if reply is False:
                break
            if reply.__class__ is list:
                kind = reply[0]
                if kind == b"message":
                    batch.append((reply[1], reply[2]))
                elif kind == b"subscribe":
                    waiters = self._confirm.get(reply[1])
                    if waiters:
                        waiter = waiters.pop(0)
                        if not waiters:
                            del self._confirm[reply[1]]
                        if not waiter.done():
                            waiter.set_result(None)
                elif kind == b"pong" and self._pongs:
                    pong = self._pongs.popleft()
                    if not pong.done():
                        pong.set_result(None)
            elif self._hello:
                future = self._hello.popleft()
                if not future.done():
                    if isinstance(reply, hiredis.ReplyError):
                        future.set_exception(ConnectionError(str(reply)))
                    else:
                        future.set_result(None)
        if batch:
            self._on_messages(batch)

    def connection_lost(self, exc: Exception | None) -> None:
        was = self._transport is not None
        self._transport = None
        lost = ConnectionError("Redis subscription lost")
        for waiters in self._confirm.values():
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(lost)
                    waiter.exception()
        self._confirm.clear()
        for future in (*self._pongs, *self._hello):
            if not future.done():
                future.set_exception(lost)
                future.exception()
        self._pongs.clear()
        self._hello.clear()
        if was:
            self._on_lost()

    def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()
