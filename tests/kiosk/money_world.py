"""The money world (issue 16 items 1-2): the shared test world, a finance officer, and a
Money service whose audit events a test can read. Parametrised over SQLite and PostgreSQL
by the `client` fixture."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from kiosk.money import Money
from tests.world import SYSTEM, Staff, World, build_world, new_staff
from web.state import ACCESS, DATABASE, IDENTITY


@dataclass
class MoneyWorld:
    app: Any
    world: World
    money: Money
    audit: MemorySink
    clock: FakeClock
    finance: Principal
    finance_staff: Staff
    # Department staff, but of the shop, not finance.
    shop: Principal
    shop_staff: Staff
    officer: Principal
    prisoner: Principal
    prisoner2: Principal
    other_prisoner: Principal

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]


async def join_department(app: Any, establishment_id: str, code: str, account_id: str) -> None:
    departments = app[ACCESS].departments
    found = next(
        d for d in await departments.of_establishment(SYSTEM, establishment_id) if d.code == code
    )
    await departments.set_members(SYSTEM, found.id, [*found.members, account_id])


async def make_money(client: Any, clock: FakeClock) -> MoneyWorld:
    app = client.server.app
    world = await build_world(app)
    sink = MemorySink()
    money = Money(app[DATABASE], identity=app[IDENTITY], clock=clock, audit=sink)
    finance = await new_staff(app, Role.DEPARTMENT_STAFF, "finance.one", world.est)
    shop = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.one", world.est)
    await join_department(app, world.est, "finance", finance.account_id)
    await join_department(app, world.est, "shop", shop.account_id)
    p1, p2 = world.prisoners
    other = world.other_prisoner
    assert other is not None
    officer = world.staff["officer"]

    def prisoner(account_id: str, est: str) -> Principal:
        return Principal(account_id, Role.PRISONER, est, "test")

    return MoneyWorld(
        app=app,
        world=world,
        money=money,
        audit=sink,
        clock=clock,
        finance=Principal(finance.account_id, Role.DEPARTMENT_STAFF, world.est, "test"),
        finance_staff=finance,
        shop=Principal(shop.account_id, Role.DEPARTMENT_STAFF, world.est, "test"),
        shop_staff=shop,
        officer=Principal(officer.account_id, Role.OFFICER, world.est, "test"),
        prisoner=prisoner(p1.account_id, world.est),
        prisoner2=prisoner(p2.account_id, world.est),
        other_prisoner=prisoner(other.account_id, world.other_est),
    )


@pytest.fixture
async def mw(client: Any, clock: FakeClock) -> MoneyWorld:
    return await make_money(client, clock)


def credits_csv(*lines: str) -> str:
    return "prison_number,account,amount,kind,reference\n" + "\n".join(lines) + "\n"
