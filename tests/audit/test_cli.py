"""`throughcare audit ...` end to end, as an operator runs it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import update

from audit.tables import audit_events
from core.config import Settings
from core.db import create_database
from core.events import Action, AuditRecord
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
        async with db.begin() as conn:
            await conn.execute(
                update(audit_events).where(audit_events.c.seq == 2).values(actor="forged")
            )
    finally:
        await db.dispose()
    failed = await throughcare(settings, "verify")
    assert failed.returncode == 1
    assert "FAILED at sequence 2: event 2 does not match its recorded hash" in failed.stdout
