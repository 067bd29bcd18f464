"""Moving sealed fields between the root field key and subjects' own keys, in a migration.

Migration 0005 re-seals scheduling's clinical text, until then under the root
field key (`core.fields.FieldCipher`), under each prisoner's own data key
(`audit.subject_keys`). Migrations live in `core` and may not import `audit`,
so `throughcare db upgrade` hands them this object (`core.db.migrate.FieldMover`).
It works on Alembic's synchronous connection, inside the migration's one
transaction; the services are stopped while it runs, so no head lock is taken.
Build it with `load_field_mover` from a thread (it reads the keys folder).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, insert, select

from audit.envelope import KeyRing, KeyUnavailable, new_data_key
from audit.record import key_scope
from audit.subject_keys import field_key_id, open_field, seal_field
from audit.tables import audit_data_keys
from core.fields import FieldCipher
from core.keys import ensure_dir, load_or_create_symmetric


@dataclass
class SubjectFieldMover:
    root: FieldCipher
    ring: KeyRing
    _live: dict[str, tuple[str, AESGCM]] = field(default_factory=dict, repr=False)

    def open_root(self, blob: bytes, *, row: str, column: str) -> str:
        return self.root.decrypt(blob, row=row, column=column)

    def seal_root(self, text: str, *, row: str, column: str) -> bytes:
        return self.root.encrypt(text, row=row, column=column)

    def _key(self, conn: Connection, subject: str) -> tuple[str, AESGCM]:
        scope = key_scope(subject, None)
        found = self._live.get(scope)
        if found is not None:
            return found
        c = audit_data_keys.c
        row = conn.execute(
            select(c.id, c.kek_id, c.wrapped)
            .where(c.scope == scope, c.wrapped.is_not(None))
            .order_by(c.created_at.desc())
            .limit(1)
        ).first()
        if row is not None:
            found = (row.id, AESGCM(self.ring.unwrap(row.kek_id, row.wrapped, row.id, scope)))
        else:
            key_id, dek = str(uuid.uuid4()), new_data_key()
            kek_id, wrapped = self.ring.wrap(dek, key_id, scope)
            conn.execute(
                insert(audit_data_keys).values(
                    id=key_id,
                    scope=scope,
                    kek_id=kek_id,
                    wrapped=wrapped,
                    created_at=datetime.now(UTC),
                    shredded_at=None,
                )
            )
            found = (key_id, AESGCM(dek))
        self._live[scope] = found
        return found

    def seal_subject(
        self, conn: Connection, subject: str, *, column: str, row: str, text: str
    ) -> bytes:
        key_id, aead = self._key(conn, subject)
        return seal_field(aead, key_id, subject, column, row, text.encode())

    def open_subject(
        self, conn: Connection, blob: bytes, *, subject: str, column: str, row: str
    ) -> str | None:
        """The text, or None if the subject's key was shredded (or the blob is not ours)."""
        key_id = field_key_id(blob)
        if key_id is None:
            return None
        c = audit_data_keys.c
        key = conn.execute(
            select(c.scope, c.kek_id, c.wrapped).where(c.id == key_id, c.wrapped.is_not(None))
        ).first()
        if key is None:
            return None
        try:
            aead = AESGCM(self.ring.unwrap(key.kek_id, key.wrapped, key_id, key.scope))
            return open_field(aead, blob, subject, column, row).decode()
        except (KeyUnavailable, InvalidTag, UnicodeDecodeError):
            return None


def load_field_mover(keys_dir: Path) -> SubjectFieldMover:
    """Blocking file I/O: the root field key and the KEKs (created if missing, as at start-up)."""
    ensure_dir(keys_dir)
    root = FieldCipher(load_or_create_symmetric(keys_dir / "field.key", 32))
    return SubjectFieldMover(root, KeyRing.load(keys_dir))
