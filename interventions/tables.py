"""The interventions' tables: questionnaire responses and the risk alerts they raise.

A response keeps its score and band in the clear (the keyworker's trend chart
reads them without opening anything) and its item answers and any free text
sealed under the prisoner's own key (`answers_enc`, `comment_enc`), so a shred
erases them and nobody reads them without going through `core.clinical`'s rule.
"""

from __future__ import annotations

from sqlalchemy import (
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

questionnaire_responses = Table(
    "questionnaire_responses",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    # SDS only: which substance the answers are about (a code from SDS_CUTOFFS).
    Column("substance", String(32), nullable=True),
    Column("score", Integer, nullable=False),
    Column("band", String(32), nullable=False),
    Column("answers_enc", LargeBinary, nullable=False),
    Column("comment_enc", LargeBinary, nullable=True),
    # The device's own id for the submission: a replay of the same one changes nothing.
    Column("client_id", String(36), nullable=True),
    Column("submitted_at", UTCDateTime, nullable=False),
    UniqueConstraint("prisoner_id", "client_id", name="uq_questionnaire_responses_client"),
    Index("ix_questionnaire_responses_prisoner", "prisoner_id", "kind", "submitted_at"),
)

# A risk answer (PHQ-9 item 9 above 0) waiting for a clinician on the duty queue.
risk_alerts = Table(
    "risk_alerts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("response_id", String(36), ForeignKey("questionnaire_responses.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("acknowledged_at", UTCDateTime, nullable=True),
    Column("acknowledged_by", String(36), ForeignKey("accounts.id"), nullable=True),
    Column("escalated_at", UTCDateTime, nullable=True),
    UniqueConstraint("response_id", name="uq_risk_alerts_response_id"),
    Index("ix_risk_alerts_queue", "establishment_id", "acknowledged_at"),
)

# Baseline and progress checks: a questionnaire a person is asked to answer now (the
# baseline) and again every `every_days` after each answer (the progress checks).
questionnaire_plans = Table(
    "questionnaire_plans",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("every_days", Integer, nullable=False),
    Column("next_due_at", UTCDateTime, nullable=False),
    Column("set_by", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("prisoner_id", "kind", name="uq_questionnaire_plans_prisoner_kind"),
)
