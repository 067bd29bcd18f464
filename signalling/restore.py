"""After the bus lost its subscription: put back what this node owns, and have its
clients resume.

Redis may have restarted empty (it keeps nothing on disk) or only dropped the
connection; either way whatever was published meanwhile never reached this
node's sockets, and a client that waited for it would wait for ever. So once the
bus is subscribed again (`Bus.on_resubscribed`), each node:

1. counts its open sockets against their identities' caps again;
2. for every room it has members in, has what is logged for them published to
   it again (`RoomStore.serve`: a Redis that restarted empty forgot that), and
   puts back the room as it last saw it if Redis lost it, unless another node
   put back a newer view of it (each view carries the room's version, `ver`; a
   room Redis kept is never older than a view of it, so it stays), with its
   sequence numbers carried on past anything either node delivered
   (`RESEQ_MARGIN`), and the members' resume tokens and the waiting queue;
3. after `HubConfig.restore_settle_s` (1 s: the other nodes restore meanwhile,
   each retrying every 0.25 s), closes those members' sockets with 1012,
   "reconnect": each client resumes
   (here or on another node) and gets what the log still holds, and the
   clinician restarts ICE, as after any resume.

Mixed into `Hub` (signalling/hub.py), whose state these methods use.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from signalling.connection import Connection
from signalling.errors import Close
from signalling.identities import Identities
from signalling.store import ResumeRecord
from signalling.store.base import StoreUnavailable
from signalling.waiting_room import queue_score, waiting_patient

if TYPE_CHECKING:
    from signalling.hub import HubConfig
    from signalling.store import RoomStore

log = logging.getLogger(__name__)

RESEQ_MARGIN = 1000
"""A restored room numbers on from the highest seq this node delivered plus this,
so that nothing sent after the restore is mistaken for something a client has."""
ATTEMPTS = 20
RETRY_S = 0.25


class Restore:
    """Mixed into `Hub`, which provides these:"""

    config: HubConfig
    node: str
    identities: Identities
    _store: RoomStore
    _closing: bool
    _local: dict[str, dict[str, Connection]]
    _watched: set[str]

    def _kick(self, conn_id: str, code: Close = Close.REPLACED) -> None: ...

    async def restore(self) -> None:
        """Called by the bus once it is subscribed again; retried while Redis is flaky."""
        for _ in range(ATTEMPTS):
            if self._closing:
                return
            try:
                told = await self._restore()
            except StoreUnavailable:
                await asyncio.sleep(RETRY_S)
                continue
            # Every node that lost the subscription restores at about the same time;
            # the newest view of each room wins. Resumes wait until they all have.
            await asyncio.sleep(self.config.restore_settle_s)
            log.warning("bus subscription restored; %d client(s) told to resume", len(told))
            for conn in told:
                self._kick(conn.id, Close.RESTART)
            return
        log.error("could not restore signalling state after losing the bus")

    async def _restore(self) -> list[Connection]:
        cap = self.config.max_per_identity
        for conn in self.identities.all():
            if not conn.closed and conn.participant is not None:
                await self._store.identity_open(conn.participant, conn.id, cap)
        told: list[Connection] = []
        for room_id, members in list(self._local.items()):
            live = [c for c in members.values() if not c.closed]
            known = self._store.last_known(room_id)
            if known is None or not live or known[0].ended:
                continue
            room, version = known
            seq = max(c.last_seq for c in live) + RESEQ_MARGIN
            await self._store.restore(room_id, room, version, seq)
            self._watched.add(room_id)
            for conn in live:
                if conn.participant is not None:
                    await self._store.serve(room_id, conn.participant, self.node)
                if conn.resume_hash is not None and conn.participant is not None:
                    record = ResumeRecord(room=room_id, participant=conn.participant)
                    await self._store.put_resume(conn.resume_hash, record, self.config.resume_ttl_s)
                told.append(conn)
            if waiting_patient(room) is not None:
                await self._store.queue_put(room.clinician_id, room_id, queue_score(room))
        return told
