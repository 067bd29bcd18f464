"""The visits tables, declared on the shared metadata; migration 0024 creates the same.

A visitor belongs to a prisoner (not to an establishment: approved visitors move with
the prisoner on transfer). Everything that says who a visitor is (name, relationship,
email, phone) and a refusal's reason is sealed under the prisoner's own data key
(`*_enc`), so shredding the prisoner erases them and no plain personal detail sits in
the store. Sessions and bookings belong to an establishment.

A booking names its visitors (`visit_booking_visitors`); each confirmation or
cancellation a visitor must be told of is a `visit_letters` row: sent by email (the
`kiosk.visit_email` job) where the visitor gave an address, otherwise printed for the
visits hall. A lockdown that cancels a booking leaves a `visit_offers` row: the free
sessions after it, offered to the prisoner on the device.
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
    Text,
    UniqueConstraint,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

visit_visitors = Table(
    "visit_visitors",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    # requested -> approved | refused
    Column("status", String(16), nullable=False),
    Column("name_enc", LargeBinary, nullable=False),
    Column("relationship_enc", LargeBinary, nullable=False),
    Column("email_enc", LargeBinary, nullable=True),
    Column("phone_enc", LargeBinary, nullable=True),
    Column("reason_enc", LargeBinary, nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("decided_by", String(36), nullable=True),
    Column("idempotency_key", String(64), nullable=True),
    UniqueConstraint("prisoner_id", "idempotency_key", name="uq_visit_visitors_prisoner_key"),
    Index("ix_visit_visitors_prisoner_id", "prisoner_id"),
    Index("ix_visit_visitors_status", "status"),
)

visit_settings = Table(
    "visit_settings",
    metadata,
    Column("establishment_id", String(36), ForeignKey("establishments.id"), primary_key=True),
    Column("allowance_basic", Integer, nullable=False),
    Column("allowance_standard", Integer, nullable=False),
    Column("allowance_enhanced", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

visit_sessions = Table(
    "visit_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("created_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_visit_sessions_establishment_starts", "establishment_id", "starts_at"),
)

visit_bookings = Table(
    "visit_bookings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("reference", String(16), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("session_id", String(36), ForeignKey("visit_sessions.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    # booked -> cancelled
    Column("status", String(16), nullable=False),
    # prisoner, staff, lockdown, transfer, release
    Column("cancel_reason", String(16), nullable=True),
    Column("booked_at", UTCDateTime, nullable=False),
    Column("cancelled_at", UTCDateTime, nullable=True),
    Column("cancelled_by", String(36), nullable=True),
    # The booking a lockdown cancelled that this one replaces.
    Column("rebook_of", String(36), nullable=True),
    Column("idempotency_key", String(64), nullable=True),
    UniqueConstraint("reference", name="uq_visit_bookings_reference"),
    UniqueConstraint("prisoner_id", "idempotency_key", name="uq_visit_bookings_prisoner_key"),
    Index("ix_visit_bookings_session", "session_id", "status"),
    Index("ix_visit_bookings_prisoner", "prisoner_id", "status"),
)

visit_booking_visitors = Table(
    "visit_booking_visitors",
    metadata,
    Column("booking_id", String(36), ForeignKey("visit_bookings.id"), primary_key=True),
    Column("visitor_id", String(36), ForeignKey("visit_visitors.id"), primary_key=True),
)

visit_letters = Table(
    "visit_letters",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("booking_id", String(36), ForeignKey("visit_bookings.id"), nullable=False),
    Column("visitor_id", String(36), ForeignKey("visit_visitors.id"), nullable=False),
    # confirmed | cancelled
    Column("event", String(16), nullable=False),
    # email | print
    Column("channel", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime, nullable=True),
    Column("printed_at", UTCDateTime, nullable=True),
    Index("ix_visit_letters_print", "establishment_id", "channel", "printed_at"),
)

visit_offers = Table(
    "visit_offers",
    metadata,
    Column("booking_id", String(36), ForeignKey("visit_bookings.id"), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    # JSON list of session ids, soonest first.
    Column("sessions", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("taken_at", UTCDateTime, nullable=True),
    Index("ix_visit_offers_prisoner", "prisoner_id"),
)
