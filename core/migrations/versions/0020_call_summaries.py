"""Call summaries and report settings (issue 15 item 7).

`call_summaries`: one plain row per consult whose call ended, written by the
hub's `record_call_summary` so that reports need not read the audit log (whose
quality figures are encrypted). Times, counts and link figures only: no
clinical text, no names.

An index on `health_requests` (establishment, created_at) for the requests report.

`report_settings`: per establishment, the shortest call counted as a consult
and the cost of one escort with where that figure comes from.

Revision ID: 0020
Revises: 0018 (after merging main: 0014 -> 0016 -> 0017 -> 0019 -> 0018)
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_summaries",
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("scheduled_start", UTCDateTime(), nullable=False),
        sa.Column("attended", sa.Text(), nullable=False),
        sa.Column("patient_attended", sa.Boolean(), nullable=False),
        sa.Column("first_arrival_at", UTCDateTime(), nullable=True),
        sa.Column("first_admit_at", UTCDateTime(), nullable=True),
        sa.Column("wait_s", sa.Integer(), nullable=True),
        sa.Column("admits", sa.Integer(), nullable=False),
        sa.Column("readmit_wait_s", sa.Integer(), nullable=True),
        sa.Column("call_s", sa.Integer(), nullable=True),
        sa.Column("ended_at", UTCDateTime(), nullable=False),
        sa.Column("ended_reason", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("mode_changes", sa.Integer(), nullable=False),
        sa.Column("final_mode", sa.String(length=16), nullable=False),
        sa.Column("worst_loss_pct", sa.Float(), nullable=True),
        sa.Column("lowest_bitrate_kbps", sa.Float(), nullable=True),
        sa.Column("precall", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_call_summaries_appointment_id_appointments"),
        ),
        sa.PrimaryKeyConstraint("appointment_id", name=op.f("pk_call_summaries")),
    )
    op.create_index(
        "ix_call_summaries_establishment",
        "call_summaries",
        ["establishment_id", "scheduled_start"],
        unique=False,
    )
    op.create_index(
        "ix_health_requests_created",
        "health_requests",
        ["establishment_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "report_settings",
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("min_consult_s", sa.Integer(), nullable=False),
        sa.Column("escort_cost_pence", sa.Integer(), nullable=True),
        sa.Column("escort_cost_source", sa.String(length=200), nullable=True),
        sa.Column("updated_by", sa.String(length=36), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_report_settings_establishment_id_establishments"),
        ),
        sa.PrimaryKeyConstraint("establishment_id", name=op.f("pk_report_settings")),
    )


def downgrade() -> None:
    op.drop_table("report_settings")
    op.drop_index("ix_health_requests_created", table_name="health_requests")
    op.drop_index("ix_call_summaries_establishment", table_name="call_summaries")
    op.drop_table("call_summaries")
