"""Issue 16 item 7 in a real browser, English and Welsh, axe-clean: during a lockdown the
device's Shop says it is closed and an order is refused in words, while the prisoner still
reads their money and their orders; the moment the lockdown lifts, the same basket (the
same tap, no reload) is placed, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from kiosk.money import Posting
from kiosk.money_csv import EntryKind, MoneyAccount
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from tests.browser.seed import consult_world
from tests.kiosk.money_world import join_department
from tests.world import new_staff
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.kiosk.money import MONEY
from web.kiosk.shop import SHOP
from web.state import CLOCK, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow
SYSTEM = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")

WORDS = {
    "en": {
        "closed": "The shop is closed during the lockdown. Your money is safe; you can still"
        " see it.",
        "banner": "shop",
        "add": "Add Crisps to your basket",
        "place": "Place order",
        "spends": "£10.00",
        "placed": "Order placed. Your receipt number is",
        "earlier": "placed, waiting to be packed",
    },
    "cy": {
        "closed": "Mae'r siop ar gau yn ystod y cyfyngiad symud. Mae eich arian yn ddiogel;"
        " gallwch ei weld o hyd.",
        "banner": "siop",
        "add": "Ychwanegu Crisps i'ch basged",
        "place": "Archebu",
        "spends": "£10.00",
        "placed": "Archeb wedi'i gwneud. Rhif eich derbynneb yw",
        "earlier": "wedi'i gwneud, yn aros i gael ei phacio",
    },
}


async def _shop(app: Any, est: str, prisoner_id: str) -> None:
    """A shop open all week with crisps, 10.65 in spends and one earlier order of 65p."""
    staff = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.lockdown", est)
    await join_department(app, est, "shop", staff.account_id)
    keeper = Principal(staff.account_id, Role.DEPARTMENT_STAFF, est, "")
    await app[SHOP].set_settings(
        keeper,
        est,
        limits={"basic": 5000, "standard": 5000, "enhanced": 5000},
        cutoff_weekday=6,
        cutoff_time="23:59",
    )
    crisps = await app[SHOP].add_item(keeper, est, category="Food", name="Crisps", price_pence=65)
    await app[MONEY].post(
        SYSTEM, prisoner_id, [Posting(MoneyAccount.SPENDS, EntryKind.WAGES, 1065)]
    )
    await app[SHOP].place(
        Principal(prisoner_id, Role.PRISONER, est, ""),
        [{"item_id": crisps.id, "quantity": 1}],
        "before-lockdown",
    )


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_the_shop_is_closed_in_a_lockdown_reads_work_and_lifting_reopens_it_at_once(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    app = live.app
    world = await consult_world(app, relay_only=False, cell="A1-01")
    prisoner = world.prisoner.account_id
    await app[IDENTITY].set_locale(Principal(prisoner, Role.PRISONER, world.est, ""), lang)
    await _shop(app, world.est, prisoner)
    officer = Principal(world.officer.account_id, Role.OFFICER, world.est, "")
    now = app[CLOCK].now()
    lockdown = await app[SCHEDULING].declare_lockdown(
        officer,
        world.est,
        starts_at=now.isoformat(),
        ends_at=(now + timedelta(hours=6)).isoformat(),
    )
    words = WORDS[lang]
    watch = PageWatch()

    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    banner = device.locator("#lockdown-banner")
    await banner.wait_for()
    assert words["banner"] in await banner.inner_text()

    # Reading still works: the Money screen shows the balance.
    await device.locator("a.tile-money").click()
    await device.wait_for_selector("#screen-money:not([hidden])")
    await device.locator("#money-spends").get_by_text(words["spends"]).wait_for()
    await check_accessibility(device, axe_source, f"device money in a lockdown ({lang})")
    await screenshot(device, f"kiosk-lockdown-money-{lang}")

    # The Shop says it is closed, shows the earlier order, and refuses a new one in words.
    await device.goto(live.url("/device#shop"))
    await device.wait_for_selector("#screen-shop:not([hidden])")
    closed = device.locator("#shop-closed")
    await closed.get_by_text(words["closed"]).wait_for()
    assert words["earlier"] in await device.locator("#shop-orders").inner_text()
    await device.get_by_role("button", name=words["add"]).click()
    await device.get_by_role("button", name=words["place"]).click()
    error = device.locator("#shop-error")
    await error.get_by_text(words["closed"]).wait_for()
    assert await device.locator("#shop-receipt").is_hidden()
    assert len(await app[SHOP].history(Principal(prisoner, Role.PRISONER, world.est, ""))) == 1
    await check_accessibility(device, axe_source, f"device shop in a lockdown ({lang})")
    await screenshot(device, f"kiosk-lockdown-shop-closed-{lang}")

    # Lifted: the same basket goes through on the next tap, without a reload, once.
    await app[SCHEDULING].lift_lockdown(officer, lockdown.id)
    await device.get_by_role("button", name=words["place"]).click()
    receipt = device.locator("#shop-receipt")
    await receipt.get_by_text(words["placed"], exact=False).wait_for()
    assert await error.is_hidden()
    # The screen no longer says the shop is closed.
    await device.wait_for_selector("#shop-closed[data-lockdown='false']")
    assert words["closed"] not in await closed.inner_text()
    orders = await app[SHOP].history(Principal(prisoner, Role.PRISONER, world.est, ""))
    assert len(orders) == 2
    await check_accessibility(device, axe_source, f"device shop after the lockdown ({lang})")
    await screenshot(device, f"kiosk-lockdown-lifted-{lang}")
    assert watch.problems == []
