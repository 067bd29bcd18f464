"""Money in a real browser: finance checks a credits file (each bad line named, nothing paid
in), pays a good one in once, looks a prisoner up; the prisoner opens the Money tile and
reads their balance and transactions in plain words. English and Welsh, axe-checked, with
screenshots."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.identity import Role
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from tests.browser.test_views import sign_in_staff_page
from tests.kiosk.money_world import credits_csv, join_department
from tests.world import World, new_staff

pytestmark = pytest.mark.slow

A, B = "A1234BC", "B2345CD"


async def _welsh(page: Any) -> None:
    await page.locator("#lang-switch").click()
    await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")


async def _file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    await asyncio.to_thread(path.write_text, text, "utf-8")
    return str(path)


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_finance_pays_in_a_file_once_and_the_prisoner_reads_it_on_the_device(
    live: Live, live_world: World, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    world = live_world
    finance = await new_staff(live.app, Role.DEPARTMENT_STAFF, "finance.browser", world.est)
    await join_department(live.app, world.est, "finance", finance.account_id)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/finance", finance)
    await page.wait_for_selector("#screen-finance:not([hidden])")

    # A file with a bad line: that line is named, nothing can be paid in.
    bad = await _file(
        tmp_path,
        "bad.csv",
        credits_csv(f"{A},spends,12.50,wages,Wages week 12", f"{B},spends,1.5,wages,oops"),
    )
    await page.get_by_label("Credits file (CSV)").set_input_files(bad)
    await page.get_by_role("button", name="Check the file").click()
    await page.get_by_text(
        "Line 3: the amount must be pounds and pence above zero, like 12.50"
    ).wait_for()
    assert await page.locator("#credits-post").is_hidden()
    await check_accessibility(page, axe_source, "finance: a bad file")
    await screenshot(page, "money-finance-bad-file")

    # The corrected file: previewed, paid in, and refused the second time.
    good_text = credits_csv(
        f"{A},spends,12.50,wages,Wages week 12", f"{A},private,20.00,sent_in,Postal order"
    )
    good = await _file(tmp_path, "good.csv", good_text)
    await page.get_by_label("Credits file (CSV)").set_input_files(good)
    await page.get_by_role("button", name="Check the file").click()
    await page.get_by_text("2 credit(s), £32.50 in all.", exact=False).wait_for()
    rows = await page.locator("#preview-table tbody tr").all_inner_texts()
    assert rows == [
        f"2\t{A}\tspends\tWages\t£12.50\tWages week 12",
        f"3\t{A}\tprivate cash\tMoney sent in\t£20.00\tPostal order",
    ]
    await screenshot(page, "money-finance-preview")
    await page.get_by_role("button", name="Pay in 2 credit(s), £32.50").click()
    await page.get_by_text("Paid in: 2 credit(s), £32.50 in all.").wait_for()
    await page.get_by_label("Credits file (CSV)").set_input_files(good)
    await page.get_by_role("button", name="Check the file").click()
    await page.get_by_text("This file was already paid in on", exact=False).wait_for()
    assert await page.locator("#credits-post").is_hidden()

    # Looking the prisoner up (recorded in the audit log).
    await page.get_by_label("Prison number").fill(A.lower())
    await page.get_by_role("button", name="Show their money").click()
    await page.get_by_text("Spends £12.50. Private cash £20.00.").wait_for()
    await check_accessibility(page, axe_source, "finance: paid in")
    await screenshot(page, "money-finance-paid-in")

    await _welsh(page)
    await page.wait_for_selector("#screen-finance:not([hidden])")
    await page.get_by_role("heading", name="Talu arian i mewn o ffeil").wait_for()
    await page.get_by_label("Ffeil credydau (CSV)").set_input_files(bad)
    await page.get_by_role("button", name="Gwirio'r ffeil").click()
    await page.get_by_text("Llinell 3: rhaid i'r swm fod yn bunnoedd", exact=False).wait_for()
    await check_accessibility(page, axe_source, "finance, Welsh")
    await screenshot(page, "money-finance-cy")

    # The prisoner's device: the Money tile opens their balance and transactions.
    device = await new_page(browser, watch)
    await sign_in_device(device, live, SimpleNamespace(prisoner=world.prisoners[0]))
    await device.get_by_role("link", name="Money", exact=False).click()
    await device.wait_for_selector("#screen-money:not([hidden])")
    await device.locator("#money-spends").get_by_text("£12.50").wait_for()
    assert await device.locator("#money-private").inner_text() == "£20.00"
    entries = await device.locator("#money-entries .card-title").all_inner_texts()
    assert entries == [
        "Money sent in, paid into your private cash +£20.00",
        "Wages paid into your spends +£12.50",
    ]
    await check_accessibility(device, axe_source, "device money")
    await screenshot(device, "money-device")
    await _welsh(device)
    await device.wait_for_selector("#screen-money:not([hidden])")
    await device.get_by_text("Cyflog wedi'i dalu i'ch arian gwario").wait_for()
    await check_accessibility(device, axe_source, "device money, Welsh")
    await screenshot(device, "money-device-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_prisoner_fills_a_basket_orders_once_with_a_double_tap_and_sees_the_receipt(
    live: Live, live_world: World, browser: Any, axe_source: str
) -> None:
    from core.identity import Principal
    from web.kiosk.money import MONEY
    from web.kiosk.shop import SHOP

    world = live_world
    app = live.app
    finance = await new_staff(app, Role.DEPARTMENT_STAFF, "finance.shop", world.est)
    shop_staff = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.browser", world.est)
    await join_department(app, world.est, "finance", finance.account_id)
    await join_department(app, world.est, "shop", shop_staff.account_id)
    as_finance = Principal(finance.account_id, Role.DEPARTMENT_STAFF, world.est, "t")
    as_shop = Principal(shop_staff.account_id, Role.DEPARTMENT_STAFF, world.est, "t")
    await app[MONEY].post_credits(
        as_finance, world.est, credits_csv(f"{A},spends,10.00,wages,Wages week 12")
    )
    for category, name, price, level in (
        ("Food", "Crisps", 65, None),
        ("Phone", "Phone credit £5", 500, None),
        ("Drinks", "Fresh coffee", 250, "enhanced"),
    ):
        await app[SHOP].add_item(
            as_shop, world.est, category=category, name=name, price_pence=price, min_level=level
        )

    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, SimpleNamespace(prisoner=world.prisoners[0]))
    await device.get_by_role("link", name="Shop", exact=False).click()
    await device.wait_for_selector("#screen-shop:not([hidden])")
    await device.get_by_text("Spends £10.00. You can spend £25.00 more this week").wait_for()
    assert await device.locator("[data-item] .hint").all_inner_texts() == ["Only on Enhanced."]

    # Too much: three phone credits are £15.00, over the £10.00 of spends.
    for _ in range(3):
        await device.get_by_role("button", name="Add Phone credit £5 to your basket").click()
    await device.get_by_role("button", name="Place order").click()
    await device.get_by_text("You do not have enough spends for this order.").wait_for()
    await screenshot(device, "shop-device-refused")
    await device.get_by_role("button", name="Remove Phone credit £5 from your basket").click()

    await device.get_by_role("button", name="Add Crisps to your basket").click()
    await device.get_by_role("button", name="Add Crisps to your basket").click()
    await device.get_by_role("button", name="Add Phone credit £5 to your basket").click()
    await device.get_by_text("Total £6.30").wait_for()
    # A double tap: one order.
    await device.get_by_role("button", name="Place order").dblclick()
    receipt = device.locator("#shop-receipt")
    await receipt.get_by_text("Order placed. Your receipt number is", exact=False).wait_for()
    await device.get_by_text("Spends £3.70.", exact=False).wait_for()
    assert await device.locator("#shop-orders [data-order]").count() == 1
    assert await device.locator("#shop-orders [data-status='placed']").count() == 1
    await check_accessibility(device, axe_source, "device shop")
    await screenshot(device, "shop-device")

    await _welsh(device)
    await device.wait_for_selector("#screen-shop:not([hidden])")
    await device.get_by_text("Arian gwario £3.70.", exact=False).wait_for()
    await check_accessibility(device, axe_source, "device shop, Welsh")
    await screenshot(device, "shop-device-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_shop_staff_pick_an_order_with_a_line_out_of_stock_and_deliver_it(
    live: Live, live_world: World, browser: Any, axe_source: str
) -> None:
    from core.identity import Principal
    from web.kiosk.money import MONEY
    from web.kiosk.shop import SHOP
    from web.state import IDENTITY

    world = live_world
    app = live.app
    finance = await new_staff(app, Role.DEPARTMENT_STAFF, "finance.pick", world.est)
    shop_staff = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.pick", world.est)
    await join_department(app, world.est, "finance", finance.account_id)
    await join_department(app, world.est, "shop", shop_staff.account_id)
    as_finance = Principal(finance.account_id, Role.DEPARTMENT_STAFF, world.est, "t")
    as_shop = Principal(shop_staff.account_id, Role.DEPARTMENT_STAFF, world.est, "t")
    await app[MONEY].post_credits(as_finance, world.est, credits_csv(f"{A},spends,10.00,wages,w"))
    crisps = await app[SHOP].add_item(
        as_shop, world.est, category="Food", name="Crisps", price_pence=65
    )
    soap = await app[SHOP].add_item(
        as_shop, world.est, category="Toiletries", name="Soap", price_pence=120
    )
    prisoner_id = await app[IDENTITY].find_prisoner(A)
    assert prisoner_id is not None
    prisoner = Principal(prisoner_id, Role.PRISONER, world.est, "t")
    order, _ = await app[SHOP].place(
        prisoner,
        [{"item_id": crisps.id, "quantity": 2}, {"item_id": soap.id, "quantity": 1}],
        "browser-pick-0001",
    )

    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/shop-desk", shop_staff)
    await page.wait_for_selector("#screen-shopdesk:not([hidden])")
    card = page.locator(f"[data-order='{order.id}']")
    await card.get_by_text("To pick").wait_for()
    await card.get_by_label("Soap out of stock").check()
    await check_accessibility(page, axe_source, "shop desk")
    await screenshot(page, "shop-desk")
    await page.get_by_role("button", name=f"Mark order {order.receipt} picked").click()
    await page.get_by_text(
        f"Order {order.receipt} picked. £1.20 for lines out of stock was given back"
    ).wait_for()
    await page.get_by_role("button", name=f"Mark order {order.receipt} delivered").click()
    await page.get_by_text(f"Order {order.receipt} delivered.").wait_for()
    await page.get_by_text("No orders to pick or deliver.").wait_for()
    mine = await app[MONEY].statement(prisoner, prisoner_id)
    # 2 x 0.65 + 1.20 taken, the soap's 1.20 given back.
    assert sum(mine.balances.values()) == 1000 - 250 + 120
    await _welsh(page)
    await page.get_by_role("heading", name="Siop: rhestr gasglu").wait_for()
    await check_accessibility(page, axe_source, "shop desk, Welsh")
    await screenshot(page, "shop-desk-cy")
    assert watch.problems == []
