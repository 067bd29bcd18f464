"""Getting past the audit log's triggers, as someone with DDL rights on the store can.

The triggers of migration 0004 refuse every UPDATE, DELETE and TRUNCATE of the
log's tables. Tests that empty the store between tests, or that tamper with rows
on purpose, drop the triggers for the length of one transaction and put them
back, which is exactly what an attacker who owns the tables could do; the signed
checkpoints and the checkpoint files are what catch that.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PG_TRIGGERS = text(
    "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
)
_SQLITE_TRIGGERS = text("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'")


@asynccontextmanager
async def triggers_dropped(conn: AsyncConnection) -> AsyncIterator[None]:
    """Inside one transaction: drop every trigger, run the block, create them again."""
    postgres = conn.dialect.name == "postgresql"
    found = (await conn.execute(_PG_TRIGGERS if postgres else _SQLITE_TRIGGERS)).all()
    for name, table, _definition in found:
        drop = f'DROP TRIGGER "{name}" ON "{table}"' if postgres else f'DROP TRIGGER "{name}"'
        await conn.exec_driver_sql(drop)
    yield
    for _name, _table, definition in found:
        await conn.exec_driver_sql(definition)
