"""Places: establishment -> wing -> cell; devices in cells; migration 0007 on both stores."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from core.clock import FakeClock
from core.db import Database, create_database
from core.db.migrate import alembic_config, upgrade
from core.db.schema import cells, devices, wings
from core.errors import ServiceError
from core.events import Action, MemorySink
from core.identity import Principal, Role
from core.identity.devices import DeviceRegistry
from core.places.service import Places
from tests.conftest import _create_pg_database, _drop_pg_database

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
NAIVE = NOW.replace(tzinfo=None)  # raw SQL: UTCDateTime keeps naive UTC
SYSTEM = Principal("system", Role.ADMIN, None, "")


async def _downgrade(db: Database, revision: str) -> None:
    def run(sync_conn: Any) -> None:
        command.downgrade(alembic_config(sync_conn), revision)

    async with db.engine.connect() as conn:
        await conn.run_sync(run)
        await conn.commit()


@pytest.fixture
async def fresh_db(store_kind: str, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty store with no migrations applied yet."""
    if store_kind == "sqlite":
        db = await asyncio.to_thread(create_database, f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
        yield db
        await db.dispose()
        return
    name = f"tc_places_{uuid.uuid4().hex[:10]}"
    url = await _create_pg_database(name)
    db = await asyncio.to_thread(create_database, url)
    yield db
    await db.dispose()
    await _drop_pg_database(name)


async def _seed_0006(db: Database) -> dict[str, str]:
    """Two establishments, devices with free-text cells, and a session on one device."""
    ids = {k: str(uuid.uuid4()) for k in ("est", "other", "prisoner", "d1", "d2", "d3", "d4")}
    async with db.begin() as conn:
        for key, code in (("est", "ONE"), ("other", "TWO")):
            await conn.execute(
                text(
                    "INSERT INTO establishments (id, code, name, timezone, relay_only, created_at)"
                    " VALUES (:id, :code, :code, 'Europe/London', true, :at)"
                ),
                {"id": ids[key], "code": code, "at": NAIVE},
            )
        await conn.execute(
            text(
                "INSERT INTO accounts (id, establishment_id, role, display_name_enc,"
                " failed_attempts, active, locale, created_at)"
                " VALUES (:id, :est, 'prisoner', :name, 0, true, 'en', :at)"
            ),
            {"id": ids["prisoner"], "est": ids["est"], "name": b"x", "at": NAIVE},
        )
        for device, est, cell in (
            ("d1", "est", "A1-02"),
            ("d2", "est", "a1-03"),
            ("d3", "est", "12"),
            ("d4", "other", "A1-02"),
        ):
            await conn.execute(
                text(
                    "INSERT INTO devices (id, establishment_id, cell, credential_hash, created_at)"
                    " VALUES (:id, :est, :cell, :hash, :at)"
                ),
                {"id": ids[device], "est": ids[est], "cell": cell, "hash": device, "at": NAIVE},
            )
        await conn.execute(
            text(
                "INSERT INTO sessions (id, account_id, device_id, created_at)"
                " VALUES (:id, :account, :device, :at)"
            ),
            {"id": str(uuid.uuid4()), "account": ids["prisoner"], "device": ids["d1"], "at": NAIVE},
        )
    return ids


@pytest.mark.allow_blocking  # alembic reads its scripts from disk: start-up work, not a request's
async def test_migration_places_every_existing_device_on_the_wing_its_cell_names(
    fresh_db: Database,
) -> None:
    await upgrade(fresh_db, "0006")
    ids = await _seed_0006(fresh_db)
    await upgrade(fresh_db)
    async with fresh_db.connect() as conn:
        rows = await conn.execute(
            select(devices.c.id, devices.c.establishment_id, cells.c.name, wings.c.name)
            .join(cells, cells.c.id == devices.c.cell_id)
            .join(wings, wings.c.id == cells.c.wing_id)
        )
        placed = {r[0]: (r[1], r[2], r[3]) for r in rows}
        sessions = (await conn.execute(text("SELECT device_id FROM sessions"))).scalars().all()
        wing_count = (await conn.execute(text("SELECT COUNT(*) FROM wings"))).scalar()
    assert placed == {
        ids["d1"]: (ids["est"], "A1-02", "A"),
        ids["d2"]: (ids["est"], "a1-03", "A"),
        ids["d3"]: (ids["est"], "12", "Unassigned"),
        ids["d4"]: (ids["other"], "A1-02", "A"),
    }
    # One wing A per establishment, one Unassigned; the session still points at its device.
    assert wing_count == 3
    assert sessions == [ids["d1"]]

    await _downgrade(fresh_db, "0006")
    async with fresh_db.connect() as conn:
        back: dict[str, str] = dict(
            (await conn.execute(text("SELECT id, cell FROM devices"))).all()
        )
    assert back == {ids["d1"]: "A1-02", ids["d2"]: "a1-03", ids["d3"]: "12", ids["d4"]: "A1-02"}


async def _establishment(db: Database, code: str) -> str:
    est = str(uuid.uuid4())
    async with db.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO establishments (id, code, name, timezone, relay_only, created_at)"
                " VALUES (:id, :code, :code, 'Europe/London', true, :at)"
            ),
            {"id": est, "code": code, "at": NAIVE},
        )
    return est


async def test_enrolling_needs_a_cell_the_establishment_lists(db: Database) -> None:
    """Regression: enrolment used to add any cell it was given, so a typo became a cell."""
    est = await _establishment(db, "ONE")
    other = await _establishment(db, "TWO")
    audit = MemorySink()
    places = Places(db, clock=FakeClock(NOW), audit=audit)
    registry = DeviceRegistry(db, clock=FakeClock(NOW), audit=audit, enrolment_lifetime_s=60)
    await places.add_wing(SYSTEM, est, "B")
    cell = await places.add_cell(SYSTEM, est, "B", "B2-07")
    await places.add_wing(SYSTEM, other, "B")
    theirs = await places.add_cell(SYSTEM, other, "B", "B2-99")
    for unknown in ("B2-08", theirs.id, theirs.name, "", None):
        with pytest.raises(ServiceError) as refused:
            await registry.start_enrolment(SYSTEM, est, unknown)
        assert refused.value.code.slug in ("not_found", "invalid_request")
    async with db.connect() as conn:
        assert (await conn.execute(select(devices.c.id))).all() == []
    assert [c.name for c in await places.cells(est)] == ["B2-07"]
    first = await registry.start_enrolment(SYSTEM, est, "B2-07")
    device, _ = await registry.complete_enrolment(first.code)
    assert (device.cell, device.wing, device.cell_id) == ("B2-07", "B", cell.id)
    # By id too.
    second = await registry.start_enrolment(SYSTEM, est, cell.id)
    again, _ = await registry.complete_enrolment(second.code)
    assert again.cell_id == cell.id
    enrolled = [r for r in audit.records if r.action == Action.DEVICE_ENROLMENT_STARTED]
    assert enrolled[0].details == {"cell": "B2-07", "wing": "B"}


async def test_moving_a_device_enrols_it_again_and_ends_its_sessions(db: Database) -> None:
    est = await _establishment(db, "ONE")
    audit = MemorySink()
    places = Places(db, clock=FakeClock(NOW), audit=audit)
    registry = DeviceRegistry(db, clock=FakeClock(NOW), audit=audit, enrolment_lifetime_s=60)
    await places.add_wing(SYSTEM, est, "A")
    await places.add_wing(SYSTEM, est, "B")
    await places.add_cell(SYSTEM, est, "A", "A1-01")
    to = await places.add_cell(SYSTEM, est, "B", "B1-01")
    device, credential = await registry.complete_enrolment(
        (await registry.start_enrolment(SYSTEM, est, "A1-01")).code
    )
    for bad, slug in (("A1-01", "conflict"), ("Z9-99", "not_found")):
        with pytest.raises(ServiceError) as refused:
            await registry.move(SYSTEM, device.id, bad)
        assert refused.value.code.slug == slug
    assert (await registry.authenticate_device(credential)).cell == "A1-01"
    moved = await registry.move(SYSTEM, device.id, "B1-01")
    assert (moved.device_id, moved.cell, moved.wing) == (device.id, "B1-01", "B")
    with pytest.raises(ServiceError) as refused:
        await registry.authenticate_device(credential)
    assert refused.value.code.slug == "device_not_enrolled"
    again, fresh = await registry.complete_enrolment(moved.code)
    assert (again.id, again.cell_id, again.wing) == (device.id, to.id, "B")
    assert (await registry.authenticate_device(fresh)).cell == "B1-01"
    [record] = [r for r in audit.records if r.action == Action.DEVICE_MOVED]
    assert record.details == {"from_cell": "A1-01", "from_wing": "A", "cell": "B1-01", "wing": "B"}


async def test_officers_keep_only_their_own_establishments_places(db: Database) -> None:
    est = await _establishment(db, "ONE")
    other = await _establishment(db, "TWO")
    places = Places(db, clock=FakeClock(NOW), audit=MemorySink())
    officer = Principal("o", Role.OFFICER, est, "")
    await places.add_wing(officer, est, "A")
    await places.add_cell(officer, est, "A", "A1-01")
    for who, where in ((officer, other), (Principal("c", Role.CLINICIAN, est, ""), est)):
        with pytest.raises(ServiceError) as refused:
            await places.add_cell(who, where, "A", "A1-09")
        assert refused.value.code.slug == "forbidden"
    assert await places.cells(other) == []


async def test_the_store_keeps_a_cell_on_a_wing_of_its_own_establishment(db: Database) -> None:
    est = await _establishment(db, "ONE")
    other = await _establishment(db, "TWO")
    places = Places(db, clock=FakeClock(NOW), audit=MemorySink())
    await places.add_wing(SYSTEM, est, "A")
    cell = await places.add_cell(SYSTEM, est, "A", "A1-01")
    # A cell of establishment TWO on establishment ONE's wing A.
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await conn.execute(
                insert(cells).values(
                    id=str(uuid.uuid4()),
                    establishment_id=other,
                    wing_id=cell.wing_id,
                    name="A1-01",
                    created_at=NOW,
                )
            )
    # A second cell of the same name in the establishment, even on another wing.
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            wing_b = str(uuid.uuid4())
            await conn.execute(
                insert(wings).values(id=wing_b, establishment_id=est, name="B", created_at=NOW)
            )
            await conn.execute(
                insert(cells).values(
                    id=str(uuid.uuid4()),
                    establishment_id=est,
                    wing_id=wing_b,
                    name="A1-01",
                    created_at=NOW,
                )
            )
    # A device of establishment TWO in establishment ONE's cell.
    with pytest.raises(IntegrityError):
        async with db.begin() as conn:
            await conn.execute(
                insert(devices).values(
                    id=str(uuid.uuid4()), establishment_id=other, cell_id=cell.id, created_at=NOW
                )
            )
    assert [c.name for c in await places.cells(est)] == ["A1-01"]
    assert await places.cells(other) == []
