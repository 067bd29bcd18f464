"""One job-runner node in its own process, for tests/core/test_jobs_nodes.py.

    python -m tests.core.jobs_node DATABASE_URL NODE MODE

MODE `work`: each `effect` job writes one row to `job_effects` (job id, node)
in the transaction that completes it. MODE `hold`: each `effect` job blocks
for an hour, so the node sits on its leases until it is killed. Prints
`ready` once its runner is claiming; stops cleanly on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from sqlalchemy import text

from core.clock import SystemClock
from core.db import create_database
from core.jobs import JobContext, JobRunner

LEASE_S = 3.0
WORKERS = 4


async def main(url: str, node: str, mode: str) -> None:
    db = create_database(url)
    runner = JobRunner(db, SystemClock(), node=node, workers=WORKERS, poll_s=0.05, lease_s=LEASE_S)

    async def effect(ctx: JobContext) -> None:
        if mode == "hold":
            await asyncio.sleep(3600)
        await asyncio.sleep(0.002)  # a little work, so the nodes overlap
        async with ctx.transaction() as conn:
            await conn.execute(
                text("INSERT INTO job_effects (job_id, node) VALUES (:job, :node)"),
                {"job": ctx.id, "node": node},
            )

    runner.register("effect", effect, timeout=7200)
    stopping = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
    await runner.start()
    print("ready", runner.owner, flush=True)
    await stopping.wait()
    await runner.stop()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
