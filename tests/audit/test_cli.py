"""`throughcare audit ...` end to end, as an operator runs it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from audit.merkle import frontier_append, pack_frontier
from audit.record import leaf_bytes
from audit.store import EVENT_COLUMNS, to_event
from audit.tables import audit_checkpoints, audit_events, audit_head
from core.config import Settings
from core.db import create_database
from core.events import Action, AuditRecord
from tests.audit.guards import triggers_dropped
from web.cli import open_core

ROOT = Path(__file__).resolve().parents[2]


async def throughcare(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "THROUGHCARE_DATA_DIR": str(settings.data_dir),
        "THROUGHCARE_KEYS_DIR": str(settings.keys_dir),
        "THROUGHCARE_DATABASE_URL": settings.database_url.reveal(),
        "PYTHONPATH": str(ROOT),
    }
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "web.cli", "audit", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.allow_blocking
async def test_verify_export_rotate_and_shred_from_the_command_line(
    settings: Settings, tmp_path: Path
) -> None:
    async with open_core(settings) as core:
        for i in range(5):
            await core.audit.append(
                AuditRecord(
                    Action.CONSENT_GIVEN,
                    actor="p-1",
                    establishment="est-1",
                    subject=f"p-{i % 2}",
                    details={"i": i},
                )
            )

    ok = await throughcare(settings, "verify")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: ")
    assert "\r[" not in ok.stderr  # no progress bar when not on a terminal

    bundle = tmp_path / "bundle.json"
    exported = await throughcare(settings, "export", "--from", "2000-01-01", "--out", str(bundle))
    assert exported.returncode == 0, exported.stderr
    offline = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "audit.verify", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert offline.returncode == 0, offline.stdout
    assert len(json.loads(bundle.read_text())["events"]) >= 5

    rotated = await throughcare(settings, "rotate-kek")
    assert rotated.returncode == 0, rotated.stderr
    assert "KEK v2 is current" in rotated.stdout

    refused = await throughcare(settings, "shred", "p-1")
    assert refused.returncode == 2
    assert "--yes" in refused.stderr
    shredded = await throughcare(settings, "shred", "p-1", "--yes")
    assert shredded.returncode == 0, shredded.stderr
    assert shredded.stdout.startswith("1 data key(s) destroyed")

    assert (await throughcare(settings, "verify")).returncode == 0

    db = create_database(settings.database_url.reveal())
    try:
        async with db.begin() as conn, triggers_dropped(conn):
            await conn.execute(
                update(audit_events).where(audit_events.c.seq == 2).values(actor="forged")
            )
    finally:
        await db.dispose()
    failed = await throughcare(settings, "verify")
    assert failed.returncode == 1
    assert "FAILED at sequence 2: event 2 does not match its recorded hash" in failed.stdout


async def _rewrite_history(settings: Settings) -> None:
    """What someone who owns the database can do: delete every checkpoint, rewrite event 2
    with its leaf hash recomputed, and move the head back (its frontier recomputed too) so
    that nothing inside disagrees."""
    db = create_database(settings.database_url.reveal())
    try:
        async with db.begin() as conn, triggers_dropped(conn):
            (row,) = (
                await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.seq == 2))
            ).all()
            e = to_event(row)
            leaf = leaf_bytes(
                2,
                e.at,
                e.establishment,
                "forged",
                e.action,
                e.subject,
                e.appointment,
                e.key_id,
                e.ciphertext,
            )
            await conn.execute(delete(audit_checkpoints))
            await conn.execute(
                update(audit_events)
                .where(audit_events.c.seq == 2)
                .values(actor="forged", leaf_hash=hashlib.sha256(b"\x00" + leaf).digest())
            )
            hashes = (
                await conn.execute(select(audit_events.c.leaf_hash).order_by(audit_events.c.seq))
            ).scalars()
            frontier: list[bytes] = []
            for size, digest in enumerate(hashes):
                frontier_append(frontier, size, digest)
            await conn.execute(
                update(audit_head).values(checkpoint_size=0, frontier=pack_frontier(frontier))
            )
    finally:
        await db.dispose()


@pytest.mark.slow
@pytest.mark.allow_blocking
async def test_a_rewrite_that_deleted_every_checkpoint_is_found_by_the_copies_kept_outside(
    settings: Settings, tmp_path: Path
) -> None:
    """Regression: with the checkpoints deleted, `audit verify` said OK ("checkpoints: 0")."""
    async with open_core(settings) as core:
        for i in range(5):
            await core.audit.append(
                AuditRecord(Action.BOOKED, actor="c-1", establishment="est-1", details={"i": i})
            )
    kept = tmp_path / "kept-by-the-manager.json"
    wrote = await throughcare(settings, "checkpoint", "--out", str(kept))
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.startswith("wrote the checkpoint at size 5 to ")
    await _rewrite_history(settings)

    refused = await throughcare(settings, "verify")
    assert refused.returncode == 1
    assert (
        "FAILED at sequence 0: the checkpoint at size 5 kept outside the database does not "
        "match the events before it" in refused.stdout
    )
    # And the node did not sign the rewrite on its way out.
    assert "refusing to sign checkpoints" in refused.stderr

    # The attacker owns this machine's disk too: the checkpoint files go.
    shutil.rmtree(settings.audit_checkpoints_dir)
    fooled = await throughcare(settings, "verify")
    assert fooled.returncode == 0, fooled.stdout
    caught = await throughcare(settings, "verify", "--checkpoint", str(kept))
    assert caught.returncode == 1
    assert (
        "FAILED at sequence 0: the checkpoint at size 5 kept outside the database does not "
        "match the events before it" in caught.stdout
    )
    unreadable = await throughcare(settings, "verify", "--checkpoint", str(tmp_path / "none"))
    assert unreadable.returncode == 2
    assert "cannot read" in unreadable.stderr


@pytest.mark.slow
@pytest.mark.allow_blocking
async def test_db_grants_prints_the_sql_for_the_services_role(settings: Settings) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = [sys.executable, "-m", "web.cli", "db", "grants", "--role"]
    printed = await asyncio.to_thread(
        subprocess.run, [*run, "throughcare_app"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert 'GRANT SELECT, INSERT ON "audit_events" TO "throughcare_app";' in lines
    assert 'GRANT SELECT, UPDATE ON "audit_head" TO "throughcare_app";' in lines
    bad = await asyncio.to_thread(
        subprocess.run,
        [*run, "app; DROP TABLE x"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "role name" in bad.stderr
