"""The appender: validated events, encrypted and hashed, written by group commit.

`append` validates on the caller's task, queues the event and waits. One
writer task takes everything queued, and in ONE transaction locks the head
row, numbers the events, encrypts their details, hashes the leaves into the
frontier, inserts them, moves the head and, when due, signs a checkpoint; it
commits (one fsync for the whole batch) and only then resolves every waiter.
So an acknowledged event is on disk, and a burst of appends costs a handful
of fsyncs, not one each.

A batch is dated by the writing node's clock, but never earlier than what the
log already holds (the head row's `last_at`), so times never decrease along
the log whatever the nodes' clocks say; a signed checkpoint is also appended,
after its commit, to this node's checkpoint file outside the database.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit import shredding, store
from audit.checkpoint_files import CheckpointFile
from audit.checkpoints import Checkpoint, CheckpointSigner, load_signer
from audit.datakeys import DataKeys
from audit.envelope import KeyRing, seal
from audit.merkle import frontier_extend, frontier_root, leaf_hash
from audit.record import MAX_DETAILS_BYTES, LeafEncoder, details_aad, key_scope
from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord

log = logging.getLogger("throughcare.audit")

DEFAULT_CHECKPOINT_EVERY = 1000
DEFAULT_CHECKPOINT_SECONDS = 60.0
DEFAULT_MAX_BATCH = 256
# How far behind the log's last time a node's clock may be before it says so.
CLOCK_BEHIND_WARNING = timedelta(seconds=2)
_ID_LIMIT = 36
_ACTOR_LIMIT = 64


@dataclass
class _Pending:
    record: AuditRecord
    action: Action
    details: bytes
    future: asyncio.Future[int]


def _refuse(sentence: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, sentence)


def _validate(record: AuditRecord) -> tuple[Action, bytes]:
    """Everything that can be wrong with an event is found before it is queued."""
    try:
        action = Action(record.action)
    except ValueError:
        raise _refuse("The audit action is not in the vocabulary.") from None
    if not isinstance(record.actor, str) or not record.actor.strip():
        raise _refuse("An audit event needs an actor.")
    if len(record.actor) > _ACTOR_LIMIT:
        raise _refuse("The audit actor is too long.")
    for value in (record.establishment, record.subject, record.appointment):
        if value is not None and (not isinstance(value, str) or len(value) > _ID_LIMIT):
            raise _refuse("An audit event id is not valid.")
    if not isinstance(record.details, dict):
        raise _refuse("The audit details must be a JSON object.")
    try:
        details = json.dumps(
            record.details, sort_keys=True, separators=(",", ":"), allow_nan=False, default=None
        ).encode()
    except (TypeError, ValueError):
        raise _refuse("The audit details must be a JSON object.") from None
    if len(details) > MAX_DETAILS_BYTES:
        raise _refuse("The audit details are larger than 16 KiB.")
    return action, details


@dataclass
class _Prepared:
    rows: list[tuple[Any, ...]]
    frontier: list[bytes]
    root: bytes


def _prepare(
    encoder: LeafEncoder,
    batch: Sequence[_Pending],
    size: int,
    frontier: list[bytes],
    now: datetime,
    keys: dict[str, tuple[str, AESGCM]],
) -> _Prepared:
    """Encrypt and hash a batch (CPU only; runs in a worker thread)."""
    rows = []
    digests = []
    for offset, item in enumerate(batch):
        seq = size + offset
        r = item.record
        scope = key_scope(r.subject, r.establishment)
        key_id, aead = keys[scope]
        action = item.action.value
        ciphertext = seal(aead, item.details, details_aad(seq, scope, action))
        digest = leaf_hash(
            encoder.leaf(
                seq,
                now,
                r.establishment,
                r.actor,
                action,
                r.subject,
                r.appointment,
                key_id,
                ciphertext,
            )
        )
        digests.append(digest)
        rows.append(
            (
                seq,
                now,
                r.establishment,
                r.actor,
                action,
                r.subject,
                r.appointment,
                key_id,
                ciphertext,
                digest,
            )
        )
    frontier = list(frontier)
    frontier_extend(frontier, size, digests)
    return _Prepared(rows, frontier, frontier_root(frontier))


@dataclass
class _Speculation:
    size: int
    keys_version: int
    now: datetime
    prepared: _Prepared


async def _settle(ahead: asyncio.Future[_Speculation] | None) -> _Speculation | None:
    """Wait for a speculative preparation; a failed one is simply not used."""
    if ahead is None:
        return None
    try:
        return await ahead
    except Exception:
        log.exception("audit speculative preparation failed; preparing again")
        return None


class AuditLog:
    """The application's audit log. Build it with `open_audit_log`."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        keys: DataKeys,
        signer: CheckpointSigner,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
        max_batch: int = DEFAULT_MAX_BATCH,
        checkpoint_file: CheckpointFile | None = None,
        newest_known: Checkpoint | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.max_batch = max_batch
        self.checkpoint_file = checkpoint_file
        self.batches = 0
        self.events = 0
        # Appends wait here for the writer; a deque and a flag cost a fraction of an
        # asyncio.Queue per event, which shows at thousands of appends a second.
        self._queue: deque[_Pending] = deque()
        self._queued = asyncio.Event()
        self._closed = False
        self._stopping = False
        self._writer: asyncio.Task[None] | None = None
        self._encoder = LeafEncoder()
        self._keeping: asyncio.Task[None] | None = None
        self._clock_behind = False
        # The newest checkpoint this node knows was signed (see `_floor_holds`).
        self._floor = newest_known
        self._floor_held = True

    @property
    def max_gap(self) -> int:
        """The most events a stretch without a checkpoint can hold, if nothing is deleted.

        A batch that brings the unsigned events to `checkpoint_every` signs in
        its own transaction, and a batch holds at most `max_batch` events.
        """
        return self.checkpoint_every + self.max_batch - 1

    def _date(self, head: store.Head) -> datetime:
        now = self.clock.now()
        dated = head.date(now)
        behind = dated - now > CLOCK_BEHIND_WARNING
        if behind != self._clock_behind:
            self._clock_behind = behind
            if behind:
                log.warning(
                    "this node's clock is %.1f s behind the audit log; events are dated "
                    "by the log's last time until it catches up",
                    (dated - now).total_seconds(),
                )
            else:
                log.info("this node's clock has caught up with the audit log")
        return dated

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="audit-writer")

    # ------------------------------------------------------------ appending

    async def append(self, record: AuditRecord) -> int:
        """Durably record the event; returns its sequence number (the leaf index)."""
        action, details = _validate(record)
        if self._closed:
            raise ServiceError(Code.UNAVAILABLE, "The audit log is closed.")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(record, action, details, future))
        self._queued.set()
        return await future

    def _take_nowait(self, limit: int) -> list[_Pending]:
        """Whatever is queued, up to `limit`, oldest first."""
        queue = self._queue
        return [queue.popleft() for _ in range(min(limit, len(queue)))]

    async def _run(self) -> None:
        batch: list[_Pending] = []
        ahead: asyncio.Future[_Speculation] | None = None
        while True:
            if not batch:
                if not self._queue:
                    if self._stopping:
                        return
                    self._queued.clear()
                    try:
                        await asyncio.wait_for(self._queued.wait(), self.checkpoint_seconds)
                    except TimeoutError:
                        await self._guarded(self.checkpoint(only_if_due=True))
                    continue
                batch = self._take_nowait(self.max_batch)
                ahead = None
            batch, ahead = await self._write(batch, ahead)

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except Exception:
            log.exception("audit checkpoint failed; will retry")

    async def _write(
        self, batch: list[_Pending], ahead: asyncio.Future[_Speculation] | None
    ) -> tuple[list[_Pending], asyncio.Future[_Speculation] | None]:
        """Write one batch; return the next one, already being prepared if possible.

        While this batch commits (the fsync), the next batch is taken from the
        queue and encrypted and hashed in a thread, on the guess that the head
        will still be where this batch leaves it. The guess is checked under
        the lock: if another node wrote in between, or a key was shredded, the
        batch is prepared again.
        """
        upcoming: list[_Pending] = []
        speculation: asyncio.Future[_Speculation] | None = None
        signed: Checkpoint | None = None
        try:
            async with self.db.begin() as conn:
                head = await store.read_head(conn, lock=True)
                guess = await _settle(ahead)
                if (
                    guess is not None
                    and guess.size == head.size
                    and guess.keys_version == head.keys_version
                    and head.date(guess.now) == guess.now
                ):
                    now, prepared = guess.now, guess.prepared
                else:
                    now = self._date(head)
                    scopes = {key_scope(p.record.subject, p.record.establishment) for p in batch}
                    keys = await self.keys.for_scopes(conn, scopes, now, head.keys_version)
                    prepared = await asyncio.to_thread(
                        _prepare, self._encoder, batch, head.size, head.frontier, now, keys
                    )
                await store.insert_events(conn, prepared.rows)
                if head.size == 0:
                    # An empty log's checkpoint interval starts with its first event.
                    head.checkpoint_at = now
                head.size += len(batch)
                head.frontier = prepared.frontier
                head.last_at = now
                if self._due(head, now):
                    signed = await self._sign(conn, head, prepared.root, now)
                await store.write_head(conn, head)
                upcoming = self._take_nowait(self.max_batch)
                speculation = self._speculate(upcoming, head)
        except Exception as exc:
            await _settle(speculation)
            self.keys.forget_active()
            log.error("audit batch of %d events failed: %s", len(batch), type(exc).__name__)
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(
                        ServiceError(Code.UNAVAILABLE, "The audit log could not record this.")
                    )
            return upcoming, None
        if signed is not None:
            self._committed(signed)
        self.batches += 1
        self.events += len(batch)
        first_seq = head.size - len(batch)
        for offset, item in enumerate(batch):
            if not item.future.done():
                item.future.set_result(first_seq + offset)
        return upcoming, speculation

    def _speculate(
        self, batch: list[_Pending], head: store.Head
    ) -> asyncio.Future[_Speculation] | None:
        if not batch:
            return None
        scopes = {key_scope(p.record.subject, p.record.establishment) for p in batch}
        keys = self.keys.cached(scopes, head.keys_version)
        if keys is None:
            return None
        size, version, frontier, now = (
            head.size,
            head.keys_version,
            list(head.frontier),
            self.clock.now(),
        )

        def work() -> _Speculation:
            prepared = _prepare(self._encoder, batch, size, frontier, now, keys)
            return _Speculation(size, version, now, prepared)

        return asyncio.ensure_future(asyncio.to_thread(work))

    # ------------------------------------------------------------ checkpoints

    def _due(self, head: store.Head, now: datetime) -> bool:
        pending = head.size - head.checkpoint_size
        if pending <= 0:
            return False
        if pending >= self.checkpoint_every:
            return True
        return now - head.checkpoint_at >= timedelta(seconds=self.checkpoint_seconds)

    async def _sign(
        self, conn: Any, head: store.Head, root: bytes, now: datetime
    ) -> Checkpoint | None:
        if not await self._floor_holds(conn, head):
            return None
        checkpoint = self.signer.sign(head.size, root, now)
        await store.insert_checkpoint(conn, checkpoint)
        head.checkpoint_size = head.size
        head.checkpoint_at = now
        head.last_at = now
        return checkpoint

    async def _floor_holds(self, conn: Any, head: store.Head) -> bool:
        """Sign nothing over a log that no longer holds the newest checkpoint this node knows.

        Someone who deleted checkpoints, rewrote events and moved the head back
        would otherwise get the rewrite signed by the next checkpoint. Refusing
        leaves the log appending but unsigned, which `audit verify` reports.
        """
        floor = self._floor
        if floor is None:
            return True
        holds = head.checkpoint_size >= floor.size and (
            await store.checkpoint_at_size(conn, floor.size) == floor
        )
        if holds != self._floor_held:
            self._floor_held = holds
            if not holds:
                log.error(
                    "the audit log no longer holds the checkpoint at size %d that this node "
                    "signed or kept; refusing to sign checkpoints: run `throughcare audit verify`",
                    floor.size,
                )
        return holds

    async def checkpoint(self, *, only_if_due: bool = False) -> Checkpoint | None:
        """Sign the current tree head, unless it is already signed (or not yet due)."""
        async with self.db.begin() as conn:
            head = await store.read_head(conn, lock=True)
            if head.size == head.checkpoint_size:
                return None
            now = self._date(head)
            if only_if_due and not self._due(head, now):
                return None
            checkpoint = await self._sign(conn, head, frontier_root(head.frontier), now)
            if checkpoint is None:
                return None
            await store.write_head(conn, head)
        self._committed(checkpoint)
        return checkpoint

    def _committed(self, checkpoint: Checkpoint) -> None:
        """A signed checkpoint is in the database: remember it, and keep a copy outside.

        The copy is appended to this node's file in order, off the writer's path.
        """
        self._floor = checkpoint
        if self.checkpoint_file is None:
            return
        self._keeping = asyncio.create_task(
            self._write_kept(self._keeping, self.checkpoint_file, checkpoint),
            name="audit-checkpoint-file",
        )

    @staticmethod
    async def _write_kept(
        previous: asyncio.Task[None] | None, file: CheckpointFile, checkpoint: Checkpoint
    ) -> None:
        if previous is not None:
            await previous
        try:
            await asyncio.to_thread(file.append, checkpoint)
        except OSError as exc:
            log.error(
                "audit checkpoint at size %d could not be written to %s: %s",
                checkpoint.size,
                file.path,
                type(exc).__name__,
            )

    async def kept(self) -> None:
        """Wait until every checkpoint signed so far is in the checkpoint file."""
        if self._keeping is not None:
            await self._keeping

    # ------------------------------------------------------------ keys

    async def rotate_kek(self, actor: str) -> tuple[str, int]:
        """Re-wrap every data key under a new KEK and destroy the old (audit/shredding.py)."""
        return await shredding.rotate_kek(self, actor)

    async def shred(self, subject: str, actor: str) -> int:
        """Destroy a subject's data key(s) and rotate the KEK (audit/shredding.py)."""
        return (await shredding.shred(self, [subject], actor))[subject]

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Write what is queued, sign the last head, and stop the writer."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._stopping = True
            self._queued.set()
            await self._writer
            self._writer = None
        await self._guarded(self.checkpoint())
        await self.kept()


async def open_audit_log(
    db: Database,
    *,
    keys_dir: Path,
    clock: Clock,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    max_batch: int = DEFAULT_MAX_BATCH,
    checkpoint_dir: Path | None = None,
    node: str = "node-1",
) -> AuditLog:
    """Load (or create) the audit keys and start the writer.

    A KEK or signing-key file that others can read, or of the wrong length,
    raises `core.keys.KeyFileError` naming the file, and nothing starts. With
    `checkpoint_dir`, every checkpoint this node signs is also appended to
    `checkpoint_dir/<node>.jsonl` (see `audit.checkpoint_files`).
    """
    ring = await asyncio.to_thread(KeyRing.load, keys_dir)
    signer = await asyncio.to_thread(load_signer, keys_dir)
    file = None if checkpoint_dir is None else CheckpointFile(checkpoint_dir, node)
    kept = None if file is None else await asyncio.to_thread(file.last)
    async with db.begin() as conn:
        await store.ensure_head(conn, clock.now())
        stored = await store.latest_checkpoint(conn)
    known = [cp for cp in (stored, kept) if cp is not None]
    audit = AuditLog(
        db,
        clock=clock,
        keys=DataKeys(ring),
        signer=signer,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        max_batch=max_batch,
        checkpoint_file=file,
        newest_known=max(known, key=lambda cp: cp.size) if known else None,
    )
    audit.start()
    return audit
