"""Slot search benchmark: the next 20 free slots for one service across all clinicians.

    .venv/bin/python bench/slots.py           # 200 searches, 20 naive searches
    .venv/bin/python bench/slots.py --quick   # 50 searches, 5 naive searches

Seeds a fresh SQLite store (WAL, synchronous=FULL) with 200 clinicians, each
available Monday to Friday 09:00-17:00 (Europe/London) for one 20-minute GP
service with a 5-minute buffer, a daily roll check, and 20,000 booked
appointments over the next 90 days (two thirds of them in the first 30 days,
as real lists fill from the front). Then times `SchedulingService.search_slots`
from random start times, and the naive baseline in the same run: generate every
candidate slot of every clinician over the same 30-day range in Python, then
filter each against the regime window and each of that clinician's appointments. The two must agree.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import and_, insert, select  # noqa: E402

from audit import open_subject_keys  # noqa: E402
from core.clock import FakeClock  # noqa: E402
from core.db import Database, create_database, upgrade  # noqa: E402
from core.db.schema import accounts, establishments  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.fields import FieldCipher  # noqa: E402
from scheduling import SchedulingService, Slot  # noqa: E402
from scheduling.tables import appointments, availability, regime_windows, services  # noqa: E402
from scheduling.times import local_instant  # noqa: E402

CLINICIANS = 200
APPOINTMENTS = 20_000
DAYS = 90
WANTED = 20
HORIZON = timedelta(days=30)
LENGTH = timedelta(minutes=20)
BUFFER = timedelta(minutes=5)
START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)  # a Monday, GMT
TZ = ZoneInfo("Europe/London")
DAY_START, DAY_END = 9 * 60, 17 * 60
ROLL = (12 * 60, 12 * 60 + 30)


def grid_minutes() -> list[int]:
    """Slot starts: every length+buffer from the start of each open period of the day
    (09:00-12:00 and 12:30-17:00 around the roll check), as the service lays them out."""
    starts = []
    for lo, hi in ((DAY_START, ROLL[0]), (ROLL[1], DAY_END)):
        minute = lo
        while minute + 20 <= hi:
            starts.append(minute)
            minute += 25
    return starts


def _id() -> str:
    return str(uuid.uuid4())


async def seed(db: Database, rng: random.Random) -> tuple[str, list[str]]:
    est, service = _id(), _id()
    now = START
    clinicians = [_id() for _ in range(CLINICIANS)]
    prisoners = [_id() for _ in range(2000)]
    people = [
        {
            "id": c,
            "establishment_id": est,
            "role": "clinician",
            "username": f"c{i}",
            "display_name_enc": b"x",
            "failed_attempts": 0,
            "active": True,
            "locale": "en",
            "created_at": now,
        }
        for i, c in enumerate(clinicians)
    ] + [
        {
            "id": p,
            "establishment_id": est,
            "role": "prisoner",
            "username": None,
            "display_name_enc": b"x",
            "failed_attempts": 0,
            "active": True,
            "locale": "en",
            "created_at": now,
        }
        for p in prisoners
    ]
    rules = [
        {
            "id": _id(),
            "clinician_id": c,
            "establishment_id": est,
            "service_id": service,
            "weekday": d,
            "start_minute": DAY_START,
            "end_minute": DAY_END,
            "created_at": now,
        }
        for c in clinicians
        for d in range(5)
    ]
    regime = [
        {
            "id": _id(),
            "establishment_id": est,
            "label": "Roll check",
            "weekday": d,
            "start_minute": ROLL[0],
            "end_minute": ROLL[1],
            "created_by": "bench",
            "created_at": now,
        }
        for d in range(7)
    ]
    # Every grid slot that is free of the roll check, per clinician and day.
    grid = [(m, m + 20) for m in grid_minutes()]
    weekdays = [
        START.date() + timedelta(days=i)
        for i in range(DAYS)
        if (START.date() + timedelta(days=i)).weekday() < 5
    ]
    early = [d for d in weekdays if d < START.date() + timedelta(days=30)]
    taken: set[tuple[str, date, int]] = set()
    booked: list[dict[str, Any]] = []
    prisoner_busy: set[tuple[str, date, int]] = set()
    while len(booked) < APPOINTMENTS:
        day = rng.choice(early if rng.random() < 2 / 3 else weekdays)
        clinician = rng.choice(clinicians)
        slot = rng.randrange(len(grid))
        prisoner = rng.choice(prisoners)
        if (clinician, day, slot) in taken or (prisoner, day, slot) in prisoner_busy:
            continue
        taken.add((clinician, day, slot))
        prisoner_busy.add((prisoner, day, slot))
        starts = local_instant(day, grid[slot][0], TZ)
        booked.append(
            {
                "id": _id(),
                "establishment_id": est,
                "prisoner_id": prisoner,
                "clinician_id": clinician,
                "service_id": service,
                "starts_at": starts,
                "ends_at": starts + LENGTH,
                "buffer_minutes": 5,
                "status": "booked",
                "same_sex": False,
                "chaperone": False,
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
            }
        )
    async with db.begin() as conn:
        await conn.execute(
            insert(establishments).values(
                id=est,
                code="BENCH",
                name="HMP Bench",
                timezone="Europe/London",
                relay_only=True,
                created_at=now,
            )
        )
        await conn.execute(insert(accounts), people)
        await conn.execute(
            insert(services).values(
                id=service,
                establishment_id=est,
                code="gp",
                name="GP",
                minutes=20,
                buffer_minutes=5,
                target_days=14,
                sensitive=False,
            )
        )
        await conn.execute(insert(availability), rules)
        await conn.execute(insert(regime_windows), regime)
        for i in range(0, len(booked), 2000):
            await conn.execute(insert(appointments), booked[i : i + 2000])
    return service, clinicians


async def naive(db: Database, clinicians: list[str], start: datetime) -> list[Slot]:
    """The baseline: every candidate over the whole range, each checked against everything."""
    end = start + HORIZON
    async with db.connect() as conn:
        rows = list(
            await conn.execute(
                select(
                    appointments.c.clinician_id, appointments.c.starts_at, appointments.c.ends_at
                ).where(
                    and_(
                        appointments.c.status == "booked",
                        appointments.c.starts_at < end + timedelta(hours=1),
                        appointments.c.ends_at > start - timedelta(hours=1),
                    )
                )
            )
        )
    by_clinician: dict[str, list[Any]] = {c: [] for c in clinicians}
    for r in rows:
        by_clinician[r.clinician_id].append(r)
    on_grid = set(grid_minutes())
    found: list[Slot] = []
    first = start.astimezone(TZ).date()
    for offset in range((end - start).days + 2):
        day = first + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        roll = (local_instant(day, ROLL[0], TZ), local_instant(day, ROLL[1], TZ))
        for clinician in clinicians:
            for minute in range(DAY_START, DAY_END - 19, 5):
                if minute not in on_grid:
                    continue
                s = local_instant(day, minute, TZ)
                e = s + LENGTH
                if s < start or e > end or (s < roll[1] and e > roll[0]):
                    continue
                if any(
                    s < r.ends_at + BUFFER and e > r.starts_at - BUFFER
                    for r in by_clinician[clinician]
                ):
                    continue
                found.append(Slot(clinician, "", s, e))
    found.sort(key=lambda x: (x.starts_at, x.clinician_id))
    return found[:WANTED]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 searches, 5 naive")
    parser.add_argument("--searches", type=int)
    parser.add_argument("--naive-searches", type=int)
    args = parser.parse_args()
    searches = args.searches or (50 if args.quick else 200)
    naive_searches = args.naive_searches or (5 if args.quick else 20)
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        db = create_database(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(db)
        t0 = time.perf_counter()
        service, clinicians = await seed(db, rng)
        print(
            f"seeded {CLINICIANS} clinicians, {APPOINTMENTS} appointments over {DAYS} days "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        clock = FakeClock(START)
        subject_keys = await open_subject_keys(db, keys_dir=Path(tmp) / "keys", clock=clock)
        svc = SchedulingService(
            db,
            cipher=FieldCipher(bytes(32)),
            subject_keys=subject_keys,
            clock=clock,
            audit=MemorySink(),
        )
        starts = [
            START + timedelta(minutes=rng.randrange(0, 60 * 24 * (DAYS - 31)))
            for _ in range(searches)
        ]
        # One untimed search first: statement compilation and caches warm up once per process.
        await svc.search_slots(service_id=service, start=START, end=START + HORIZON, limit=WANTED)
        times: list[float] = []
        cpu_times: list[float] = []
        results: list[list[Slot]] = []
        for start in starts:
            clock.set(start)
            t, cpu = time.perf_counter(), time.process_time()
            found = await svc.search_slots(
                service_id=service, start=start, end=start + HORIZON, limit=WANTED
            )
            times.append((time.perf_counter() - t) * 1000)
            cpu_times.append((time.process_time() - cpu) * 1000)
            results.append(found)
        assert all(len(r) == WANTED for r in results)
        naive_times: list[float] = []
        for start, fast in zip(starts[:naive_searches], results, strict=False):
            t = time.perf_counter()
            slow = await naive(db, clinicians, start)
            naive_times.append((time.perf_counter() - t) * 1000)
            assert [(s.clinician_id, s.starts_at) for s in slow] == [
                (s.clinician_id, s.starts_at) for s in fast
            ], "the fast search and the naive baseline disagree"
        await db.dispose()
    median, p99 = statistics.median(times), pct(times, 0.99)
    naive_p99 = pct(naive_times, 0.99)
    print(f"search: median {median:.2f} ms, p99 {p99:.2f} ms over {searches} searches")
    print(
        f"search CPU time (all threads; less sensitive to other load): median "
        f"{statistics.median(cpu_times):.2f} ms, p99 {pct(cpu_times, 0.99):.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"naive:  median {statistics.median(naive_times):.1f} ms, p99 {naive_p99:.1f} ms "
        f"over {naive_searches} searches"
    )
    print(
        json.dumps(
            {
                "median_ms": round(median, 2),
                "p99_ms": round(p99, 2),
                "naive_p99_ms": round(naive_p99, 1),
                "speedup": round(naive_p99 / p99, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
