"""Roles as data, departments, staff at several establishments, email (issue 13).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0012
Revises: 0011
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
