"""The hub's timers: its liveness heartbeat, and the sweep (hello timeouts, token
expiry, reclaim windows, closing windows, nodes that died).

Mixed into `Hub` (signalling/hub.py), whose state these methods use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from signalling.connection import Connection
from signalling.errors import Close
from signalling.rooms import Outbox, Room

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from core.clock import Clock
    from signalling.hub import HubConfig
    from signalling.store import RoomStore

log = logging.getLogger(__name__)

SWEEP_SLICE = 100
"""The sweep lets messages through after this many connections or rooms: over a
thousand rooms it otherwise held the loop for ~10 ms each second (the p99 relay
latency of bench/signalling.py at P=1000 was 12.9 ms against 1 ms at P=100)."""


class Timers:
    """Mixed into `Hub`, which provides these:"""

    config: HubConfig
    node: str
    _clock: Clock
    _store: RoomStore
    _closing: bool
    _conns: dict[str, Connection]
    _local: dict[str, dict[str, Connection]]
    _watched: set[str]
    _apply: Callable[[Room, Outbox], Awaitable[None]]
    _close: Callable[[Connection, Close], Awaitable[None]]
    _send: Callable[[Connection, dict[str, Any]], Awaitable[None]]
    _detach: Callable[[Connection], None]
    _forget_resume: Callable[[Connection], Awaitable[None]]

    async def _sweep_forever(self) -> None:
        # The flag, not only the cancellation, ends the loop: a driver that
        # swallows a CancelledError mid-sweep must not leave the hub unclosable.
        while not self._closing:
            await asyncio.sleep(self.config.tick_s)
            try:
                await self.sweep()
            except (ConnectionError, OSError) as exc:
                log.warning("signalling sweep failed (%s)", type(exc).__name__)

    async def _heartbeat_forever(self) -> None:
        """This node's liveness, on a cadence of its own.

        Other nodes mark our members `away` when this key lapses, so it must not
        wait behind the sweep: a sweep over many rooms under load once took longer
        than the TTL, live nodes were declared dead and their members' relays
        were refused (pairs stalled on the two-node bench).
        """
        interval = max(0.02, self.config.node_ttl_s / 5)
        while not self._closing:
            try:
                await self._store.mark_alive(self.node, self.config.node_ttl_s)
            except Exception as exc:  # a store fault must not end the heartbeat
                log.warning("signalling heartbeat failed (%s)", type(exc).__name__)
            await asyncio.sleep(interval)

    async def sweep(self) -> None:
        """Hello timeouts, token expiry, reclaim windows and closing windows."""
        now = self._clock.now()
        monotonic = time.monotonic()
        for i, conn in enumerate(list(self._conns.values())):
            if i % SWEEP_SLICE == SWEEP_SLICE - 1:
                await asyncio.sleep(0)
            if conn.principal is None:
                # Only a connection that never said hello: one whose token is still
                # being checked (slow under load) is not timed out mid-check.
                if not conn.greeted and monotonic - conn.opened_at > self.config.hello_timeout_s:
                    await self._close(conn, Close.HELLO_TIMEOUT)
                continue
            if conn.token_expires is None:
                continue
            remaining = (conn.token_expires - now).total_seconds()
            if remaining <= 0:
                await self._token_expired(conn)
            elif remaining <= self.config.reauth_lead_s and not conn.reauth_sent:
                conn.reauth_sent = True
                await self._send(
                    conn, {"type": "reauth", "v": 1, "expires_at": conn.token_expires.isoformat()}
                )
        # One round trip for every watched room and one for the liveness of
        # every node they span, however many rooms this node holds.
        watched = list(self._watched)
        rooms = await self._store.get_many(watched)
        spanned: set[str] = set()
        for room in rooms.values():
            if not room.ended:
                spanned |= room.nodes()
        dead = await self._store.dead(spanned - {self.node})
        for i, room_id in enumerate(watched):
            if i % SWEEP_SLICE == SWEEP_SLICE - 1:
                await asyncio.sleep(0)
            await self._sweep_room(room_id, rooms.get(room_id), dead, now)

    async def _sweep_room(
        self, room_id: str, room: Room | None, dead_nodes: set[str], now: datetime
    ) -> None:
        if room is None or room.ended:
            self._watched.discard(room_id)
            return
        window_closed = now >= datetime.fromisoformat(room.window_closes)
        away = any(m.status.value == "away" for m in room.members.values())
        dead = dead_nodes & room.nodes()
        if not window_closed and not away and not dead:
            if room_id not in self._local:
                self._watched.discard(room_id)
            return
        reclaim = self.config.reclaim_s

        def step(current: Room | None) -> tuple[Room | None, tuple[Room | None, Outbox]]:
            if current is None or current.ended:
                return None, (None, Outbox())
            if now >= datetime.fromisoformat(current.window_closes):
                out = current.end(None, "window_closed", now)
            else:
                out = current.orphaned(dead, now)
                expired = current.expire_away(now, reclaim)
                out.deliveries.extend(expired.deliveries)
                out.audits.extend(expired.audits)
                out.queue_changed = out.queue_changed or expired.queue_changed
            if not (out.deliveries or out.audits):
                return None, (None, out)
            return current, (current, out)

        updated, out = await self._store.update(room_id, step)
        if updated is not None:
            await self._apply(updated, out)

    async def _token_expired(self, conn: Connection) -> None:
        """No fresh token came in time: close with 4004; the participant is `away`.

        A token never ends a consult. Closing the connection makes its member
        `away` (`Hub.disconnected`), as any dropped link does, and its resume
        token stays good: signed in again within the reclaim window, the page
        resumes where it was.
        """
        await self._close(conn, Close.TOKEN_EXPIRED)
