"""The offline queue's tables: what the server received from devices' queues, and conflicts.

`sync_receipts` has one row per client id ever received: the id is the device's
own (a UUID made when the answer was queued), globally unique, owned by the
person who sent it first. A replay finds its receipt and changes nothing; an id
owned by someone else is refused. A stored item also holds its `slot` (what
"the same answer" means for its kind, e.g. one due progress check), unique per
person and kind: the first the server receives holds the slot, a later one is
kept in `sync_conflicts`, sealed under the person's key, and shown to them.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

sync_receipts = Table(
    "sync_receipts",
    metadata,
    Column("client_id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    # Set only while this item holds its slot (status "stored"); NULLs never collide.
    Column("slot", String(80), nullable=True),
    Column("status", String(16), nullable=False),
    # The kind's own record (a questionnaire response's id), for a replay's answer.
    Column("ref", String(36), nullable=True),
    # The non-clinical outcome the device is told again on a replay (score, band, risk).
    Column("summary", String(400), nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner_id", "kind", "slot", name="uq_sync_receipts_slot"),
    Index("ix_sync_receipts_owner", "owner_id", "received_at"),
)

sync_conflicts = Table(
    "sync_conflicts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("owner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("client_id", String(36), ForeignKey("sync_receipts.client_id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("slot", String(80), nullable=False),
    # The client id that holds the slot: the first the server received.
    Column("kept_client_id", String(36), nullable=False),
    Column("body_enc", LargeBinary, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=True),
    UniqueConstraint("client_id", name="uq_sync_conflicts_client_id"),
    Index("ix_sync_conflicts_owner", "owner_id", "seen_at"),
)
