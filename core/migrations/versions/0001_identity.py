"""Identity: establishments, accounts, devices, sessions and refresh tokens.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "establishments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("relay_only", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_establishments"),
        sa.UniqueConstraint("code", name="uq_establishments_code"),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("prison_number_index", sa.String(64), nullable=True),
        sa.Column("prison_number_enc", sa.LargeBinary, nullable=True),
        sa.Column("display_name_enc", sa.LargeBinary, nullable=False),
        sa.Column("sex", sa.String(1), nullable=True),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("pin_hash", sa.String(200), nullable=True),
        sa.Column("totp_secret_enc", sa.LargeBinary, nullable=True),
        sa.Column("totp_last_step", sa.Integer, nullable=True),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until", UTCDateTime, nullable=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_accounts_establishment_id_establishments",
        ),
        sa.UniqueConstraint("username", name="uq_accounts_username"),
        sa.UniqueConstraint("prison_number_index", name="uq_accounts_prison_number_index"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("cell", sa.String(32), nullable=False),
        sa.Column("enrolment_code_hash", sa.String(64), nullable=True),
        sa.Column("enrolment_expires_at", UTCDateTime, nullable=True),
        sa.Column("credential_hash", sa.String(64), nullable=True),
        sa.Column("enrolled_by", sa.String(36), nullable=True),
        sa.Column("enrolled_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_devices_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["enrolled_by"], ["accounts.id"], name="fk_devices_enrolled_by_accounts"
        ),
        sa.UniqueConstraint("enrolment_code_hash", name="uq_devices_enrolment_code_hash"),
        sa.UniqueConstraint("credential_hash", name="uq_devices_credential_hash"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_sessions_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_sessions_device_id_devices"
        ),
    )
    op.create_index("ix_sessions_account", "sessions", ["account_id"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_refresh_tokens"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_refresh_tokens_session_id_sessions"
        ),
    )
    op.create_index("ix_refresh_tokens_session", "refresh_tokens", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_refresh_tokens_session", "refresh_tokens")
    op.drop_table("refresh_tokens")
    op.drop_index("ix_sessions_account", "sessions")
    op.drop_table("sessions")
    op.drop_table("devices")
    op.drop_table("accounts")
    op.drop_table("establishments")
