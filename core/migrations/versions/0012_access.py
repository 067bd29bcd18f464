"""Roles as data, departments, staff at several establishments, email (issue 13).

Roles and their permissions are code (`core/permissions.py`), not rows: the
accounts' `role` column already names one. This revision adds who serves
where (and the establishment a session acts in), departments with their
members (the built-in ones for every existing establishment), keyworkers'
caseloads, and verified email addresses with the links that verify them.

Revision ID: 0012
Revises: 0011
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# The departments every establishment starts with (core/access/departments.py).
BUILT_IN = (
    ("wing-office", "Wing office"),
    ("property", "Property"),
    ("chaplaincy", "Chaplaincy"),
    ("education", "Education"),
    ("finance", "Finance"),
    ("shop", "Shop"),
    ("visits", "Visits"),
)


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("establishment_id", sa.String(36), nullable=True))
        batch.create_foreign_key(
            "fk_sessions_establishment_id_establishments",
            "establishments",
            ["establishment_id"],
            ["id"],
        )
    op.create_table(
        "staff_establishments",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "establishment_id", name="pk_staff_establishments"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_staff_establishments_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_staff_establishments_establishment_id_establishments",
        ),
    )
    departments = op.create_table(
        "departments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_departments"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_departments_establishment_id_establishments",
        ),
        sa.UniqueConstraint("establishment_id", "code", name="uq_departments_establishment_code"),
    )
    op.create_table(
        "department_members",
        sa.Column("department_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("department_id", "account_id", name="pk_department_members"),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name="fk_department_members_department_id_departments",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_department_members_account_id_accounts"
        ),
    )
    op.create_index("ix_department_members_account", "department_members", ["account_id"])
    op.create_table(
        "caseloads",
        sa.Column("keyworker_id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("keyworker_id", "prisoner_id", name="pk_caseloads"),
        sa.ForeignKeyConstraint(
            ["keyworker_id"], ["accounts.id"], name="fk_caseloads_keyworker_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_caseloads_prisoner_id_accounts"
        ),
    )
    op.create_index("ix_caseloads_prisoner", "caseloads", ["prisoner_id"])
    op.create_table(
        "staff_emails",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("verified_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_staff_emails"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_staff_emails_account_id_accounts"
        ),
    )
    op.create_table(
        "email_verifications",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_email_verifications"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_email_verifications_account_id_accounts"
        ),
    )
    op.create_index("ix_email_verifications_account", "email_verifications", ["account_id"])
    op.create_table(
        "appointment_attendees",
        sa.Column("appointment_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("invited_by", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("appointment_id", "account_id", name="pk_appointment_attendees"),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name="fk_appointment_attendees_appointment_id_appointments",
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_appointment_attendees_account_id_accounts"
        ),
    )
    op.create_index("ix_appointment_attendees_account", "appointment_attendees", ["account_id"])

    conn = op.get_bind()
    now = datetime.now(UTC)
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM establishments"))]
    rows = [
        {
            "id": str(uuid.uuid4()),
            "establishment_id": est,
            "code": code,
            "name": name,
            "created_at": now,
        }
        for est in ids
        for code, name in BUILT_IN
    ]
    if rows:
        op.bulk_insert(departments, rows)


def downgrade() -> None:
    op.drop_index("ix_appointment_attendees_account", "appointment_attendees")
    op.drop_table("appointment_attendees")
    op.drop_index("ix_email_verifications_account", "email_verifications")
    op.drop_table("email_verifications")
    op.drop_table("staff_emails")
    op.drop_index("ix_caseloads_prisoner", "caseloads")
    op.drop_table("caseloads")
    op.drop_index("ix_department_members_account", "department_members")
    op.drop_table("department_members")
    op.drop_table("departments")
    op.drop_table("staff_establishments")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_constraint("fk_sessions_establishment_id_establishments", type_="foreignkey")
        batch.drop_column("establishment_id")
