"""Two job-runner nodes, each its own process, on the real PostgreSQL.

Each test gets a database of its own, with a `job_effects` table the nodes'
handler writes to (tests/core/jobs_node.py): a job done twice would show as two
rows, a job lost as none.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from core.db import Database, create_database
from core.db.schema import jobs
from core.jobs import JobStatus, insert_job
from tests.conftest import _create_pg_database, _drop_pg_database, _migrate

ROOT = Path(__file__).resolve().parents[2]
# Creating and migrating a database of its own blocks on purpose; the runners
# under test are in other processes.
pytestmark = [pytest.mark.slow, pytest.mark.allow_blocking]


@pytest.fixture
async def pg() -> AsyncIterator[tuple[str, Database]]:
    name = f"tc_jobs_{uuid.uuid4().hex[:12]}"
    url = await _create_pg_database(name)
    await _migrate(url)
    db = create_database(url)
    async with db.begin() as conn:
        await conn.execute(text("CREATE TABLE job_effects (job_id varchar(36), node text)"))
    yield url, db
    await db.dispose()
    await _drop_pg_database(name)


class Node:
    def __init__(self, proc: asyncio.subprocess.Process, owner: str) -> None:
        self.proc = proc
        self.owner = owner

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        await self.proc.wait()


async def start_node(url: str, name: str, mode: str) -> Node:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.core.jobs_node",
        url,
        name,
        mode,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = (await proc.stdout.readline()).decode().split()
    assert line[:1] == ["ready"], f"node {name} did not start"
    return Node(proc, line[1])


async def schedule_effects(db: Database, n: int) -> list[str]:
    now = datetime.now(UTC)
    async with db.begin() as conn:
        return [await insert_job(conn, "effect", {"n": i}, due_at=now, now=now) for i in range(n)]


async def wait_until_done(db: Database, n: int) -> None:
    while True:
        async with db.connect() as conn:
            done = (
                await conn.execute(
                    select(func.count()).where(jobs.c.status == JobStatus.DONE.value)
                )
            ).scalar_one()
        if done >= n:
            return
        await asyncio.sleep(0.2)


async def effects(db: Database) -> list[tuple[str, str]]:
    async with db.connect() as conn:
        rows = await conn.execute(text("SELECT job_id, node FROM job_effects"))
        return [(r.job_id, r.node) for r in rows]


@pytest.mark.timeout(300)
async def test_two_nodes_do_a_thousand_due_jobs_each_exactly_once(
    pg: tuple[str, Database],
) -> None:
    url, db = pg
    nodes = [await start_node(url, name, "work") for name in ("node-a", "node-b")]
    try:
        ids = await schedule_effects(db, 1000)
        await wait_until_done(db, 1000)
    finally:
        for node in nodes:
            await node.stop()
    done = await effects(db)
    assert sorted(job for job, _ in done) == sorted(ids), "each job's effect exactly once"
    by_node = {name: sum(1 for _, n in done if n == name) for name in ("node-a", "node-b")}
    assert all(by_node.values()), f"both nodes took a share: {by_node}"


@pytest.mark.timeout(300)
async def test_a_node_killed_holding_leases_leaves_its_jobs_to_the_other_done_once(
    pg: tuple[str, Database],
) -> None:
    url, db = pg
    holder = await start_node(url, "node-a", "hold")
    ids = await schedule_effects(db, 40)
    while True:
        async with db.connect() as conn:
            held = [
                r.id
                for r in await conn.execute(
                    select(jobs.c.id).where(
                        jobs.c.status == JobStatus.RUNNING.value,
                        jobs.c.lease_owner == holder.owner,
                    )
                )
            ]
        if len(held) >= 4:  # its workers all busy (and a few claimed ahead)
            break
        await asyncio.sleep(0.05)
    holder.proc.send_signal(signal.SIGKILL)
    await holder.proc.wait()
    other = await start_node(url, "node-b", "work")
    try:
        await wait_until_done(db, len(ids))
    finally:
        await other.stop()
    done = await effects(db)
    assert sorted(job for job, _ in done) == sorted(ids)
    assert {node for _, node in done} == {"node-b"}
    async with db.connect() as conn:
        attempts = dict(
            (r.id, r.attempts)
            for r in await conn.execute(
                select(jobs.c.id, jobs.c.attempts).where(jobs.c.id.in_(held))
            )
        )
    assert attempts == {job: 2 for job in held}, "the killed node's attempt counted, once"
