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
limit. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from audit import open_audit_log  # noqa: E402
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


async def bench_appends(
    workdir: Path, records: list[AuditRecord], producers: int, window: int, max_batch: int
) -> dict[str, Any]:
    path = workdir / "audit.db"
    db = await migrated(path)
    log = await open_audit_log(
        db,
        keys_dir=workdir / "keys",
        clock=SystemClock(),
        max_batch=max_batch,
        checkpoint_dir=workdir / "checkpoints",
    )
    latencies: list[float] = []

    async def timed(record: AuditRecord) -> None:
        t0 = time.perf_counter()
        await log.append(record)
        latencies.append(time.perf_counter() - t0)

    async def producer(share: list[AuditRecord]) -> None:
        """`window` request handlers, each appending one event after another."""
        records = iter(share)

        async def handler() -> None:
            for record in records:
                await timed(record)

        await asyncio.gather(*(handler() for _ in range(window)))

    shares = [records[i::producers] for i in range(producers)]
    t0 = time.perf_counter()
    await asyncio.gather(*(producer(s) for s in shares))
    elapsed = time.perf_counter() - t0
    batches, events = log.batches, log.events
    await log.close()
    size = disk_bytes(path)
    latencies.sort()
    t1 = time.perf_counter()
    report = await verify_log(log)
    verify_elapsed = time.perf_counter() - t1
    assert report.ok and report.kept_size == report.size, report.summary()
    leaves: list[bytes] = []
    async with db.connect() as conn:
        async for chunk in stream_rows(conn):
            leaves.extend(event_leaf(to_event(r)) for r in chunk)
    await db.dispose()
    return {
        "append_eps": len(records) / elapsed,
        "append_p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "bytes_per_event": size / len(records),
        "mean_batch": events / batches,
        "verify_eps": report.size / verify_elapsed,
        "leaves": leaves,
    }


async def bench_plain(workdir: Path, records: list[AuditRecord], batch: int) -> float:
    path = workdir / "plain.db"
    db = create_database(f"sqlite+aiosqlite:///{path}")
    async with db.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE plain (seq INTEGER PRIMARY KEY, at TEXT NOT NULL, "
                "establishment_id VARCHAR(36), actor VARCHAR(64) NOT NULL, "
                "action VARCHAR(32) NOT NULL, subject VARCHAR(36), appointment_id VARCHAR(36), "
                "details BLOB NOT NULL)"
            )
        )
        for name, cols in (
            ("est_at", "establishment_id, at"),
            ("subject", "subject"),
            ("appointment", "appointment_id"),
        ):
            await conn.execute(text(f"CREATE INDEX ix_plain_{name} ON plain ({cols})"))
    insert = "INSERT INTO plain VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    clock = SystemClock()
    t0 = time.perf_counter()
    for start in range(0, len(records), batch):
        now = clock.now().replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        rows = [
            (
                start + i,
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
        async with db.begin() as conn:
            await conn.exec_driver_sql(insert, rows)
    elapsed = time.perf_counter() - t0
    await db.dispose()
    return len(records) / elapsed


def bench_sha256(leaves: list[bytes]) -> float:
    sha = hashlib.sha256
    t0 = time.perf_counter()
    for leaf in leaves:
        sha(b"\x00" + leaf).digest()
    return len(leaves) / (time.perf_counter() - t0)


async def run(args: argparse.Namespace) -> None:
    if args.quick:
        args.events = 20_000
    records = make_records(args.events)
    with tempfile.TemporaryDirectory(prefix="tc-audit-bench-") as tmp:
        workdir = Path(tmp)
        result = await bench_appends(workdir, records, args.producers, args.window, args.max_batch)
        batch = max(1, round(result["mean_batch"]))
        plain_eps = await bench_plain(workdir, records, batch)
    sha_eps = bench_sha256(result.pop("leaves"))
    summary = {
        "append_eps": round(result["append_eps"]),
        "append_p99_ms": round(result["append_p99_ms"], 2),
        "bytes_per_event": round(result["bytes_per_event"], 1),
        "plain_insert_eps": round(plain_eps),
        "append_ratio": round(result["append_eps"] / plain_eps, 3),
        "verify_eps": round(result["verify_eps"]),
        "sha256_eps": round(sha_eps),
        "verify_ratio": round(result["verify_eps"] / sha_eps, 3),
        "loop": args.loop,
    }
    print(f"events:            {args.events} from {args.producers} producers, {args.loop}")
    print(f"mean batch:        {result['mean_batch']:.1f} events per commit")
    print(f"append:            {summary['append_eps']} events/s, p99 {summary['append_p99_ms']} ms")
    print(f"on disk:           {summary['bytes_per_event']} bytes/event")
    print(f"plain insert:      {summary['plain_insert_eps']} events/s (same batch size)")
    print(f"append ratio:      {summary['append_ratio']}")
    print(f"verify:            {summary['verify_eps']} events/s")
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
    args = parser.parse_args()
    if args.loop == "asyncio":
        asyncio.run(run(args))
    else:
        import uvloop

        uvloop.run(run(args))


if __name__ == "__main__":
    main()
