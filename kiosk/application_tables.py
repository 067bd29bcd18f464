"""Applications' tables, declared on the shared metadata; migration 0022 creates the same.

One row per stage: an application, the complaint it was escalated to, the appeal of
that complaint. A stage names the one before it (`parent_id`, unique, so a stage is
escalated at most once however many taps arrive). The prisoner's words and the
staff's reply are stored only sealed under the prisoner's own data key (`*_enc`),
as health request text is, so shredding the prisoner erases them.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    UniqueConstraint,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

kiosk_applications = Table(
    "kiosk_applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("receipt", String(16), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("department_id", String(36), ForeignKey("departments.id"), nullable=False),
    # application -> complaint -> appeal
    Column("stage", String(16), nullable=False),
    Column("parent_id", String(36), ForeignKey("kiosk_applications.id"), nullable=True),
    # A confidential complaint (or its appeal) is the governor's alone.
    Column("confidential", Boolean, nullable=False),
    # open -> answered
    Column("status", String(16), nullable=False),
    Column("text_enc", LargeBinary, nullable=False),
    Column("reply_enc", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("target_at", UTCDateTime, nullable=False),
    Column("answered_at", UTCDateTime, nullable=True),
    Column("answered_by", String(36), nullable=True),
    # The device's Idempotency-Key: a double tap is one application.
    Column("idempotency_key", String(64), nullable=True),
    UniqueConstraint("receipt", name="uq_kiosk_applications_receipt"),
    UniqueConstraint("parent_id", name="uq_kiosk_applications_parent_id"),
    UniqueConstraint(
        "prisoner_id", "idempotency_key", name="uq_kiosk_applications_prisoner_id_idempotency_key"
    ),
    Index("ix_kiosk_applications_queue", "department_id", "status"),
    Index("ix_kiosk_applications_prisoner", "prisoner_id", "created_at"),
)

# Each department's target, in days, for each stage; a department without a row
# uses `kiosk.applications.DEFAULT_TARGET_DAYS`.
kiosk_application_targets = Table(
    "kiosk_application_targets",
    metadata,
    Column("department_id", String(36), ForeignKey("departments.id"), primary_key=True),
    Column("application_days", Integer, nullable=False),
    Column("complaint_days", Integer, nullable=False),
    Column("appeal_days", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
