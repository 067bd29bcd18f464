"""Encrypted consult recordings: their store, retention and legal holds (issue 18).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0010
Revises: 0009
"""

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
