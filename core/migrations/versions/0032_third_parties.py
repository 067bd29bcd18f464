"""Third parties in a consult (issue 18 item 1).

- `establishments.identity_check`: an officer checks the prisoner's identity at
  the start of each consult here (default off); only then may an officer be invited.
- `call_summaries.presence`: who was present when, and on hold when (JSON, no names,
  no clinical text), for the attendance report.

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "establishments",
        sa.Column("identity_check", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("call_summaries", sa.Column("presence", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("call_summaries", "presence")
    op.drop_column("establishments", "identity_check")
