"""Places (wings and cells) and pre-call test results (issue 11).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0007
Revises: 0006
"""

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
