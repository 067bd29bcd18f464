"""Job runner benchmark: due jobs done per second on PostgreSQL, against a bare loop.

    .venv/bin/python bench/jobs.py            # 2,000 jobs a turn, 3 turns, the 10,000 burst
    .venv/bin/python bench/jobs.py --quick    # 400 jobs a turn, 3 turns, a 2,000 burst (< 2 min)

Each job's work is one row written to `job_effects` in the transaction that
completes it (what a reminder's notice into an inbox will be). For 1, 2 and 4
workers (tasks of one runner in this process) it measures:

- the runner: `JobRunner` claiming with leases, running each job under its
  timeout, completing it fenced on its lease;
- the bare loop, the baseline the issue names: the same number of tasks, each
  `BEGIN; SELECT ... LIMIT 1 FOR UPDATE SKIP LOCKED; INSERT the effect; UPDATE
  the job done; COMMIT` until nothing is due, on the same engine and table;
- plain inserts of the same effect rows, one transaction each, the same tasks:
  the store's own limit for this work.

Runner and bare loop take turns (`--turns`), so the machine's load drifts over
both alike; each figure is the median over the turns. `ratio` is the lowest of
the three runner/bare ratios. Then the burst: 10,000 jobs due at the same
instant, 4 workers, the seconds until the last is delivered: each a
`notifications.deliver` job (the handlers the service runs, web/jobs.py: due
together, they are delivered in batches; `--single` for one by one) that
commits the notice to its inbox and then pushes `inbox`, through the real
Redis bus, to the recipient's open WebSocket (200 people, each with one, on a
loopback aiohttp server); the clock stops when every push has been received.
The full run also times the plain burst (a row per job) as before. The database is the
bench's own, created and dropped here (THROUGHCARE_BENCH_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432/test as the admin connection). The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket as socketlib
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
import orjson  # noqa: E402
from aiohttp import ClientSession, TCPConnector, WSMsgType, web  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from core.clock import SystemClock  # noqa: E402
from core.db import Database, create_database, upgrade  # noqa: E402
from core.db.schema import jobs  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.fields import FieldCipher  # noqa: E402
from core.jobs import JobContext, JobRunner  # noqa: E402
from scheduling import SchedulingService  # noqa: E402
from scheduling.base import DELIVER_JOB  # noqa: E402
from scheduling.tables import notifications  # noqa: E402
from signalling.bus.redis import RedisBus  # noqa: E402
from signalling.user_channels import UserChannels  # noqa: E402
from web.jobs import deliver_batch_handler, deliver_handler  # noqa: E402

ADMIN_URL = os.environ.get(
    "THROUGHCARE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("THROUGHCARE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
WORKERS = (1, 2, 4)
KIND = "bench.effect"
CPU: dict[str, list[float]] = {"runner": [], "bare": []}
"""This process's CPU seconds per job, each run: steadier than wall time on a busy machine."""
EFFECT = text("INSERT INTO job_effects (job_id, worker) VALUES (:job, :worker)")


async def create_bench_database() -> tuple[str, str]:
    name = f"tc_bench_jobs_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


async def drop_bench_database(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def reset(db: Database, n: int) -> None:
    """An empty table, then n jobs due now, in one transaction."""
    now = datetime.now(UTC)
    async with db.begin() as conn:
        await conn.execute(text("TRUNCATE jobs, job_effects"))
        rows = [
            {
                "id": str(uuid.uuid4()),
                "kind": KIND,
                "key": None,
                "payload": json.dumps({"n": i}),
                "status": "pending",
                "due_at": now,
                "available_at": now,
                "attempts": 0,
                "created_at": now,
            }
            for i in range(n)
        ]
        for start in range(0, n, 1000):
            await conn.execute(insert(jobs), rows[start : start + 1000])
    async with db.connect() as conn:
        await conn.execute(text("ANALYZE jobs"))


async def effects(db: Database) -> tuple[int, int]:
    async with db.connect() as conn:
        row = (
            await conn.execute(text("SELECT count(*), count(DISTINCT job_id) FROM job_effects"))
        ).one()
    return int(row[0]), int(row[1])


async def run_runner(db: Database, n: int, workers: int) -> float:
    """Seconds for a runner with `workers` tasks to do n due jobs."""
    await reset(db, n)
    done = 0
    finished = asyncio.Event()

    async def effect(ctx: JobContext) -> None:
        nonlocal done
        async with ctx.transaction() as conn:
            await conn.execute(EFFECT, {"job": ctx.id, "worker": "runner"})
        done += 1
        if done == n:
            finished.set()

    runner = JobRunner(db, SystemClock(), node="bench", workers=workers, poll_s=0.01, lease_s=60)
    runner.register(KIND, effect)
    started, cpu = time.perf_counter(), time.process_time()
    await runner.start()
    await finished.wait()
    elapsed = time.perf_counter() - started
    CPU["runner"].append((time.process_time() - cpu) / n)
    await runner.stop()
    assert await effects(db) == (n, n), "each job done exactly once"
    return elapsed


BARE_CLAIM = text(
    "SELECT id FROM jobs WHERE status = 'pending' AND available_at <= :now "
    "ORDER BY available_at LIMIT 1 FOR UPDATE SKIP LOCKED"
)
BARE_DONE = text(
    "UPDATE jobs SET status = 'done', available_at = NULL, finished_at = :now, "
    "attempts = attempts + 1 WHERE id = :id"
)


async def run_bare(db: Database, n: int, workers: int) -> float:
    """Seconds for `workers` bare SKIP LOCKED loops to do the same n jobs."""
    await reset(db, n)

    async def loop(worker: int) -> None:
        while True:
            now = datetime.now(UTC).replace(tzinfo=None)
            async with db.begin() as conn:
                job = (await conn.execute(BARE_CLAIM, {"now": now})).scalar()
                if job is None:
                    return
                await conn.execute(EFFECT, {"job": job, "worker": f"bare-{worker}"})
                await conn.execute(BARE_DONE, {"now": now, "id": job})

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(loop(w) for w in range(workers)))
    elapsed = time.perf_counter() - started
    CPU["bare"].append((time.process_time() - cpu) / n)
    assert await effects(db) == (n, n)
    return elapsed


async def run_plain(db: Database, n: int, workers: int) -> float:
    """Seconds for `workers` tasks to write the n effect rows, one transaction each."""
    await reset(db, 0)
    ids = [str(uuid.uuid4()) for _ in range(n)]

    async def loop(mine: list[str]) -> None:
        for job in mine:
            async with db.begin() as conn:
                await conn.execute(EFFECT, {"job": job, "worker": "plain"})

    started = time.perf_counter()
    await asyncio.gather(*(loop(ids[w::workers]) for w in range(workers)))
    return time.perf_counter() - started


@dataclass
class Socket:
    """What `UserChannels` needs of a connection: its id, whose it is, and a way to send."""

    id: str
    participant: str
    ws: Any


async def run_delivery_burst(
    db: Database, n: int, recipients: int, workers: int = 4, *, batch: bool = True
) -> float:
    """Seconds until n reminders due at once are each committed to its inbox and pushed, through
    the Redis bus, to its recipient's open WebSocket (each of `recipients` people has one)."""
    people = [str(uuid.uuid4()) for _ in range(recipients)]
    now = datetime.now(UTC)
    async with db.begin() as conn:
        await conn.execute(text("TRUNCATE jobs, notifications"))
        for start in range(0, n, 1000):
            ids = [str(uuid.uuid4()) for _ in range(start, min(n, start + 1000))]
            await conn.execute(
                insert(notifications),
                [
                    {
                        "id": i,
                        "recipient_id": people[k % recipients],
                        "kind": "reminder_15m",
                        "appointment_id": None,
                        "payload": json.dumps({"starts_at": now.isoformat()}),
                        "due_at": now,
                        "created_at": now,
                        "dedupe_key": f"reminder_15m:{i}",
                    }
                    for k, i in enumerate(ids, start)
                ],
            )
            await conn.execute(
                insert(jobs),
                [
                    {
                        "id": str(uuid.uuid4()),
                        "kind": DELIVER_JOB,
                        "key": i,
                        "payload": json.dumps({"notification": i}),
                        "status": "pending",
                        "due_at": now,
                        "available_at": now,
                        "attempts": 0,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    async with db.connect() as conn:
        await conn.execute(text("ANALYZE jobs"))
        await conn.execute(text("ANALYZE notifications"))

    bus = RedisBus(REDIS_URL, prefix=f"tcbench{uuid.uuid4().hex[:8]}:")
    await bus.start()

    async def send(sock: Any, body: dict[str, Any]) -> None:
        await sock.ws.send_str(orjson.dumps(body).decode())

    users = UserChannels(bus, send)

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sock = Socket(str(uuid.uuid4()), request.query["who"], ws)
        await users.watch(sock)  # type: ignore[arg-type]
        await ws.send_str("ready")
        async for _ in ws:
            pass
        await users.unwatch(sock)  # type: ignore[arg-type]
        return ws

    app = web.Application()
    app.router.add_get("/ws", socket)
    site_runner = web.AppRunner(app)
    await site_runner.setup()
    with contextlib.closing(socketlib.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await web.TCPSite(site_runner, "127.0.0.1", port).start()

    received = 0
    all_in = asyncio.Event()
    session = ClientSession(connector=TCPConnector(limit=0))
    clients = [await session.ws_connect(f"http://127.0.0.1:{port}/ws?who={p}") for p in people]
    for ws in clients:
        assert (await ws.receive_str()) == "ready"

    async def read(ws: Any) -> None:
        nonlocal received
        async for msg in ws:
            if msg.type == WSMsgType.TEXT and json.loads(msg.data)["type"] == "inbox":
                received += 1
                if received == n:
                    all_in.set()

    readers = [asyncio.create_task(read(ws)) for ws in clients]
    svc = SchedulingService(
        db,
        cipher=FieldCipher(os.urandom(32)),
        subject_keys=None,  # type: ignore[arg-type]
        clock=SystemClock(),
        audit=MemorySink(),
    )

    async def push(recipient: str, notice: str, kind: str) -> None:
        await users.push(recipient, {"type": "inbox", "notice": notice, "kind": kind})

    runner = JobRunner(db, SystemClock(), node="bench", workers=workers, poll_s=0.01, lease_s=60)
    # As web/jobs.py registers it: due notices delivered in batches (`--single`: one by one).
    runner.register(
        DELIVER_JOB,
        deliver_handler(svc, push),
        batch=deliver_batch_handler(svc, push) if batch else None,
    )
    started = time.perf_counter()
    await runner.start()
    await all_in.wait()
    elapsed = time.perf_counter() - started
    await runner.stop()
    async with db.connect() as conn:
        delivered = (
            await conn.execute(
                text("SELECT count(*) FROM notifications WHERE delivered_at IS NOT NULL")
            )
        ).scalar_one()
    assert delivered == n == received, "each notice in its inbox and pushed exactly once"
    for ws in clients:
        await ws.close()
    for task in readers:
        await task
    await session.close()
    await site_runner.cleanup()
    await users.close()
    await bus.close()
    return elapsed


async def run(args: argparse.Namespace) -> None:
    name, url = await create_bench_database()
    db = create_database(url, pool_size=8)
    try:
        await upgrade(db)
        async with db.begin() as conn:
            await conn.execute(text("CREATE TABLE job_effects (job_id varchar(36), worker text)"))
        n = args.jobs
        summary: dict[str, float] = {}
        ratios = []
        print(f"PostgreSQL, {n} due jobs a turn, {args.turns} turn(s), median jobs/s")
        for workers in WORKERS:
            ran, bare = [], []
            for _ in range(args.turns):
                ran.append(n / await run_runner(db, n, workers))
                bare.append(n / await run_bare(db, n, workers))
            plain = n / await run_plain(db, n, workers)
            runner_rate, bare_rate = statistics.median(ran), statistics.median(bare)
            ratio = statistics.median(r / b for r, b in zip(ran, bare, strict=True))
            ratios.append(ratio)
            summary[f"jobs_per_s_{workers}"] = round(runner_rate, 1)
            summary[f"bare_jobs_per_s_{workers}"] = round(bare_rate, 1)
            summary[f"plain_inserts_per_s_{workers}"] = round(plain, 1)
            print(
                f"  {workers} worker(s): runner {runner_rate:8.1f}   bare loop {bare_rate:8.1f}"
                f"   plain inserts {plain:8.1f}   runner/bare {ratio:.2f}"
            )
        summary["ratio"] = round(min(ratios), 3)
        cpu_runner = statistics.median(CPU["runner"]) * 1000
        cpu_bare = statistics.median(CPU["bare"]) * 1000
        summary["cpu_ms_per_job"] = round(cpu_runner, 2)
        summary["bare_cpu_ms_per_job"] = round(cpu_bare, 2)
        print(
            f"CPU of this process per job: runner {cpu_runner:.2f} ms, bare loop {cpu_bare:.2f} ms"
        )
        if not args.quick:
            seconds = await run_runner(db, args.burst, 4)
            summary["burst_10k_effect_only_s"] = round(seconds, 2)
            print(
                f"burst, a row per job only: {args.burst} jobs due at once, 4 workers: "
                f"all done in {seconds:.1f} s ({args.burst / seconds:.0f} jobs/s)"
            )
        seconds = await run_delivery_burst(
            db, args.burst, args.recipients, args.burst_workers, batch=not args.single
        )
        summary["burst_10k_s"] = round(seconds, 2)
        print(
            f"burst, delivered: {args.burst} reminders due at once, {args.burst_workers} workers"
            f"{', one job at a time' if args.single else ', in batches'}, "
            "each in its inbox "
            f"and pushed through Redis to one of {args.recipients} open sockets: "
            f"{seconds:.1f} s ({args.burst / seconds:.0f} notices/s; goal: within 60 s)"
        )
        print(f"lowest runner/bare ratio: {summary['ratio']:.2f} (goal >= 0.5)")
    finally:
        await db.dispose()
        await drop_bench_database(name)
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 jobs a turn, three turns")
    parser.add_argument("--jobs", type=int, default=None, help="due jobs a turn")
    parser.add_argument("--turns", type=int, default=None)
    parser.add_argument(
        "--burst",
        type=int,
        default=None,
        help="reminders due at one instant (default 10,000; 2,000 with --quick)",
    )
    parser.add_argument("--recipients", type=int, default=200, help="open sockets in the burst")
    parser.add_argument(
        "--burst-workers", type=int, default=4, help="the runner's workers in the delivered burst"
    )
    parser.add_argument(
        "--single",
        action="store_true",
        help="deliver the burst one job at a time (no batch handler), as before batching",
    )
    args = parser.parse_args()
    if args.jobs is None:
        args.jobs = 400 if args.quick else 2000
    if args.turns is None:
        args.turns = 3
    if args.burst is None:
        args.burst = 2000 if args.quick else 10_000
    try:
        import uvloop

        uvloop.run(run(args))
    except ImportError:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
