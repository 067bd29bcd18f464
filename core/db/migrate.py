"""Run the Alembic migrations on a live async engine.

Alembic is synchronous; it is handed the sync face of an async connection
(`run_sync`), so the same code migrates SQLite and PostgreSQL without a second
driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from core.db.engine import Database

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


class FieldMover(Protocol):
    """What a data migration needs to move sealed fields between keys.

    `core` cannot reach the subjects' keys (they are `audit`'s), so the caller
    that can (`throughcare db upgrade`) passes `audit.field_migration`'s
    implementation to `upgrade`, and a migration finds it as the Alembic
    config attribute "fields". Without it, a migration that must move rows
    refuses to run rather than leave them behind.
    """

    def open_root(self, blob: bytes, *, row: str, column: str) -> str: ...

    def seal_root(self, text: str, *, row: str, column: str) -> bytes: ...

    def seal_subject(
        self, conn: Connection, subject: str, *, column: str, row: str, text: str
    ) -> bytes: ...

    def open_subject(
        self, conn: Connection, blob: bytes, *, subject: str, column: str, row: str
    ) -> str | None: ...


def alembic_config(connection: Any = None, fields: FieldMover | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    cfg.attributes["fields"] = fields
    return cfg


async def upgrade(
    db: Database, revision: str = "head", *, fields: FieldMover | None = None
) -> None:
    def _run(sync_conn: Any) -> None:
        command.upgrade(alembic_config(sync_conn, fields), revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()


async def downgrade(db: Database, revision: str, *, fields: FieldMover | None = None) -> None:
    def _run(sync_conn: Any) -> None:
        command.downgrade(alembic_config(sync_conn, fields), revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _current(sync_conn: Any) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    async with db.engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
