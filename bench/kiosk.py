"""Kiosk shop benchmark: orders placed per second on PostgreSQL against bare inserts.

    .venv/bin/python bench/kiosk.py            # 200 prisoners, 5,000 orders before cut-off
    .venv/bin/python bench/kiosk.py --quick    # 200 prisoners, 1,000 orders

200 prisoners, each with spends and a weekly limit (a third on Basic, whose limit is below
their spends; the rest on Standard, whose limit is above), order at once in the last hour
before the cut-off (the clock moves from Wednesday 11:00 towards 12:00 as orders are
placed; `--concurrency` orders in flight, every prisoner ordering repeatedly until the
orders run out), through `Shop.place`: the ledger lock, the cut-off, the week's limit,
the debit and the audit events (to an in-memory sink, so the audit log's own cost is not
counted here). Every order is accepted or refused with a reason. Afterwards each
prisoner's spends and week's spending are checked against their balance and limit, and
every order against its one debit: `limit_violations` counts any breach, and any order
left without an answer.

The baseline in the same run: bare inserts of the same rows (an order, its line, its
ledger entry, for as many orders as were attempted) with the same concurrency, each in
its own transaction, written the way the order path writes them (`write_order`, one
statement on PostgreSQL) but with no lock and no reads or checks; they go to other
prisoners so they do not disturb the checks. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg  # noqa: E402
from sqlalchemy import event, insert  # noqa: E402

from core.clock import FakeClock  # noqa: E402
from core.db import create_database, upgrade  # noqa: E402
from core.db.schema import (  # noqa: E402
    accounts,
    establishments,
    incentive_levels,  # noqa: E402
)
from core.errors import ServiceError  # noqa: E402
from core.events import MemorySink  # noqa: E402
from core.identity.types import Principal, Role  # noqa: E402
from kiosk.money import (  # noqa: E402
    Money,
    Posting,
    entry_values,  # noqa: E402
)
from kiosk.money_csv import EntryKind, MoneyAccount  # noqa: E402
from kiosk.shop import Shop  # noqa: E402
from kiosk.shop_orders import write_order  # noqa: E402
from kiosk.shop_tables import shop_items  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PRISONERS = 200
SPENDS = 2_000  # £20.00 each
PRICE = 150  # £1.50 an item; the Standard limit (£25) is above the balance, Basic's below
LIMITS = {"basic": 1_500, "standard": 2_500}
HOUR = 3_600.0
ROUNDS = 5


def _count_statements(db: Any) -> list[int]:
    """A counter of the statements sent (one round trip each), reset by the caller."""
    found = [0]

    def count(*_args: Any) -> None:
        found[0] += 1

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    return found


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
        # Wednesday 4 March 2026, 11:00 in London (UTC in winter): the cut-off is at 12:00.
        opens = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)
        clock = FakeClock(opens)
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
                insert(incentive_levels),
                [{"prisoner_id": p, "level": "basic", "since": now} for p in prisoners[::3]],
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

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                clock.set(opens + timedelta(seconds=HOUR * i / orders))
                who = Principal(prisoners[i % PRISONERS], Role.PRISONER, est, "")
                try:
                    await shop.place(who, [{"item_id": item, "quantity": 1}], f"bench-{i:08d}")
                    outcomes["placed"] += 1
                except ServiceError as error:
                    outcomes[str(error.extra.get("reason", error.code.slug))] += 1

        bare_queue: asyncio.Queue[int] = asyncio.Queue()
        others = [str(uuid.uuid4()) for _ in range(PRISONERS)]
        payer = Principal("bench", Role.PRISONER, est, "")

        async def bare() -> None:
            while not bare_queue.empty():
                i = bare_queue.get_nowait()
                order_id = str(uuid.uuid4())
                prisoner = others[i % PRISONERS]
                debit = Posting(MoneyAccount.SPENDS, EntryKind.ORDER, -PRICE, "bare")
                async with db.begin() as conn:
                    await write_order(
                        conn,
                        db.is_sqlite,
                        {
                            "id": order_id,
                            "establishment_id": est,
                            "prisoner_id": prisoner,
                            "receipt": f"B{i:07d}",
                            "idempotency_key": f"bare-{i:08d}",
                            "status": "placed",
                            "total_pence": PRICE,
                            "refunded_pence": 0,
                            "week_start": now,
                            "placed_at": now,
                        },
                        [
                            {
                                "id": str(uuid.uuid4()),
                                "order_id": order_id,
                                "item_id": item,
                                "name": "Item",
                                "price_pence": PRICE,
                                "quantity": 1,
                                "out_of_stock": False,
                            }
                        ],
                        [entry_values(payer, prisoner, est, debit, 1 + i // PRISONERS, now)],
                    )

        # Interleaved rounds: a slice of the orders, then the same number of bare inserts,
        # so that a change in the machine's load (other work on a shared machine) falls on
        # both figures alike.
        statements = _count_statements(db)
        spent = {"orders": 0.0, "bare": 0.0}
        cpu = {"orders": 0.0, "bare": 0.0}
        counted = {"orders": 0, "bare": 0}
        step = -(-orders // ROUNDS)
        for first in range(0, orders, step):
            for kind, todo, run in (("orders", queue, worker), ("bare", bare_queue, bare)):
                for i in range(first, min(first + step, orders)):
                    todo.put_nowait(i)
                statements[0] = 0
                started, used = time.perf_counter(), time.process_time()
                await asyncio.gather(*(run() for _ in range(concurrency)))
                spent[kind] += time.perf_counter() - started
                cpu[kind] += time.process_time() - used
                counted[kind] += statements[0]
        orders_s = orders / spent["orders"]
        bare_s = orders / spent["bare"]
        print(
            f"statements per order: {counted['orders'] / orders:.2f}; "
            f"per bare insert: {counted['bare'] / orders:.2f} (each also a BEGIN and a COMMIT); "
            f"this process's CPU per order: {1000 * cpu['orders'] / orders:.2f} ms, "
            f"per bare insert: {1000 * cpu['bare'] / orders:.2f} ms"
        )

        violations = 0
        basic = set(prisoners[::3])
        ordering = set(prisoners)  # not the bare inserts' prisoners
        async with db.connect() as conn:
            rows = await conn.exec_driver_sql(
                "SELECT prisoner_id, account, sum(amount_pence) FROM money_entries "
                "GROUP BY prisoner_id, account"
            )
            for p, _account, balance in rows:
                violations += p in ordering and int(balance) < 0
            rows = await conn.exec_driver_sql(
                "SELECT prisoner_id, sum(total_pence) FROM shop_orders GROUP BY prisoner_id"
            )
            for p, spent in rows:
                violations += (
                    p in ordering and int(spent) > LIMITS["basic" if p in basic else "standard"]
                )
            unpaid = await conn.exec_driver_sql(
                "SELECT o.prisoner_id FROM shop_orders o WHERE (SELECT count(*) "
                "FROM money_entries e WHERE e.order_id = o.id "
                "AND e.amount_pence = -o.total_pence) <> 1"
            )
            violations += sum(p in ordering for (p,) in unpaid)
        unanswered = orders - sum(outcomes.values())
        print(f"outcomes: {dict(outcomes)}; unanswered: {unanswered}; violations: {violations}")
        print(f"orders: {orders_s:.1f}/s; bare inserts of the same rows: {bare_s:.1f}/s")
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
    parser.add_argument("--concurrency", type=int, default=PRISONERS)
    args = parser.parse_args()
    result = asyncio.run(main(1_000 if args.quick else 5_000, args.concurrency))
    print(json.dumps(result))
