"""People and places: cells, incentive levels, identity details (issue 13).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0011
Revises: 0010
"""

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
