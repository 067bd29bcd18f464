"""The service's PostgreSQL role, with the grants `throughcare db grants` prints, on the real
PostgreSQL: it runs the log, and cannot change, delete or truncate what the log holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from audit import open_audit_log, store
from audit.export import export_bundle
from audit.integrity import verify_log
from audit.verify import verify_bundle
from core.clock import FakeClock
from core.db import Database, create_database
from core.db.grants import grant_statements, table_privileges
from core.db.migrate import current_revision, head_revision
from core.db.schema import metadata
from core.events import Action, AuditRecord

# Every table on the metadata, as `throughcare db grants` loads them.
import web.app  # noqa: F401, E402  isort: skip

pytestmark = pytest.mark.parametrize("store_kind", ["postgres"])

REFUSED = [
    "UPDATE audit_events SET actor = 'forged'",
    "DELETE FROM audit_events",
    "TRUNCATE audit_events",
    "UPDATE audit_checkpoints SET root = root",
    "DELETE FROM audit_checkpoints",
    "TRUNCATE audit_checkpoints CASCADE",
    "DELETE FROM audit_head",
    "INSERT INTO audit_head (id, size, frontier, checkpoint_size, checkpoint_at, keys_version) "
    "VALUES (2, 0, '', 0, now(), 0)",
    "DELETE FROM audit_data_keys",
    "DROP TRIGGER audit_events_append_only ON audit_events",
    "ALTER TABLE audit_events DISABLE TRIGGER ALL",
    "CREATE TABLE shadow (id int)",
]


@pytest.fixture
async def app_db(db: Database, database_url: str, clock: FakeClock) -> AsyncIterator[Database]:
    """A login role with exactly the generated grants, and the store as that role sees it."""
    role = f"tc_app_{uuid.uuid4().hex[:10]}"
    async with db.begin() as conn:
        await conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        for statement in grant_statements(metadata, role):
            await conn.execute(text(statement))
        # Migration 0004 creates the head row; the suite's set-up emptied the tables since.
        await store.ensure_head(conn, clock.now())
    url = make_url(database_url).set(username=role).render_as_string(hide_password=False)
    as_app = await asyncio.to_thread(create_database, url)
    try:
        yield as_app
    finally:
        await as_app.dispose()
        async with db.begin() as conn:
            await conn.execute(text(f'DROP OWNED BY "{role}"'))
            await conn.execute(text(f'DROP ROLE "{role}"'))


async def test_every_table_the_database_holds_has_a_grant(db: Database) -> None:
    """A table some later work adds gets ordinary DML without anyone remembering to ask."""
    async with db.connect() as conn:
        existing = set(
            (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                )
            ).scalars()
        )
    granted = table_privileges(metadata)
    assert existing <= set(granted)
    assert granted["audit_events"] == granted["audit_checkpoints"] == ("SELECT", "INSERT")
    assert granted["audit_head"] == ("SELECT", "UPDATE")
    assert granted["audit_data_keys"] == ("SELECT", "INSERT", "UPDATE")
    assert granted["establishments"] == ("SELECT", "INSERT", "UPDATE", "DELETE")


async def test_the_application_role_runs_the_log_but_cannot_rewrite_it(
    app_db: Database, keys_dir: Path, clock: FakeClock, tmp_path: Path
) -> None:
    assert await current_revision(app_db) == await asyncio.to_thread(head_revision)
    log = await open_audit_log(
        app_db,
        keys_dir=keys_dir,
        clock=clock,
        checkpoint_every=4,
        checkpoint_dir=tmp_path / "checkpoints",
    )
    try:
        for i in range(10):
            await log.append(
                AuditRecord(Action.BOOKED, actor="c-1", establishment="est-1", subject=f"p-{i % 2}")
            )
            clock.advance(1)
        await log.rotate_kek("admin-1")
        await log.shred("p-1", "admin-1")
        bundle = await export_bundle(log, actor="manager-1")
        assert verify_bundle(bundle).ok
        report = await verify_log(log)
        assert report.ok and report.size == 13, report.summary()
    finally:
        await log.close()

    for statement in REFUSED:
        with pytest.raises(DBAPIError) as refused:
            async with app_db.begin() as conn:
                await conn.execute(text(statement))
        # 42501 insufficient_privilege: "permission denied" or "must be owner".
        assert getattr(refused.value.orig, "sqlstate", None) == "42501", statement

    async with app_db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO establishments (id, code, name, timezone, relay_only, created_at) "
                "VALUES ('e-9', 'HMP-9', 'Nine', 'Europe/London', true, now())"
            )
        )
        await conn.execute(text("UPDATE establishments SET name = 'Nine again'"))
        await conn.execute(text("DELETE FROM establishments WHERE id = 'e-9'"))
