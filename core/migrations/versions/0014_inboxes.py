"""Inboxes: notices delivered to people, read receipts, rebooking offers taken (issue 14).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0014
Revises: 0013
"""

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
