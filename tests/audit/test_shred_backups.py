"""A shred defeats backups: a database copied before it reads nothing after it (issue 12, item 10).

The attack: take a backup (or keep one), wait for a subject to be shredded,
restore the backup and read the subject's health text and audit details with
the keys the service still has. Before, the backup held the wrapped data key
and the KEK that unwraps it was still in the keys folder (and the clinical
fields were under the root field key, which a shred never touched).

Each test runs on SQLite (a `VACUUM INTO` copy of the file) and PostgreSQL (a
`pg_dump` restored into a second database with `pg_restore`).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select

from audit import AuditLog, SubjectKeys, open_audit_log
from audit.envelope import KeyRing, KeyUnavailable
from audit.review import decrypt_details
from audit.shredding import retire_lost_keys
from audit.store import EVENT_COLUMNS, to_event
from audit.tables import audit_data_keys, audit_events
from core.clock import FakeClock
from core.db import Database, create_database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.identity import Principal, Role
from core.keys import load_service_keys
from scheduling import SchedulingService
from scheduling.tables import appointments, health_requests
from scheduling.types import TextStatus
from tests.conftest import PG_ADMIN_URL
from tests.world import World, bearer, sign_in_staff
from web.services import build_scheduling
from web.state import AUDIT, DATABASE, SCHEDULING, SETTINGS

WEDNESDAY_10 = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
WEDNESDAY_11 = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
SECRETS = {
    "p1": ("P1 reason: low mood", "P1 note: history of self-harm", "P1 request: night sweats"),
    "p2": ("P2 reason: headaches", "P2 note: migraine with aura", "P2 request: dizzy spells"),
}


@dataclass
class Health:
    """Two prisoners' health text, stored through the real services."""

    app: Any
    world: World
    clinician: Principal
    p1: str
    p2: str
    appointments: dict[str, str]
    requests: dict[str, str]

    @property
    def log(self) -> AuditLog:
        return self.app[AUDIT]  # type: ignore[no-any-return]


def _staff(world: World, key: str) -> Principal:
    s = world.staff[key]
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


async def _store_health(app: Any, world: World) -> Health:
    svc: SchedulingService = app[SCHEDULING]
    manager, clinician = _staff(world, "manager"), _staff(world, "clinician")
    gp = await svc.create_service(manager, world.est, code="gp", name="GP")
    await svc.add_availability(
        clinician,
        clinician_id=clinician.account_id,
        service_id=gp.id,
        weekday_value=2,
        start="09:00",
        end="17:00",
    )
    appointments_of, requests_of = {}, {}
    for key, prisoner, when in (
        ("p1", world.prisoners[0], WEDNESDAY_10),
        ("p2", world.prisoners[1], WEDNESDAY_11),
    ):
        reason, note, request = SECRETS[key]
        me = Principal(prisoner.account_id, Role.PRISONER, world.est, "test", prisoner.device_id)
        made = await svc.make_request(me, category="general", text_value=request)
        booked = await svc.book(
            clinician,
            prisoner_id=prisoner.account_id,
            service_id=gp.id,
            clinician_id=clinician.account_id,
            starts_at=when,
            reason_text=reason,
            notes=note,
        )
        await svc.mark_did_not_attend(clinician, booked.id, "unwell", f"{key} outcome: fainted")
        appointments_of[key], requests_of[key] = booked.id, made.id
    return Health(
        app,
        world,
        clinician,
        world.prisoners[0].account_id,
        world.prisoners[1].account_id,
        appointments_of,
        requests_of,
    )


@pytest.fixture
async def health(client: Any, world: World) -> Health:
    return await _store_health(client.server.app, world)


# ------------------------------------------------------------------ backups


def kek_files(keys_dir: Path) -> list[str]:
    return sorted(p.name for p in keys_dir.iterdir() if p.name.startswith("audit-kek-"))


async def _backup(database_url: str, db: Database, target: Path) -> Callable[[], Any]:
    """Copy the store now; returns how to restore that copy as a new database URL."""
    if db.is_sqlite:
        live = database_url.split("///", 1)[1]

        def copy() -> None:
            conn = sqlite3.connect(live)
            try:
                conn.execute("VACUUM INTO ?", (str(target),))
            finally:
                conn.close()

        await asyncio.to_thread(copy)

        async def restore_sqlite() -> str:
            restored = target.with_name("restored.db")
            await asyncio.to_thread(shutil.copy, target, restored)
            return f"sqlite+aiosqlite:///{restored}"

        return restore_sqlite
    dsn = database_url.replace("postgresql+asyncpg://", "postgresql://")
    dumped = await asyncio.to_thread(
        subprocess.run,
        ["pg_dump", "--format=custom", f"--file={target}", dsn],
        capture_output=True,
        text=True,
    )
    assert dumped.returncode == 0, dumped.stderr

    async def restore_postgres() -> str:
        name = f"tc_restored_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        url = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
        restored = await asyncio.to_thread(
            subprocess.run,
            ["pg_restore", "--no-owner", f"--dbname={url}", str(target)],
            capture_output=True,
            text=True,
        )
        assert restored.returncode == 0, restored.stderr
        return url.replace("postgresql://", "postgresql+asyncpg://", 1)

    return restore_postgres


@asynccontextmanager
async def _opened(
    url: str, keys_dir: Path, clock: FakeClock
) -> AsyncIterator[tuple[Database, AuditLog, SchedulingService]]:
    """The services of a node started on the restored store, with the keys folder it has now."""
    db = await asyncio.to_thread(create_database, url)
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        keys = await asyncio.to_thread(load_service_keys, keys_dir)
        svc = build_scheduling(db, log, clock, keys, SubjectKeys(log.keys, clock))
        yield db, log, svc
    finally:
        await log.close()
        await db.dispose()
        if url.startswith("postgresql"):
            name = url.rsplit("/", 1)[1]
            admin = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await admin.close()


async def _events_about(db: Database, subject: str) -> list[Any]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(*EVENT_COLUMNS)
            .where(audit_events.c.subject == subject)
            .order_by(audit_events.c.seq)
        )
        return [to_event(r) for r in rows]


async def _read(svc: SchedulingService, h: Health, key: str) -> dict[str, Any]:
    """What the prisoner's own clinician reads of their appointment and request."""
    appointment = await svc.appointment(h.clinician, h.appointments[key])
    queue = await svc.triage_queue(h.clinician, h.world.est, status="received")
    [request] = [r for r in queue if r.id == h.requests[key]]
    return {
        "reason": appointment.reason,
        "notes": appointment.notes,
        "outcome_note": appointment.outcome_note,
        "appointment": appointment.clinical_text,
        "request": request.text,
        "request_status": request.text_status,
    }


def _unreadable() -> dict[str, Any]:
    return {
        "reason": None,
        "notes": None,
        "outcome_note": None,
        "appointment": TextStatus.SHREDDED,
        "request": None,
        "request_status": TextStatus.SHREDDED,
    }


def _readable(key: str) -> dict[str, Any]:
    reason, note, request = SECRETS[key]
    return {
        "reason": reason,
        "notes": note,
        "outcome_note": f"{key} outcome: fainted",
        "appointment": TextStatus.SHOWN,
        "request": request,
        "request_status": TextStatus.SHOWN,
    }


async def test_a_backup_restored_after_a_shred_reads_neither_the_subject_nor_anyone(
    health: Health, database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    app = health.app
    db: Database = app[DATABASE]
    keys_dir: Path = app[SETTINGS].keys_dir
    svc: SchedulingService = app[SCHEDULING]
    assert await _read(svc, health, "p1") == _readable("p1")
    restore = await _backup(database_url, db, tmp_path / "backup")

    await health.log.shred(health.p1, "admin-1")

    # The live store: the shredded subject reads nothing; the other subject reads as before.
    assert await _read(svc, health, "p1") == _unreadable()
    assert await _read(svc, health, "p2") == _readable("p2")
    p1_events = await _events_about(db, health.p1)
    p2_events = await _events_about(db, health.p2)
    assert {s for _, s in await decrypt_details(health.log, p1_events)} == {"shredded"}
    assert {s for _, s in await decrypt_details(health.log, p2_events)} == {"shown"}

    # The backup, restored and opened with the keys folder as it is now.
    url = await restore()
    async with _opened(url, keys_dir, clock) as (restored_db, restored_log, restored_svc):
        async with restored_db.connect() as conn:
            wrapped = (
                await conn.execute(
                    select(audit_data_keys.c.id, audit_data_keys.c.kek_id).where(
                        audit_data_keys.c.scope == f"subject:{health.p1}",
                        audit_data_keys.c.wrapped.is_not(None),
                    )
                )
            ).all()
        # The backup still holds the subject's wrapped data key...
        assert len(wrapped) == 1
        # ...but the KEK that wrapped it was destroyed by the shred.
        assert f"audit-kek-{wrapped[0].kek_id}.key" not in await asyncio.to_thread(
            kek_files, keys_dir
        )
        assert await _read(restored_svc, health, "p1") == _unreadable()
        # The documented price: the old backup reads no one any more.
        assert await _read(restored_svc, health, "p2") == _unreadable()
        for subject in (health.p1, health.p2):
            events = await _events_about(restored_db, subject)
            assert events
            assert {s for _, s in await decrypt_details(restored_log, events)} == {"shredded"}


async def test_no_kek_in_the_folder_unwraps_a_shredded_subjects_key_from_an_old_backup(
    health: Health, database_url: str, tmp_path: Path
) -> None:
    """Even by hand: every key file left in the folder against the backup's wrapped key."""
    app = health.app
    db: Database = app[DATABASE]
    keys_dir: Path = app[SETTINGS].keys_dir
    scope = f"subject:{health.p1}"
    async with db.connect() as conn:
        before = (
            await conn.execute(
                select(audit_data_keys.c.id, audit_data_keys.c.wrapped).where(
                    audit_data_keys.c.scope == scope
                )
            )
        ).one()
    await health.log.shred(health.p1, "admin-1")
    ring = await asyncio.to_thread(KeyRing.load, keys_dir, create=False)
    assert ring.keks, "the folder still has a current KEK"
    for kek_id in ring.keks:
        with pytest.raises(KeyUnavailable):
            ring.unwrap(kek_id, before.wrapped, before.id, scope)
    assert await asyncio.to_thread(kek_files, keys_dir) == [f"audit-kek-{ring.current}.key"]


async def test_after_a_shred_none_of_the_subjects_health_text_is_readable_anywhere(
    client: Any, health: Health
) -> None:
    """Reasons, notes, outcome notes, request text and audit details, through every reader."""
    app = health.app
    await health.log.shred(health.p1, "admin-1")
    manager = bearer(await sign_in_staff(client, health.world.staff["manager"]))
    clinician = bearer(await sign_in_staff(client, health.world.staff["clinician"]))
    p1_secrets = [*SECRETS["p1"], "p1 outcome: fainted"]
    pages = []
    for who in (manager, clinician):
        for path in (
            "/api/appointments?from=2026-03-01T00:00:00Z&to=2026-03-10T00:00:00Z",
            f"/api/appointments/{health.appointments['p1']}",
            "/api/health-requests?status=received",
            "/fhir/Appointment?patient=" + health.p1,
        ):
            resp = await client.get(path, headers=who)
            assert resp.status == 200, (path, await resp.text())
            pages.append(await resp.text())
    resp = await client.get(f"/api/audit/events?prisoner={health.p1}", headers=manager)
    events = (await resp.json())["events"]
    assert events and {e["details_status"] for e in events} == {"shredded"}
    pages.append(await resp.text())
    for page in pages:
        for secret in p1_secrets:
            assert secret not in page
    # The other prisoner's text is still there for their clinician.
    resp = await client.get(f"/api/appointments/{health.appointments['p2']}", headers=clinician)
    assert (await resp.json())["reason"] == SECRETS["p2"][0]
    # And nothing of it was ever at rest in plain text.
    db: Database = app[DATABASE]
    raw = b""
    async with db.connect() as conn:
        for table in (appointments, health_requests):
            for row in await conn.execute(select(table)):
                raw += b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    for secret in [*SECRETS["p1"], *SECRETS["p2"]]:
        assert secret.encode() not in raw


async def test_a_restored_old_backup_takes_new_events_once_its_lost_keys_are_retired(
    health: Health, database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """Restoring a backup from before a shred is disaster recovery with every secret lost."""
    app = health.app
    restore = await _backup(database_url, app[DATABASE], tmp_path / "backup")
    await health.log.shred(health.p1, "admin-1")
    url = await restore()
    async with _opened(url, app[SETTINGS].keys_dir, clock) as (restored_db, log, svc):
        about_p2 = AuditRecord(
            Action.CONSENT_GIVEN, actor="clinician-1", subject=health.p2, details={"n": 1}
        )
        # Its keys are wrapped under destroyed KEKs: the appender refuses rather than guess.
        with pytest.raises(ServiceError) as refused:
            await log.append(about_p2)
        assert refused.value.code == Code.UNAVAILABLE
        retired = await retire_lost_keys(log, "admin-1")
        assert retired >= 2
        seq = await log.append(about_p2)
        events = await _events_about(restored_db, health.p2)
        shown = await decrypt_details(log, events)
        assert shown[-1] == ({"n": 1}, "shown") and events[-1].seq == seq
        assert {s for _, s in shown[:-1]} == {"shredded"}
        assert await _read(svc, health, "p2") == _unreadable()
