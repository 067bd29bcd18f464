"""One node's signalling hub: connections in, room steps, deliveries out.

The hub owns this node's connections. Room state and the replay log live in the
`RoomStore` (memory, or Redis when several nodes share rooms). With Redis every
logged message reaches its recipients through the bus, on whichever node they
are connected: the store publishes it on the channel of each node that serves a
recipient (`RoomStore.serve`), and each node subscribes once, at start, to its
own channel, never per room. In memory there is one node and the hub delivers
what it logs itself.

Its session steps (hello, resume, reauth) are in `signalling/session.py` and its
timers (liveness, the sweep) in `signalling/timers.py` and what it does when the
bus lost its subscription in `signalling/restore.py`, and its calls' quality reports in
`signalling/call_quality.py`, mixed in; whose sockets are
open, for sessions that end and the cap per identity, is `signalling/identities.py`.
A device's pre-call test (the `test_*` messages) is handed to `signalling/test_calls.py`.

A relayed offer, answer or candidate is the sender's frame text: it is parsed
and checked, then forwarded with `seq` and `from` put in front, never
re-encoded, so relaying costs the same whatever the size of the SDP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from core.clock import Clock
from core.db.engine import is_unavailable
from core.errors import ServiceError
from core.events import AuditRecord, AuditSink
from core.identity import Role
from signalling.auth_batch import BatchedAuthenticator
from signalling.bus.base import Bus, Subscription
from signalling.call_quality import CallQuality
from signalling.call_recording import CallRecording, RecordingServices
from signalling.connection import Connection, Limits, Transport
from signalling.errors import CLOSE_REASONS, Close, ErrorCode, SignallingError
from signalling.identities import (
    IDENTITY_CHANNEL,
    Identities,
)
from signalling.messages import (
    Admit,
    BringBack,
    CallBack,
    ClientMessage,
    ConfirmIdentity,
    End,
    Hello,
    IceRefresh,
    Join,
    Leave,
    Mode,
    ModeOffer,
    Notice,
    Quality,
    Reauth,
)
from signalling.messages.negotiation import NEGOTIATION
from signalling.messages.recording import RECORDING_MESSAGES
from signalling.messages.test_call import PRECALL_MESSAGES
from signalling.meters import Meters
from signalling.policy import Authenticator, IceServerIssuer, JoinPolicy, no_ice_servers
from signalling.reconnects import Reconnects, SharedWindows
from signalling.registry import (
    allowed,
    check_depth,
    decode,
    encode,
    load,
    read_negotiation,
    ref_of,
)
from signalling.relay_cut import RelayCut, RelayRevoker
from signalling.restore import Restore
from signalling.rooms import ConsultState, Outbox, Room
from signalling.sdp import check_candidate, check_sdp
from signalling.session import Session
from signalling.store import LogEntry, RoomStore
from signalling.store.base import (
    KICK,
    LocalRoomStore,
    StoreUnavailable,
    body_tail,
    node_channel,
    parse_entry,
)
from signalling.test_calls import PrecallTests
from signalling.timers import Timers
from signalling.user_channels import UserChannels
from signalling.waiting_room import position, queue_score, waiting_message, waiting_patient

log = logging.getLogger(__name__)

MEMBER_ROLES = {
    Role.PRISONER: "patient",
    Role.CLINICIAN: "clinician",
    # Invited to one appointment (`scheduling.attendees`); the join policy checks it.
    Role.INTERPRETER: "interpreter",
    Role.CHAPERONE: "chaperone",
    Role.OFFICER: "officer",
}


@dataclass(frozen=True)
class HubConfig:
    heartbeat_s: float = 20.0
    reclaim_s: float = 30.0
    reauth_lead_s: float = 60.0
    hello_timeout_s: float = 10.0
    tick_s: float = 1.0
    resume_ttl_s: int = 12 * 3600
    node_ttl_s: float = 5.0
    max_connections: int = 5000
    max_per_identity: int = 4
    restore_settle_s: float = 1.0
    connect_per_identity: int = 20
    connect_per_address: int = 2000
    limits: Limits = Limits()


class Hub(Session, Timers, Restore, CallQuality, CallRecording):
    def __init__(
        self,
        *,
        identity: Authenticator,
        policy: JoinPolicy,
        store: RoomStore,
        bus: Bus,
        audit: AuditSink,
        clock: Clock,
        config: HubConfig | None = None,
        ice_servers: IceServerIssuer = no_ice_servers,
        node_name: str = "node",
        test_calls: PrecallTests | None = None,
        recording: RecordingServices | None = None,
        shared_reconnects: SharedWindows | None = None,
        relay_revoker: RelayRevoker | None = None,
    ) -> None:
        self.node = f"{node_name}:{uuid.uuid4().hex[:8]}"
        self._identity = BatchedAuthenticator(identity)
        self._policy = policy
        self._store = store
        self._bus = bus
        self._audit = audit
        self._clock = clock
        self.config = config or HubConfig()
        self._ice_servers = ice_servers
        self._relay_cut = RelayCut(relay_revoker, audit)
        self._test_calls = test_calls or PrecallTests(
            policy=None, peers=None, ice_servers=ice_servers, clock=clock
        )
        self._conns: dict[str, Connection] = {}
        self._local: dict[str, dict[str, Connection]] = {}
        self.meters = Meters(connections=self._conns, rooms=self._local)
        self._fanning: dict[str, list[LogEntry]] = {}
        self._local_store = store if isinstance(store, LocalRoomStore) else None
        self._node_sub: Subscription | None = None
        self.identities = Identities()
        self.reconnects = Reconnects(
            self.config.connect_per_identity,
            self.config.connect_per_address,
            shared=shared_reconnects,
        )
        self._identity_sub: Subscription | None = None
        self._watched: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.users = UserChannels(bus, self._send)
        self._recording = recording
        self._recorders = {}
        self._recording_subs = []
        self._recorder_asks = {}

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._identity_sub = await self._bus.subscribe(IDENTITY_CHANNEL, self._on_identity)
        if self._store.broadcasts:
            self._node_sub = await self._bus.subscribe(
                node_channel(self.node), self._on_node, now=self._on_node_now
            )
        await self._recording_listen()
        self._bus.on_resubscribed(self.restore)
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="signalling-sweeper")
        self._heart = asyncio.create_task(self._heartbeat_forever(), name="signalling-heartbeat")

    async def shutdown(self) -> None:
        """Tell every client to reconnect elsewhere (1012), then stop."""
        self._closing = True
        await asyncio.gather(*(self._close(c, Close.RESTART) for c in list(self._conns.values())))

    async def close(self) -> None:
        self._closing = True
        for task in (self._sweeper, self._heart):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self._test_calls.close()
        await asyncio.gather(*(self._close(c, Close.RESTART) for c in list(self._conns.values())))
        await self._recording_close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._node_sub is not None:
            await self._node_sub.close()
            self._node_sub = None
        if self._identity_sub is not None:
            await self._identity_sub.close()
            self._identity_sub = None
        await self.users.close()

    # ------------------------------------------------------------ connections

    async def push_inbox(self, account_id: str, notice_id: str, kind: str) -> None:
        """Tell `account_id`'s open sockets, on any node, that a notice is in their inbox."""
        await self.users.push(account_id, {"type": "inbox", "notice": notice_id, "kind": kind})

    async def rooms(self, appointments: list[str]) -> dict[str, Room]:
        """The live rooms among `appointments` (any node's), for a clinician's list."""
        return await self._store.get_many(appointments)

    def connect(
        self,
        transport: Transport,
        *,
        cookie_token: str | None = None,
        address: str | None = None,
    ) -> Connection:
        """A new connection; `cookie_token` is the session cookie of a browser's upgrade,
        `address` the client's address (as the trusted proxy reports it), for its limit."""
        if self._closing:
            raise SignallingError(ErrorCode.UNAVAILABLE, close=Close.RESTART)
        if len(self._conns) >= self.config.max_connections:
            # Full: another node (or this one, shortly) can take it.
            raise SignallingError(ErrorCode.UNAVAILABLE, close=Close.TRY_LATER)
        if address is not None and (wait := self.reconnects.addresses.take(address)) is not None:
            raise SignallingError(
                ErrorCode.TOO_MANY_CONNECTIONS, close=Close.TRY_LATER, retry_after_s=wait
            )
        conn = Connection(transport, self.config.limits, cookie_token=cookie_token)
        self._conns[conn.id] = conn
        return conn

    async def disconnected(self, conn: Connection) -> None:
        """The transport is gone: the participant is away until it resumes or times out.

        The web server may cancel the handler that calls this when its client
        goes; the bookkeeping runs in a task the hub owns, so it still finishes.
        """
        task = asyncio.create_task(self._disconnected(conn), name="signalling-disconnect")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.shield(task)

    async def _disconnected(self, conn: Connection) -> None:
        if self._conns.pop(conn.id, None) is None:
            return
        await self.users.unwatch(conn)
        conn.closed = True
        if self.identities.remove(conn):
            assert conn.participant is not None
            try:
                await self._store.identity_close(conn.participant, conn.id)
            except StoreUnavailable:
                log.warning("room store unreachable while a connection closed")
        await self._test_calls.dropped(conn)
        room_id, participant = conn.room, conn.participant
        self._detach(conn)
        if room_id is None or participant is None:
            return
        now = self._clock.now()

        def step(room: Room | None) -> tuple[Room | None, tuple[Room | None, Outbox]]:
            if room is None:
                return None, (None, Outbox())
            out = room.away(participant, conn.id, now)
            return (room if out.deliveries else None), (room, out)

        try:
            room, out = await self._store.update(room_id, step)
        except StoreUnavailable:
            log.warning("room store unreachable while a connection dropped")
            return
        if room is not None:
            self._watched.add(room_id)
            await self._apply(room, out)

    async def receive(self, conn: Connection, frame: str) -> None:
        """Handle one text frame; every refusal is answered here, in one place.

        A negotiation frame (offer, answer, candidate, ice_restart) is relayed
        right here: every relayed message comes this way, so on one node its
        path is one coroutine whose only wait is the write to the recipient.
        """
        started = time.time()
        if not conn.take():
            if conn.flooding:
                await self._close(conn, Close.FLOOD)
            else:
                await self._send(conn, SignallingError(ErrorCode.RATE_LIMITED).to_wire())
            return
        obj: dict[str, Any] | None = None
        try:
            obj = load(frame)
            kind = obj.get("type")
            if conn.principal is None or kind.__class__ is not str or kind not in NEGOTIATION:
                check_depth(obj)
                await self._dispatch(conn, decode(obj))
                return
            # Closed, flat schemas: their depth needs no walk.
            room_id, to, checked = self._read_relay(conn, obj, kind)
            local = self._local_store
            room: Room | None
            if local is None:
                room = await self._relay_shared(
                    conn, room_id, kind, to, checked, _relayed(conn, frame), started
                )
            else:
                room = local.peek(room_id)
                self._check_room(conn, kind, to, checked, room)
                entry = local.append_now(room_id, (to,), _relayed(conn, frame), started)
                peer = self._claim(room_id, entry)
                if peer is not None:
                    try:
                        await peer.send(entry.wire)
                    except (ConnectionError, RuntimeError):
                        pass
                    else:
                        self.meters.delivered(time.time() - started)
            if kind == "answer" and room is not None and room.state is ConsultState.ADMITTED:
                await self._start_call(room_id)
        except SignallingError as exc:
            if exc.debug_context:
                log.info("refused %s", exc.code.slug, extra=exc.debug_context)
            close = exc.close
            if close is None and conn.principal is None:
                close = Close.AUTH_FAILED
            await self._send(conn, exc.to_wire(ref_of(obj)))
            if close is not None:
                await self._close(conn, close)
        except ServiceError as exc:
            await self._send(conn, _from_service(exc).to_wire(ref_of(obj)))
            if conn.principal is None:
                await self._close(conn, Close.AUTH_FAILED)
        except StoreUnavailable:
            # Redis cannot be reached from here: nothing was changed, and the
            # client comes back after a short wait, to this node or another.
            log.warning("room store unreachable; client told to try again later")
            await self._send(conn, SignallingError(ErrorCode.UNAVAILABLE).to_wire(ref_of(obj)))
            await self._close(conn, Close.TRY_LATER)
        except Exception as exc:
            if is_unavailable(exc):
                # The database (a hello's session check, a join's policy) cannot be
                # reached: as for Redis, try again shortly, here or elsewhere.
                log.warning("store unreachable; client told to try again later")
                await self._send(conn, SignallingError(ErrorCode.UNAVAILABLE).to_wire(ref_of(obj)))
                await self._close(conn, Close.TRY_LATER)
                return
            # A fault of ours or of the store (Redis gone mid-call): the client is
            # told nothing more than 1011 and resumes; the operator gets the trace.
            log.exception("signalling message failed")
            await self._close(conn, Close.INTERNAL)

    def relay_now(self, conn: Connection, frame: str) -> bool:
        """Relay a negotiation frame at once, from the socket's read callback (one node).

        The web edge offers every text frame here as the parser produces it,
        before it is queued for `receive`: a relay then costs no task switch and
        no coroutine. It runs the same checks as `receive` (`_read_relay`, `_check_room`).
        False means "not here", and nothing has changed: any other message, any
        refusal, an answer that starts the call, a recipient that cannot take
        the write at once (backed up, replaying, or behind a delivery in
        progress), or a client whose previous message `receive` still holds
        (`conn.busy`, so its messages keep their order). The frame then goes to
        `receive`, which answers it or waits for the recipient, and so holds
        back this client's next frames, as before.
        """
        local = self._local_store
        if local is None or conn.busy or conn.principal is None or conn.closed:
            return False
        started = time.time()
        try:
            obj = orjson.loads(frame)
            if obj.__class__ is not dict:
                return False
            kind = obj.get("type")
            if kind.__class__ is not str or kind not in NEGOTIATION:
                return False
            room_id, to, checked = self._read_relay(conn, obj, kind)
            room = local.peek(room_id)
            self._check_room(conn, kind, to, checked, room)
            assert room is not None
            if kind == "answer" and room.state is ConsultState.ADMITTED:
                return False
            members = self._local.get(room_id)
            peer = members.get(to) if members is not None else None
            if room_id in self._fanning or (
                peer is not None and (peer.replaying or not peer.closed and not peer.writable())
            ):
                return False
            if not conn.take(strike=False):  # `receive` takes again, and counts the strike
                return False
            entry = local.append_now(room_id, (to,), _relayed(conn, frame), started)
            peer = self._claim(room_id, entry)  # as checked above
            if peer is not None:
                peer.write(entry.wire)
                self.meters.delivered(time.time() - started)
            return True
        except (orjson.JSONDecodeError, SignallingError):
            return False
        except Exception:
            # A fault of ours: as in `receive`, the client is told 1011 and resumes.
            log.exception("signalling relay failed")
            conn.closed = True
            self._spawn(self._close_transport(conn, Close.INTERNAL), "signalling-close")
            return True

    @staticmethod
    def _read_relay(conn: Connection, obj: dict[str, Any], kind: str) -> tuple[str, str, str]:
        """A negotiation frame's own checks: its fields, the sender's role, a room.

        Returns the room, the recipient, and the SDP or candidate line that the
        room's checks (`_check_room`) go on to look at.
        """
        to, checked = read_negotiation(obj, kind)
        if kind not in conn.may_send:
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        room_id = conn.room
        if room_id is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        return room_id, to, checked

    async def refuse_binary(self, conn: Connection) -> None:
        await self._send(conn, SignallingError(ErrorCode.BINARY_NOT_SUPPORTED).to_wire())

    # ------------------------------------------------------------ dispatch

    async def _dispatch(self, conn: Connection, message: ClientMessage) -> None:
        kind = message.TYPE
        if conn.principal is None:
            if not isinstance(message, Hello):
                raise SignallingError(ErrorCode.NOT_AUTHENTICATED, close=Close.AUTH_FAILED)
            await self._hello(conn, message)
            return
        if isinstance(message, Hello):
            raise SignallingError(ErrorCode.ALREADY_AUTHENTICATED)
        if not allowed(conn.principal.role, kind):
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        if kind == "ping":
            await self._send(conn, {"type": "pong", "v": 1})
        elif isinstance(message, Join):
            await self._join(conn, message)
        elif isinstance(message, Admit):
            await self._admit(conn, message)
        elif isinstance(message, Leave):
            await self._leave(conn)
        elif isinstance(message, End):
            await self._end(conn, message.reason)
        elif isinstance(message, Notice):
            await self._notice(conn, message)
        elif isinstance(message, Quality):
            await self._quality(conn, message)
        elif isinstance(message, ModeOffer):
            await self._step(conn, lambda room, me, now: room.offer_mode(me, message.cause, now))
        elif isinstance(message, Mode):
            await self._step(
                conn, lambda room, me, now: room.change_mode(me, message.mode, message.cause, now)
            )
        elif isinstance(message, CallBack):
            await self._step(conn, lambda room, me, now: room.call_back(me, message.cause, now))
        elif isinstance(message, ConfirmIdentity):
            await self._step(conn, lambda room, me, now: room.confirm_identity(me, now))
        elif isinstance(message, BringBack):
            await self._step(
                conn, lambda room, me, now: room.bring_back(me, message.participant, now)
            )
        elif isinstance(message, IceRefresh):
            await self._refresh_ice(conn)
        elif isinstance(message, Reauth):
            await self._reauth(conn, message)
        elif isinstance(message, PRECALL_MESSAGES):
            await self._test_calls.handle(conn, message)
        elif isinstance(message, RECORDING_MESSAGES):
            await self._recording_message(conn, message)

    # ------------------------------------------------------------ rooms

    async def _join(self, conn: Connection, message: Join) -> None:
        principal = conn.principal
        assert principal is not None
        if conn.room is not None:
            raise SignallingError(ErrorCode.ALREADY_IN_ROOM)
        if principal.role not in MEMBER_ROLES:
            raise SignallingError(ErrorCode.JOIN_REFUSED, reason="forbidden_role")
        decision = await self._policy.join_decision(principal, message.appointment)
        view = decision.appointment
        if not decision.allowed or view is None or decision.role is None:
            raise SignallingError(ErrorCode.JOIN_REFUSED, reason=decision.refusal or "not_found")
        if decision.role != MEMBER_ROLES[principal.role]:
            raise SignallingError(ErrorCode.JOIN_REFUSED, reason="not_your_appointment")
        role = decision.role
        check = message.check.to_wire() if message.check is not None else None
        now = self._clock.now()
        participant = principal.account_id

        def step(room: Room | None) -> tuple[Room | None, tuple[Room, Outbox]]:
            room = room or Room.open(view, now)
            out = room.join(participant, role, conn.id, check, now)
            room.members[participant].node = self.node
            room.members[participant].device = principal.device_id
            room.video_required = view.video_required
            return room, (room, out)

        # Served here (with the room's state) before the seq is read: what is logged
        # for this participant after that reaches this node.
        room, out = await self._store.update(view.id, step, serve=(participant, self.node))
        conn.replaying = True
        self._attach(conn, room.appointment, role)
        conn.last_seq = await self._store.seq(room.appointment)
        token = await self._issue_resume(conn, room.appointment)
        snapshot = self._snapshot(conn, room, token, self._ice(conn, room))
        await self._send(conn, {"type": "room", "v": 1, **snapshot})
        await self._flush_pending(conn)
        await self._apply(room, out)

    async def _step(self, conn: Connection, operation: Any) -> tuple[Room, Outbox]:
        """Apply `operation(room, participant, now)` to the connection's room."""
        room_id, participant = conn.room, conn.participant
        if room_id is None or participant is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        now = self._clock.now()

        def step(room: Room | None) -> tuple[Room | None, tuple[Room, Outbox]]:
            if room is None:
                raise SignallingError(ErrorCode.NOT_IN_ROOM)
            member = room.members.get(participant)
            if member is None or member.conn != conn.id:
                raise SignallingError(ErrorCode.NOT_IN_ROOM)
            out = operation(room, participant, now)
            return room, (room, out)

        room, out = await self._store.update(room_id, step)
        await self._apply(room, out)
        return room, out

    async def _refresh_ice(self, conn: Connection) -> None:
        """Fresh short-lived relay credentials, for a member not on hold (`media.turn`)."""
        room_id, participant = conn.room, conn.participant
        if room_id is None or participant is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        room = await self._store.get(room_id)
        member = room.active_member(participant) if room is not None else None
        if room is None or member is None or member.conn != conn.id:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if member.on_hold:
            raise SignallingError(ErrorCode.ON_HOLD)
        await self._send(
            conn, {"type": "ice_servers", "v": 1, "ice_servers": self._ice(conn, room)}
        )

    async def _admit(self, conn: Connection, message: Admit) -> None:
        await self._step(conn, lambda room, me, now: room.admit(me, message.participant, now))

    async def _leave(self, conn: Connection) -> None:
        await self._step(conn, lambda room, me, now: room.leave(me, "left", now))
        self._detach(conn)
        await self._forget_resume(conn)

    async def _end(self, conn: Connection, reason: str) -> None:
        await self._step(conn, lambda room, me, now: room.end(me, reason, now))

    async def _notice(self, conn: Connection, message: Notice) -> None:
        await self._step(conn, lambda room, me, now: room.notice(me, message.text, now))

    def _claim(self, room_id: str, entry: LogEntry) -> Connection | None:
        """The local connection to write a relayed `entry` to now, if any (one node).

        Behind a delivery in progress for the room it queues (the sequencer of
        `_fanout`); to a connection that is replaying it waits in `pending`.
        """
        fanning = self._fanning.get(room_id)
        if fanning is not None:
            fanning.append(entry)
            return None
        members = self._local.get(room_id)
        peer = members.get(entry.recipients[0]) if members is not None else None
        if peer is None or peer.closed or entry.seq <= peer.last_seq:
            return None
        if peer.replaying:
            peer.pending.append((entry.seq, entry.wire, entry.sent_at))
            return None
        peer.last_seq = entry.seq
        return peer

    def _check_room(
        self, conn: Connection, kind: str, to: str, checked: str, room: Room | None
    ) -> None:
        """The room's checks on a negotiation frame from `conn` to `to`, carrying `checked`."""
        if room is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        # A stored room is never changed in place (every step stores a new one),
        # so a check made against this very object still holds.
        if conn.relay_ok.get(to) is not room:
            assert conn.principal is not None
            room.check_relay(conn.principal.account_id, conn.id, to)
            conn.relay_ok[to] = room
        if kind == "candidate":
            check_candidate(checked, device=conn.device, relay_only=room.relay_only)
        elif kind != "ice_restart":
            check_sdp(checked, device=conn.device, relay_only=room.relay_only)

    async def _relay_shared(
        self,
        conn: Connection,
        room_id: str,
        kind: str,
        to: str,
        checked: str,
        tail: str,
        started: float,
    ) -> Room:
        """Relay with Redis: one round trip when this node's view of the room is current.

        The frame is checked against the room as this node last saw it, and the
        append logs it only if the room is still in that state. If the view was
        old (or refused the frame), the room is read and the frame checked again.
        """
        room, fresh = self._store.cached(room_id), False
        for _ in range(4):
            if room is None:
                room, fresh = await self._store.get(room_id), True
            try:
                self._check_room(conn, kind, to, checked, room)
            except SignallingError:
                if fresh:
                    raise
                room = None
                continue
            assert room is not None
            if await self._store.append(room_id, (to,), tail, started, checked=room):
                return room
            room, fresh = None, False
        raise SignallingError(ErrorCode.UNAVAILABLE)  # the room changed four times meanwhile

    # ------------------------------------------------------------ effects

    async def _apply(self, room: Room, out: Outbox) -> None:
        room_id = room.appointment
        for conn_id in out.kicks:
            if self._store.broadcasts:
                await self._store.kick(room_id, conn_id)
            else:
                self._kick(conn_id)
        for effect in out.audits:
            await self._audit.append(
                AuditRecord(
                    action=effect.action,
                    actor=effect.actor,
                    establishment=room.establishment,
                    subject=room.prisoner_id,
                    appointment=room_id,
                    details=effect.details,
                )
            )
        now_wall = time.time()
        for delivery in out.deliveries:
            await self._log(room_id, delivery.recipients, delivery.body, now_wall)
        for participant, by in out.holds:
            await self._relay_cut.hold(
                appointment=room_id,
                participant=participant,
                establishment=room.establishment,
                subject=room.prisoner_id,
                actor=by,
            )
        for clinician, device in out.call_backs:
            try:
                await self._policy.request_call_back(room_id, clinician, device)
            except (ServiceError, ConnectionError, OSError) as exc:
                log.warning("could not open a call-back task (%s)", type(exc).__name__)
        for event, actor in out.call_events:
            try:
                await self._policy.record_call_event(room_id, event, actor)  # type: ignore[arg-type]
            except (ServiceError, ConnectionError, OSError) as exc:
                log.warning("could not record a call event (%s)", type(exc).__name__)
        if out.summary is not None:
            try:
                await self._policy.record_call_summary(room_id, out.summary)
            except (ServiceError, ConnectionError, OSError) as exc:
                log.warning("could not keep a call summary (%s)", type(exc).__name__)
        if out.queue_changed:
            await self._update_queue(room)
        await self._recording_effects(room, out)

    async def _update_queue(self, room: Room) -> None:
        clinician = room.clinician_id
        if waiting_patient(room) is not None:
            await self._store.queue_put(clinician, room.appointment, queue_score(room))
        else:
            await self._store.queue_drop(clinician, room.appointment)
        queue = await self._store.queue(clinician)
        now = self._clock.now()
        for appointment in queue:
            # Each room as it stands now, and its place told only if it still stands so: an
            # admission on another connection meanwhile must not be followed by "waiting".
            other = await self._store.get(appointment)
            patient = waiting_patient(other) if other is not None else None
            if other is None or patient is None:
                await self._store.queue_drop(clinician, appointment)
                continue
            place = position(queue, appointment)
            await self._log(
                appointment,
                (patient,),
                waiting_message(other, place, now),
                time.time(),
                checked=other,
            )

    async def _log(
        self,
        room_id: str,
        recipients: tuple[str, ...],
        body: dict[str, Any],
        sent_at: float,
        *,
        checked: Room | None = None,
    ) -> None:
        """A message of the server's own: numbered, logged and delivered (with `checked`,
        only if the room is still in that state)."""
        entry = await self._store.append(
            room_id, recipients, body_tail(body), sent_at, checked=checked
        )
        if entry is not None and not self._store.broadcasts:
            await self._fanout(room_id, entry)

    async def _forget_resume(self, conn: Connection) -> None:
        if conn.resume_hash is not None:
            await self._store.drop_resume(conn.resume_hash)
            conn.resume_hash = None

    # ------------------------------------------------------------ delivery

    def _attach(self, conn: Connection, room_id: str, role: str) -> None:
        """The connection is its participant's in the room, on this node.

        Before it reads the room's seq or log, its step stored the room with
        `serve`: whatever is logged for it after that is published to this node.
        """
        participant = conn.participant
        assert participant is not None
        conn.room, conn.member_role = room_id, role
        local = self._local.setdefault(room_id, {})
        local[participant] = conn
        self._watched.add(room_id)

    def _detach(self, conn: Connection) -> None:
        room_id, participant = conn.room, conn.participant
        conn.room = conn.member_role = None
        conn.relay_ok.clear()
        if room_id is None or participant is None:
            return
        local = self._local.get(room_id)
        if local is not None and local.get(participant) is conn:
            del local[participant]
            if not local:
                del self._local[room_id]

    async def _on_node(self, channel: str, payload: bytes) -> None:
        """A message logged by any node for a recipient served here (Redis):
        `<room id>\n<entry>`; deliver it to this node's recipients."""
        room_id, _, text = payload.decode().partition("\n")
        if text.startswith(KICK):
            self._kick(text.partition("|")[2])
            return
        entry = parse_entry(text)
        if entry is not None:
            await self._fanout(room_id, entry)

    def _on_node_now(self, channel: str, payload: bytes) -> bool:
        """`_on_node` at once, where the bus reads it, when nothing has to wait.

        It takes the message when every local recipient's socket can be written
        now (or the recipient is replaying, when it waits in `pending`), or when
        the room has a delivery in progress (it queues behind it, as in
        `_fanout`). Anything else (an `ended`, which detaches its recipients; a
        socket backed up) goes to `_on_node`, and False says so; nothing has
        changed then.
        """
        room_id, _, text = payload.decode().partition("\n")
        if text.startswith(KICK):
            self._kick(text.partition("|")[2])
            return True
        entry = parse_entry(text)
        if entry is None:
            return True
        fanning = self._fanning.get(room_id)
        if fanning is not None:
            fanning.append(entry)
            return True
        local = self._local.get(room_id)
        if not local:
            return True
        seq = entry.seq
        targets = []
        for participant in entry.recipients:
            conn = local.get(participant)
            if conn is None or conn.closed or seq <= conn.last_seq:
                continue
            if not conn.replaying and not conn.writable():
                return False
            targets.append(conn)
        if targets and '"type":"ended"' in entry.wire[:40]:
            return False
        for conn in targets:
            if conn.replaying:
                conn.pending.append((seq, entry.wire, entry.sent_at))
            else:
                conn.last_seq = seq
                conn.write(entry.wire)
                self.meters.delivered(max(0.0, time.time() - entry.sent_at))
        return True

    def _kick(self, conn_id: str, code: Close = Close.REPLACED) -> None:
        """Close a connection that a newer one replaced, if it is on this node.

        The close handshake waits for the old client, which may be gone: it runs
        in a task of its own, and the connection takes no more messages meanwhile.
        """
        conn = self._conns.get(conn_id)
        if conn is not None and not conn.closed:
            conn.closed = True
            self._spawn(self._close_transport(conn, code), "signalling-kick")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fanout(self, room_id: str, entry: LogEntry) -> None:
        """Deliver a logged message to its recipients on this node, in the room's order.

        A delivery can wait (a client that reads slowly); one arriving for the
        same room meanwhile queues behind it instead of overtaking it, so no
        recipient ever sees a later seq before an earlier one.
        """
        queue = self._fanning.get(room_id)
        if queue is not None:
            queue.append(entry)
            return
        queue = self._fanning[room_id] = [entry]
        try:
            i = 0
            while i < len(queue):
                await self._deliver_entry(room_id, queue[i])
                i += 1
        finally:
            del self._fanning[room_id]

    async def _deliver_entry(self, room_id: str, entry: LogEntry) -> None:
        local = self._local.get(room_id)
        if not local:
            return
        ended = '"type":"ended"' in entry.wire[:40]
        for participant in entry.recipients:
            conn = local.get(participant)
            if conn is None:
                continue
            if conn.replaying:
                conn.pending.append((entry.seq, entry.wire, entry.sent_at))
                continue
            await self._deliver(conn, entry.seq, entry.wire, entry.sent_at)
            if ended:
                self._detach(conn)
                await self._forget_resume(conn)

    async def _deliver(self, conn: Connection, seq: int, wire: str, sent_at: float) -> None:
        if seq <= conn.last_seq or conn.closed:
            return
        conn.last_seq = seq
        try:
            await conn.send(wire)
        except (ConnectionError, RuntimeError):
            return
        self.meters.delivered(max(0.0, time.time() - sent_at))

    async def _flush_pending(self, conn: Connection) -> None:
        while conn.pending:
            pending, conn.pending = conn.pending, []
            for seq, wire, sent_at in sorted(pending):
                await self._deliver(conn, seq, wire, sent_at)
        conn.replaying = False

    async def _send(self, conn: Connection, body: dict[str, Any]) -> None:
        if conn.closed:
            return
        try:
            await conn.transport.send(encode(body, conn.last_seq))
        except (ConnectionError, RuntimeError):
            return

    async def _close(self, conn: Connection, code: Close) -> None:
        if conn.closed:
            return
        conn.closed = True
        await self._close_transport(conn, code)

    @staticmethod
    async def _close_transport(conn: Connection, code: Close) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.transport.close(code.value, CLOSE_REASONS[code])


def _relayed(conn: Connection, frame: str) -> str:
    """The tail of a relayed message: `"from":...,` then the sender's text after its `{`.

    `load` parsed the frame as an object, so past any leading whitespace it opens with "{".
    """
    return conn.sender + (frame if frame[0] == "{" else frame.lstrip())[1:]


def _from_service(exc: ServiceError) -> SignallingError:
    """The one place a service error becomes a signalling error."""
    return SignallingError(ErrorCode.UNAVAILABLE, debug_context={"code": exc.code.slug})
