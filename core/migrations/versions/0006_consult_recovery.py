"""Consult recovery: rejoin, modes, call-backs (issue 11).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0006
Revises: 0005
"""

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
