"""Reports benchmark: the manager's full dashboard for one establishment and a month.

    .venv/bin/python bench/reports.py           # 100,000 appointments, 2,000,000 audit events
    .venv/bin/python bench/reports.py --quick   # a tenth of each

Bulk-loads (COPY) a fresh PostgreSQL database with a year of three establishments
(60% of the activity in the one reported on): appointments of every status and cause,
a call summary per consult that reached a call, pre-call tests, health requests, and
audit events (plain JSON details here, where the real log's are encrypted, which only
flatters the naive path). Then times `SchedulingService.dashboard` (every report of the
dashboard, counted in SQL) against the naive path in the same run: fetch the period's
appointments, its audit events (admitted, quality_report, call_ended), pre-call tests and
requests, and count in Python, as the dashboard used to in the browser. The figures both
paths share must agree. Goal: p95 under 300 ms and at least 20x. The last line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from core.clock import FakeClock  # noqa: E402
from core.db import create_database, upgrade  # noqa: E402
from core.db.schema import accounts, cells, devices, establishments, wings  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.fields import FieldCipher  # noqa: E402
from core.identity import Principal, Role  # noqa: E402
from scheduling import SchedulingService  # noqa: E402
from scheduling.reports import REPORTS  # noqa: E402
from scheduling.tables import services  # noqa: E402

ADMIN_URL = os.environ.get(
    "THROUGHCARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
).replace("postgresql+asyncpg://", "postgresql://")
YEAR = datetime(2025, 1, 1, tzinfo=UTC)
STATUSES = (
    ["completed"] * 70
    + ["did_not_attend"] * 12
    + ["cancelled"] * 10
    + ["not_recorded"] * 5
    + ["booked"] * 3
)
CAUSES = ("prison", "patient", "clinician")


def naive(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(tzinfo=None)


async def create_db() -> tuple[str, str]:
    name = f"bench_reports_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    return name, dsn


async def drop_db(name: str) -> None:
    conn = await asyncpg.connect(ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def seed(db: Any, dsn: str, n_appointments: int, n_events: int) -> dict[str, Any]:
    rng = random.Random(15)
    now = naive(YEAR)
    world: dict[str, Any] = {"ests": []}
    async with db.begin() as conn:
        for e in range(3):
            est = str(uuid.uuid4())
            await conn.execute(
                insert(establishments).values(
                    id=est,
                    code=f"B{e}",
                    name=f"HMP Bench {e}",
                    timezone="Europe/London",
                    relay_only=True,
                    created_at=YEAR,
                )
            )
            people = {}
            for role in ("clinician", "prisoner"):
                pid = str(uuid.uuid4())
                await conn.execute(
                    insert(accounts).values(
                        id=pid,
                        establishment_id=est,
                        role=role,
                        display_name_enc=b"x",
                        failed_attempts=0,
                        active=True,
                        locale="en",
                        created_at=YEAR,
                        username=f"{role}{e}" if role == "clinician" else None,
                    )
                )
                people[role] = pid
            svc = []
            for code, escort in (("gp", False), ("dental", True), ("mental", True)):
                sid = str(uuid.uuid4())
                await conn.execute(
                    insert(services).values(
                        id=sid,
                        establishment_id=est,
                        code=code,
                        name=code.upper(),
                        minutes=20,
                        buffer_minutes=5,
                        target_days=14,
                        sensitive=False,
                        escort_if_in_person=escort,
                    )
                )
                svc.append(sid)
            wing_ids, cell_ids = [], []
            for w in range(4):
                wid, cid = str(uuid.uuid4()), str(uuid.uuid4())
                await conn.execute(
                    insert(wings).values(
                        id=wid, establishment_id=est, name=f"W{w}", created_at=YEAR
                    )
                )
                await conn.execute(
                    insert(cells).values(
                        id=cid, establishment_id=est, wing_id=wid, name=f"W{w}-1", created_at=YEAR
                    )
                )
                wing_ids.append(wid)
                cell_ids.append(cid)
            device = str(uuid.uuid4())
            await conn.execute(
                insert(devices).values(
                    id=device, establishment_id=est, cell_id=cell_ids[0], created_at=YEAR
                )
            )
            world["ests"].append(
                {
                    "id": est,
                    "people": people,
                    "services": svc,
                    "wings": wing_ids,
                    "cells": cell_ids,
                    "device": device,
                }
            )
        manager = str(uuid.uuid4())
        target = world["ests"][0]
        await conn.execute(
            insert(accounts).values(
                id=manager,
                establishment_id=target["id"],
                role="manager",
                display_name_enc=b"x",
                failed_attempts=0,
                active=True,
                locale="en",
                created_at=YEAR,
                username="bench.manager",
            )
        )
        world["manager"] = manager
    appts, summaries, tests, requests, events = [], [], [], [], []
    seq = 0
    weights = [0.6, 0.2, 0.2]
    for _ in range(n_appointments):
        est = rng.choices(world["ests"], weights)[0]
        start = naive(YEAR + timedelta(minutes=rng.randrange(365 * 24 * 60)))
        status = rng.choice(STATUSES)
        cause = rng.choice(CAUSES) if status in ("did_not_attend", "cancelled") else None
        aid = str(uuid.uuid4())
        service = rng.choice(est["services"])
        appts.append(
            (
                aid,
                est["id"],
                est["people"]["prisoner"],
                est["people"]["clinician"],
                service,
                start,
                start + timedelta(minutes=20),
                5,
                status,
                cause,
                False,
                False,
                False,
                rng.random() < 0.05,
                est["people"]["clinician"],
                now,
                now,
            )
        )
        if status == "completed" or (status == "not_recorded" and rng.random() < 0.5):
            answered = status == "completed"
            wait = rng.randrange(0, 1200) if answered else None
            loss = round(rng.random() * 12, 2) if answered else None
            bitrate = float(rng.randrange(60, 1500)) if answered else None
            call_s = rng.randrange(30, 1800) if answered else None
            admits = 1 + (rng.random() < 0.1) if answered else 0
            summaries.append(
                (
                    aid,
                    est["id"],
                    start,
                    '["clinician","patient"]',
                    True,
                    start,
                    start + timedelta(seconds=wait or 0) if answered else None,
                    wait,
                    admits,
                    rng.randrange(5, 120) if admits > 1 else None,
                    call_s,
                    start + timedelta(minutes=25),
                    "clinician_ended",
                    "answered" if answered else rng.choice(["unanswered", "abandoned"]),
                    int(rng.random() < 0.1),
                    "video",
                    loss,
                    bitrate,
                    "good",
                )
            )
            actor = est["people"]["clinician"]
            if answered:
                seq += 1
                events.append(
                    (
                        seq,
                        start,
                        est["id"],
                        actor,
                        "admitted",
                        est["people"]["prisoner"],
                        aid,
                        {"waited_s": wait},
                    )
                )
                for k in range(2):
                    seq += 1
                    events.append(
                        (
                            seq,
                            start + timedelta(seconds=10 * k),
                            est["id"],
                            actor,
                            "quality_report",
                            est["people"]["prisoner"],
                            aid,
                            {"loss_pct": loss if k == 0 else 0.0, "bitrate_kbps": bitrate},
                        )
                    )
            seq += 1
            events.append(
                (
                    seq,
                    start + timedelta(minutes=25),
                    est["id"],
                    actor,
                    "call_ended",
                    est["people"]["prisoner"],
                    aid,
                    {"call_s": call_s},
                )
            )
        if rng.random() < 0.3:
            w = rng.randrange(4)
            tests.append(
                (
                    str(uuid.uuid4()),
                    est["id"],
                    est["device"],
                    est["people"]["prisoner"],
                    aid,
                    est["wings"][w],
                    est["cells"][w],
                    start - timedelta(minutes=30),
                    start - timedelta(minutes=29),
                    rng.choice(["good", "good", "good", "poor", "failed"]),
                )
            )
        if rng.random() < 0.05:
            created = start - timedelta(days=rng.randrange(1, 30))
            triaged = created + timedelta(days=rng.randrange(0, 30)) if rng.random() < 0.8 else None
            requests.append(
                (
                    str(uuid.uuid4()),
                    est["people"]["prisoner"],
                    est["id"],
                    "gp",
                    b"sealed",
                    "triaged" if triaged else "received",
                    service,
                    created,
                    triaged,
                )
            )
    filler = ("booked", "checked_in", "joined", "waiting", "left", "sign_in", "message_sent")
    while seq < n_events:
        est = rng.choices(world["ests"], weights)[0]
        seq += 1
        events.append(
            (
                seq,
                naive(YEAR + timedelta(minutes=rng.randrange(365 * 24 * 60))),
                est["id"],
                est["people"]["clinician"],
                rng.choice(filler),
                est["people"]["prisoner"],
                None,
                {},
            )
        )
    conn2 = await asyncpg.connect(dsn)
    try:
        await conn2.copy_records_to_table(
            "appointments",
            records=appts,
            columns=[
                "id",
                "establishment_id",
                "prisoner_id",
                "clinician_id",
                "service_id",
                "starts_at",
                "ends_at",
                "buffer_minutes",
                "status",
                "outcome_category",
                "same_sex",
                "chaperone",
                "video_required",
                "in_person",
                "created_by",
                "created_at",
                "updated_at",
            ],
        )
        await conn2.copy_records_to_table(
            "call_summaries",
            records=summaries,
            columns=[
                "appointment_id",
                "establishment_id",
                "scheduled_start",
                "attended",
                "patient_attended",
                "first_arrival_at",
                "first_admit_at",
                "wait_s",
                "admits",
                "readmit_wait_s",
                "call_s",
                "ended_at",
                "ended_reason",
                "answer",
                "mode_changes",
                "final_mode",
                "worst_loss_pct",
                "lowest_bitrate_kbps",
                "precall",
            ],
        )
        await conn2.copy_records_to_table(
            "test_calls",
            records=tests,
            columns=[
                "id",
                "establishment_id",
                "device_id",
                "prisoner_id",
                "appointment_id",
                "wing_id",
                "cell_id",
                "started_at",
                "finished_at",
                "outcome",
            ],
        )
        await conn2.copy_records_to_table(
            "health_requests",
            records=requests,
            columns=[
                "id",
                "prisoner_id",
                "establishment_id",
                "category",
                "text_enc",
                "status",
                "service_id",
                "created_at",
                "triaged_at",
            ],
        )
        await conn2.copy_records_to_table(
            "audit_events",
            records=[
                (s, at, e, a, act, sub, ap, "bench", json.dumps(d).encode(), b"\0" * 32)
                for s, at, e, a, act, sub, ap, d in events
            ],
            columns=[
                "seq",
                "at",
                "establishment_id",
                "actor",
                "action",
                "subject",
                "appointment_id",
                "key_id",
                "details",
                "leaf_hash",
            ],
        )
        await conn2.execute("ANALYZE")
    finally:
        await conn2.close()
    world["counts"] = {
        "appointments": len(appts),
        "summaries": len(summaries),
        "events": len(events),
    }
    return world


async def naive_dashboard(dsn: str, est: str, start: datetime, end: datetime) -> dict[str, Any]:
    """The old way: fetch the period's rows (and its audit events) and count in Python."""
    conn = await asyncpg.connect(dsn)
    try:
        lo, hi = naive(start), naive(end)
        rows = await conn.fetch(
            "SELECT a.status, a.outcome_category, a.in_person, s.escort_if_in_person "
            "FROM appointments a JOIN services s ON s.id = a.service_id "
            "WHERE a.establishment_id = $1 AND a.starts_at >= $2 AND a.starts_at < $3",
            est,
            lo,
            hi,
        )
        events = await conn.fetch(
            "SELECT action, appointment_id, details FROM audit_events WHERE establishment_id = $1 "
            "AND at >= $2 AND at < $3 ORDER BY seq",
            est,
            lo,
            hi,
        )
        tests = await conn.fetch(
            "SELECT t.outcome, w.name FROM test_calls t JOIN wings w ON w.id = t.wing_id "
            "WHERE t.establishment_id = $1 AND t.started_at >= $2 AND t.started_at < $3",
            est,
            lo,
            hi,
        )
        requests = await conn.fetch(
            "SELECT status FROM health_requests WHERE establishment_id = $1 AND created_at >= $2 "
            "AND created_at < $3",
            est,
            lo,
            hi,
        )
    finally:
        await conn.close()
    missed = dict.fromkeys(CAUSES, 0)
    completed = escorts = 0
    for r in rows:
        if r["status"] == "completed":
            completed += 1
            if r["escort_if_in_person"] and not r["in_person"]:
                escorts += 1
        elif r["status"] == "did_not_attend" and r["outcome_category"] in missed:
            missed[r["outcome_category"]] += 1
    waits: list[float] = []
    worst: dict[str, float] = {}
    for e in events:
        details = json.loads(e["details"])
        if e["action"] == "admitted" and details.get("waited_s") is not None:
            waits.append(details["waited_s"])
        elif e["action"] == "quality_report":
            worst[e["appointment_id"]] = max(
                worst.get(e["appointment_id"], 0.0), details["loss_pct"]
            )
    failed: dict[str, int] = {}
    for t in tests:
        failed[t["name"]] = failed.get(t["name"], 0) + (t["outcome"] == "failed")
    return {
        "booked": len(rows),
        "completed": completed,
        "missed": missed,
        "escorts": escorts,
        "median_wait": statistics.median(waits) if waits else None,
        "calls_with_quality": len(worst),
        "failed_by_wing": failed,
        "requests": len(requests),
    }


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> None:
    scale = 10 if args.quick else 1
    n_appointments, n_events = 100_000 // scale, 2_000_000 // scale
    name, dsn = await create_db()
    db = create_database(dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        await upgrade(db)
        began = time.perf_counter()
        world = await seed(db, dsn, n_appointments, n_events)
        print(f"seeded {world['counts']} in {time.perf_counter() - began:.1f} s", file=sys.stderr)
        target = world["ests"][0]["id"]
        clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        svc = SchedulingService(
            db,
            cipher=FieldCipher(os.urandom(32)),
            subject_keys=None,
            clock=clock,
            audit=MemorySink(),  # type: ignore[arg-type]
        )
        manager = Principal(world["manager"], Role.MANAGER, target, "bench")
        period = await svc.report_period(manager, target, "2025-06-01", "2025-06-30")
        fast, slow = [], []
        result: dict[str, Any] = {}
        for _ in range(3):
            await svc.dashboard(period)
        for _ in range(args.runs):
            t0 = time.perf_counter()
            result = await svc.dashboard(period)
            fast.append((time.perf_counter() - t0) * 1000)
        plain: dict[str, Any] = {}
        for _ in range(args.naive_runs):
            t0 = time.perf_counter()
            plain = await naive_dashboard(dsn, target, period.start, period.end)
            slow.append((time.perf_counter() - t0) * 1000)
        m = result["misses"]
        assert m["booked"] == plain["booked"] and m["completed"] == plain["completed"], (m, plain)
        assert {c: m["did_not_attend"][c] for c in CAUSES} == plain["missed"]
        assert result["escorts"]["avoided"] == plain["escorts"]
        assert result["waits"]["median_s"] == plain["median_wait"], (result["waits"], plain)
        assert {w["wing"]: w["failed"] for w in result["precall"]["by_wing"]} == plain[
            "failed_by_wing"
        ]
        assert result["requests"]["requests"] == plain["requests"]
        for name in REPORTS:
            took = []
            for _ in range(10):
                t0 = time.perf_counter()
                await svc.report(period, name)
                took.append((time.perf_counter() - t0) * 1000)
            print(f"  {name}: p50 {statistics.median(took):.1f} ms", file=sys.stderr)
        fast_p95, slow_p95 = p95(fast), p95(slow)
        print(
            f"dashboard over {m['booked']} appointments of the month: SQL p50 "
            f"{statistics.median(fast):.1f} ms p95 {fast_p95:.1f} ms; naive p50 "
            f"{statistics.median(slow):.1f} ms p95 {slow_p95:.1f} ms",
            file=sys.stderr,
        )
        print(
            json.dumps(
                {
                    "p95_ms": round(fast_p95, 1),
                    "naive_p95_ms": round(slow_p95, 1),
                    "speedup": round(slow_p95 / fast_p95, 1),
                }
            )
        )
    finally:
        await db.dispose()
        await drop_db(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--naive-runs", type=int, default=10)
    args = parser.parse_args()
    if args.quick:
        args.runs, args.naive_runs = min(args.runs, 30), min(args.naive_runs, 5)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
