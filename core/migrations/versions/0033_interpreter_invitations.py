"""Interpreters linked to the language (issue 18 item 1).

- `appointment_attendees.language`: the language an invited interpreter interprets, a
  code of `scheduling.languages` (null for chaperones and officers).
- `interpreter_invitations`: a one-time code emailed to an interpreter with no account;
  kept only as its keyed hash (`code_index`), the address encrypted, spent once by
  accepting it (scheduling/interpreters.py).

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "appointment_attendees", sa.Column("language", sa.String(length=16), nullable=True)
    )
    op.create_table(
        "interpreter_invitations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("email_enc", sa.LargeBinary(), nullable=False),
        sa.Column("code_index", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("account_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_interpreter_invitations_appointment_id_appointments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interpreter_invitations")),
        sa.UniqueConstraint("code_index", name=op.f("uq_interpreter_invitations_code_index")),
    )
    op.create_index(
        "ix_interpreter_invitations_appointment", "interpreter_invitations", ["appointment_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_interpreter_invitations_appointment", "interpreter_invitations")
    op.drop_table("interpreter_invitations")
    op.drop_column("appointment_attendees", "language")
