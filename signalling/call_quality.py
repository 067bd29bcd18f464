"""The call's quality reports and its start, mixed into `Hub` (signalling/hub.py).

Pages report their link every 2 s: the other side sees each report live (the
clinician, both directions of the link), the room keeps only the worst loss and
lowest bitrate seen (for the call's summary), and the audit log one report in
`QUALITY_AUDIT_EVERY_S` per connection. The first answer relayed after the admit
marks the call as started.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from core.events import Action
from signalling.connection import Connection
from signalling.errors import ErrorCode, SignallingError
from signalling.messages import Quality
from signalling.rooms import Outbox, Room

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from core.clock import Clock
    from signalling.store import RoomStore

QUALITY_AUDIT_EVERY_S = 9.5
"""Pages report quality every 2 s for the other side to see; the log needs far fewer."""


class CallQuality:
    """Mixed into `Hub`, which provides these:"""

    _store: RoomStore
    _clock: Clock

    _apply: Callable[[Room, Outbox], Awaitable[None]]

    async def _quality(self, conn: Connection, message: Quality) -> None:
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
        if (room.worst_loss_pct is None or message.loss_pct > room.worst_loss_pct) or (
            room.lowest_bitrate_kbps is None or message.bitrate_kbps < room.lowest_bitrate_kbps
        ):
            # Written only when the link is worse than any report before, so the
            # room is not rewritten every two seconds.
            await self._note_quality(room_id, message.loss_pct, message.bitrate_kbps)
        out = Outbox()
        # The other side sees each report live (the clinician, both directions of
        # the link); the audit log keeps one in `QUALITY_AUDIT_EVERY_S` per connection.
        out.send(
            room.others(participant),
            {"type": "quality", "participant": participant, **message.details()},
        )
        started = time.monotonic()
        if conn.quality_audited_at is None or (
            started - conn.quality_audited_at >= QUALITY_AUDIT_EVERY_S
        ):
            conn.quality_audited_at = started
            out.audit(Action.QUALITY_REPORT, participant, self._clock.now(), **message.details())
        await self._apply(room, out)

    async def _note_quality(self, room_id: str, loss_pct: float, bitrate_kbps: float) -> None:
        def step(current: Room | None) -> tuple[Room | None, None]:
            if current is None or current.ended:
                return None, None
            return (current if current.note_quality(loss_pct, bitrate_kbps) else None), None

        await self._store.update(room_id, step)

    async def _start_call(self, room_id: str) -> None:
        """The first answer relayed after the admit: the call is on."""
        now = self._clock.now()

        def step(current: Room | None) -> tuple[Room | None, bool]:
            if current is None or not current.start_call(now):
                return None, False
            return current, True

        await self._store.update(room_id, step)
