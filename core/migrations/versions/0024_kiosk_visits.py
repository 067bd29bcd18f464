"""Kiosk visits (issue 16 item 3): a prisoner's visitors (personal details sealed under
the prisoner's key), each establishment's visit sessions and monthly allowances,
bookings and the visitors on them, the letters that tell visitors, and the new
times offered after a lockdown cancels a visit.

Revision ID: 0024
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0024"
down_revision = "0026"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "visit_visitors",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("name_enc", sa.LargeBinary(), nullable=False),
        sa.Column("relationship_enc", sa.LargeBinary(), nullable=False),
        sa.Column("email_enc", sa.LargeBinary(), nullable=True),
        sa.Column("phone_enc", sa.LargeBinary(), nullable=True),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        _fk("visit_visitors", "prisoner_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_visitors")),
        sa.UniqueConstraint(
            "prisoner_id", "idempotency_key", name="uq_visit_visitors_prisoner_key"
        ),
    )
    op.create_index("ix_visit_visitors_prisoner_id", "visit_visitors", ["prisoner_id"])
    op.create_index("ix_visit_visitors_status", "visit_visitors", ["status"])
    op.create_table(
        "visit_settings",
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("allowance_basic", sa.Integer(), nullable=False),
        sa.Column("allowance_standard", sa.Integer(), nullable=False),
        sa.Column("allowance_enhanced", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("visit_settings", "establishment_id", "establishments"),
        sa.PrimaryKeyConstraint("establishment_id", name=op.f("pk_visit_settings")),
    )
    op.create_table(
        "visit_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("visit_sessions", "establishment_id", "establishments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_sessions")),
    )
    op.create_index(
        "ix_visit_sessions_establishment_starts",
        "visit_sessions",
        ["establishment_id", "starts_at"],
    )
    op.create_table(
        "visit_bookings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_reason", sa.String(length=16), nullable=True),
        sa.Column("booked_at", UTCDateTime(), nullable=False),
        sa.Column("cancelled_at", UTCDateTime(), nullable=True),
        sa.Column("cancelled_by", sa.String(length=36), nullable=True),
        sa.Column("rebook_of", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        _fk("visit_bookings", "establishment_id", "establishments"),
        _fk("visit_bookings", "session_id", "visit_sessions"),
        _fk("visit_bookings", "prisoner_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_bookings")),
        sa.UniqueConstraint("reference", name="uq_visit_bookings_reference"),
        sa.UniqueConstraint(
            "prisoner_id", "idempotency_key", name="uq_visit_bookings_prisoner_key"
        ),
    )
    op.create_index("ix_visit_bookings_session", "visit_bookings", ["session_id", "status"])
    op.create_index("ix_visit_bookings_prisoner", "visit_bookings", ["prisoner_id", "status"])
    op.create_table(
        "visit_booking_visitors",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        _fk("visit_booking_visitors", "booking_id", "visit_bookings"),
        _fk("visit_booking_visitors", "visitor_id", "visit_visitors"),
        sa.PrimaryKeyConstraint("booking_id", "visitor_id", name=op.f("pk_visit_booking_visitors")),
    )
    op.create_table(
        "visit_letters",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("visitor_id", sa.String(length=36), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("printed_at", UTCDateTime(), nullable=True),
        _fk("visit_letters", "establishment_id", "establishments"),
        _fk("visit_letters", "booking_id", "visit_bookings"),
        _fk("visit_letters", "visitor_id", "visit_visitors"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_letters")),
    )
    op.create_index(
        "ix_visit_letters_print", "visit_letters", ["establishment_id", "channel", "printed_at"]
    )
    op.create_table(
        "visit_offers",
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("sessions", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        _fk("visit_offers", "booking_id", "visit_bookings"),
        _fk("visit_offers", "prisoner_id", "accounts"),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_visit_offers")),
    )
    op.create_index("ix_visit_offers_prisoner", "visit_offers", ["prisoner_id"])


def downgrade() -> None:
    for table in (
        "visit_offers",
        "visit_letters",
        "visit_booking_visitors",
        "visit_bookings",
        "visit_sessions",
        "visit_settings",
        "visit_visitors",
    ):
        op.drop_table(table)
