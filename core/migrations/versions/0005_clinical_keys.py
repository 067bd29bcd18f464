"""Clinical text under per-subject keys; shredding that defeats backups (issue 12).

A placeholder until the work it names lands: it keeps the revision chain whole.

Revision ID: 0005
Revises: 0004
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
