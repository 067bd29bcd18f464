"""Scheduling: services, availability, regime windows, lockdowns, appointments,
booking locks, consents, health requests, the notification outbox, movements and
calendar tokens.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "booking_locks",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_booking_locks")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("recipient_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index(
        "ix_notifications_pending", "notifications", ["delivered_at", "due_at"], unique=False
    )
    op.create_table(
        "lockdowns",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("declared_by", sa.String(length=36), nullable=False),
        sa.Column("declared_at", UTCDateTime(), nullable=False),
        sa.Column("lifted_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_lockdowns_establishment_id_establishments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lockdowns")),
    )
    op.create_index(
        "ix_lockdowns_establishment", "lockdowns", ["establishment_id", "starts_at"], unique=False
    )
    op.create_table(
        "regime_windows",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_regime_windows_establishment_id_establishments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regime_windows")),
    )
    op.create_index(
        "ix_regime_windows_establishment", "regime_windows", ["establishment_id"], unique=False
    )
    op.create_table(
        "services",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("target_days", sa.Integer(), nullable=False),
        sa.Column("sensitive", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_services_establishment_id_establishments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_services")),
        sa.UniqueConstraint("establishment_id", "code", name="uq_services_establishment_code"),
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("clinician_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary(), nullable=True),
        sa.Column("notes_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome_category", sa.String(length=16), nullable=True),
        sa.Column("outcome_code_enc", sa.LargeBinary(), nullable=True),
        sa.Column("outcome_note_enc", sa.LargeBinary(), nullable=True),
        sa.Column("same_sex", sa.Boolean(), nullable=False),
        sa.Column("chaperone", sa.Boolean(), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("rebook_of", sa.String(length=36), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["accounts.id"], name=op.f("fk_appointments_clinician_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_appointments_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_appointments_prisoner_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_appointments_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
    )
    op.create_index(
        "ix_appointments_clinician", "appointments", ["clinician_id", "starts_at"], unique=False
    )
    op.create_index(
        "ix_appointments_establishment",
        "appointments",
        ["establishment_id", "starts_at"],
        unique=False,
    )
    op.create_index(
        "ix_appointments_prisoner", "appointments", ["prisoner_id", "starts_at"], unique=False
    )
    op.create_table(
        "availability",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clinician_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["accounts.id"], name=op.f("fk_availability_clinician_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_availability_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_availability_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability")),
    )
    op.create_index("ix_availability_clinician", "availability", ["clinician_id"], unique=False)
    op.create_index(
        "ix_availability_service", "availability", ["service_id", "weekday"], unique=False
    )
    op.create_table(
        "availability_exceptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clinician_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["accounts.id"],
            name=op.f("fk_availability_exceptions_clinician_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_availability_exceptions_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["services.id"],
            name=op.f("fk_availability_exceptions_service_id_services"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_exceptions")),
    )
    op.create_index(
        "ix_availability_exceptions_clinician",
        "availability_exceptions",
        ["clinician_id", "starts_at"],
        unique=False,
    )
    op.create_table(
        "calendar_tokens",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("clinician_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["accounts.id"], name=op.f("fk_calendar_tokens_clinician_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_tokens")),
        sa.UniqueConstraint("token_hash", name="uq_calendar_tokens_token_hash"),
    )
    op.create_table(
        "consents",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("device_id", sa.String(length=36), nullable=True),
        sa.Column("witness_id", sa.String(length=36), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_device_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_consents_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_consents_prisoner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consents")),
    )
    op.create_index("ix_consents_prisoner", "consents", ["prisoner_id", "scope"], unique=False)
    op.create_table(
        "health_requests",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=True),
        sa.Column("service_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("triaged_at", UTCDateTime(), nullable=True),
        sa.Column("triaged_by", sa.String(length=36), nullable=True),
        sa.Column("appointment_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_health_requests_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_health_requests_prisoner_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_health_requests_service_id_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_health_requests")),
    )
    op.create_index("ix_health_requests_prisoner", "health_requests", ["prisoner_id"], unique=False)
    op.create_index(
        "ix_health_requests_queue", "health_requests", ["establishment_id", "status"], unique=False
    )
    op.create_table(
        "movements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_establishment_id", sa.String(length=36), nullable=False),
        sa.Column("to_establishment_id", sa.String(length=36), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_movements_prisoner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_movements")),
    )
    op.create_index(
        "ix_movements_from", "movements", ["from_establishment_id", "kind"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_movements_from", table_name="movements")
    op.drop_table("movements")
    op.drop_index("ix_health_requests_queue", table_name="health_requests")
    op.drop_index("ix_health_requests_prisoner", table_name="health_requests")
    op.drop_table("health_requests")
    op.drop_index("ix_consents_prisoner", table_name="consents")
    op.drop_table("consents")
    op.drop_table("calendar_tokens")
    op.drop_index("ix_availability_exceptions_clinician", table_name="availability_exceptions")
    op.drop_table("availability_exceptions")
    op.drop_index("ix_availability_service", table_name="availability")
    op.drop_index("ix_availability_clinician", table_name="availability")
    op.drop_table("availability")
    op.drop_index("ix_appointments_prisoner", table_name="appointments")
    op.drop_index("ix_appointments_establishment", table_name="appointments")
    op.drop_index("ix_appointments_clinician", table_name="appointments")
    op.drop_table("appointments")
    op.drop_table("services")
    op.drop_index("ix_regime_windows_establishment", table_name="regime_windows")
    op.drop_table("regime_windows")
    op.drop_index("ix_lockdowns_establishment", table_name="lockdowns")
    op.drop_table("lockdowns")
    op.drop_index("ix_notifications_pending", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("booking_locks")
