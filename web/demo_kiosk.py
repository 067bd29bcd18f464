"""The demo's kiosk (issue 16 item 9, visits aside): a catalogue, money, orders,
applications and the timetable, so each tile of the device and each kiosk staff page shows
something for the demo prisoners and staff.

The past three weeks are replayed in order on a clock of their own (wages each week, money
sent in, orders placed, picked with a line out of stock and refunded, delivered,
applications sent, answered, taken to a complaint and an appeal), through the services a
user would call, so every ledger entry, order and application is what the real screens
would have made, with its audit event. This week's orders fall before this week's cut-off
whatever the day the demo is run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp

from core.clock import Clock, FakeClock
from core.db.engine import Database
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity import IdentityService, Principal, Role
from core.identity.service import SYSTEM_ACTOR
from kiosk.applications import Applications
from kiosk.money import Money
from kiosk.shop import Shop
from kiosk.shop_types import Gate, week_window
from kiosk.timetable import Timetable

# The department staff who keep the money and the shop (finance and shop departments).
SHOP_STAFF = {
    "role": Role.DEPARTMENT_STAFF,
    "username": "shop.demo",
    "name": "Frankie Finance",
    "sex": "X",
    "password": "demo-shop-finance-pass",
}
LIMITS = {"basic": 1500, "standard": 2500, "enhanced": 4000}
# category, name, price in pence, lowest level allowed (None: everyone)
CATALOGUE: list[tuple[str, str, int, str | None]] = [
    ("Food", "Crisps", 65, None),
    ("Food", "Noodles", 45, None),
    ("Food", "Chocolate bar", 85, None),
    ("Drinks", "Tea bags (80)", 210, None),
    ("Drinks", "Fresh coffee", 350, "enhanced"),
    ("Drinks", "Energy drink", 120, None),
    ("Toiletries", "Shower gel", 150, None),
    ("Toiletries", "Toothpaste", 110, None),
    ("Phone credit", "Phone credit £5", 500, None),
    ("Stationery", "Writing paper and envelopes", 180, None),
    ("Stationery", "Art set", 950, "standard"),
]
HEALTH_RESTRICTED = "Energy drink"
"""Healthcare restricts this for the first prisoner (no reason is kept)."""
# Weekly timetable of the first prisoner: kind, weekdays, start, end.
ALLOCATIONS = [
    ("work", range(5), "08:45", "11:45"),
    ("education", (1, 3), "13:30", "15:30"),
    ("gym", (0, 2, 4), "15:45", "16:45"),
]
OTHER_ALLOCATIONS = [("work", range(5), "13:30", "16:30")]


@dataclass(frozen=True)
class KioskDemoDeps:
    """What the kiosk services are built from (the app's, or the command line's)."""

    db: Database
    identity: IdentityService
    audit: AuditSink
    cipher: FieldCipher
    subject_keys: SubjectCipher
    gate: Gate
    clock: Clock


@dataclass
class _Services:
    clock: FakeClock
    money: Money
    shop: Shop
    applications: Applications
    timetable: Timetable


def _services(deps: KioskDemoDeps, start: datetime) -> _Services:
    """The kiosk's services on a clock the demo moves through the past weeks."""
    clock = FakeClock(start)
    money = Money(deps.db, identity=deps.identity, clock=clock, audit=deps.audit)
    return _Services(
        clock=clock,
        money=money,
        shop=Shop(deps.db, money=money, gate=deps.gate, clock=clock, audit=deps.audit),
        applications=Applications(
            deps.db,
            cipher=deps.cipher,
            subject_keys=deps.subject_keys,
            clock=clock,
            audit=deps.audit,
            gate=deps.gate.require_open,
        ),
        timetable=Timetable(deps.db, clock=clock, audit=deps.audit),
    )


def _csv(*lines: str) -> str:
    return "prison_number,account,amount,kind,reference\n" + "\n".join(lines) + "\n"


async def seed_kiosk(
    deps: KioskDemoDeps,
    *,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
    departments: Any,
) -> dict[str, Any]:
    """`departments` is the access service's (`Access.departments`): the shop and finance
    staff join their departments through it."""
    now = deps.clock.now()
    ids = {person["role"]: person["account_id"] for person in staff}
    secret = pyotp.random_base32()
    shop_id, _ = await deps.identity.create_staff(
        role=Role.DEPARTMENT_STAFF,
        establishment_id=est_id,
        username=SHOP_STAFF["username"],
        display_name=SHOP_STAFF["name"],
        password=SHOP_STAFF["password"],
        sex=SHOP_STAFF["sex"],
        totp_secret=secret,
    )
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    for code in ("finance", "shop"):
        found = {d.code: d for d in await departments.of_establishment(system, est_id)}
        await departments.set_members(system, found[code].id, [shop_id])
    shop_staff = Principal(shop_id, Role.DEPARTMENT_STAFF, est_id, "demo")
    officer = Principal(ids["officer"], Role.OFFICER, est_id, "demo")
    healthcare = Principal(ids["healthcare_admin"], Role.HEALTHCARE_ADMIN, est_id, "demo")
    who = [
        Principal(p["account_id"], Role.PRISONER, est_id, "demo", p["device_id"]) for p in prisoners
    ]
    numbers = [p["prison_number"] for p in prisoners]

    # This week's start and cut-off (London time), from the real clock.
    s = _services(deps, now)
    settings = await s.shop.set_settings(
        shop_staff, est_id, limits=LIMITS, cutoff_weekday=2, cutoff_time="12:00"
    )
    window = week_window(now, "Europe/London", settings)
    items = {}
    for category, name, price, level in CATALOGUE:
        item = await s.shop.add_item(
            shop_staff, est_id, category=category, name=name, price_pence=price, min_level=level
        )
        items[name] = item.id
    await s.shop.restrict(healthcare, who[0].account_id, items[HEALTH_RESTRICTED])

    def basket(*lines: tuple[str, int]) -> list[dict[str, Any]]:
        return [{"item_id": items[name], "quantity": q} for name, q in lines]

    counts: dict[str, int] = {}

    def count(key: str) -> None:
        counts[key] = counts.get(key, 0) + 1

    # Three weeks ago to last week: wages each Monday, money sent in, an order each week.
    for weeks_ago in (3, 2, 1):
        monday = window.week_start - timedelta(weeks=weeks_ago)
        s.clock.set(monday + timedelta(hours=9))
        lines = [
            f"{n},spends,{9.5 + i:.2f},wages,Wages week {4 - weeks_ago}"
            for i, n in enumerate(numbers)
        ]
        if weeks_ago == 3:
            lines.append(f"{numbers[0]},private,25.00,sent_in,Postal order from family")
            lines.append(f"{numbers[1]},private,10.00,sent_in,Bank transfer from a friend")
        await s.money.post_credits(shop_staff, est_id, _csv(*lines))
        count("credits_posted")
        if weeks_ago == 1:
            continue
        s.clock.set(monday + timedelta(days=1, hours=18))
        orders = []
        for i, prisoner in enumerate(who):
            order, _ = await s.shop.place(
                prisoner,
                basket(("Noodles", 3 + i), ("Tea bags (80)", 1), ("Shower gel", 1)),
                f"demo-{weeks_ago}-{i}",
            )
            orders.append(order)
            count("orders")
        s.clock.set(monday + timedelta(days=3, hours=9))
        for i, order in enumerate(orders):
            out = [order.lines[0].id] if weeks_ago == 2 and i == 0 else []
            await s.shop.picked(shop_staff, order.id, out)
            if out:
                count("refunds")
        s.clock.set(monday + timedelta(days=4, hours=10))
        for order in orders:
            await s.shop.delivered(shop_staff, order.id)
            count("delivered")

    # This week, before the cut-off: the first prisoner's order picked with a line out of
    # stock (refunded), their second order and the second prisoner's placed.
    end = min(now, window.cutoff - timedelta(minutes=1))
    span = max(end - window.week_start, timedelta(0))

    def at(fraction: float) -> datetime:
        return window.week_start + span * fraction

    s.clock.set(at(0.2))
    picked, _ = await s.shop.place(
        who[0],
        basket(("Crisps", 2), ("Chocolate bar", 1), ("Phone credit £5", 1), ("Fresh coffee", 1)),
        "demo-this-week-picked",
    )
    s.clock.set(at(0.4))
    chocolate = next(line for line in picked.lines if line.name == "Chocolate bar")
    await s.shop.picked(shop_staff, picked.id, [chocolate.id])
    count("refunds")
    s.clock.set(at(0.6))
    placed, _ = await s.shop.place(
        who[0], basket(("Writing paper and envelopes", 1), ("Toothpaste", 1)), "demo-this-week"
    )
    await s.shop.place(who[1], basket(("Crisps", 1), ("Noodles", 2)), "demo-this-week-2")
    counts["orders"] = counts.get("orders", 0) + 3

    # Applications: one of each state for the first prisoner, over the past fortnight.
    found = {d.code: d.id for d in await s.applications.departments(who[0])}
    s.clock.set(now - timedelta(days=13))
    replied, _ = await s.applications.send(
        who[0],
        department_id=found["wing-office"],
        text="Please can I move to a cell on the landing nearer the kitchens for work?",
    )
    complained, _ = await s.applications.send(
        who[0],
        department_id=found["wing-office"],
        text="My property from reception has not come through after two weeks.",
    )
    appealed, _ = await s.applications.send(
        who[0],
        department_id=found["wing-office"],
        text="Can I have an extra gym session on Saturdays?",
    )
    secret_one, _ = await s.applications.send(
        who[0],
        department_id=found["wing-office"],
        text="I would like to speak to someone about how an officer spoke to me.",
    )
    s.clock.set(now - timedelta(days=11))
    await s.applications.answer(
        officer,
        replied.id,
        reply="Your name is on the list for a move; we will tell you when a cell is free.",
    )
    await s.applications.answer(
        officer, complained.id, reply="Reception say everything was sent to the wing."
    )
    await s.applications.answer(
        officer, appealed.id, reply="Saturday gym is for Enhanced prisoners on the rota only."
    )
    await s.applications.answer(
        officer, secret_one.id, reply="Please write to the governor about this."
    )
    s.clock.set(now - timedelta(days=9))
    complaint, _ = await s.applications.escalate(
        who[0],
        complained.id,
        text="Two bags of my property are still missing: clothes and letters.",
    )
    appeal_complaint, _ = await s.applications.escalate(
        who[0], appealed.id, text="I am Enhanced and on the rota, so I should be included."
    )
    await s.applications.escalate(
        who[0],
        secret_one.id,
        text="An officer on A wing swore at me during the evening roll check.",
        confidential=True,
    )
    s.clock.set(now - timedelta(days=6))
    await s.applications.answer(
        officer, appeal_complaint.id, reply="The rota was full; you are first for next month."
    )
    s.clock.set(now - timedelta(days=4))
    await s.applications.escalate(
        who[0], appeal_complaint.id, text="I was told I was on this month's rota."
    )
    s.clock.set(now - timedelta(days=1))
    received, _ = await s.applications.send(
        who[0],
        department_id=found["chaplaincy"],
        text="Can I see the chaplain this week, please?",
    )
    await s.applications.send(
        who[1], department_id=found["education"], text="Is there a level 2 maths course?"
    )

    # The timetable: work, education and gym for the first prisoner, work for the second.
    for kind, days, start, finish in ALLOCATIONS:
        for day in days:
            await s.timetable.allocate(
                officer, who[0].account_id, kind=kind, weekday_value=day, start=start, end=finish
            )
    for kind, days, start, finish in OTHER_ALLOCATIONS:
        for day in days:
            await s.timetable.allocate(
                officer, who[1].account_id, kind=kind, weekday_value=day, start=start, end=finish
            )

    return {
        "shop_staff": {
            "role": Role.DEPARTMENT_STAFF.value,
            "account_id": shop_id,
            "username": SHOP_STAFF["username"],
            "password": SHOP_STAFF["password"],
            "totp_secret": secret,
        },
        "items": len(items),
        "restricted_item": HEALTH_RESTRICTED,
        "orders": {"placed": placed.receipt, "picked": picked.receipt},
        "counts": counts,
        "applications": {
            "received": received.receipt,
            "replied": replied.receipt,
            "complaint": complaint.receipt,
        },
    }


def deps_of(app: Any) -> KioskDemoDeps:
    """The kiosk demo's dependencies from a running app (tests, and the app itself)."""
    from web.state import AUDIT, CLOCK, DATABASE, IDENTITY, KEYS, SCHEDULING, SUBJECT_KEYS

    return KioskDemoDeps(
        db=app[DATABASE],
        identity=app[IDENTITY],
        audit=app[AUDIT],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        gate=app[SCHEDULING],
        clock=app[CLOCK],
    )


def describe_kiosk(kiosk: dict[str, Any]) -> list[str]:
    return [
        f"Kiosk: {kiosk['items']} shop items ({kiosk['restricted_item']} restricted for the"
        " first prisoner by healthcare); three weeks of wages, money sent in, orders and"
        " a refund; applications received, replied to, taken to a complaint and an appeal,"
        " and a confidential complaint in the governor's queue; a week of work, education"
        " and gym.",
    ]
