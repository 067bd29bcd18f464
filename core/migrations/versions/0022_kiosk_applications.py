"""Kiosk applications (with their complaint and appeal stages), each department's
targets, and the activities staff allocate to a prisoner for their timetable (issue 16).

The prisoner's words and the staff's reply are sealed under the prisoner's own key.

Revision ID: 0022
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kiosk_applications",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("receipt", sa.String(length=16), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("department_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("text_enc", sa.LargeBinary(), nullable=False),
        sa.Column("reply_enc", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("target_at", UTCDateTime(), nullable=False),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("answered_by", sa.String(length=36), nullable=True),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_kiosk_applications_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"],
            ["accounts.id"],
            name=op.f("fk_kiosk_applications_prisoner_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_kiosk_applications_department_id_departments"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["kiosk_applications.id"],
            name=op.f("fk_kiosk_applications_parent_id_kiosk_applications"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_applications")),
        sa.UniqueConstraint("receipt", name="uq_kiosk_applications_receipt"),
        sa.UniqueConstraint("parent_id", name="uq_kiosk_applications_parent_id"),
        sa.UniqueConstraint(
            "prisoner_id",
            "idempotency_key",
            name="uq_kiosk_applications_prisoner_id_idempotency_key",
        ),
    )
    op.create_index(
        "ix_kiosk_applications_queue", "kiosk_applications", ["department_id", "status"]
    )
    op.create_index(
        "ix_kiosk_applications_prisoner", "kiosk_applications", ["prisoner_id", "created_at"]
    )
    op.create_table(
        "kiosk_application_targets",
        sa.Column("department_id", sa.String(length=36), nullable=False),
        sa.Column("application_days", sa.Integer(), nullable=False),
        sa.Column("complaint_days", sa.Integer(), nullable=False),
        sa.Column("appeal_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_kiosk_application_targets_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("department_id", name=op.f("pk_kiosk_application_targets")),
    )
    op.create_table(
        "kiosk_allocations",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_kiosk_allocations_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_kiosk_allocations_prisoner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_allocations")),
    )
    op.create_index(
        "ix_kiosk_allocations_prisoner", "kiosk_allocations", ["prisoner_id", "weekday"]
    )


def downgrade() -> None:
    op.drop_table("kiosk_allocations")
    op.drop_table("kiosk_application_targets")
    op.drop_table("kiosk_applications")
