"""An acknowledged append survives SIGKILL of the process that made it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from audit import open_audit_log
from audit.integrity import verify_database
from core.clock import FakeClock
from core.db import Database

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
async def test_every_acknowledged_event_survives_sigkill(
    db: Database, database_url: str, keys_dir: Path, clock: FakeClock
) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.audit.appender",
        database_url,
        str(keys_dir),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    acked: set[int] = set()
    try:
        async with asyncio.timeout(60):
            while len(acked) < 400:
                line = await proc.stdout.readline()
                assert line, "the appender stopped early"
                acked.add(int(line.split()[1]))
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    # Anything it printed before dying counts too.
    for text in (await proc.stdout.read()).decode().splitlines():
        if text.startswith("ack "):
            acked.add(int(text.split()[1]))

    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        report = await verify_database(db, log.signer.public_raw)
        assert report.ok, report.summary()
        assert max(acked) < report.size
        assert report.checkpoints >= 1
    finally:
        await log.close()
    # Restarting signs the tail the dead process left unsigned.
    after = await verify_database(db, log.signer.public_raw)
    assert after.ok and after.unsigned_tail == 0
