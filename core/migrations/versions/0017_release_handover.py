"""Release as one step, and the hand-over to community services (issue 14 item 6).

- `handovers`: one FHIR R4B Bundle per release (its id is the Bundle's identifier and the
  idempotency key of every POST), sealed under the prisoner's own data key (`bundle_enc`),
  with where its sending stands (`status`, `attempts`, `last_error`, `sent_at`).
- `community_endpoints`: per establishment, where its hand-overs are POSTed; kept by admins.
- `consents.ended_reason`: a consent that ended with custody ("released") rather than being
  withdrawn by the prisoner; `withdrawn_at` holds when, so it is no longer in force.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "handovers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("bundle_enc", sa.LargeBinary(), nullable=False),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_handovers_prisoner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handovers")),
    )
    op.create_index(
        "ix_handovers_establishment", "handovers", ["establishment_id", "created_at"], unique=False
    )
    op.create_table(
        "community_endpoints",
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_community_endpoints_establishment_id_establishments"),
        ),
        sa.PrimaryKeyConstraint("establishment_id", name=op.f("pk_community_endpoints")),
    )
    op.add_column("consents", sa.Column("ended_reason", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("ended_reason")
    op.drop_table("community_endpoints")
    op.drop_index("ix_handovers_establishment", table_name="handovers")
    op.drop_table("handovers")
