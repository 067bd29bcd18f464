"""The shop's order path reads a prisoner's spending of the week in the statement that
places the order: an index on (prisoner_id, week_start) finds those orders without
reading the prisoner's whole history (issue 16, performance).

Revision ID: 0026
Revises: 0030
"""

from alembic import op

revision = "0026"
down_revision = "0030"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_shop_orders_prisoner_week", "shop_orders", ["prisoner_id", "week_start"])


def downgrade() -> None:
    op.drop_index("ix_shop_orders_prisoner_week", table_name="shop_orders")
