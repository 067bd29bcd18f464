"""Email to staff about new notices: who opted in (issue 14 item 2).

A row of `notice_email_optins` while a staff member wants an email ("You have a
new message in Throughcare") each time a notice reaches their inbox.

Revision ID: 0016
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_email_optins",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("opted_in_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_notice_email_optins_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_notice_email_optins"),
    )


def downgrade() -> None:
    op.drop_table("notice_email_optins")
