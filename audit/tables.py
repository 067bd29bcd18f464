"""The audit log's tables, declared on the shared metadata.

`audit_events` is append-only: one row per leaf, `seq` is the leaf index.
`leaf_hash` is redundant with the row (the verifier recomputes it) and is kept
so that an edited row is pinned to its own sequence number rather than only to
the checkpoint interval that no longer matches. `audit_head` is a single row
(id 1) holding the tree size and compact frontier; every writer locks it, which
is what keeps sequence numbers contiguous across nodes.

The application's PostgreSQL role gets only what the log needs (`core.db.grants`):
the events and checkpoints can be inserted and read, never changed; the head row
is updated; data keys are updated when they are re-wrapped or shredded. Migration
0004 adds triggers that refuse UPDATE, DELETE and TRUNCATE of the log's tables on
both engines, whoever asks.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table

from core.db.grants import APPEND_ONLY, PRIVILEGES
from core.db.schema import metadata
from core.db.types import UTCDateTime

# INTEGER PRIMARY KEY is SQLite's rowid: no second index for the sequence.
SEQ = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=False),
    Column("at", UTCDateTime, nullable=False),
    Column("establishment_id", String(36), nullable=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("subject", String(36), nullable=True),
    Column("appointment_id", String(36), nullable=True),
    Column("key_id", String(36), nullable=False),
    Column("details", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Index("ix_audit_events_establishment_at", "establishment_id", "at"),
    Index("ix_audit_events_subject", "subject"),
    Index("ix_audit_events_appointment", "appointment_id"),
    info={PRIVILEGES: APPEND_ONLY},
)

audit_data_keys = Table(
    "audit_data_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("scope", String(80), nullable=False),
    Column("kek_id", String(16), nullable=False),
    # NULL once shredded: the key is gone, the row stays as the record of it.
    Column("wrapped", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("shredded_at", UTCDateTime, nullable=True),
    Index("ix_audit_data_keys_scope", "scope"),
    info={PRIVILEGES: ("SELECT", "INSERT", "UPDATE")},
)

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", LargeBinary, nullable=False),
    Column("checkpoint_size", BigInteger, nullable=False),
    Column("checkpoint_at", UTCDateTime, nullable=False),
    # Bumped whenever a data key is shredded, so writers on every node drop
    # their cached scope-to-key map without asking the database each batch.
    Column("keys_version", BigInteger, nullable=False),
    # The time of the newest event or checkpoint. A batch is dated no earlier,
    # whatever the writing node's clock says, so times never decrease along the
    # log and a time range is a range of sequence numbers (docs/audit.md).
    Column("last_at", UTCDateTime, nullable=True),
    # Created by migration 0004, so the application's role never inserts it.
    info={PRIVILEGES: ("SELECT", "UPDATE")},
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("size", SEQ, primary_key=True, autoincrement=False),
    Column("root", LargeBinary, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Index("ix_audit_checkpoints_at", "at"),
    info={PRIVILEGES: APPEND_ONLY},
)
