"""The audit log refuses edits: triggers on both engines (issue 12).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0004
Revises: 0003
"""

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
