"""Consult notes written during a call, and when an outcome was recorded (issue 15).

`consult_notes` holds one sealed text per appointment (under the prisoner's
own key, like every clinical text) with a version that each save must name, so
two windows cannot silently overwrite each other. `appointments.outcome_at` is
when the outcome was first recorded: an amendment is allowed for 24 hours from
it, and does not move it.

Revision ID: 0019
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as batch:
        batch.add_column(sa.Column("outcome_at", UTCDateTime(), nullable=True))
    op.create_table(
        "consult_notes",
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_consult_notes_appointment_id_appointments"),
        ),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_consult_notes")),
    )


def downgrade() -> None:
    op.drop_table("consult_notes")
    with op.batch_alter_table("appointments") as batch:
        batch.drop_column("outcome_at")
