"""Clinical text under per-subject keys; services name who reads sensitive text (issue 12).

- `service_readers`: the staff a sensitive service names as readers of its
  clinical text, besides each appointment's own clinician (core.clinical).
- Every clinical field of scheduling (appointments: reason, notes, outcome
  code, outcome note; health requests: text), sealed until now under the root
  field key, is re-sealed under its prisoner's own data key (the audit log's
  key for `subject:<prisoner id>`, created where the prisoner has none), bound
  to the column names scheduling now uses ("appointments.reason", ...). A
  shred of the prisoner then erases it. Fields already re-sealed are left as
  they are, so the migration can be run again.

Moving rows needs the keys folder: run it with `throughcare db upgrade`, which
passes the keys (`core.db.migrate.FieldMover`). A store with no clinical rows
(a new one) migrates without them.

Revision ID: 0005
Revises: 0004
"""

from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROOT_SEALED = b"\x01"
SUBJECT_SEALED = b"\x02"

_appointments = sa.table(
    "appointments",
    sa.column("id", sa.String),
    sa.column("prisoner_id", sa.String),
    sa.column("reason_enc", sa.LargeBinary),
    sa.column("notes_enc", sa.LargeBinary),
    sa.column("outcome_code_enc", sa.LargeBinary),
    sa.column("outcome_note_enc", sa.LargeBinary),
)
_requests = sa.table(
    "health_requests",
    sa.column("id", sa.String),
    sa.column("prisoner_id", sa.String),
    sa.column("text_enc", sa.LargeBinary),
)
# (table, stored in, the column name under the root key, the column name under the subject's key)
FIELDS = (
    (_appointments, "reason_enc", "reason", "appointments.reason"),
    (_appointments, "notes_enc", "notes", "appointments.notes"),
    (_appointments, "outcome_code_enc", "outcome_code", "appointments.outcome_code"),
    (_appointments, "outcome_note_enc", "outcome_note", "appointments.outcome_note"),
    (_requests, "text_enc", "text", "health_requests.text"),
)
# A NOT NULL column whose text was shredded goes back (on downgrade) as an empty text.
NOT_NULL = {"text_enc"}


def _mover(pending: int) -> Any:
    fields = context.config.attributes.get("fields")
    if fields is None and pending:
        raise RuntimeError(
            f"migration 0005 re-seals {pending} clinical field(s) under each prisoner's own key "
            "and needs the keys folder: run it with `throughcare db upgrade`"
        )
    return fields


def _rows(bind: Any, table: Any, stored: str, prefix: bytes) -> list[Any]:
    column = table.c[stored]
    return list(
        bind.execute(
            sa.select(table.c.id, table.c.prisoner_id, column).where(
                column.is_not(None), sa.func.substr(column, 1, 1) == prefix
            )
        )
    )


def upgrade() -> None:
    bind = op.get_bind()
    # Refuse before changing anything if rows must move and the keys were not given.
    work = [(spec, _rows(bind, spec[0], spec[1], ROOT_SEALED)) for spec in FIELDS]
    fields = _mover(sum(len(rows) for _, rows in work))
    op.create_table(
        "service_readers",
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("fk_service_readers_service_id_services")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_service_readers_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("service_id", "account_id", name=op.f("pk_service_readers")),
    )
    for (table, stored, old_name, new_name), rows in work:
        for row_id, prisoner_id, blob in rows:
            plain = fields.open_root(bytes(blob), row=row_id, column=old_name)
            sealed = fields.seal_subject(bind, prisoner_id, column=new_name, row=row_id, text=plain)
            bind.execute(table.update().where(table.c.id == row_id).values({stored: sealed}))


def downgrade() -> None:
    """Back under the root key; text whose subject was shredded stays gone."""
    bind = op.get_bind()
    work = [(spec, _rows(bind, spec[0], spec[1], SUBJECT_SEALED)) for spec in FIELDS]
    fields = _mover(sum(len(rows) for _, rows in work))
    for (table, stored, old_name, new_name), rows in work:
        for row_id, prisoner_id, blob in rows:
            plain = fields.open_subject(
                bind, bytes(blob), subject=prisoner_id, column=new_name, row=row_id
            )
            if plain is None and stored in NOT_NULL:
                plain = ""
            value = None if plain is None else fields.seal_root(plain, row=row_id, column=old_name)
            bind.execute(table.update().where(table.c.id == row_id).values({stored: value}))
    op.drop_table("service_readers")
