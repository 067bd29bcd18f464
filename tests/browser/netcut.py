"""A network link the test can cut: a TCP and UDP relay on one loopback port.

This machine has no iptables, and Playwright's `set_offline` stops neither WebRTC
media nor an open WebSocket. So a browser that must lose its network reaches the
app (HTTP and the `/ws` WebSocket) and coturn (UDP and TCP) through one of these,
and the test cuts it.

Cut means what a dead link does: nothing goes through either way, and nothing is
refused or reset. TCP data already sent waits, as TCP retransmits it, and is
delivered in order when the link comes back (so a socket nobody gave up on lives
on); a new TCP connection is accepted but goes nowhere until then, as a SYN that
gets no answer. UDP datagrams are dropped, as packets on a dead link are.

A lossy link (`lossy(up=..., down=...)`) drops that share of the UDP datagrams going
each way, at random (seeded, so a run can be repeated): real packet loss on the media
path, which the pages' own `getStats` then measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

CHUNK = 65536


@dataclass
class Counters:
    """Bytes through the relay, both ways, to show that traffic stopped and started."""

    up: int = 0
    down: int = 0
    dropped: int = 0


class _Udp(asyncio.DatagramProtocol):
    """The listening side: one upstream socket per client address."""

    def __init__(self, cut: NetCut) -> None:
        self.cut = cut
        self.transport: asyncio.DatagramTransport | None = None
        self.upstreams: dict[tuple[str, int], asyncio.DatagramTransport] = {}
        self.opening: dict[tuple[str, int], list[bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.cut.is_open or self.cut.lose(up=True):
            self.cut.counters.dropped += len(data)
            return
        upstream = self.upstreams.get(addr)
        if upstream is not None:
            self.cut.counters.up += len(data)
            upstream.sendto(data)
            return
        queued = self.opening.get(addr)
        if queued is not None:
            queued.append(data)
            return
        self.opening[addr] = [data]
        self.cut.spawn(self._open_upstream(addr))

    async def _open_upstream(self, addr: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpBack(self.cut, self, addr), remote_addr=self.cut.upstream
        )
        self.upstreams[addr] = transport
        for data in self.opening.pop(addr, []):
            self.cut.counters.up += len(data)
            transport.sendto(data)

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()
        if self.transport is not None:
            self.transport.close()


class _UdpBack(asyncio.DatagramProtocol):
    """Upstream's answers, back to the client they belong to."""

    def __init__(self, cut: NetCut, front: _Udp, client: tuple[str, int]) -> None:
        self.cut, self.front, self.client = cut, front, client

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not self.cut.is_open or self.front.transport is None or self.cut.lose(up=False):
            self.cut.counters.dropped += len(data)
            return
        self.cut.counters.down += len(data)
        self.front.transport.sendto(data, self.client)


@dataclass
class NetCut:
    """`port` relays to `upstream`; `cut()` and `restore()` the link."""

    upstream: tuple[str, int] = ("127.0.0.1", 0)
    udp: bool = False
    counters: Counters = field(default_factory=Counters)
    port: int = 0

    def __post_init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._udp: _Udp | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._loss = (0.0, 0.0)
        self._random = random.Random(11)

    def lossy(self, *, up: float = 0.0, down: float = 0.0) -> None:
        """Drop this share (0-1) of the UDP datagrams going up (to upstream) and down."""
        self._loss = (up, down)

    def lose(self, *, up: bool) -> bool:
        rate = self._loss[0 if up else 1]
        return rate > 0 and self._random.random() < rate

    @property
    def is_open(self) -> bool:
        return self._open.is_set()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> None:
        self._open.clear()

    def restore(self) -> None:
        self._open.set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def start(self) -> int:
        """Listen on a free loopback port (TCP, and UDP on the same number if asked)."""
        loop = asyncio.get_running_loop()
        for _ in range(20):
            self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            if not self.udp:
                return self.port
            try:
                _, protocol = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), local_addr=("127.0.0.1", self.port), family=socket.AF_INET
                )
            except OSError:
                self._server.close()
                await self._server.wait_closed()
                continue
            self._udp = protocol
            return self.port
        raise RuntimeError("no loopback port free for both TCP and UDP")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._open.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.close()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.ensure_future(self._pump(reader, up_writer, up=True)),
            asyncio.ensure_future(self._pump(up_reader, writer, up=False)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()
                self._writers.discard(w)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    return
                # Held while the link is cut, delivered in order when it comes back.
                await self._open.wait()
                if up:
                    self.counters.up += len(data)
                else:
                    self.counters.down += len(data)
                writer.write(data)
                await writer.drain()

    async def close(self) -> None:
        self._open.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._udp is not None:
            self._udp.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)
