"""The audit log refuses edits: triggers on both engines (issue 12).

- `audit_events` and `audit_checkpoints` refuse UPDATE and DELETE (and, on
  PostgreSQL, TRUNCATE), whoever asks; `audit_head` refuses DELETE and
  TRUNCATE (it is updated by every batch). Only a role that can drop triggers
  (the tables' owner) can get round them, which is what the signed checkpoints
  and the copy of them kept outside the database defend against.
- `audit_head.last_at`: the time of the newest event or checkpoint, so that
  times never decrease along the log (set here from the events already there).
- The head row is created here, so the application's role needs no INSERT on it.
- An index on the checkpoints' times, for finding the ones that bracket an export.

Revision ID: 0004
Revises: 0003
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

APPEND_ONLY = ("audit_events", "audit_checkpoints")
HEAD = "audit_head"

_PG_FUNCTION = """
CREATE FUNCTION audit_refuse_edit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _pg_triggers() -> list[tuple[str, str, str]]:
    """(name, table, events) of every guard trigger on PostgreSQL."""
    found = []
    for table in APPEND_ONLY:
        found.append((f"{table}_append_only", table, "UPDATE OR DELETE"))
        found.append((f"{table}_no_truncate", table, "TRUNCATE"))
    found.append((f"{HEAD}_no_delete", HEAD, "DELETE"))
    found.append((f"{HEAD}_no_truncate", HEAD, "TRUNCATE"))
    return found


def _sqlite_triggers() -> list[tuple[str, str, str]]:
    found = []
    for table in APPEND_ONLY:
        found.append((f"{table}_no_update", table, "UPDATE"))
        found.append((f"{table}_no_delete", table, "DELETE"))
    found.append((f"{HEAD}_no_delete", HEAD, "DELETE"))
    return found


def upgrade() -> None:
    op.add_column(HEAD, sa.Column("last_at", UTCDateTime, nullable=True))
    op.create_index("ix_audit_checkpoints_at", "audit_checkpoints", ["at"])
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE audit_head SET last_at = (SELECT max(at) FROM audit_events)"))
    if bind.execute(sa.text("SELECT count(*) FROM audit_head")).scalar_one() == 0:
        head = sa.table(
            HEAD,
            sa.column("id", sa.Integer),
            sa.column("size", sa.BigInteger),
            sa.column("frontier", sa.LargeBinary),
            sa.column("checkpoint_size", sa.BigInteger),
            sa.column("checkpoint_at", UTCDateTime),
            sa.column("keys_version", sa.BigInteger),
        )
        op.bulk_insert(
            head,
            [
                {
                    "id": 1,
                    "size": 0,
                    "frontier": b"",
                    "checkpoint_size": 0,
                    "checkpoint_at": datetime.now(UTC),
                    "keys_version": 0,
                }
            ],
        )
    if bind.dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for name, table, events in _pg_triggers():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {events} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_edit()"
            )
    else:
        for name, table, event in _sqlite_triggers():
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {event} refused'); END"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, table, _events in _pg_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_edit()")
    else:
        for name, _table, _event in _sqlite_triggers():
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_audit_checkpoints_at", "audit_checkpoints")
    with op.batch_alter_table(HEAD) as batch:
        batch.drop_column("last_at")
