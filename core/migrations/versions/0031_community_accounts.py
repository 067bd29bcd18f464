"""Community accounts (issue 17 item 4): the one-time claim codes given at release, a
community account's email (its sign-in name), and failed claims by source, to slow
guessing.

Revision ID: 0031
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0031"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "community_claims",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("code_index", sa.String(length=64), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("issued_by", sa.String(length=36), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("totp_secret_enc", sa.LargeBinary(), nullable=True),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_community_claims_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_claims")),
        sa.UniqueConstraint("code_index", name=op.f("uq_community_claims_code_index")),
    )
    op.create_index(op.f("ix_community_claims_account_id"), "community_claims", ["account_id"])
    op.create_table(
        "community_emails",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("email_index", sa.String(length=64), nullable=False),
        sa.Column("email_enc", sa.LargeBinary(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_community_emails_account_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_community_emails")),
        sa.UniqueConstraint("email_index", name=op.f("uq_community_emails_email_index")),
    )
    op.create_table(
        "community_claim_failures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_claim_failures")),
    )
    op.create_index(
        "ix_community_claim_failures_source_at", "community_claim_failures", ["source", "at"]
    )


def downgrade() -> None:
    op.drop_table("community_claim_failures")
    op.drop_table("community_emails")
    op.drop_table("community_claims")
