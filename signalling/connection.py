"""One client connection as the hub sees it: who, where, and its limits.

The transport is whatever carries frames (the aiohttp WebSocket in `web/ws.py`,
a queue in tests); the hub never sees aiohttp.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.identity import Principal


class Transport(Protocol):
    async def send(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class Limits:
    rate: float = 50.0
    burst: float = 200.0
    flood_strikes: int = 20


@dataclass
class Connection:
    transport: Transport
    limits: Limits
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    opened_at: float = field(default_factory=time.monotonic)
    cookie_token: str | None = None
    principal: Principal | None = None
    token_expires: datetime | None = None
    reauth_sent: bool = False
    room: str | None = None
    member_role: str | None = None
    resume_hash: str | None = None
    last_seq: int = 0
    replaying: bool = False
    pending: list[tuple[int, str, float]] = field(default_factory=list)
    closed: bool = False
    _tokens: float = -1.0
    _refilled: float = 0.0
    strikes: int = 0

    @property
    def participant(self) -> str | None:
        return self.principal.account_id if self.principal is not None else None

    def take(self) -> bool:
        """One message from the token bucket; False when over the rate."""
        now = time.monotonic()
        if self._tokens < 0:
            self._tokens, self._refilled = self.limits.burst, now
        self._tokens = min(
            self.limits.burst, self._tokens + (now - self._refilled) * self.limits.rate
        )
        self._refilled = now
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.strikes += 1
        return False

    @property
    def flooding(self) -> bool:
        return self.strikes >= self.limits.flood_strikes
