"""Recording a consult, mixed into `Hub` (signalling/hub.py): consent, then the recorder.

The clinician's `record_start` is checked against the appointment's recording
consent as scheduling holds it; the patient's device is then asked
(`recording` `asking`). Only the patient's `record_answer` `given`, stored as
their consent on their device for this appointment, turns the room's recording
on and starts the recorder; everyone in the room is told (`recording` `on`).
`record_withdraw` from the device turns it off and stops the recorder at once,
and withdraws that consent, so it is not started again without asking;
`record_stop` from the clinician, the patient leaving and the consult ending stop
it too.

Signalling sits below media, so both the consent store and the recorder come
in through `RecordingServices` (web/call_recording.py wires scheduling's
consents and media's recorder). The recorder runs on the node that started it
(where the patient's `given` arrived); a stop decided on any node reaches it
through the bus channel `recording`. A member connected to another node still
sends its media to it: its node checks the offer as it would its own, then asks
every node on the bus channel `recorder_offer`; the node holding the room's
recorder answers on `recorder_answer`, and the member's node hands the answer to
that connection alone. Offers and answers carry every candidate (no trickle), so
one question and one answer are the whole negotiation.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from core.events import Action
from core.identity import Principal
from signalling.connection import Connection
from signalling.errors import ErrorCode, SignallingError
from signalling.messages.recording import (
    RecordAnswer,
    RecorderOffer,
    RecordStart,
    RecordStop,
    RecordWithdraw,
)
from signalling.rooms import Outbox, Room
from signalling.sdp import check_sdp

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from core.clock import Clock
    from signalling.bus.base import Bus, Subscription
    from signalling.store import RoomStore

log = logging.getLogger(__name__)

RECORDING_CHANNEL = "recording"
"""Bus channel: an appointment whose recorder must stop, wherever it runs."""
RECORDER_OFFER_CHANNEL = "recorder_offer"
"""Bus channel: a member's offer, checked by its own node, for the node with the recorder."""
RECORDER_ANSWER_CHANNEL = "recorder_answer"
"""Bus channel: the recorder's answer (or its refusal), for the node that asked."""
REMOTE_ANSWER_S = 30.0
"""How long a member's node waits for the recorder's node (it gathers its relay candidates
before it answers); then the member is told `unavailable`, as when no node records."""


class RecorderHandle(Protocol):
    async def accept(self, member: str, offer_sdp: str) -> str:
        """A member's offer of its media; the recorder's answer (it sends nothing back)."""
        ...

    async def stop(self) -> object:
        """Stop receiving at once, then finish and store what was recorded."""
        ...


class RecordingServices(Protocol):
    async def standing(self, appointment_id: str) -> str:
        """The appointment's recording consent: `given`, `declined`, `withdrawn` or `none`."""
        ...

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None:
        """Store the patient's answer, given on their device, for this appointment."""
        ...

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        """Withdraw the patient's consent for this appointment (they did, on their device)."""
        ...

    async def start_recorder(self, appointment_id: str, actor: str) -> RecorderHandle:
        """A recorder in the room, receiving; raises if it cannot start."""
        ...


@dataclass
class _Held:
    """This node's recorder of one room: starting (no handle yet) or running."""

    handle: RecorderHandle | None = None
    stop_asked: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class CallRecording:
    """Mixed into `Hub`, which provides these:"""

    _store: RoomStore
    _clock: Clock
    _bus: Bus
    _recording: RecordingServices | None
    _recorders: dict[str, _Held]
    _recording_subs: list[Subscription]
    _recorder_asks: dict[str, asyncio.Future[str | None]]

    _apply: Callable[[Room, Outbox], Awaitable[None]]
    _step: Callable[[Connection, Any], Awaitable[tuple[Room, Outbox]]]
    _spawn: Callable[[Any, str], None]
    _send: Callable[[Connection, dict[str, Any]], Awaitable[None]]

    async def _recording_listen(self) -> None:
        for channel, handler in (
            (RECORDING_CHANNEL, self._on_recording),
            (RECORDER_OFFER_CHANNEL, self._on_remote_offer),
            (RECORDER_ANSWER_CHANNEL, self._on_remote_answer),
        ):
            self._recording_subs.append(await self._bus.subscribe(channel, handler))

    async def _recording_close(self) -> None:
        for sub in self._recording_subs:
            await sub.close()
        self._recording_subs.clear()
        for waiting in self._recorder_asks.values():
            if not waiting.done():
                waiting.set_result(None)
        for appointment in list(self._recorders):
            await self._stop_local(appointment)  # the hub then waits for its tasks

    def _services(self) -> RecordingServices:
        if self._recording is None:
            raise SignallingError(ErrorCode.RECORDING_REFUSED, reason="unavailable")
        return self._recording

    # ------------------------------------------------------------ messages

    async def _recording_message(
        self,
        conn: Connection,
        message: RecordStart | RecordAnswer | RecordWithdraw | RecordStop | RecorderOffer,
    ) -> None:
        if isinstance(message, RecorderOffer):
            await self._recorder_offer(conn, message.sdp)
        elif isinstance(message, RecordStart):
            await self._record_start(conn)
        elif isinstance(message, RecordAnswer):
            await self._record_answer(conn, message.given, message.language)
        elif isinstance(message, RecordWithdraw):
            await self._record_withdraw(conn)
        else:
            await self._step(conn, lambda room, me, now: room.recording_stop(me, now))

    async def _record_start(self, conn: Connection) -> None:
        services = self._services()
        if conn.room is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        standing = await services.standing(conn.room)
        await self._step(conn, lambda room, me, now: room.recording_ask(me, now, standing))

    async def _record_answer(self, conn: Connection, given: bool, language: str) -> None:
        services = self._services()
        room_id, principal = conn.room, conn.principal
        if room_id is None or principal is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        room = await self._store.get(room_id)
        if room is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        member = room.members.get(principal.account_id)
        if member is None or member.conn != conn.id:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        room.recording_check_answer(principal.account_id)
        # The answer is the patient's consent, kept before anything is recorded.
        await services.answer(principal, room_id, given, language)
        room, out = await self._step(
            conn, lambda room, me, now: room.recording_answer(me, given, now)
        )
        if given:
            # In a task of its own: the recorder takes a moment to join, and the
            # patient's next message (a withdrawal) must not wait behind it.
            self._spawn(self._start_recorder(room, services), "recording-start")

    async def _record_withdraw(self, conn: Connection) -> None:
        services = self._services()
        principal = conn.principal
        assert principal is not None
        room, _ = await self._step(conn, lambda room, me, now: room.recording_withdraw(me, now))
        # Stopped already (the step's effects); now the consent itself is withdrawn.
        await services.withdraw(principal, room.appointment)

    async def _recorder_offer(self, conn: Connection, sdp: str) -> None:
        """An admitted member sends its media to the recorder while the room records.

        Checked as any offer from that member is (a device: no data channel, relay
        candidates only where the establishment is relay-only); the answer goes back
        to this connection alone, as `recorder_answer`. The recorder runs on the node
        that started it: a member connected to another node has its offer passed there
        over the bus, and the answer back (see the module's docstring); `unavailable`
        when no node answers.
        """
        room_id, participant = conn.room, conn.participant
        if room_id is None or participant is None:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        room = await self._store.get(room_id)
        if room is None or room.ended:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        member = room.active_member(participant)
        if member is None or member.conn != conn.id:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if not member.admitted:
            raise SignallingError(ErrorCode.NOT_ADMITTED)
        if room.recording != "on":
            raise SignallingError(ErrorCode.RECORDING_REFUSED, reason="not_recording")
        check_sdp(sdp, device=conn.device, relay_only=room.relay_only)
        if room_id in self._recorders:
            answer = await self._local_answer(room_id, participant, sdp)
        else:
            answer = await self._remote_answer(room_id, participant, sdp)
        if answer is None:
            raise SignallingError(ErrorCode.RECORDING_REFUSED, reason="unavailable")
        await self._send(conn, {"type": "recorder_answer", "v": 1, "sdp": answer})

    async def _local_answer(self, appointment: str, participant: str, sdp: str) -> str | None:
        """This node's recorder's answer to an offer already checked; None if it has none."""
        held = self._recorders.get(appointment)
        if held is not None and held.handle is None and not held.stop_asked:
            await held.started.wait()  # the recorder is joining: its answer follows
        handle = held.handle if held is not None else None
        if handle is None:
            return None
        try:
            return await handle.accept(participant, sdp)
        except Exception as exc:
            log.warning("the recorder refused an offer (%s)", type(exc).__name__)
            return None

    async def _remote_answer(self, appointment: str, participant: str, sdp: str) -> str | None:
        """Ask the node that holds the room's recorder (whichever it is) to answer."""
        ask = uuid.uuid4().hex
        waiting: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._recorder_asks[ask] = waiting
        try:
            body = {"ask": ask, "appointment": appointment, "member": participant, "sdp": sdp}
            await self._bus.publish(RECORDER_OFFER_CHANNEL, json.dumps(body).encode())
            try:
                return await asyncio.wait_for(waiting, REMOTE_ANSWER_S)
            except TimeoutError:
                return None
        finally:
            self._recorder_asks.pop(ask, None)

    async def _on_remote_offer(self, channel: str, payload: bytes) -> None:
        """An offer another node checked: answered here only if the recorder is here."""
        body = json.loads(payload)
        if body["appointment"] not in self._recorders:
            return  # not ours (our own question comes back to us too)

        async def answer() -> None:
            sdp = await self._local_answer(body["appointment"], body["member"], body["sdp"])
            reply = {"ask": body["ask"], "sdp": sdp}
            await self._bus.publish(RECORDER_ANSWER_CHANNEL, json.dumps(reply).encode())

        # The recorder gathers its candidates before it answers: not on the bus's reader.
        self._spawn(answer(), "recorder-remote-offer")

    async def _on_remote_answer(self, channel: str, payload: bytes) -> None:
        body = json.loads(payload)
        waiting = self._recorder_asks.get(body["ask"])
        if waiting is not None and not waiting.done():
            waiting.set_result(body["sdp"] if isinstance(body["sdp"], str) else None)

    # ------------------------------------------------------------ the recorder

    async def _start_recorder(self, room: Room, services: RecordingServices) -> None:
        appointment = room.appointment
        if appointment in self._recorders:
            return
        held = self._recorders[appointment] = _Held()
        try:
            handle = await services.start_recorder(appointment, room.recording_by or "system")
        except Exception:
            log.exception("the recorder did not start")
            self._recorders.pop(appointment, None)
            held.started.set()
            held.stopped.set()
            await self._recording_off(appointment)  # everyone sees it off ("failed")
            return
        held.handle = handle
        held.started.set()
        if held.stop_asked:  # withdrawn or stopped while it was starting
            await self._stop_local(appointment)

    async def _recording_off(self, appointment: str) -> None:
        now = self._clock.now()

        def step(room: Room | None) -> tuple[Room | None, tuple[Room | None, Outbox]]:
            if room is None:
                return None, (None, Outbox())
            out = room.recording_failed(now)
            return (room if out.deliveries else None), (room, out)

        room, out = await self._store.update(appointment, step)
        if room is not None:
            await self._apply(room, out)

    async def _recording_effects(self, room: Room, out: Outbox) -> None:
        """After any room step: a recording that stopped stops its recorder, on any node."""
        if not any(a.action is Action.RECORDING_STOPPED for a in out.audits):
            return
        appointment = room.appointment
        if appointment in self._recorders:
            await self._stop_local(appointment)
        else:
            await self._bus.publish(RECORDING_CHANNEL, appointment.encode())

    async def _on_recording(self, channel: str, payload: bytes) -> None:
        await self._stop_local(payload.decode())

    async def _stop_local(self, appointment: str) -> None:
        held = self._recorders.get(appointment)
        if held is None:
            return
        held.stop_asked = True
        if held.handle is None:
            return  # still starting: stopped as soon as it has
        handle, held.handle = held.handle, None

        async def stop() -> None:
            try:
                await handle.stop()
            except Exception:
                log.exception("the recorder did not stop cleanly")
            finally:
                self._recorders.pop(appointment, None)
                held.stopped.set()

        # Stopping receives no more at once; finishing the file runs on, off the socket's path.
        self._spawn(stop(), "recording-stop")
