"""One client connection as the hub sees it: who, where, and its limits.

The transport is whatever carries frames (the aiohttp WebSocket in `web/ws.py`,
a queue in tests); the hub never sees aiohttp.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.identity import Principal


class Transport(Protocol):
    def send(self, text: str, /) -> Awaitable[None]: ...

    def writable(self) -> bool:
        """Whether `write` can go now: open, and not backed up."""
        ...

    def write(self, text: str, /) -> None:
        """Write now, without waiting (only when `writable`)."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(frozen=True)
class Limits:
    rate: float = 50.0
    burst: float = 200.0
    flood_strikes: int = 20


@dataclass(slots=True)
class Connection:
    """Slotted: a node holds thousands (each one's dict cost more than its fields)."""

    transport: Transport
    limits: Limits
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    opened_at: float = field(default_factory=time.monotonic)
    cookie_token: str | None = None
    greeted: bool = False
    """A hello has arrived (it may still be being checked): the hello timeout is met."""
    principal: Principal | None = None
    sender: str = ""
    """`"from":"<participant>",` as JSON, put in front of every frame this connection relays."""
    device: bool = False
    may_send: frozenset[str] = frozenset()
    relay_ok: dict[str, object] = field(default_factory=dict)
    """Recipient -> the room state in which relaying to them was last allowed."""
    token_expires: datetime | None = None
    reauth_sent: bool = False
    room: str | None = None
    member_role: str | None = None
    resume_hash: str | None = None
    last_seq: int = 0
    replaying: bool = False
    quality_audited_at: float | None = None
    """When this connection's last quality report went to the audit log (monotonic)."""
    pending: list[tuple[int, str, float]] = field(default_factory=list)
    closed: bool = False
    _tokens: float = -1.0
    _refilled: float = 0.0
    strikes: int = 0
    busy: bool = False
    """The reader has handed `Hub.receive` a message that it still holds (`Hub.relay_now`)."""
    send: Callable[[str], Awaitable[None]] = field(init=False, repr=False)
    writable: Callable[[], bool] = field(init=False, repr=False)
    write: Callable[[str], None] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.send = self.transport.send
        self.writable = self.transport.writable
        self.write = self.transport.write

    @property
    def participant(self) -> str | None:
        return self.principal.account_id if self.principal is not None else None

    def take(self, *, strike: bool = True) -> bool:
        """One message from the token bucket; False when over the rate.

        A refusal counts a strike towards `flooding`, unless `strike` is False
        (the caller hands the message on to a path that takes again).
        """
        now = time.monotonic()
        limits = self.limits
        if self._tokens < 0:
            self._tokens, self._refilled = limits.burst, now
        tokens = self._tokens + (now - self._refilled) * limits.rate
        if tokens > limits.burst:
            tokens = limits.burst
        self._refilled = now
        if tokens >= 1:
            self._tokens = tokens - 1
            return True
        self._tokens = tokens
        if strike:
            self.strikes += 1
        return False

    @property
    def flooding(self) -> bool:
        return self.strikes >= self.limits.flood_strikes
