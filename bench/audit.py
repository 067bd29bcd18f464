"""Audit log benchmark: durable appends, full verification, and the baselines.

    .venv/bin/python bench/audit.py                 # 200,000 events, as the issue asks
    .venv/bin/python bench/audit.py --quick         # 20,000 events, well under two minutes

Four producers append events with realistic details to SQLite (WAL,
synchronous=FULL) with encryption and the tree on, signed checkpoints also
written to a checkpoint file; each producer keeps `--window` appends in flight,
as concurrent request handlers would. Then the whole log is verified with every
check `throughcare audit verify` makes (the checkpoint file, the head, the
checkpoint policy, time order). It runs on uvloop, the loop `throughcare serve`
runs on (`--loop asyncio` for the standard one). Baselines in the same run:
plain inserts of the same rows (plain-text details, no encryption, no hashing)
in durable transactions of the same size as the log's batches, which is the
store's limit; and hashlib SHA-256 over the same leaves, which is the hashing
limit. Appends and plain inserts take `--turns` turns each, alternately, so the
machine's load drifts over both alike; the ratio is the median of the turns'
ratios. Verification and hashing are each the median of `--verify-runs` runs.
CPU time per event is printed too: it moves less than wall time with the load.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from audit import AuditLog, open_audit_log  # noqa: E402
from audit.integrity import verify_log  # noqa: E402
from audit.log import DEFAULT_MAX_BATCH  # noqa: E402
from audit.record import event_leaf  # noqa: E402
from audit.store import stream_rows, to_event  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.db import Database, create_database, upgrade  # noqa: E402
from core.events import Action, AuditRecord  # noqa: E402

REASONS = [
    "medication review after change of dose",
    "follow-up of blood pressure readings",
    "substance misuse keyworker session",
    "mental health assessment requested by wing staff",
    "wound dressing check",
]


def make_records(n: int, seed: int = 7) -> list[AuditRecord]:
    rng = random.Random(seed)
    ests = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(3)]
    prisoners = [f"10000000-0000-4000-8000-{i:012d}" for i in range(500)]
    clinicians = [f"20000000-0000-4000-8000-{i:012d}" for i in range(20)]
    records = []
    for i in range(n):
        kind = rng.random()
        prisoner = rng.choice(prisoners)
        appointment = f"30000000-0000-4000-8000-{i // 6:012d}"
        if kind < 0.5:
            record = AuditRecord(
                Action.QUALITY_REPORT,
                actor=prisoner,
                establishment=rng.choice(ests),
                subject=prisoner,
                appointment=appointment,
                details={
                    "rtt_ms": rng.randint(20, 400),
                    "loss": round(rng.random() * 0.05, 4),
                    "bitrate_kbps": rng.randint(150, 2500),
                    "jitter_ms": rng.randint(1, 60),
                    "relay": True,
                },
            )
        elif kind < 0.8:
            record = AuditRecord(
                rng.choice([Action.JOINED, Action.ADMITTED, Action.LEFT, Action.CALL_ENDED]),
                actor=rng.choice(clinicians),
                establishment=rng.choice(ests),
                subject=prisoner,
                appointment=appointment,
                details={"room": appointment[-8:], "node": "node-1"},
            )
        elif kind < 0.95:
            record = AuditRecord(
                rng.choice([Action.BOOKED, Action.RESCHEDULED, Action.CONSENT_GIVEN]),
                actor=rng.choice(clinicians),
                establishment=rng.choice(ests),
                subject=prisoner,
                appointment=appointment,
                details={
                    "reason": rng.choice(REASONS),
                    "starts_at": "2026-03-04T10:30:00+00:00",
                    "duration_min": 20,
                },
            )
        else:
            record = AuditRecord(
                Action.SIGN_IN,
                actor=rng.choice(clinicians),
                establishment=rng.choice(ests),
                details={"method": "password+totp", "ip": "127.0.0.1"},
            )
        records.append(record)
    return records


async def migrated(path: Path) -> Database:
    db = create_database(f"sqlite+aiosqlite:///{path}")
    await upgrade(db)
    return db


def disk_bytes(path: Path) -> int:
    """The database's size once the WAL is folded in (the bench may block: it owns the loop)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


@dataclass
class Turns:
    """Wall and CPU time of each turn; turns alternate between the two things compared."""

    events: list[int] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, events: int, wall: float, cpu: float) -> None:
        self.events.append(events)
        self.wall.append(wall)
        self.cpu.append(cpu)

    @property
    def eps(self) -> float:
        return sum(self.events) / sum(self.wall)

    @property
    def cpu_us(self) -> float:
        return sum(self.cpu) / sum(self.events) * 1e6

    def rates(self) -> list[float]:
        return [n / w for n, w in zip(self.events, self.wall, strict=True)]


class Appender:
    """The real log, appended to by `producers` x `window` concurrent handlers."""

    def __init__(self, log: AuditLog, producers: int, window: int) -> None:
        self.log = log
        self.producers = producers
        self.window = window
        self.latencies: list[float] = []
        self.turns = Turns()

    async def turn(self, records: list[AuditRecord]) -> None:
        log, latencies = self.log, self.latencies

        async def handler(share: Iterator[AuditRecord]) -> None:
            for record in share:
                t0 = time.perf_counter()
                await log.append(record)
                latencies.append(time.perf_counter() - t0)

        shares = [iter(records[i :: self.producers]) for i in range(self.producers)]
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(handler(s) for s in shares for _ in range(self.window)))
        self.turns.add(len(records), time.perf_counter() - t0, time.process_time() - c0)


class PlainStore:
    """The same rows, plain text, no encryption or hashing, in durable transactions."""

    INSERT = "INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

    def __init__(self, db: Database) -> None:
        self.db = db
        self.next_seq = 0
        self.turns = Turns()

    @classmethod
    async def create(cls, path: Path) -> PlainStore:
        db = create_database(f"sqlite+aiosqlite:///{path}")
        async with db.begin() as conn:
            await conn.execute(
                text(
                    "CREATE TABLE plain (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, "
                    "establishment_id VARCHAR(36), actor VARCHAR(64) NOT NULL, "
                    "action VARCHAR(32) NOT NULL, subject VARCHAR(36), "
                    "appointment_id VARCHAR(36), details BLOB NOT NULL)"
                )
            )
            for name, cols in (
                ("est_at", "establishment_id, at"),
                ("subject", "subject"),
                ("appointment", "appointment_id"),
            ):
                await conn.execute(text(f"CREATE INDEX ix_plain_{name} ON plain ({cols})"))
        return cls(db)

    async def turn(self, records: list[AuditRecord], batch: int) -> None:
        clock = SystemClock()
        t0, c0 = time.perf_counter(), time.process_time()
        for start in range(0, len(records), batch):
            now = clock.now().replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            rows = [
                (
                    self.next_seq + i,
                    now,
                    r.establishment,
                    r.actor,
                    r.action.value,
                    r.subject,
                    r.appointment,
                    json.dumps(r.details, sort_keys=True, separators=(",", ":")).encode(),
                )
                for i, r in enumerate(records[start : start + batch])
            ]
            self.next_seq += len(rows)
            async with self.db.begin() as conn:
                await conn.exec_driver_sql(self.INSERT, rows)
        self.turns.add(len(records), time.perf_counter() - t0, time.process_time() - c0)


async def bench_verify(log: AuditLog, runs: int) -> tuple[float, float, int]:
    """Median events/s of wall and of CPU time over `runs` full verifications, and the size."""
    walls, cpus, size = [], [], 0
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        report = await verify_log(log)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        assert report.ok and report.kept_size == report.size, report.summary()
        size = report.size
    return size / statistics.median(walls), size / statistics.median(cpus), size


async def all_leaves(db: Database) -> list[bytes]:
    leaves: list[bytes] = []
    async with db.connect() as conn:
        async for chunk in stream_rows(conn):
            leaves.extend(event_leaf(to_event(r)) for r in chunk)
    return leaves


def bench_sha256(leaves: list[bytes], runs: int) -> float:
    sha = hashlib.sha256
    walls = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for leaf in leaves:
            sha(b"\x00" + leaf).digest()
        walls.append(time.perf_counter() - t0)
    return len(leaves) / statistics.median(walls)


async def run(args: argparse.Namespace) -> None:
    if args.quick:
        args.events = 20_000
    records = make_records(args.events)
    cut = -(-len(records) // args.turns)
    parts = [records[i : i + cut] for i in range(0, len(records), cut)]
    with tempfile.TemporaryDirectory(prefix="tc-audit-bench-") as tmp:
        workdir = Path(tmp)
        db = await migrated(workdir / "audit.db")
        log = await open_audit_log(
            db,
            keys_dir=workdir / "keys",
            clock=SystemClock(),
            max_batch=args.max_batch,
            checkpoint_dir=workdir / "checkpoints",
        )
        appender = Appender(log, args.producers, args.window)
        plain = await PlainStore.create(workdir / "plain.db")
        # In turns, so that the machine's load drifts over both alike.
        for part in parts:
            await appender.turn(part)
            await plain.turn(part, max(1, round(log.events / log.batches)))
        mean_batch = log.events / log.batches
        await log.close()
        await plain.db.dispose()
        size = disk_bytes(workdir / "audit.db")
        verify_eps, verify_cpu_eps, verified = await bench_verify(log, args.verify_runs)
        leaves = await all_leaves(db)
        await db.dispose()
    sha_eps = bench_sha256(leaves, args.verify_runs)
    latencies = sorted(appender.latencies)
    ratios = [a / p for a, p in zip(appender.turns.rates(), plain.turns.rates(), strict=True)]
    summary = {
        "append_eps": round(appender.turns.eps),
        "append_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "bytes_per_event": round(size / len(records), 1),
        "plain_insert_eps": round(plain.turns.eps),
        "append_ratio": round(statistics.median(ratios), 3),
        "append_cpu_us": round(appender.turns.cpu_us, 1),
        "plain_cpu_us": round(plain.turns.cpu_us, 1),
        "verify_eps": round(verify_eps),
        "verify_cpu_eps": round(verify_cpu_eps),
        "sha256_eps": round(sha_eps),
        "verify_ratio": round(verify_eps / sha_eps, 3),
        "loop": args.loop,
    }
    print(f"events:            {verified} from {args.producers} producers, {args.loop}")
    print(f"mean batch:        {mean_batch:.1f} events per commit")
    print(
        f"append:            {summary['append_eps']} events/s, p99 {summary['append_p99_ms']} ms, "
        f"{summary['append_cpu_us']} us CPU/event"
    )
    print(f"on disk:           {summary['bytes_per_event']} bytes/event")
    print(
        f"plain insert:      {summary['plain_insert_eps']} events/s (same batch size), "
        f"{summary['plain_cpu_us']} us CPU/event"
    )
    print(
        f"append ratio:      {summary['append_ratio']} (median of {len(ratios)} turns: "
        f"{', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"verify:            {summary['verify_eps']} events/s "
        f"({summary['verify_cpu_eps']} per CPU second), median of {args.verify_runs}"
    )
    print(f"sha256 of leaves:  {summary['sha256_eps']} leaves/s")
    print(f"verify ratio:      {summary['verify_ratio']} (verify / sha256 of leaves)")
    print(json.dumps(summary))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="20,000 events")
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop (the service runs on uvloop)",
    )
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--window", type=int, default=128, help="appends in flight per producer")
    parser.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH)
    parser.add_argument("--turns", type=int, default=5, help="alternating append/plain turns")
    parser.add_argument("--verify-runs", type=int, default=3, help="verifications (median)")
    args = parser.parse_args()
    if args.loop == "asyncio":
        asyncio.run(run(args))
    else:
        import uvloop

        uvloop.run(run(args))


if __name__ == "__main__":
    main()
