"""Health text under the subject's own data key: the one place any module seals it.

The key is the audit log's data key for the scope `subject:<id>` (the same key
that encrypts the details of the subject's audit events), so one shred erases
both. A sealed field is

    0x02 | key id (16 bytes, the data key's UUID) | nonce (12) | AES-256-GCM ciphertext

with the subject, the column ("appointments.reason") and the row id as
associated data: a blob copied to another row, column or subject does not
open. Because the blob names its key, a field sealed before a shred stays
unreadable after the subject gets a new key, while fields sealed later read.

    keys = SubjectKeys(audit_log.keys, clock)
    async with db.begin() as conn:
        blob = await keys.seal(conn, prisoner_id, column="answers.text", row=answer_id, text=t)
    async with db.connect() as conn:
        [text] = await keys.open_many(conn, [SealedField(blob, prisoner_id, "answers.text", id)])
    # text is a str, or Unreadable.SHREDDED / Unreadable.DAMAGED

Many fields of one subject in one transaction: `key = await keys.key_for(conn,
subject)`, then `key.seal(...)` / `key.seal_bytes(...)` without further queries.
Binary data (a photo, a recording's chunks) uses `seal_bytes` and
`open_bytes_many`; a chunked stream binds the chunk's index and a last-chunk
flag into `row` (e.g. f"{recording_id}/{index}/{'last' if last else 'more'}").
"""

from __future__ import annotations

import asyncio
import struct
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncConnection

from audit import store
from audit.datakeys import DataKeys
from audit.envelope import KeyRing, open_sealed, seal
from audit.record import key_scope
from core.clock import Clock
from core.db.engine import Database
from core.fields import SealedField, Unreadable

FIELD_VERSION = b"\x02"
_KEY_ID = 16
_HEADER = len(FIELD_VERSION) + _KEY_ID
_AAD_LABEL = b"throughcare/subject-field/v1"
# Above this many fields, opening runs in a worker thread.
_INLINE = 32


def field_aad(subject: str, column: str, row: str) -> bytes:
    """Associated data: each part length-prefixed, so no two contexts share bytes."""
    parts = [_AAD_LABEL, subject.encode(), column.encode(), row.encode()]
    return b"".join(struct.pack(">H", len(p)) + p for p in parts)


def seal_field(
    aead: AESGCM, key_id: str, subject: str, column: str, row: str, data: bytes
) -> bytes:
    aad = field_aad(subject, column, row)
    return FIELD_VERSION + uuid.UUID(key_id).bytes + seal(aead, data, aad)


def field_key_id(blob: bytes) -> str | None:
    """The id of the data key a sealed field names, or None if it is not one."""
    if len(blob) <= _HEADER or blob[:1] != FIELD_VERSION:
        return None
    return str(uuid.UUID(bytes=blob[1:_HEADER]))


def open_field(aead: AESGCM, blob: bytes, subject: str, column: str, row: str) -> bytes:
    """Raises cryptography's InvalidTag when the blob or its context is wrong."""
    return open_sealed(aead, blob[_HEADER:], field_aad(subject, column, row))


@dataclass(frozen=True)
class SubjectKey:
    """One subject's live data key, for sealing several fields without further queries."""

    subject: str
    key_id: str
    aead: AESGCM = field(repr=False)

    def seal(self, *, column: str, row: str, text: str) -> bytes:
        return self.seal_bytes(column=column, row=row, data=text.encode())

    def seal_bytes(self, *, column: str, row: str, data: bytes) -> bytes:
        return seal_field(self.aead, self.key_id, self.subject, column, row, data)


class SubjectKeys:
    """`core.fields.SubjectCipher` over the audit log's data keys (`AuditLog.keys`).

    Share the log's `DataKeys`, so one node holds one ring and one cache.
    """

    def __init__(self, keys: DataKeys, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    async def key_for(self, conn: AsyncConnection, subject: str) -> SubjectKey:
        """The subject's live key; created (under the audit head lock) the first time.

        The lock is held until the caller's transaction ends. Never append to
        the audit log inside that transaction: the appender needs the same lock
        (on SQLite, any write transaction blocks it already).
        """
        scope = key_scope(subject, None)
        found = await self._keys.live_key(conn, scope)
        if found is None:
            head = await store.read_head(conn, lock=True)
            found = await self._keys.create(conn, scope, self._clock.now(), head.keys_version)
        return SubjectKey(subject, found[0], found[1])

    async def seal(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, text: str
    ) -> bytes:
        key = await self.key_for(conn, subject)
        return key.seal(column=column, row=row, text=text)

    async def seal_many(
        self, conn: AsyncConnection, subject: str, fields: Sequence[tuple[str, str, str]]
    ) -> list[bytes]:
        key = await self.key_for(conn, subject)
        return [key.seal(column=column, row=row, text=text) for column, row, text in fields]

    async def seal_subjects(
        self, conn: AsyncConnection, fields: Sequence[tuple[str, str, str, str]]
    ) -> list[bytes]:
        """Several subjects' (subject, column, row, text), with one look-up for the keys
        they have (a subject without one gets it as in `key_for`)."""
        subjects = sorted({subject for subject, _, _, _ in fields})
        scopes = {key_scope(s, None): s for s in subjects}
        live = await self._keys.live_keys(conn, scopes)
        keys = {scopes[scope]: SubjectKey(scopes[scope], *found) for scope, found in live.items()}
        for subject in subjects:
            if subject not in keys:
                keys[subject] = await self.key_for(conn, subject)
        return [
            keys[subject].seal(column=column, row=row, text=text)
            for subject, column, row, text in fields
        ]

    async def seal_bytes(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, data: bytes
    ) -> bytes:
        key = await self.key_for(conn, subject)
        return key.seal_bytes(column=column, row=row, data=data)

    async def open_bytes_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[bytes | Unreadable]:
        """Each field's bytes, or why it cannot be read; one key look-up for them all."""
        if not fields:
            return []
        ids = {k for f in fields if (k := field_key_id(f.blob)) is not None}
        live = await self._keys.by_ids(conn, ids)

        def open_all() -> list[bytes | Unreadable]:
            out: list[bytes | Unreadable] = []
            for f in fields:
                key_id = field_key_id(f.blob)
                if key_id is None:
                    out.append(Unreadable.DAMAGED)
                    continue
                aead = live.get(key_id)
                if aead is None:
                    out.append(Unreadable.SHREDDED)
                    continue
                try:
                    out.append(open_field(aead, f.blob, f.subject, f.column, f.row))
                except InvalidTag:
                    out.append(Unreadable.DAMAGED)
            return out

        if len(fields) > _INLINE:
            return await asyncio.to_thread(open_all)
        return open_all()

    async def open_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[str | Unreadable]:
        opened = await self.open_bytes_many(conn, fields)
        return [v if isinstance(v, Unreadable) else _text(v) for v in opened]

    async def open(
        self, conn: AsyncConnection, blob: bytes, *, subject: str, column: str, row: str
    ) -> str | Unreadable:
        [value] = await self.open_many(conn, [SealedField(blob, subject, column, row)])
        return value


def _text(data: bytes) -> str | Unreadable:
    try:
        return data.decode()
    except UnicodeDecodeError:
        return Unreadable.DAMAGED


async def open_subject_keys(db: Database, *, keys_dir: Path, clock: Clock) -> SubjectKeys:
    """Subject keys for a process that has no audit log of its own (tools, test seeding).

    The application shares its log's keys instead: `SubjectKeys(audit_log.keys, clock)`.
    """
    ring = await asyncio.to_thread(KeyRing.load, keys_dir)
    async with db.begin() as conn:
        await store.ensure_head(conn, clock.now())
    return SubjectKeys(DataKeys(ring), clock)
