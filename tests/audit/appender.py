"""A process that appends as fast as it can and prints each acknowledged sequence number.

Used by the SIGKILL test: `python -m tests.audit.appender DATABASE_URL KEYS_DIR`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from audit import open_audit_log
from core.clock import SystemClock
from core.db import create_database
from core.events import Action, AuditRecord


async def main(url: str, keys_dir: Path) -> None:
    db = create_database(url)
    log = await open_audit_log(db, keys_dir=keys_dir, clock=SystemClock(), checkpoint_every=50)
    out = sys.stdout

    async def producer(n: int) -> None:
        i = 0
        while True:
            batch = [
                log.append(
                    AuditRecord(
                        Action.QUALITY_REPORT,
                        actor=f"device-{n}",
                        establishment="est-1",
                        subject=f"p-{n}",
                        details={"rtt_ms": i + k, "loss": 0.01},
                    )
                )
                for k in range(8)
            ]
            i += 8
            for seq in await asyncio.gather(*batch):
                out.write(f"ack {seq}\n")
            out.flush()

    await asyncio.gather(*(producer(n) for n in range(4)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
