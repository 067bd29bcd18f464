"""Consult recordings at rest: sealed as they are written, read a range at a time.

Each recording has its own random AES-256 data key. The media is sealed with it
in the STREAM format (media/stream_aead.py) as the finaliser writes it, so
plaintext exists only in memory; the data key itself is sealed under the
patient's subject key (`SubjectCipher`, column "recordings.data_key"), so a
shred of the patient leaves every recording of theirs unreadable, in the store
and in any backup.

Two SHA-256 digests go into the `recording_stored` audit event: of the finished
file (an exported copy hashes to it, which is what proves a recording to a
complaint or an inquest) and of the sealed object (what the periodic check
compares with no key, so it works without decrypting health content and even
after a shred). A full read checks both; a range read authenticates each chunk
it needs. A stored object that fails either check is refused and logged
(`recording_tampered`) and marked damaged.

Who may play: a clinician who has an appointment with the patient, and the
establishment's healthcare managers; never officers or admins (they do not hold
`recordings.play`). Another establishment's recording answers as a missing one.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import SealedField, SubjectCipher, Unreadable
from core.identity import Principal, Role
from core.permissions import Permission, require_permission
from media.recording_storage import RecordingStorage, StorageMissing
from media.recordings_tables import recording_holds, recording_retention, recordings
from media.stream_aead import DEFAULT_CHUNK, HEADER_LEN, Opener, Sealer, StreamError
from scheduling.tables import appointments, services

log = logging.getLogger(__name__)

DATA_KEY = "recordings.data_key"
DEFAULT_RETENTION_DAYS = 365
"""A service's recordings are kept this long unless a manager sets otherwise."""
MAX_RETENTION_DAYS = 30 * 365
MAX_RANGE = 2 * 1024 * 1024
"""The most one range response carries; an open-ended range gets this much (a player asks on)."""
HOLD_KINDS = ("complaint", "inquest", "claim", "other")
RETENTION_JOB = "media.recordings_retention"
VERIFY_JOB = "media.recordings_verify"
SCRATCH_JOB = "media.recordings_scratch"
SCRATCH_PREFIX = "capture/"
"""Where a recorder keeps each member's sealed stream while it records (media/recorder.py)."""
SCRATCH_MAX_AGE = timedelta(hours=24)
"""A scratch object untouched this long belongs to no running recorder (a recorder writes
to each one every few seconds, and S3 dates an unfinished upload by its start, so the bound
outlasts any consult)."""


@dataclass(frozen=True)
class Recording:
    id: str
    appointment_id: str
    establishment_id: str
    prisoner_id: str
    service_id: str
    clinician_id: str
    mime: str
    plain_size: int
    duration_ms: int
    sha256: str
    stored_sha256: str
    created_at: datetime
    expires_at: datetime
    state: str
    held: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "appointment_id": self.appointment_id,
            "mime": self.mime,
            "size": self.plain_size,
            "duration_ms": self.duration_ms,
            "sha256": self.sha256,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "state": self.state,
            "held": self.held,
        }


def _recording(row: Any, held: bool) -> Recording:
    m = row._mapping
    return Recording(
        id=m["id"],
        appointment_id=m["appointment_id"],
        establishment_id=m["establishment_id"],
        prisoner_id=m["prisoner_id"],
        service_id=m["service_id"],
        clinician_id=m["clinician_id"],
        mime=m["mime"],
        plain_size=m["plain_size"],
        duration_ms=m["duration_ms"],
        sha256=m["sha256"],
        stored_sha256=m["stored_sha256"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        state=m["state"],
        held=held,
    )


def media_label(recording_id: str) -> str:
    return f"recording/{recording_id}/media"


def poster_label(recording_id: str) -> str:
    return f"recording/{recording_id}/poster"


class SealedWriter:
    """One object being sealed into storage as it is written, with both digests."""

    def __init__(self, storage: RecordingStorage, key: str, data_key: bytes, label: str) -> None:
        self._storage = storage
        self.key = key
        self._sealer = Sealer(data_key, label)
        self._plain = hashlib.sha256()
        self._stored = hashlib.sha256()
        self.plain_size = 0
        self._out: Any = None

    async def _put(self, data: bytes) -> None:
        if data:
            self._stored.update(data)
            await self._out.write(data)

    async def open(self) -> None:
        self._out = await self._storage.writer(self.key)
        await self._put(self._sealer.header)

    def _seal(self, data: bytes) -> bytes:
        self._plain.update(data)
        return self._sealer.update(data)

    async def write(self, data: bytes) -> None:
        """Sealed (and hashed) in a worker thread: the event loop never waits on AES."""
        self.plain_size += len(data)
        await self._put(await asyncio.to_thread(self._seal, data))

    async def finish(self) -> tuple[int, str, str]:
        """(stored size, plaintext SHA-256, stored SHA-256)."""
        await self._put(await asyncio.to_thread(self._sealer.finish))
        size = await self._out.commit()
        return size, self._plain.hexdigest(), self._stored.hexdigest()

    async def abort(self) -> None:
        if self._out is not None:
            await self._out.abort()


class NewRecording:
    """What the finaliser writes into: the media, then the poster, then `finish`.

    Nothing is in the table until `finish` commits; `abort` leaves no object.
    """

    def __init__(self, owner: Recordings, appointment: Any, actor: str) -> None:
        self.id = str(uuid.uuid4())
        self._owner = owner
        self._appointment = appointment
        self._actor = actor
        self._data_key = os.urandom(32)
        storage = owner.storage
        self.media = SealedWriter(storage, f"{self.id}/media", self._data_key, media_label(self.id))
        self.poster = SealedWriter(
            storage, f"{self.id}/poster", self._data_key, poster_label(self.id)
        )

    async def open(self) -> None:
        await self.media.open()
        await self.poster.open()

    async def write(self, data: bytes) -> None:
        await self.media.write(data)

    async def abort(self) -> None:
        await self.media.abort()
        await self.poster.abort()

    async def finish(self, *, duration_ms: int, mime: str = "video/webm") -> Recording:
        stored_size, sha, stored_sha = await self.media.finish()
        await self.poster.finish()
        return await self._owner._register(self, stored_size, sha, stored_sha, duration_ms, mime)

    @property
    def appointment(self) -> Any:
        return self._appointment

    @property
    def actor(self) -> str:
        return self._actor

    @property
    def data_key(self) -> bytes:
        return self._data_key


@dataclass(frozen=True)
class Playable:
    """A recording opened for reading: its opener knows where every chunk lies."""

    recording: Recording
    opener: Opener
    media_key: str


class Recordings:
    def __init__(
        self,
        db: Database,
        storage: RecordingStorage,
        *,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._db = db
        self.storage = storage
        self._keys = subject_keys
        self._clock = clock
        self._audit = audit

    async def _log(
        self,
        action: Action,
        actor: str,
        rec: Recording | Any,
        **details: Any,
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor,
                establishment=rec.establishment_id,
                subject=rec.prisoner_id,
                appointment=rec.appointment_id,
                details={"recording": rec.id, **details},
            )
        )

    # ------------------------------------------------------------ writing

    async def begin(self, appointment_id: str, *, actor: str) -> NewRecording:
        """Start a recording of this appointment (the recorder's consent checks come first)."""
        async with self._db.connect() as conn:
            appt = (
                await conn.execute(select(appointments).where(appointments.c.id == appointment_id))
            ).first()
        if appt is None:
            raise ServiceError(Code.NOT_FOUND, "No such appointment.")
        new = NewRecording(self, appt, actor)
        await new.open()
        return new

    async def _register(
        self,
        new: NewRecording,
        stored_size: int,
        sha: str,
        stored_sha: str,
        duration_ms: int,
        mime: str,
    ) -> Recording:
        appt = new.appointment
        now = self._clock.now()
        async with self._db.begin() as conn:
            days = await self._retention_days(conn, appt.service_id)
            wrapped = await self._keys.seal_bytes(
                conn, appt.prisoner_id, column=DATA_KEY, row=new.id, data=new.data_key
            )
            await conn.execute(
                insert(recordings).values(
                    id=new.id,
                    appointment_id=appt.id,
                    establishment_id=appt.establishment_id,
                    prisoner_id=appt.prisoner_id,
                    service_id=appt.service_id,
                    clinician_id=appt.clinician_id,
                    storage=self.storage.name,
                    media_key=new.media.key,
                    poster_key=new.poster.key,
                    data_key=wrapped,
                    mime=mime,
                    chunk_size=DEFAULT_CHUNK,
                    plain_size=new.media.plain_size,
                    stored_size=stored_size,
                    duration_ms=duration_ms,
                    sha256=sha,
                    stored_sha256=stored_sha,
                    created_by=new.actor,
                    created_at=now,
                    expires_at=now + timedelta(days=days),
                    state="ok",
                )
            )
            row = (await conn.execute(select(recordings).where(recordings.c.id == new.id))).one()
        rec = _recording(row, False)
        await self._log(
            Action.RECORDING_STORED,
            new.actor,
            rec,
            sha256=sha,
            stored_sha256=stored_sha,
            size=rec.plain_size,
            duration_ms=duration_ms,
            storage=self.storage.name,
        )
        return rec

    # ------------------------------------------------------------ who may see

    async def _get(self, conn: AsyncConnection, recording_id: str) -> tuple[Any, bool]:
        row = (
            await conn.execute(select(recordings).where(recordings.c.id == recording_id))
        ).first()
        if row is None or row.state == "deleted":
            raise ServiceError(Code.NOT_FOUND, "No such recording.")
        held = await self._held(conn, recording_id)
        return row, held

    async def _held(self, conn: AsyncConnection, recording_id: str) -> bool:
        hold = (
            await conn.execute(
                select(recording_holds.c.id).where(
                    and_(
                        recording_holds.c.recording_id == recording_id,
                        recording_holds.c.lifted_at.is_(None),
                    )
                )
            )
        ).first()
        return hold is not None

    async def _may_play(
        self, conn: AsyncConnection, actor: Principal, row: Any, missing: str = "No such recording."
    ) -> None:
        require_permission(actor, Permission.RECORDINGS_PLAY)
        # Establishment first: another establishment's record is a missing one.
        if actor.establishment_id != row.establishment_id:
            raise ServiceError(Code.NOT_FOUND, missing)
        if actor.role == Role.MANAGER:
            return
        if actor.role != Role.CLINICIAN:
            raise ServiceError(Code.FORBIDDEN)
        theirs = (
            await conn.execute(
                select(appointments.c.id)
                .where(
                    and_(
                        appointments.c.prisoner_id == row.prisoner_id,
                        appointments.c.clinician_id == actor.account_id,
                    )
                )
                .limit(1)
            )
        ).first()
        if theirs is None:
            raise ServiceError(Code.FORBIDDEN)

    async def of_appointment(self, actor: Principal, appointment_id: str) -> list[Recording]:
        require_permission(actor, Permission.RECORDINGS_PLAY)
        async with self._db.connect() as conn:
            appt = (
                await conn.execute(select(appointments).where(appointments.c.id == appointment_id))
            ).first()
            if appt is None:
                raise ServiceError(Code.NOT_FOUND, "No such appointment.")
            await self._may_play(conn, actor, appt, "No such appointment.")
            rows = (
                await conn.execute(
                    select(recordings)
                    .where(
                        and_(
                            recordings.c.appointment_id == appointment_id,
                            recordings.c.state != "deleted",
                        )
                    )
                    .order_by(recordings.c.created_at)
                )
            ).all()
            return [_recording(r, await self._held(conn, r.id)) for r in rows]

    async def recording(self, actor: Principal, recording_id: str) -> Recording:
        async with self._db.connect() as conn:
            row, held = await self._get(conn, recording_id)
            await self._may_play(conn, actor, row)
        return _recording(row, held)

    # ------------------------------------------------------------ reading

    async def _data_key(self, conn: AsyncConnection, row: Any) -> bytes:
        if row.data_key is None:
            raise ServiceError(Code.RECORDING_SHREDDED)
        [key] = await self._keys.open_bytes_many(
            conn, [SealedField(row.data_key, row.prisoner_id, DATA_KEY, row.id)]
        )
        if key is Unreadable.SHREDDED:
            raise ServiceError(Code.RECORDING_SHREDDED)
        if isinstance(key, Unreadable):
            raise ServiceError(Code.RECORDING_DAMAGED)
        return key

    async def _opener(self, row: Any, data_key: bytes, key: str, label: str) -> Opener:
        rec = _recording(row, False)
        try:
            size = await self.storage.size(key)
            header = await self.storage.read(key, 0, HEADER_LEN)
            opener = Opener(data_key, label, header, size)
            if key == row.media_key and (
                size != row.stored_size or opener.layout.plain_size != row.plain_size
            ):
                raise StreamError("the stored size is not the size stored")
        except (StreamError, StorageMissing) as exc:
            await self.mark_damaged(rec, type(exc).__name__)
            raise ServiceError(Code.RECORDING_DAMAGED) from None
        return opener

    async def open_for_play(self, actor: Principal, recording_id: str) -> Playable:
        async with self._db.connect() as conn:
            row, held = await self._get(conn, recording_id)
            await self._may_play(conn, actor, row)
            if row.state == "damaged":
                raise ServiceError(Code.RECORDING_DAMAGED)
            data_key = await self._data_key(conn, row)
        opener = await self._opener(row, data_key, row.media_key, media_label(row.id))
        return Playable(_recording(row, held), opener, row.media_key)

    async def viewed(self, actor: Principal, rec: Recording, *, start: int) -> None:
        """A viewing starts (a range from the beginning): logged before any byte is sent."""
        await self._log(Action.RECORDING_VIEWED, actor.account_id, rec, start=start)

    async def read_range(self, playable: Playable, start: int, end: int) -> bytes:
        """Plaintext [start, end): only the chunks that hold it are read and authenticated."""
        layout = playable.opener.layout
        if not 0 <= start < end <= layout.plain_size:
            raise ServiceError(Code.RANGE_NOT_SATISFIABLE)
        chunks = layout.chunks_for(start, end)
        first, last = chunks[0], chunks[-1]
        lo, _ = layout.span(first)
        _, hi = layout.span(last)
        try:
            sealed = await self.storage.read(playable.media_key, lo, hi)
            return await asyncio.to_thread(playable.opener.open_range, first, sealed, start, end)
        except (StreamError, StorageMissing) as exc:
            await self.mark_damaged(playable.recording, type(exc).__name__)
            raise ServiceError(Code.RECORDING_DAMAGED) from None

    async def read_all(self, actor: Principal, recording_id: str) -> bytes:
        """The whole file, both digests checked (an export, or a test's look)."""
        playable = await self.open_for_play(actor, recording_id)
        rec = playable.recording
        await self.viewed(actor, rec, start=0)
        stored = hashlib.sha256()
        plain = bytearray()
        layout = playable.opener.layout
        try:
            async for piece in self.storage.stream(playable.media_key):
                stored.update(piece)
            for index in range(layout.chunks):
                lo, hi = layout.span(index)
                sealed = await self.storage.read(playable.media_key, lo, hi)
                plain += playable.opener.open_chunk(index, sealed)
            if stored.hexdigest() != rec.stored_sha256:
                raise StreamError("stored digest")
            if hashlib.sha256(plain).hexdigest() != rec.sha256:
                raise StreamError("file digest")
        except (StreamError, StorageMissing) as exc:
            await self.mark_damaged(rec, type(exc).__name__)
            raise ServiceError(Code.RECORDING_DAMAGED) from None
        return bytes(plain)

    async def poster(self, actor: Principal, recording_id: str) -> bytes:
        async with self._db.connect() as conn:
            row, _ = await self._get(conn, recording_id)
            await self._may_play(conn, actor, row)
            if row.state == "damaged":
                raise ServiceError(Code.RECORDING_DAMAGED)
            data_key = await self._data_key(conn, row)
        label = poster_label(row.id)
        opener = await self._opener(row, data_key, row.poster_key, label)
        layout = opener.layout
        lo, hi = HEADER_LEN, layout.stored_size
        try:
            sealed = await self.storage.read(row.poster_key, lo, hi)
            return opener.open_range(0, sealed, 0, layout.plain_size)
        except (StreamError, StorageMissing) as exc:
            await self.mark_damaged(_recording(row, False), type(exc).__name__)
            raise ServiceError(Code.RECORDING_DAMAGED) from None

    async def mark_damaged(self, rec: Recording, why: str) -> None:
        log.warning("recording %s failed its integrity check (%s)", rec.id, why)
        async with self._db.begin() as conn:
            await conn.execute(
                update(recordings)
                .where(and_(recordings.c.id == rec.id, recordings.c.state == "ok"))
                .values(state="damaged")
            )
        await self._log(Action.RECORDING_TAMPERED, "system", rec, check=why)

    # ------------------------------------------------------------ periodic check

    async def verify_stored(self) -> tuple[int, int]:
        """Every live recording's sealed object against its digest; (checked, failed).

        No key is needed: the digest is of the sealed bytes.
        """
        async with self._db.connect() as conn:
            rows = (await conn.execute(select(recordings).where(recordings.c.state == "ok"))).all()
        failed = 0
        for row in rows:
            rec = _recording(row, False)
            digest = hashlib.sha256()
            try:
                async for piece in self.storage.stream(row.media_key):
                    digest.update(piece)
                ok = digest.hexdigest() == row.stored_sha256
                why = "digest"
            except StorageMissing:
                ok, why = False, "missing"
            if not ok:
                failed += 1
                await self.mark_damaged(rec, why)
                continue
            async with self._db.begin() as conn:
                await conn.execute(
                    update(recordings)
                    .where(recordings.c.id == row.id)
                    .values(verified_at=self._clock.now())
                )
        return len(rows), failed

    # ------------------------------------------------------------ retention and holds

    async def _retention_days(self, conn: AsyncConnection, service_id: str) -> int:
        days = (
            await conn.execute(
                select(recording_retention.c.days).where(
                    recording_retention.c.service_id == service_id
                )
            )
        ).scalar()
        return DEFAULT_RETENTION_DAYS if days is None else int(days)

    async def set_retention(self, actor: Principal, service_id: str, days: object) -> int:
        require_permission(actor, Permission.RECORDINGS_RETENTION)
        if (
            not isinstance(days, int)
            or isinstance(days, bool)
            or not 1 <= days <= MAX_RETENTION_DAYS
        ):
            raise ServiceError(
                Code.INVALID_REQUEST, f"The retention is 1 to {MAX_RETENTION_DAYS} days."
            )
        async with self._db.begin() as conn:
            service = (
                await conn.execute(select(services).where(services.c.id == service_id))
            ).first()
            if service is None or actor.establishment_id != service.establishment_id:
                raise ServiceError(Code.NOT_FOUND, "No such service.")
            now = self._clock.now()
            found = (
                await conn.execute(
                    select(recording_retention.c.days).where(
                        recording_retention.c.service_id == service_id
                    )
                )
            ).first()
            if found is None:
                await conn.execute(
                    insert(recording_retention).values(
                        service_id=service_id, days=days, set_by=actor.account_id, set_at=now
                    )
                )
            else:
                await conn.execute(
                    update(recording_retention)
                    .where(recording_retention.c.service_id == service_id)
                    .values(days=days, set_by=actor.account_id, set_at=now)
                )
        await self._audit.append(
            AuditRecord(
                action=Action.RECORDING_RETENTION_SET,
                actor=actor.account_id,
                establishment=service.establishment_id,
                details={"service": service_id, "days": days},
            )
        )
        return days

    async def place_hold(self, actor: Principal, recording_id: str, kind: object) -> Recording:
        require_permission(actor, Permission.RECORDINGS_HOLD)
        if kind not in HOLD_KINDS:
            raise ServiceError(
                Code.INVALID_REQUEST, "The hold is for a complaint, inquest, claim or other."
            )
        async with self._db.begin() as conn:
            row, held = await self._get(conn, recording_id)
            await self._may_play(conn, actor, row)
            if held:
                raise ServiceError(Code.CONFLICT, "This recording is already on hold.")
            await conn.execute(
                insert(recording_holds).values(
                    id=str(uuid.uuid4()),
                    recording_id=recording_id,
                    kind=kind,
                    placed_by=actor.account_id,
                    placed_at=self._clock.now(),
                )
            )
        rec = _recording(row, True)
        await self._log(Action.RECORDING_HOLD_PLACED, actor.account_id, rec, kind=kind)
        return rec

    async def lift_hold(self, actor: Principal, recording_id: str) -> Recording:
        require_permission(actor, Permission.RECORDINGS_HOLD)
        async with self._db.begin() as conn:
            row, held = await self._get(conn, recording_id)
            await self._may_play(conn, actor, row)
            if not held:
                raise ServiceError(Code.CONFLICT, "This recording is not on hold.")
            await conn.execute(
                update(recording_holds)
                .where(
                    and_(
                        recording_holds.c.recording_id == recording_id,
                        recording_holds.c.lifted_at.is_(None),
                    )
                )
                .values(lifted_by=actor.account_id, lifted_at=self._clock.now())
            )
        rec = _recording(row, False)
        await self._log(Action.RECORDING_HOLD_LIFTED, actor.account_id, rec)
        return rec

    async def purge_scratch(self, max_age: timedelta = SCRATCH_MAX_AGE) -> int:
        """Delete the recorders' scratch objects older than `max_age` (left by a node that
        died mid-recording: sealed under a key that died with it, so nobody can open them);
        one audit event says how many. The store's times are wall-clock, so is the bound."""
        gone = await self.storage.delete_older(SCRATCH_PREFIX, datetime.now(UTC) - max_age)
        if gone:
            log.info("recordings: %d abandoned scratch objects deleted", len(gone))
            await self._audit.append(
                AuditRecord(
                    action=Action.RECORDING_SCRATCH_PURGED,
                    actor="system",
                    details={"objects": len(gone), "older_than_h": max_age.total_seconds() / 3600},
                )
            )
        return len(gone)

    async def delete_expired(self) -> int:
        """Delete every recording past its retention and not on hold; each deletion logged.

        The row stays as a tombstone (digests, dates), without its objects or its key.
        """
        now = self._clock.now()
        open_holds = select(recording_holds.c.recording_id).where(
            recording_holds.c.lifted_at.is_(None)
        )
        async with self._db.connect() as conn:
            rows = (
                await conn.execute(
                    select(recordings).where(
                        and_(
                            recordings.c.state != "deleted",
                            recordings.c.expires_at <= now,
                            recordings.c.id.not_in(open_holds),
                        )
                    )
                )
            ).all()
        for row in rows:
            for key in (row.media_key, row.poster_key):
                if key is not None:
                    await self.storage.delete(key)
            async with self._db.begin() as conn:
                await conn.execute(
                    update(recordings)
                    .where(recordings.c.id == row.id)
                    .values(
                        state="deleted",
                        deleted_at=now,
                        media_key=None,
                        poster_key=None,
                        data_key=None,
                    )
                )
            await self._log(
                Action.RECORDING_DELETED,
                "system",
                _recording(row, False),
                reason="retention",
                expired_at=row.expires_at.isoformat(),
            )
        return len(rows)

    async def stored_object(self, recording_id: str) -> AsyncIterator[bytes]:
        """The sealed bytes as stored (for tests and the operator's export), never plaintext."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(select(recordings).where(recordings.c.id == recording_id))
            ).first()
        if row is None or row.media_key is None:
            raise ServiceError(Code.NOT_FOUND, "No such recording.")
        async for piece in self.storage.stream(row.media_key):
            yield piece
