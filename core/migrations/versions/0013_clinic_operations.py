"""Clinic operations: misses coded, lockdown suspensions, release (issue 14).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0013
Revises: 0012
"""

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
