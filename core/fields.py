"""Encryption of personal fields at rest, and blind indexes to find them.

Two kinds of field, two kinds of key:

- Identity data (a prisoner's name and prison number, a TOTP secret) is under
  `FieldCipher`, keyed by the service's root field key: it must stay readable
  for officers and identity checks for as long as the account exists, and a
  prison number is found by its keyed HMAC, never by its plain text.
- Health text (reasons, notes, request text, and what later modules add) is
  under the *subject's own* data key through `SubjectCipher`, so that shredding
  the subject (end of retention, lawful erasure) leaves none of it readable,
  in the live store or in any backup (docs/audit.md, "Keys and shredding").

Both use AES-256-GCM with the row id and column as associated data, so a value
cannot be moved to another row.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncConnection

_VERSION = b"\x01"


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=purpose).derive(key)


class FieldCipher:
    def __init__(self, root_key: bytes) -> None:
        if len(root_key) != 32:
            raise ValueError("field key must be 32 bytes")
        self._aead = AESGCM(_derive(root_key, b"throughcare field encryption v1"))
        self._index_key = _derive(root_key, b"throughcare blind index v1")

    def encrypt(self, plaintext: str, *, row: str, column: str) -> bytes:
        nonce = os.urandom(12)
        aad = f"{column}:{row}".encode()
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), aad)

    def decrypt(self, blob: bytes, *, row: str, column: str) -> str:
        if not blob or blob[:1] != _VERSION:
            raise ValueError("unknown field encryption version")
        nonce, body = blob[1:13], blob[13:]
        aad = f"{column}:{row}".encode()
        return self._aead.decrypt(nonce, body, aad).decode()

    def blind_index(self, value: str, *, purpose: str) -> str:
        normalised = value.strip().upper().encode()
        digest = hmac.new(self._index_key, purpose.encode() + b"\x00" + normalised, hashlib.sha256)
        return digest.hexdigest()


class Unreadable(Enum):
    """Why a field sealed under a subject's key cannot be shown."""

    # The subject's data key was destroyed (a shred), or the key-encryption key
    # that wrapped it is gone (a database restored from before a shred).
    SHREDDED = "shredded"
    # The key is there but the blob does not open in this row and column:
    # moved, edited or corrupted.
    DAMAGED = "damaged"


@dataclass(frozen=True)
class SealedField:
    """A blob sealed under a subject's key, and where it lives (its associated data)."""

    blob: bytes
    subject: str
    column: str
    row: str


class SubjectCipher(Protocol):
    """Health text under a per-subject data key, so shredding the subject erases it.

    `core` declares it and `audit.subject_keys.SubjectKeys` implements it (the
    audit log's data keys: one per subject, wrapped by the versioned KEK), wired
    by `web`. `column` names the table and column ("appointments.reason"),
    `row` the row's id; both are bound into the ciphertext, so a blob copied to
    another row, column or subject does not open. Call both inside the
    caller's own transaction (`conn`): the first seal for a subject creates
    its key there.
    """

    async def seal(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, text: str
    ) -> bytes: ...

    async def open_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[str | Unreadable]: ...

    async def seal_many(
        self, conn: AsyncConnection, subject: str, fields: Sequence[tuple[str, str, str]]
    ) -> list[bytes]:
        """Several (column, row, text) of one subject with one key look-up: a batch."""
        ...

    async def seal_subjects(
        self, conn: AsyncConnection, fields: Sequence[tuple[str, str, str, str]]
    ) -> list[bytes]:
        """Several subjects' (subject, column, row, text) with one key look-up for them all."""
        ...

    async def seal_bytes(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, data: bytes
    ) -> bytes: ...

    async def open_bytes_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[bytes | Unreadable]: ...
