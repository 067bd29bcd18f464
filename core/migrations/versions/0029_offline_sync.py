"""The offline queue: receipts of what devices' queues sent, and conflicts (issue 17 item 3).

Revision ID: 0029
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0029"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_receipts",
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=80), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=36), nullable=True),
        sa.Column("summary", sa.String(length=400), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("fk_sync_receipts_owner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_sync_receipts")),
        sa.UniqueConstraint("owner_id", "kind", "slot", name="uq_sync_receipts_slot"),
    )
    op.create_index(
        "ix_sync_receipts_owner", "sync_receipts", ["owner_id", "received_at"], unique=False
    )
    op.create_table(
        "sync_conflicts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=80), nullable=False),
        sa.Column("kept_client_id", sa.String(length=36), nullable=False),
        sa.Column("body_enc", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["accounts.id"], name=op.f("fk_sync_conflicts_owner_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["sync_receipts.client_id"],
            name=op.f("fk_sync_conflicts_client_id_sync_receipts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflicts")),
        sa.UniqueConstraint("client_id", name="uq_sync_conflicts_client_id"),
    )
    op.create_index(
        "ix_sync_conflicts_owner", "sync_conflicts", ["owner_id", "seen_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sync_conflicts_owner", table_name="sync_conflicts")
    op.drop_table("sync_conflicts")
    op.drop_index("ix_sync_receipts_owner", table_name="sync_receipts")
    op.drop_table("sync_receipts")
