"""Fixtures for the audit tests: a real log on each store, with its own keys and checkpoint
folders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from audit import AuditLog, open_audit_log
from core.clock import FakeClock
from core.db import Database


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def checkpoints_dir(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints"


@pytest.fixture
async def audit_log(
    db: Database, keys_dir: Path, checkpoints_dir: Path, clock: FakeClock
) -> AsyncIterator[AuditLog]:
    log = await open_audit_log(
        db, keys_dir=keys_dir, clock=clock, checkpoint_every=4, checkpoint_dir=checkpoints_dir
    )
    yield log
    await log.close()
