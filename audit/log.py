"""Placeholder until the audit issue lands: keeps events in memory only."""

from __future__ import annotations

from pathlib import Path

from core.clock import Clock
from core.db.engine import Database
from core.events import AuditRecord


class AuditLog:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        return len(self.records)

    async def close(self) -> None:
        return None


async def open_audit_log(db: Database, *, keys_dir: Path, clock: Clock) -> AuditLog:
    return AuditLog()
