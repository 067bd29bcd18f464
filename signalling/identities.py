"""Whose sockets are open: sessions that end close them on every node, and a cap.

An open socket was authenticated once, with a token; it would otherwise go on
until that token expired, long after a sign-out or a revocation had ended its
session over HTTP. So every change that ends sessions in the store
(`core.identity.types.SessionsEnded`) is published on the bus's identity
channel after it commits, and each node closes the sockets it holds for those
sessions, with a close code that says why (`CLOSE_FOR`). A member of a consult
whose socket closes this way is `away`, like any dropped link: the consult goes
on, and they leave when the reclaim window ends unless they sign in again and
resume.

The same channel carries "replace": an identity holds at most
`HubConfig.max_per_identity` sockets across all nodes (counted in the room
store); the next one closes the oldest with 4010, so a restarted kiosk whose
old socket is half-open is never locked out.

A socket whose hello was being checked while its session ended would miss the
message: endings are kept for `RECENT_S`, and a socket registering meanwhile is
checked against them.
"""

from __future__ import annotations

import logging
import time
from collections import deque

import orjson

from core.identity import Principal
from core.identity.types import EndReason, SessionsEnded
from signalling.bus.base import Bus
from signalling.connection import Connection
from signalling.errors import Close

log = logging.getLogger(__name__)

IDENTITY_CHANNEL = "identity"
RECENT_S = 30.0

CLOSE_FOR: dict[EndReason, Close] = {
    EndReason.SIGNED_OUT: Close.SIGNED_OUT,
    EndReason.SESSION_REVOKED: Close.SESSION_REVOKED,
    EndReason.DEVICE_REVOKED: Close.DEVICE_REVOKED,
    EndReason.ACCOUNT_DISABLED: Close.ACCOUNT_DISABLED,
    EndReason.RELEASED: Close.RELEASED,
}


class BusEndings:
    """`SessionEndings` on the bus: what identity and scheduling are given (web wires it)."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def sessions_ended(self, ended: SessionsEnded) -> None:
        try:
            await self._bus.publish(IDENTITY_CHANNEL, encode_ended(ended))
        except Exception as exc:
            # The sessions have ended in the store, which HTTP and every new hello
            # check; only the sockets already open stay until their token expires.
            log.warning("could not publish ended sessions (%s)", type(exc).__name__)


def encode_ended(ended: SessionsEnded) -> bytes:
    return orjson.dumps(
        {
            "kind": "ended",
            "reason": ended.reason.value,
            "account": ended.account_id,
            "session": ended.session_id,
            "device": ended.device_id,
        }
    )


def encode_replace(conn_id: str) -> bytes:
    return orjson.dumps({"kind": "replace", "conn": conn_id})


def decode_identity(payload: bytes) -> SessionsEnded | str | None:
    """An ended-sessions message, the id of a connection to replace, or None (malformed)."""
    try:
        obj = orjson.loads(payload)
        if obj["kind"] == "replace":
            return str(obj["conn"])
        if obj["kind"] == "ended":
            return SessionsEnded(
                EndReason(obj["reason"]),
                account_id=_opt(obj.get("account")),
                session_id=_opt(obj.get("session")),
                device_id=_opt(obj.get("device")),
            )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        pass
    return None


def _opt(value: object) -> str | None:
    return value if isinstance(value, str) else None


def matches(ended: SessionsEnded, principal: Principal) -> bool:
    if ended.account_id is None:
        return ended.device_id is not None and principal.device_id == ended.device_id
    if principal.account_id != ended.account_id:
        return False
    return ended.session_id is None or principal.session_id == ended.session_id


class Identities:
    """This node's authenticated connections by account, oldest first."""

    def __init__(self) -> None:
        self._by_account: dict[str, dict[str, Connection]] = {}
        self._recent: deque[tuple[float, SessionsEnded]] = deque()

    def add(self, conn: Connection) -> EndReason | None:
        """Register `conn`; the reason to close it at once if its session just ended."""
        principal = conn.principal
        assert principal is not None
        self._by_account.setdefault(principal.account_id, {})[conn.id] = conn
        self._prune()
        for _, ended in self._recent:
            if matches(ended, principal):
                return ended.reason
        return None

    def remove(self, conn: Connection) -> bool:
        """Forget `conn`; whether it was registered."""
        principal = conn.principal
        if principal is None:
            return False
        mine = self._by_account.get(principal.account_id)
        if mine is None or mine.pop(conn.id, None) is None:
            return False
        if not mine:
            del self._by_account[principal.account_id]
        return True

    def ended(self, ended: SessionsEnded) -> list[Connection]:
        """The open connections of sessions that have just ended (remembered a while)."""
        self._recent.append((time.monotonic(), ended))
        self._prune()
        if ended.account_id is not None:
            candidates = list(self._by_account.get(ended.account_id, {}).values())
        else:
            candidates = [c for conns in self._by_account.values() for c in conns.values()]
        return [c for c in candidates if c.principal is not None and matches(ended, c.principal)]

    def all(self) -> list[Connection]:
        return [c for conns in self._by_account.values() for c in conns.values()]

    def _prune(self) -> None:
        horizon = time.monotonic() - RECENT_S
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()
