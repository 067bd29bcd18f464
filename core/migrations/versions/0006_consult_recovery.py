"""Consult recovery: the fallback ladder (issue 11).

An appointment may require video (`video_required`: then a failing video goes
straight to the call-back choice, never audio only), and a consult whose audio
failed too becomes a call-back task for the staff of the device's wing
(`call_backs`), on the same appointment. Wings and cells come in 0007, after
this revision, so a call-back keeps the device's wing and cell ids without a
foreign key.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(
            sa.Column("video_required", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "call_backs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("appointment_id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("clinician_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=True),
        sa.Column("wing_id", sa.String(36), nullable=True),
        sa.Column("cell_id", sa.String(36), nullable=True),
        sa.Column("requested_at", UTCDateTime, nullable=False),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.Column("done_by", sa.String(36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_call_backs"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_call_backs_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name="fk_call_backs_appointment_id_appointments",
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_call_backs_prisoner_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["clinician_id"], ["accounts.id"], name="fk_call_backs_clinician_id_accounts"
        ),
    )
    op.create_index("ix_call_backs_establishment", "call_backs", ["establishment_id", "done_at"])
    op.create_index(
        "uq_call_backs_open",
        "call_backs",
        ["appointment_id"],
        unique=True,
        sqlite_where=sa.text("done_at IS NULL"),
        postgresql_where=sa.text("done_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_call_backs_open", "call_backs")
    op.drop_index("ix_call_backs_establishment", "call_backs")
    op.drop_table("call_backs")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("video_required")
