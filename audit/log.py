"""The appender: validated events, encrypted and hashed, written by group commit.

`append` validates on the caller's task, queues the event and waits. One
writer task takes everything queued, and in ONE transaction locks the head
row, numbers the events, encrypts their details, hashes the leaves into the
frontier, inserts them, moves the head and, when due, signs a checkpoint; it
commits (one fsync for the whole batch) and only then resolves every waiter.
So an acknowledged event is on disk, and a burst of appends costs a handful
of fsyncs, not one each.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audit import shredding, store
from audit.checkpoints import Checkpoint, CheckpointSigner, load_signer
from audit.datakeys import DataKeys
from audit.envelope import KeyRing, seal
from audit.merkle import frontier_append, frontier_root, leaf_hash
from audit.record import MAX_DETAILS_BYTES, LeafEncoder, details_aad, key_scope
from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord

log = logging.getLogger("throughcare.audit")

DEFAULT_CHECKPOINT_EVERY = 1000
DEFAULT_CHECKPOINT_SECONDS = 60.0
DEFAULT_MAX_BATCH = 256
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
    frontier = list(frontier)
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
        frontier_append(frontier, seq, digest)
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
    ) -> None:
        self.db = db
        self.clock = clock
        self.keys = keys
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.checkpoint_seconds = checkpoint_seconds
        self.max_batch = max_batch
        self.batches = 0
        self.events = 0
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._closed = False
        self._stopping = False
        self._writer: asyncio.Task[None] | None = None
        self._encoder = LeafEncoder()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._run(), name="audit-writer")

    # ------------------------------------------------------------ appending

    async def append(self, record: AuditRecord) -> int:
        """Durably record the event; returns its sequence number (the leaf index)."""
        action, details = _validate(record)
        if self._closed:
            raise ServiceError(Code.UNAVAILABLE, "The audit log is closed.")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(record, action, details, future))
        return await future

    def _take_nowait(self, limit: int) -> list[_Pending]:
        """Whatever is queued, up to `limit`; notes the close sentinel if it is met."""
        batch: list[_Pending] = []
        while len(batch) < limit and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                self._stopping = True
                break
            batch.append(item)
        return batch

    async def _run(self) -> None:
        batch: list[_Pending] = []
        ahead: asyncio.Future[_Speculation] | None = None
        while True:
            if not batch:
                if self._stopping:
                    return
                try:
                    first = await asyncio.wait_for(self._queue.get(), self.checkpoint_seconds)
                except TimeoutError:
                    await self._guarded(self.checkpoint(only_if_due=True))
                    continue
                if first is None:
                    return
                batch = [first, *self._take_nowait(self.max_batch - 1)]
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
        try:
            async with self.db.begin() as conn:
                head = await store.read_head(conn, lock=True)
                guess = await _settle(ahead)
                if (
                    guess is not None
                    and guess.size == head.size
                    and guess.keys_version == head.keys_version
                ):
                    now, prepared = guess.now, guess.prepared
                else:
                    now = self.clock.now()
                    scopes = {key_scope(p.record.subject, p.record.establishment) for p in batch}
                    keys = await self.keys.for_scopes(conn, scopes, now, head.keys_version)
                    prepared = await asyncio.to_thread(
                        _prepare, self._encoder, batch, head.size, head.frontier, now, keys
                    )
                await store.insert_events(conn, prepared.rows)
                head.size += len(batch)
                head.frontier = prepared.frontier
                if self._due(head, now):
                    await self._sign(conn, head, prepared.root, now)
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

    async def _sign(self, conn: Any, head: store.Head, root: bytes, now: datetime) -> Checkpoint:
        checkpoint = self.signer.sign(head.size, root, now)
        await store.insert_checkpoint(conn, checkpoint)
        head.checkpoint_size = head.size
        head.checkpoint_at = now
        return checkpoint

    async def checkpoint(self, *, only_if_due: bool = False) -> Checkpoint | None:
        """Sign the current tree head, unless it is already signed (or not yet due)."""
        async with self.db.begin() as conn:
            head = await store.read_head(conn, lock=True)
            now = self.clock.now()
            if head.size == head.checkpoint_size:
                return None
            if only_if_due and not self._due(head, now):
                return None
            checkpoint = await self._sign(conn, head, frontier_root(head.frontier), now)
            await store.write_head(conn, head)
            return checkpoint

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
            self._queue.put_nowait(None)
            await self._writer
            self._writer = None
        await self._guarded(self.checkpoint())


async def open_audit_log(
    db: Database,
    *,
    keys_dir: Path,
    clock: Clock,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    checkpoint_seconds: float = DEFAULT_CHECKPOINT_SECONDS,
    max_batch: int = DEFAULT_MAX_BATCH,
) -> AuditLog:
    """Load (or create) the audit keys and start the writer.

    A KEK or signing-key file that others can read, or of the wrong length,
    raises `core.keys.KeyFileError` naming the file, and nothing starts.
    """
    ring = await asyncio.to_thread(KeyRing.load, keys_dir)
    signer = await asyncio.to_thread(load_signer, keys_dir)
    async with db.begin() as conn:
        await store.ensure_head(conn, clock.now())
    audit = AuditLog(
        db,
        clock=clock,
        keys=DataKeys(ring),
        signer=signer,
        checkpoint_every=checkpoint_every,
        checkpoint_seconds=checkpoint_seconds,
        max_batch=max_batch,
    )
    audit.start()
    return audit
