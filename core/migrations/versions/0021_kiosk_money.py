"""Kiosk money: each prisoner's accounts as an append-only ledger of integer pence (issue 16).

- `money_entries`: one row per credit or debit, never edited; a mistake is reversed by a new
  entry that names the one it reverses (`reverses_id`, unique: an entry is reversed once).
  Triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), as for the audit log.
- `money_entries.n`: the entry's number in its prisoner's ledger (1, 2, ...), given under
  the holder's lock, so the order is total and a gap or a duplicate would show.
- `money_holders`: one row per prisoner, the row a posting locks (`SELECT ... FOR UPDATE`)
  so that two debits at once cannot both pass a balance check.
- `money_batches`: each finance CSV posted, with its SHA-256: the same file posted twice
  is refused (`uq_money_batches_establishment_id`).

The shop (issue 16 item 2): `shop_settings` (weekly limits per incentive level in pence,
the order cut-off), `shop_items` (the catalogue, optionally from a minimum level),
`shop_restrictions` (healthcare's per-prisoner "not this item", with no reason stored),
`shop_orders` (receipt, status, the week it counts against; one per Idempotency-Key) and
`shop_order_lines`.

Revision ID: 0021
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0021"
down_revision = "0023"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE FUNCTION money_refuse_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "money_holders",
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("prisoner_id", name=op.f("pk_money_holders")),
    )
    op.create_table(
        "money_batches",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("total_pence", sa.BigInteger(), nullable=False),
        sa.Column("posted_by", sa.String(length=36), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_batches")),
        sa.UniqueConstraint("establishment_id", "digest", name="uq_money_batches_establishment_id"),
    )
    op.create_table(
        "money_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("account", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount_pence", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=80), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=True),
        sa.Column("reverses_id", sa.String(length=36), nullable=True),
        sa.Column("order_id", sa.String(length=36), nullable=True),
        sa.Column("actor_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount_pence <> 0", name=op.f("ck_money_entries_not_zero")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_entries")),
        sa.UniqueConstraint("reverses_id", name="uq_money_entries_reverses_id"),
        sa.UniqueConstraint("prisoner_id", "n", name="uq_money_entries_prisoner_id"),
    )
    _shop()
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER money_entries_append_only BEFORE UPDATE OR DELETE ON money_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION money_refuse_edit()"
        )
        op.execute(
            "CREATE TRIGGER money_entries_no_truncate BEFORE TRUNCATE ON money_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION money_refuse_edit()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER money_entries_no_{event.lower()} BEFORE {event} ON money_entries "
                f"BEGIN SELECT RAISE(ABORT, 'money_entries is append-only: {event} refused'); END"
            )


def _shop() -> None:
    op.create_table(
        "shop_settings",
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("limit_basic", sa.BigInteger(), nullable=False),
        sa.Column("limit_standard", sa.BigInteger(), nullable=False),
        sa.Column("limit_enhanced", sa.BigInteger(), nullable=False),
        sa.Column("cutoff_weekday", sa.Integer(), nullable=False),
        sa.Column("cutoff_minute", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("establishment_id", name=op.f("pk_shop_settings")),
    )
    op.create_table(
        "shop_items",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("price_pence", sa.BigInteger(), nullable=False),
        sa.Column("min_level", sa.String(length=16), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_items")),
    )
    op.create_index("ix_shop_items_establishment_id", "shop_items", ["establishment_id"])
    op.create_table(
        "shop_restrictions",
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("prisoner_id", "item_id", name=op.f("pk_shop_restrictions")),
    )
    op.create_table(
        "shop_orders",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("receipt", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_pence", sa.BigInteger(), nullable=False),
        sa.Column("refunded_pence", sa.BigInteger(), nullable=False),
        sa.Column("week_start", UTCDateTime(), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("picked_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_orders")),
        sa.UniqueConstraint("receipt", name="uq_shop_orders_receipt"),
        sa.UniqueConstraint("prisoner_id", "idempotency_key", name="uq_shop_orders_prisoner_id"),
    )
    op.create_index("ix_shop_orders_establishment_id", "shop_orders", ["establishment_id"])
    op.create_table(
        "shop_order_lines",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("price_pence", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("out_of_stock", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_order_lines")),
    )
    op.create_index("ix_shop_order_lines_order_id", "shop_order_lines", ["order_id"])


def downgrade() -> None:
    for table in (
        "shop_order_lines",
        "shop_orders",
        "shop_restrictions",
        "shop_items",
        "shop_settings",
    ):
        op.drop_table(table)
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS money_entries_append_only ON money_entries")
        op.execute("DROP TRIGGER IF EXISTS money_entries_no_truncate ON money_entries")
        op.execute("DROP FUNCTION IF EXISTS money_refuse_edit()")
    else:
        op.execute("DROP TRIGGER IF EXISTS money_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS money_entries_no_delete")
    op.drop_table("money_entries")
    op.drop_table("money_batches")
    op.drop_table("money_holders")
