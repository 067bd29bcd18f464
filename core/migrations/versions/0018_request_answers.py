"""Health requests answered without a consult: advice, or a decline with its reason.

`response_enc` holds the words for the prisoner, sealed under their own key
like the request's text (issue 15, triage).

Revision ID: 0018
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("health_requests") as batch:
        batch.add_column(sa.Column("response_enc", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("health_requests") as batch:
        batch.drop_column("response_enc")
