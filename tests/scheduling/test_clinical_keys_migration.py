"""Migration 0005: clinical text already stored moves under each prisoner's own key.

The failure it prevents: a store upgraded from before issue 12 keeps its
reasons, notes and request text under the root field key, where a shred of
the prisoner never reaches them (the demo's data and any real data alike).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from audit import SubjectKeys, open_audit_log
from audit.field_migration import SubjectFieldMover, load_field_mover
from core.clock import FakeClock
from core.db import Database, create_database, upgrade
from core.db.migrate import current_revision, head_revision
from core.db.types import UTCDateTime
from core.identity import Principal, Role
from scheduling import SchedulingService
from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
LEGACY = {
    "reason": "Legacy reason: chest pain",
    "notes": "Legacy notes: smoker",
    "outcome_code": "unwell",
    "outcome_note": "Legacy outcome: sent to hospital",
}
REQUEST = "Legacy request: my inhaler ran out"


def _table(name: str, *columns: tuple[str, Any]) -> Any:
    return sa.table(name, *(sa.column(c, t) for c, t in columns))


S, B, I, T, BOOL = sa.String(), sa.LargeBinary(), sa.Integer(), UTCDateTime(), sa.Boolean()  # noqa: E741
ESTABLISHMENTS = _table(
    "establishments",
    ("id", S),
    ("code", S),
    ("name", S),
    ("timezone", S),
    ("relay_only", BOOL),
    ("created_at", T),
)
ACCOUNTS = _table(
    "accounts",
    ("id", S),
    ("establishment_id", S),
    ("role", S),
    ("display_name_enc", B),
    ("failed_attempts", I),
    ("active", BOOL),
    ("locale", S),
    ("created_at", T),
)
SERVICES = _table(
    "services",
    ("id", S),
    ("establishment_id", S),
    ("code", S),
    ("name", S),
    ("minutes", I),
    ("buffer_minutes", I),
    ("target_days", I),
    ("sensitive", BOOL),
)
APPOINTMENTS = _table(
    "appointments",
    ("id", S),
    ("establishment_id", S),
    ("prisoner_id", S),
    ("clinician_id", S),
    ("service_id", S),
    ("starts_at", T),
    ("ends_at", T),
    ("buffer_minutes", I),
    ("status", S),
    ("reason_enc", B),
    ("notes_enc", B),
    ("outcome_category", S),
    ("outcome_code_enc", B),
    ("outcome_note_enc", B),
    ("same_sex", BOOL),
    ("chaperone", BOOL),
    ("created_by", S),
    ("created_at", T),
    ("updated_at", T),
)
REQUESTS = _table(
    "health_requests",
    ("id", S),
    ("prisoner_id", S),
    ("establishment_id", S),
    ("category", S),
    ("text_enc", B),
    ("status", S),
    ("created_at", T),
)


# Alembic reads its scripts from disk synchronously, as `throughcare db upgrade` does
# before the service starts: these tests migrate on purpose.
pytestmark = pytest.mark.allow_blocking


async def _migrate(url: str, revision: str, fields: Any = None) -> None:
    db = create_database(url)
    try:
        await upgrade(db, revision, fields=fields)
    finally:
        await db.dispose()


@dataclass
class OldStore:
    url: str
    db: Database
    keys_dir: Path
    est: str
    prisoner: str
    clinician: str
    appointment: str
    request: str


@pytest.fixture
async def old_store(store_kind: str, tmp_path: Path) -> AsyncIterator[OldStore]:
    """A store at revision 0004 holding clinical text as the code before 0005 wrote it."""
    name = f"tc_old_{uuid.uuid4().hex[:10]}"
    if store_kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    else:
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
    db = await asyncio.to_thread(create_database, url)
    try:
        await _migrate(url, "0004")
        keys_dir = tmp_path / "keys"
        mover = await asyncio.to_thread(load_field_mover, keys_dir)
        yield await _seed_legacy(db, url, keys_dir, mover)
    finally:
        await db.dispose()
        if store_kind == "postgres":
            admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def _seed_legacy(
    db: Database, url: str, keys_dir: Path, mover: SubjectFieldMover
) -> OldStore:
    root = mover.root
    est, prisoner, clinician, service = (str(uuid.uuid4()) for _ in range(4))
    appointment, request = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.begin() as conn:
        await conn.execute(
            ESTABLISHMENTS.insert().values(
                id=est,
                code="HMP-OLD",
                name="HMP Old",
                timezone="Europe/London",
                relay_only=True,
                created_at=NOW,
            )
        )
        for account, role in ((prisoner, "prisoner"), (clinician, "clinician")):
            await conn.execute(
                ACCOUNTS.insert().values(
                    id=account,
                    establishment_id=est,
                    role=role,
                    display_name_enc=root.encrypt(role, row=account, column="display_name"),
                    failed_attempts=0,
                    active=True,
                    locale="en",
                    created_at=NOW,
                )
            )
        await conn.execute(
            SERVICES.insert().values(
                id=service,
                establishment_id=est,
                code="gp",
                name="GP",
                minutes=20,
                buffer_minutes=5,
                target_days=14,
                sensitive=False,
            )
        )
        await conn.execute(
            APPOINTMENTS.insert().values(
                id=appointment,
                establishment_id=est,
                prisoner_id=prisoner,
                clinician_id=clinician,
                service_id=service,
                starts_at=NOW,
                ends_at=NOW,
                buffer_minutes=5,
                status="did_not_attend",
                outcome_category="patient",
                same_sex=False,
                chaperone=False,
                created_by=clinician,
                created_at=NOW,
                updated_at=NOW,
                **{
                    f"{column}_enc": root.encrypt(value, row=appointment, column=column)
                    for column, value in LEGACY.items()
                },
            )
        )
        await conn.execute(
            REQUESTS.insert().values(
                id=request,
                prisoner_id=prisoner,
                establishment_id=est,
                category="general",
                text_enc=root.encrypt(REQUEST, row=request, column="text"),
                status="received",
                created_at=NOW,
            )
        )
    return OldStore(url, db, keys_dir, est, prisoner, clinician, appointment, request)


async def _blobs(db: Database) -> list[bytes]:
    async with db.connect() as conn:
        rows = list(
            await conn.execute(
                sa.select(
                    APPOINTMENTS.c.reason_enc,
                    APPOINTMENTS.c.notes_enc,
                    APPOINTMENTS.c.outcome_code_enc,
                    APPOINTMENTS.c.outcome_note_enc,
                )
            )
        )
        rows += list(await conn.execute(sa.select(REQUESTS.c.text_enc)))
    return [bytes(v) for row in rows for v in row]


async def _read(store: OldStore, clock: FakeClock, *, shred: bool = False) -> tuple[Any, Any]:
    """What the prisoner's clinician reads through the services after the upgrade."""
    log = await open_audit_log(store.db, keys_dir=store.keys_dir, clock=clock)
    try:
        if shred:
            await log.shred(store.prisoner, "admin-1")
        mover = await asyncio.to_thread(load_field_mover, store.keys_dir)
        svc = SchedulingService(
            store.db,
            cipher=mover.root,
            subject_keys=SubjectKeys(log.keys, clock),
            clock=clock,
            audit=log,
        )
        clinician = Principal(store.clinician, Role.CLINICIAN, store.est, "test")
        appointment = await svc.appointment(clinician, store.appointment)
        [request] = await svc.triage_queue(clinician, store.est)
        return appointment, request
    finally:
        await log.close()


async def test_existing_clinical_text_moves_under_the_prisoners_key_where_a_shred_reaches_it(
    old_store: OldStore, clock: FakeClock
) -> None:
    before = await _blobs(old_store.db)
    assert all(b[:1] == b"\x01" for b in before)

    # Without the keys the migration refuses, and changes nothing.
    with pytest.raises(RuntimeError, match="throughcare db upgrade"):
        await _migrate(old_store.url, "head")
    assert await current_revision(old_store.db) == "0004"
    assert await _blobs(old_store.db) == before

    mover = await asyncio.to_thread(load_field_mover, old_store.keys_dir)
    await _migrate(old_store.url, "head", mover)
    assert await current_revision(old_store.db) == await asyncio.to_thread(head_revision)
    after = await _blobs(old_store.db)
    assert all(b[:1] == b"\x02" for b in after)
    for blob in after:
        for secret in [*LEGACY.values(), REQUEST]:
            assert secret.encode() not in blob

    appointment, request = await _read(old_store, clock)
    assert (
        appointment.reason,
        appointment.notes,
        appointment.outcome_code,
        appointment.outcome_note,
    ) == tuple(LEGACY.values())
    assert request.text == REQUEST

    appointment, request = await _read(old_store, clock, shred=True)
    assert (appointment.reason, appointment.notes, appointment.outcome_note) == (None, None, None)
    assert (appointment.clinical_text.value, request.text_status.value) == ("shredded", "shredded")


async def test_throughcare_db_upgrade_hands_the_migration_the_keys(
    old_store: OldStore, clock: FakeClock
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")},
        "THROUGHCARE_DATABASE_URL": old_store.url,
        "THROUGHCARE_KEYS_DIR": str(old_store.keys_dir),
        "THROUGHCARE_DATA_DIR": str(old_store.keys_dir.parent),
        "THROUGHCARE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert all(b[:1] == b"\x02" for b in await _blobs(old_store.db))
    appointment, request = await _read(old_store, clock)
    assert (appointment.reason, request.text) == (LEGACY["reason"], REQUEST)
