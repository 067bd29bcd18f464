"""The durable job runner's table (issue 14).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0009
Revises: 0008
"""

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
