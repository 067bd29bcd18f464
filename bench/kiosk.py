"""Kiosk shop benchmark: orders placed per second on PostgreSQL against bare inserts.

    .venv/bin/python bench/kiosk.py            # 200 prisoners, 5,000 orders before cut-off
    .venv/bin/python bench/kiosk.py --quick    # 200 prisoners, 1,000 orders

200 prisoners, each with spends and a weekly limit, order at once (`--concurrency` orders in
flight, every prisoner ordering repeatedly until the orders run out), through
`Shop.place`: the ledger lock, the cut-off, the week's limit, the debit and the audit
events (to an in-memory sink, so the audit log's own cost is not counted here). Every
order is accepted or refused with a reason. Afterwards each prisoner's spends and week's
spending are checked against their balance and limit: `limit_violations` counts any
prisoner over either. The baseline in the same run: bare inserts of the same rows (an
order, its line, its ledger entry) with the same concurrency and no checks.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from core.clock import FakeClock  # noqa: E402
from core.db import create_database, upgrade  # noqa: E402
from core.db.schema import accounts, establishments  # noqa: E402
from core.errors import ServiceError  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.identity.types import Principal, Role  # noqa: E402
from kiosk.money import Money, Posting  # noqa: E402
from kiosk.money_csv import EntryKind, MoneyAccount  # noqa: E402
from kiosk.money_tables import money_entries  # noqa: E402
from kiosk.shop import Shop  # noqa: E402
from kiosk.shop_tables import shop_items, shop_order_lines, shop_orders  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PRISONERS = 200
SPENDS = 2_000  # £20.00 each
PRICE = 150  # £1.50 an item; the Standard limit (£25) is above the balance, Basic's below


class _Open:
    async def require_open(self, actor: Principal, module: str) -> None:
        return None


async def main(orders: int, concurrency: int) -> dict[str, float | int]:
    name = f"tc_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    db = create_database(url)
    try:
        await upgrade(db)
        clock = FakeClock(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))  # a Tuesday, before cut-off
        money = Money(db, identity=None, clock=clock, audit=MemorySink())  # type: ignore[arg-type]
        shop = Shop(db, money=money, gate=_Open(), clock=clock, audit=MemorySink())
        est = str(uuid.uuid4())
        item = str(uuid.uuid4())
        prisoners = [str(uuid.uuid4()) for _ in range(PRISONERS)]
        now = clock.now()
        async with db.begin() as conn:
            await conn.execute(
                insert(establishments).values(
                    id=est, code="HMP-B", name="Bench", timezone="Europe/London", created_at=now
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
            await conn.execute(
                insert(shop_items).values(
                    id=item,
                    establishment_id=est,
                    category="Food",
                    name="Item",
                    price_pence=PRICE,
                    created_at=now,
                )
            )
        system = Principal("system", Role.ADMIN, None, "")
        for p in prisoners:
            await money.post(system, p, [Posting(MoneyAccount.SPENDS, EntryKind.WAGES, SPENDS)])

        outcomes: collections.Counter[str] = collections.Counter()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(orders):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                who = Principal(prisoners[i % PRISONERS], Role.PRISONER, est, "")
                try:
                    await shop.place(who, [{"item_id": item, "quantity": 1}], f"bench-{i:08d}")
                    outcomes["placed"] += 1
                except ServiceError as error:
                    outcomes[str(error.extra.get("reason", error.code.slug))] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        orders_s = orders / (time.perf_counter() - started)

        violations = 0
        async with db.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT p, coalesce(sum(amount_pence), 0) FROM (SELECT prisoner_id AS p, "
                "amount_pence FROM money_entries) e GROUP BY p"
            )
            for _p, balance in rows:
                violations += int(balance) < 0
            rows = await conn.exec_driver_sql(
                "SELECT prisoner_id, sum(total_pence) FROM shop_orders GROUP BY prisoner_id"
            )
            for _p, spent in rows:
                violations += int(spent) > 2_500
        unanswered = orders - sum(outcomes.values())

        bare_queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(orders):
            bare_queue.put_nowait(i)

        async def bare() -> None:
            while not bare_queue.empty():
                i = bare_queue.get_nowait()
                order_id = str(uuid.uuid4())
                async with db.begin() as conn:
                    await conn.execute(
                        insert(shop_orders).values(
                            id=order_id,
                            establishment_id=est,
                            prisoner_id=prisoners[i % PRISONERS],
                            receipt=f"B{i:07d}",
                            idempotency_key=f"bare-{i:08d}",
                            status="placed",
                            total_pence=PRICE,
                            refunded_pence=0,
                            week_start=now,
                            placed_at=now,
                        )
                    )
                    await conn.execute(
                        insert(shop_order_lines).values(
                            id=str(uuid.uuid4()),
                            order_id=order_id,
                            item_id=item,
                            name="Item",
                            price_pence=PRICE,
                            quantity=1,
                            out_of_stock=False,
                        )
                    )
                    await conn.execute(
                        insert(money_entries).values(
                            id=str(uuid.uuid4()),
                            n=1_000_000 + i,
                            establishment_id=est,
                            prisoner_id=prisoners[i % PRISONERS],
                            account="spends",
                            kind="order",
                            amount_pence=-PRICE,
                            reference="bare",
                            actor_id="bench",
                            created_at=now,
                        )
                    )

        started = time.perf_counter()
        await asyncio.gather(*(bare() for _ in range(concurrency)))
        bare_s = orders / (time.perf_counter() - started)
        print(f"outcomes: {dict(outcomes)}; unanswered: {unanswered}")
        return {
            "orders_per_s": round(orders_s, 1),
            "bare_inserts_per_s": round(bare_s, 1),
            "ratio": round(orders_s / bare_s, 3),
            "limit_violations": violations + unanswered,
        }
    finally:
        await db.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    result = asyncio.run(main(1_000 if args.quick else 5_000, args.concurrency))
    print(json.dumps(result))
