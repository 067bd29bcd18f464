"""The migrations build exactly the schema the code declares, on both stores."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.db import Database
from core.db.migrate import current_revision, head_revision
from core.db.schema import metadata

ROOT = Path(__file__).resolve().parents[2]


def _load_all_tables() -> None:
    # `tables.py`, and a package's per-area ones (`kiosk/money_tables.py`).
    for path in sorted(ROOT.glob("*/*tables.py")):
        importlib.import_module(f"{path.parent.name}.{path.stem}")


async def test_database_is_at_head(db: Database) -> None:
    assert await current_revision(db) == await asyncio.to_thread(head_revision)


async def test_migrations_match_declared_tables(db: Database) -> None:
    await asyncio.to_thread(_load_all_tables)

    def diff(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": False})
        return list(compare_metadata(context, metadata))

    async with db.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_sqlite_runs_in_wal_mode_with_foreign_keys(db: Database) -> None:
    """Only SQLite has these pragmas; the test used to return early (and pass) on PostgreSQL."""
    assert db.is_sqlite
    from sqlalchemy import text

    async with db.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
