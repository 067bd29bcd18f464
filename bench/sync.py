"""Offline sync benchmark: queued answers received per second when devices reconnect at once.

    .venv/bin/python bench/sync.py            # 500 devices x 50 queued answers (25,000)
    .venv/bin/python bench/sync.py --quick    # 200 devices x 50 (10,000)

Each device's queue is sealed beforehand, as the device does it (AES-GCM under the
person's queue key, the client id as associated data; one answer in 50 a PHQ-9 risk
answer). Then every device sends its whole queue as one batch through `OfflineSync.sync`,
all at once (`asyncio.gather`, as 500 requests reaching the server's handlers). Each
request opens its items with the person's key and scores them; then it waits for one of
the service's writers (at most 4 at a time, so at most 4 of the pool's 10 connections),
and a writer takes every batch waiting (up to 2,000 items) into one transaction: the
receipts claimed with one insert ... on conflict do nothing, the answers sealed under
each person's subject key (an in-memory AES-GCM key here, after one look-up for the
group's keys, as the real one makes), one multi-row insert per table for the whole group,
risk alerts and their escalation jobs. Audit events go to an in-memory sink, so the audit
log's own cost is not counted here.

Then every sync is replayed (in reverse order within each batch): each item must come
back `replayed` and no row may change. `duplicates` counts responses beyond one per
client id, plus answers stored twice or not at all, plus any replay that changed a row.

The baseline in the same run: bare inserts of the same rows (each device's responses and
receipts, already sealed, as executemany inserts in one transaction per device, no checks),
10 transactions at a time (the pool's size: more connections than the syncs' writers
get), half before the sync and half after it. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncConnection  # noqa: E402

from core.clock import FakeClock  # noqa: E402
from core.db import create_database, upgrade  # noqa: E402
from core.db.schema import accounts, establishments  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.fields import SealedField, Unreadable  # noqa: E402
from core.identity.types import Principal, Role  # noqa: E402
from core.offline import OfflineSync, queue_key, seal_item  # noqa: E402
from core.offline_tables import sync_receipts  # noqa: E402
from interventions.sync import KIND, QueuedAnswers  # noqa: E402
from interventions.tables import questionnaire_responses, risk_alerts  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = b"bench-offline-secret-32-bytes!!!"
POOL = 10


class _Open:
    async def require_open(self, actor: Principal, module: str) -> None:
        return None


class _Keys:
    """`core.fields.SubjectCipher` with one in-memory AES-GCM key per subject: what the
    audit log's data-key cache gives a node for a person it has seen (no store round trip)."""

    def __init__(self) -> None:
        self._keys: dict[str, AESGCM] = {}

    def _key(self, subject: str) -> AESGCM:
        found = self._keys.get(subject)
        if found is None:
            found = self._keys[subject] = AESGCM(AESGCM.generate_key(bit_length=256))
        return found

    async def seal(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, text: str
    ) -> bytes:
        nonce = os.urandom(12)
        aad = f"{subject}|{column}|{row}".encode()
        return nonce + self._key(subject).encrypt(nonce, text.encode(), aad)

    async def seal_many(
        self, conn: AsyncConnection, subject: str, fields: Sequence[tuple[str, str, str]]
    ) -> list[bytes]:
        # The real one reads the subject's wrapped key once per batch: a round trip here too.
        await conn.execute(select(accounts.c.id).where(accounts.c.id == subject))
        return [
            await self.seal(conn, subject, column=column, row=row, text=text)
            for column, row, text in fields
        ]

    async def seal_subjects(
        self, conn: AsyncConnection, fields: Sequence[tuple[str, str, str, str]]
    ) -> list[bytes]:
        # The real one reads the subjects' wrapped keys with one query: a round trip here too.
        await conn.execute(
            select(accounts.c.id).where(accounts.c.id.in_(sorted({f[0] for f in fields})))
        )
        return [
            await self.seal(conn, subject, column=column, row=row, text=text)
            for subject, column, row, text in fields
        ]

    async def seal_bytes(
        self, conn: AsyncConnection, subject: str, *, column: str, row: str, data: bytes
    ) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._key(subject).encrypt(nonce, data, f"{subject}|{column}|{row}".encode())

    def _open(self, f: SealedField) -> bytes:
        aad = f"{f.subject}|{f.column}|{f.row}".encode()
        return self._key(f.subject).decrypt(f.blob[:12], f.blob[12:], aad)

    async def open_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[str | Unreadable]:
        return [self._open(f).decode() for f in fields]

    async def open_bytes_many(
        self, conn: AsyncConnection, fields: Sequence[SealedField]
    ) -> list[bytes | Unreadable]:
        return [self._open(f) for f in fields]


def _answers(n: int) -> dict[str, Any]:
    if n % 50 == 7 and not os.environ.get("BENCH_NO_RISK"):
        return {"kind": "phq9", "answers": {**{str(i): 1 for i in range(1, 9)}, "9": 1}}
    if n % 2:
        return {"kind": "gad7", "answers": {str(i): (n + i) % 4 for i in range(1, 8)}}
    return {"kind": "phq9", "answers": {**{str(i): (n * i) % 4 for i in range(1, 9)}, "9": 0}}


def _queue(prisoner: str, device: str, answers: int) -> list[dict[str, str]]:
    key = queue_key(SECRET, prisoner, device)
    items = []
    for n in range(answers):
        cid = str(uuid.uuid4())
        nonce = os.urandom(12)
        body = {"kind": KIND, "slot": None, "body": _answers(n)}
        items.append(
            {
                "id": cid,
                "nonce": base64.b64encode(nonce).decode(),
                "data": base64.b64encode(seal_item(key, cid, body, nonce)).decode(),
            }
        )
    return items


async def _counts(db: Any, people: list[str]) -> tuple[int, int, int, int]:
    """Rows of the people who synced (not the baseline's)."""
    q, r, a = questionnaire_responses.c, sync_receipts.c, risk_alerts.c
    async with db.connect() as conn:
        responses = int(
            await conn.scalar(select(func.count()).where(q.prisoner_id.in_(people))) or 0
        )
        distinct = int(
            await conn.scalar(
                select(func.count(func.distinct(q.client_id))).where(q.prisoner_id.in_(people))
            )
            or 0
        )
        receipts = int(await conn.scalar(select(func.count()).where(r.owner_id.in_(people))) or 0)
        alerts = int(await conn.scalar(select(func.count()).where(a.prisoner_id.in_(people))) or 0)
    return responses, distinct, receipts, alerts


async def main(devices: int, answers: int) -> dict[str, float | int]:
    name = f"tc_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    db = create_database(url)
    try:
        await upgrade(db)
        clock = FakeClock(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
        keys = _Keys()
        sync = OfflineSync(
            db,
            secret=SECRET,
            subject_keys=keys,
            clock=clock,
            audit=MemorySink(),
            require_open=_Open().require_open,
        )
        sync.register(KIND, QueuedAnswers(subject_keys=keys, audit=MemorySink()))
        est = str(uuid.uuid4())
        now = clock.now()
        prisoners = [str(uuid.uuid4()) for _ in range(devices * 2)]
        async with db.begin() as conn:
            await conn.execute(
                insert(establishments).values(
                    id=est, code="HMP-S", name="Bench", timezone="Europe/London", created_at=now
                )
            )
            await conn.execute(
                insert(accounts),
                [
                    {
                        "id": p,
                        "establishment_id": est,
                        "role": "prisoner",
                        "display_name_enc": b"x",
                        "created_at": now,
                    }
                    for p in prisoners
                ],
            )
        people = [
            (Principal(p, Role.PRISONER, est, "s", device_id=f"dev-{i}"), f"dev-{i}")
            for i, p in enumerate(prisoners[:devices])
        ]
        queues = [_queue(who.account_id, dev, answers) for who, dev in people]
        total = devices * answers

        statuses: Counter[str] = Counter()
        # The bare inserts wait their turn for one of the store's connections (the pool's
        # own wait would time out at 30 s with 500 in the queue). The syncs do not: like the
        # server's handlers they all open and check their batches at once and wait for one
        # of the service's writers, which hold at most `writers` connections between them.
        turn = asyncio.Semaphore(POOL)

        async def reconnect(who: Principal, items: list[dict[str, str]]) -> None:
            for outcome in await sync.sync(who, items):
                statuses[outcome.status] += 1

        # The baseline: the same rows, already sealed, for other people (no unique clashes).
        sealed = [
            [
                (
                    str(uuid.uuid4()),
                    await keys.seal(None, p, column="a", row="r", text=json.dumps(_answers(n))),  # type: ignore[arg-type]
                )
                for n in range(answers)
            ]
            for p in prisoners[devices:]
        ]

        async def bare(prisoner: str, rows: list[tuple[str, bytes]]) -> None:
            async with turn, db.begin() as conn:
                await conn.execute(
                    insert(sync_receipts),
                    [
                        {
                            "client_id": cid,
                            "owner_id": prisoner,
                            "kind": KIND,
                            "slot": None,
                            "status": "stored",
                            "ref": cid,
                            "summary": '{"band": "mild", "kind": "gad7", "risk": false, '
                            '"score": 7, "substance": null}',
                            "received_at": now,
                        }
                        for cid, _ in rows
                    ],
                )
                await conn.execute(
                    insert(questionnaire_responses),
                    [
                        {
                            "id": cid,
                            "establishment_id": est,
                            "prisoner_id": prisoner,
                            "kind": "gad7",
                            "substance": None,
                            "score": 7,
                            "band": "mild",
                            "answers_enc": blob,
                            "comment_enc": None,
                            "client_id": cid,
                            "submitted_at": now,
                        }
                        for cid, blob in rows
                    ],
                )

        baseline = list(zip(prisoners[devices:], sealed, strict=True))

        async def run_bare(part: list[tuple[str, list[tuple[str, bytes]]]]) -> float:
            started = time.perf_counter()
            await asyncio.gather(*(bare(p, rows) for p, rows in part))
            return time.perf_counter() - started

        # Half the baseline before the sync and half after, so that a load that drifts
        # during the run (the machine is shared) weighs on both sides alike.
        bare_time = await run_bare(baseline[: len(baseline) // 2])
        started = time.perf_counter()
        await asyncio.gather(
            *(reconnect(who, q) for (who, _), q in zip(people, queues, strict=True))
        )
        synced_s = total / (time.perf_counter() - started)
        after_sync = await _counts(db, prisoners[:devices])

        replayed: Counter[str] = Counter()

        async def replay(who: Principal, items: list[dict[str, str]]) -> None:
            for outcome in await sync.sync(who, list(reversed(items))):
                replayed[outcome.status] += 1

        started = time.perf_counter()
        await asyncio.gather(*(replay(who, q) for (who, _), q in zip(people, queues, strict=True)))
        replay_s = total / (time.perf_counter() - started)
        after_replay = await _counts(db, prisoners[:devices])

        bare_time += await run_bare(baseline[len(baseline) // 2 :])
        bare_s = total / bare_time

        responses, distinct, receipts, alerts = after_sync
        duplicates = (
            (responses - distinct)
            + abs(responses - total)
            + abs(receipts - total)
            + (statuses["stored"] != total)
            + (replayed["replayed"] != total)
            + (after_replay != after_sync)
        )
        print(
            f"{devices} devices x {answers} answers: synced {dict(statuses)}, risk alerts {alerts};"
            f" replay {dict(replayed)} at {replay_s:.0f}/s, rows before/after replay "
            f"{after_sync}/{after_replay}"
        )
        return {
            "answers_per_s": round(synced_s, 1),
            "bare_inserts_per_s": round(bare_s, 1),
            "ratio": round(synced_s / bare_s, 3),
            "duplicates": int(duplicates),
        }
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--answers", type=int, default=50)
    args = parser.parse_args()
    devices = args.devices or (200 if args.quick else 500)
    result = asyncio.run(main(devices, args.answers))
    print(json.dumps(result))
