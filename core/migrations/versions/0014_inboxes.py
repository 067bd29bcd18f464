"""Inboxes: notices delivered to people, read receipts, rebooking offers taken (issue 14).

The `notifications` outbox becomes each person's inbox: a row is in the inbox
once `delivered_at` is set (by the `notifications.deliver` job) and read once
`read_at` is. `rebooking_offers` holds the times offered after a cancellation
and which one, if any, was taken.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("read_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_notifications_inbox", "notifications", ["recipient_id", "delivered_at"], unique=False
    )
    op.create_table(
        "rebooking_offers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("appointment_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("clinician_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("times", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("taken_at", UTCDateTime(), nullable=True),
        sa.Column("booked_appointment_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rebooking_offers")),
        sa.UniqueConstraint("appointment_id", name="uq_rebooking_offers_appointment_id"),
    )
    op.create_index(
        "ix_rebooking_offers_prisoner", "rebooking_offers", ["prisoner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_rebooking_offers_prisoner", table_name="rebooking_offers")
    op.drop_table("rebooking_offers")
    op.drop_index("ix_notifications_inbox", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("read_at")
