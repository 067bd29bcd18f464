"""How fast a node lets connections in: per identity, and generously per client address.

A client that reconnects in a tight loop (a page stuck reloading, a kiosk's
watchdog gone wrong, or someone hostile) costs a token check and a store query
each time. Each account may open `per_identity` connections on a node in a
minute, and each client address `per_address` (the address as the trusted proxy
reports it: web/ws.py); both are token buckets holding that many, so a whole
prison's devices coming back at once from its one address, after a node died,
are let in together. Over either limit the client is told `too_many_connections`
with `retry_after_s`, the seconds until it may try again, and the socket closes
with 1013; nobody else is affected.

The address limit is counted per node, in memory. The identity limit is too when
there is no Redis; with the Redis bus configured it is counted in Redis
(`SharedWindows`), so a client bouncing between nodes behind the load balancer
gets the one limit, not one per node: each hello is one INCR, EXPIRE NX and TTL
written together on a lean connection of its own (signalling/bus/resp.py), a
window of a minute that starts at the identity's first connection in it, timed
by Redis's clock (a node whose clock is off changes nothing). If Redis does not
answer, the node's own bucket decides instead of refusing everybody.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from signalling.bus.resp import Lane, RedisReplyError

log = logging.getLogger(__name__)

WINDOW_S = 60.0
PRUNE_EVERY = 1024


class Buckets:
    """Token buckets by key: `capacity` at once, refilled at capacity per minute."""

    __slots__ = ("_capacity", "_clock", "_rate", "_state", "_takes")

    def __init__(self, capacity: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(capacity)
        self._rate = capacity / WINDOW_S
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._takes = 0

    def take(self, key: str) -> int | None:
        """One connection for `key`: None if let in, else the seconds to wait first."""
        now = self._clock()
        self._takes += 1
        if self._takes % PRUNE_EVERY == 0:
            self._prune(now)
        tokens, at = self._state.get(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - at) * self._rate)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return None
        self._state[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self._rate))

    def _prune(self, now: float) -> None:
        """Forget the keys whose buckets have filled again (they start full)."""
        full = [
            key
            for key, (tokens, at) in self._state.items()
            if tokens + (now - at) * self._rate >= self._capacity
        ]
        for key in full:
            del self._state[key]

    def __len__(self) -> int:
        return len(self._state)


class SharedWindows:
    """`capacity` connections per key in a minute, counted in Redis for every node."""

    __slots__ = ("_capacity", "_lane", "_prefix", "_ttl")

    def __init__(self, lane: Lane, prefix: str, capacity: int) -> None:
        self._lane = lane
        self._prefix = f"{prefix}reconnects:"
        self._capacity = capacity
        self._ttl = int(WINDOW_S)

    async def take(self, key: str) -> int | None:
        """One connection for `key`: None if let in, else the seconds to wait first.

        Raises OSError (ConnectionError, a timeout) or RedisReplyError when Redis fails.
        """
        name = self._prefix + key
        call = self._lane.call
        # Issued in one turn: written together, answered in order.
        counted = call("INCR", name)
        expiring = call("EXPIRE", name, self._ttl, "NX")
        left = call("TTL", name)
        count, _, ttl = await counted, await expiring, await left
        assert isinstance(count, int) and isinstance(ttl, int)
        if count <= self._capacity:
            return None
        return max(1, ttl)


class Reconnects:
    """The two limits of a node; the identity one shared through Redis when `shared`."""

    __slots__ = ("addresses", "identities", "shared")

    def __init__(
        self,
        per_identity: int,
        per_address: int,
        clock: Callable[[], float] = time.monotonic,
        shared: SharedWindows | None = None,
    ) -> None:
        self.identities = Buckets(per_identity, clock)
        self.addresses = Buckets(per_address, clock)
        self.shared = shared

    async def identity(self, account_id: str) -> int | None:
        """One connection for `account_id`: None if let in, else the seconds to wait."""
        shared = self.shared
        if shared is None:
            return self.identities.take(account_id)
        try:
            return await shared.take(account_id)
        except (OSError, RedisReplyError) as exc:
            log.warning("reconnection counts unreachable in Redis (%s)", type(exc).__name__)
            return self.identities.take(account_id)
