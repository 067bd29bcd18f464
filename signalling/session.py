"""The hub's session steps: hello, welcome, re-authentication and resuming a room,
and an authenticated connection counted against its identity's cap (on any node).

Mixed into `Hub` (signalling/hub.py), whose state these methods use.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from core.errors import ServiceError
from core.identity import Principal, Role
from core.identity.tokens import hash_token
from signalling.connection import Connection
from signalling.errors import Close, ErrorCode, SignallingError
from signalling.identities import (
    CLOSE_FOR,
    IDENTITY_CHANNEL,
    Identities,
    decode_identity,
    encode_replace,
)
from signalling.messages import Hello, Reauth
from signalling.messages.session import ResumeRequest
from signalling.registry import ALLOWED_BY_ROLE
from signalling.rooms import Outbox, Room
from signalling.store import ResumeRecord
from signalling.store.base import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from core.clock import Clock
    from signalling.bus.base import Bus
    from signalling.hub import HubConfig
    from signalling.policy import Authenticator, IceServerIssuer
    from signalling.reconnects import Reconnects
    from signalling.store import RoomStore
    from signalling.user_channels import UserChannels

log = logging.getLogger(__name__)


def _token_expiry(token: str) -> datetime | None:
    """The `exp` of a token the identity service has already verified.

    Read straight from its payload: the signature was checked moments ago, and
    a second pass through PyJWT cost as much as the first.
    """
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (IndexError, KeyError, TypeError, ValueError, OverflowError, orjson.JSONDecodeError):
        return None


class Session:
    """Mixed into `Hub`, which provides these:"""

    config: HubConfig
    node: str
    _clock: Clock
    _store: RoomStore
    _identity: Authenticator
    _ice_servers: IceServerIssuer
    _apply: Callable[[Room, Outbox], Awaitable[None]]
    _attach: Callable[[Connection, str, str], None]
    _flush_pending: Callable[[Connection], Awaitable[None]]
    _send: Callable[[Connection, dict[str, Any]], Awaitable[None]]
    _bus: Bus
    _conns: dict[str, Connection]
    identities: Identities
    reconnects: Reconnects
    _kick: Callable[..., None]
    users: UserChannels

    async def _authenticate(self, token: str) -> tuple[Principal, datetime | None]:
        try:
            principal = await self._identity.authenticate(token)
        except ServiceError as exc:
            raise SignallingError(
                ErrorCode.INVALID_TOKEN,
                close=Close.AUTH_FAILED,
                debug_context={"reason": exc.code.slug},
            ) from None
        return principal, _token_expiry(token)

    async def _hello(self, conn: Connection, hello: Hello) -> None:
        conn.greeted = True
        token = hello.token if hello.token is not None else conn.cookie_token
        conn.cookie_token = None
        if token is None:
            raise SignallingError(ErrorCode.INVALID_TOKEN, close=Close.AUTH_FAILED)
        principal, expires = await self._authenticate(token)
        wait = await self.reconnects.identity(principal.account_id)
        if wait is not None:
            # Reconnecting in a tight loop: told when to come back; nothing changed
            # (a resume token is still good then).
            raise SignallingError(
                ErrorCode.TOO_MANY_CONNECTIONS, close=Close.TRY_LATER, retry_after_s=wait
            )
        conn.principal, conn.token_expires = principal, expires
        await self.users.watch(conn)
        conn.sender = f'"from":{orjson.dumps(principal.account_id).decode()},'
        conn.device = principal.role is Role.PRISONER
        conn.may_send = ALLOWED_BY_ROLE.get(principal.role, frozenset())
        if not await self._opened(conn):
            return
        refusal: SignallingError | None = None
        if hello.resume is not None:
            refusal = await self._resume(conn, hello.resume)
            if refusal is None:
                return
        await self._send(conn, self._welcome(conn, None, None, resumed=False))
        if refusal is not None:
            await self._send(conn, refusal.to_wire())

    def _welcome(
        self,
        conn: Connection,
        room: Room | None,
        resume_token: str | None,
        *,
        resumed: bool,
        replay: str | None = None,
    ) -> dict[str, Any]:
        assert conn.principal is not None
        ice_servers = self._ice(conn, room) if room is not None else []
        body: dict[str, Any] = {
            "type": "welcome",
            "v": 1,
            "session": conn.id,
            "participant": conn.principal.account_id,
            "role": conn.principal.role.value,
            "resume_token": resume_token,
            "resumed": resumed,
            "ice_servers": ice_servers,
            "heartbeat_s": self.config.heartbeat_s,
            "reauth_before": conn.token_expires.isoformat() if conn.token_expires else None,
            "room": (
                self._snapshot(conn, room, resume_token, ice_servers) if room is not None else None
            ),
        }
        if replay is not None:
            body["replay"] = replay
        return body

    def _ice(self, conn: Connection, room: Room) -> list[dict[str, Any]]:
        """Relay credentials for this member; none at all for a member on hold."""
        assert conn.principal is not None
        member = room.members.get(conn.principal.account_id)
        if member is not None and member.on_hold:
            return []
        return self._ice_servers(conn.principal, room.view())

    def _snapshot(
        self,
        conn: Connection,
        room: Room,
        resume_token: str | None,
        ice_servers: list[dict[str, Any]],
    ) -> dict[str, Any]:
        assert conn.principal is not None
        return {
            **room.snapshot(conn.principal.account_id),
            "relay_only": room.relay_only,
            "seq": conn.last_seq,
            "resume_token": resume_token,
            "ice_servers": ice_servers,
        }

    async def _reauth(self, conn: Connection, message: Reauth) -> None:
        assert conn.principal is not None
        try:
            principal, expires = await self._authenticate(message.token)
        except SignallingError:
            raise SignallingError(ErrorCode.REAUTH_REFUSED, close=Close.AUTH_FAILED) from None
        if principal.account_id != conn.principal.account_id:
            raise SignallingError(ErrorCode.REAUTH_REFUSED, close=Close.AUTH_FAILED)
        conn.principal, conn.token_expires, conn.reauth_sent = principal, expires, False

    async def _issue_resume(self, conn: Connection, room_id: str) -> str:
        assert conn.principal is not None
        if conn.resume_hash is not None:
            await self._store.drop_resume(conn.resume_hash)
        token = secrets.token_urlsafe(32)
        conn.resume_hash = hash_token(token)
        record = ResumeRecord(room=room_id, participant=conn.principal.account_id)
        await self._store.put_resume(conn.resume_hash, record, self.config.resume_ttl_s)
        return token

    async def _resume(self, conn: Connection, request: ResumeRequest) -> SignallingError | None:
        """Resume the room the token names; None when done, else the refusal to send.

        The refusal's `reason` says `ended` (the consult is over) or `expired`
        (an unknown or spent token, or the reclaim window ran out): the page
        may then `join` again while the window is open.
        """
        assert conn.principal is not None
        participant = conn.principal.account_id
        old_hash = hash_token(request.token)
        record = await self._store.get_resume(old_hash)
        if record is None or record.participant != participant:
            return SignallingError(ErrorCode.RESUME_FAILED, reason="expired")
        if not await self._store.take_resume(old_hash):
            # The same token was just spent on another connection (here or on another
            # node): that one resumed, this one is told the token is spent.
            return SignallingError(ErrorCode.RESUME_FAILED, reason="expired")
        now = self._clock.now()

        def step(room: Room | None) -> tuple[Room | None, tuple[Room, Outbox]]:
            if room is None:
                raise SignallingError(ErrorCode.RESUME_FAILED, reason="ended")
            out = room.resume(participant, conn.id, now)
            room.members[participant].node = self.node
            return room, (room, out)

        try:
            # Served here (with the room's state) before the log is read: whatever is
            # logged for this participant after the read reaches this node.
            room, out = await self._store.update(record.room, step, serve=(participant, self.node))
        except SignallingError as exc:
            return exc
        member = room.members[participant]
        conn.last_seq = request.last_seq
        conn.replaying = True
        self._attach(conn, room.appointment, member.role)
        entries, complete = await self._store.replay(room.appointment, request.last_seq)
        token = await self._issue_resume(conn, room.appointment)
        await self._send(
            conn,
            self._welcome(
                conn, room, token, resumed=True, replay="complete" if complete else "partial"
            ),
        )
        for entry in entries:
            if participant in entry.recipients and entry.seq > conn.last_seq:
                conn.last_seq = entry.seq
                await conn.transport.send(entry.wire)
        await self._flush_pending(conn)
        await self._apply(room, out)
        return None

    async def _opened(self, conn: Connection) -> bool:
        """An authenticated connection counts against its identity's cap.

        False (and the connection closing) if its session ended while its hello
        was being checked. Past the cap, the oldest of the identity's
        connections, on whichever node, is closed with 4010.
        """
        principal = conn.principal
        assert principal is not None
        ended = self.identities.add(conn)
        if ended is not None:
            self._kick(conn.id, CLOSE_FOR[ended])
            return False
        try:
            over = await self._store.identity_open(
                principal.account_id, conn.id, self.config.max_per_identity
            )
        except StoreUnavailable:
            log.warning("room store unreachable; connection not counted against its cap")
            return True
        for conn_id in over:
            if conn_id in self._conns:
                self._kick(conn_id, Close.SUPERSEDED)
            elif self._store.broadcasts:
                try:
                    await self._bus.publish(IDENTITY_CHANNEL, encode_replace(conn_id))
                except Exception as exc:  # the bus is down: that node's socket stays a while
                    log.warning("could not publish a replaced connection (%s)", type(exc).__name__)
        return True

    async def _on_identity(self, channel: str, payload: bytes) -> None:
        """Sessions ended, or a connection over its identity's cap (from any node)."""
        message = decode_identity(payload)
        if isinstance(message, str):
            self._kick(message, Close.SUPERSEDED)
        elif message is not None:
            code = CLOSE_FOR[message.reason]
            for conn in self.identities.ended(message):
                self._kick(conn.id, code)
