"""The recordings tables, declared on the shared metadata; migration 0030 creates the same.

A recording's media is never here: it is a sealed object in the recording
storage (media/recording_storage.py). Here are where it lies, its own data key
sealed under the patient's subject key (so a shred of the patient makes it
unreadable), its sizes and digests, and the holds and retention that decide
when it may be deleted.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, LargeBinary, String, Table

from core.db.schema import metadata
from core.db.types import UTCDateTime

recordings = Table(
    "recordings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("appointment_id", String(36), ForeignKey("appointments.id"), nullable=False),
    Column("establishment_id", String(36), nullable=False),
    Column("prisoner_id", String(36), nullable=False),
    Column("service_id", String(36), nullable=False),
    Column("clinician_id", String(36), nullable=False),
    # "local" or "s3", and the object's key there; None once retention deleted it.
    Column("storage", String(8), nullable=False),
    Column("media_key", String(120), nullable=True),
    Column("poster_key", String(120), nullable=True),
    # The recording's own AES-256 key, sealed under the patient's subject key
    # (column "recordings.data_key", row the recording's id).
    Column("data_key", LargeBinary, nullable=True),
    Column("mime", String(40), nullable=False),
    Column("chunk_size", Integer, nullable=False),
    Column("plain_size", Integer, nullable=False),
    Column("stored_size", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    # SHA-256 of the finished file (what an exported copy hashes to) and of the
    # sealed object (what the periodic check reads, with no key).
    Column("sha256", String(64), nullable=False),
    Column("stored_sha256", String(64), nullable=False),
    Column("created_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("verified_at", UTCDateTime, nullable=True),
    # "ok", "damaged" (failed a check: refused on read) or "deleted".
    Column("state", String(16), nullable=False),
    Column("deleted_at", UTCDateTime, nullable=True),
    Index("ix_recordings_appointment", "appointment_id"),
    Index("ix_recordings_expiry", "state", "expires_at"),
)

recording_holds = Table(
    "recording_holds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("recording_id", String(36), ForeignKey("recordings.id"), nullable=False),
    # "complaint", "inquest", "claim" or "other": never free text (it could say why).
    Column("kind", String(16), nullable=False),
    Column("placed_by", String(36), nullable=False),
    Column("placed_at", UTCDateTime, nullable=False),
    Column("lifted_by", String(36), nullable=True),
    Column("lifted_at", UTCDateTime, nullable=True),
    Index("ix_recording_holds_recording", "recording_id"),
)

recording_retention = Table(
    "recording_retention",
    metadata,
    Column("service_id", String(36), ForeignKey("services.id"), primary_key=True),
    Column("days", Integer, nullable=False),
    Column("set_by", String(36), nullable=False),
    Column("set_at", UTCDateTime, nullable=False),
)
