"""The catalogue in a real browser (issue 16 item 2), English and Welsh, axe-clean: shop staff
add an item with its price in pounds (a price that is not pounds and pence is refused in
words and nothing is added), limit it to a level and change its price; healthcare make it
unavailable to one prisoner without giving a reason; the prisoner's device then says only
that it is not available to them."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from core.identity import Principal, Role
from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from tests.browser.test_views import sign_in_staff_page
from tests.kiosk.money_world import join_department
from tests.world import World, new_staff
from web.state import IDENTITY

pytestmark = pytest.mark.slow

A = "A1234BC"
WORDS = {
    "en": {
        "category": "Category",
        "item": "Item",
        "price": "Price in pounds",
        "level": "Who may buy it",
        "enhanced": "Enhanced only",
        "any": "Any incentive level",
        "add": "Add item",
        "bad_price": "Write the price in pounds and pence, like 1.25: more than 0 and at most"
        " 1000.00.",
        "added": "Biscuits added at £1.25.",
        "save": "Save the change",
        "changed": "Biscuits is now £0.99. Any incentive level.",
        "number": "Prison number",
        "show": "Show their shop items",
        "stop": "Make Biscuits unavailable to them",
        "stopped": "Biscuits is now unavailable to them.",
        "not_for_you": "Not available to you.",
    },
    "cy": {
        "category": "Categori",
        "item": "Eitem",
        "price": "Pris mewn punnoedd",
        "level": "Pwy all ei brynu",
        "enhanced": "Uwch yn unig",
        "any": "Unrhyw lefel cymhelliant",
        "add": "Ychwanegu eitem",
        "bad_price": "Ysgrifennwch y pris mewn punnoedd a cheiniogau, fel 1.25: mwy na 0 a dim"
        " mwy na 1000.00.",
        "added": "Ychwanegwyd Biscuits am £1.25.",
        "save": "Cadw'r newid",
        "changed": "Mae Biscuits bellach yn £0.99. Unrhyw lefel cymhelliant.",
        "number": "Rhif carchar",
        "show": "Dangos eu heitemau siop",
        "stop": "Eu hatal rhag prynu Biscuits",
        "stopped": "Ni allant brynu Biscuits bellach.",
        "not_for_you": "Ddim ar gael i chi.",
    },
}


async def _language(page: Any, lang: str) -> None:
    if lang == "cy":
        await page.locator("#lang-switch").click()
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_shop_staff_keep_the_catalogue_and_healthcare_restrict_an_item_without_a_reason(
    live: Live, live_world: World, browser: Any, axe_source: str, lang: str
) -> None:
    world, app, words = live_world, live.app, WORDS[lang]
    keeper = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.catalogue", world.est)
    await join_department(app, world.est, "shop", keeper.account_id)
    nurse = await new_staff(app, Role.HEALTHCARE_ADMIN, "nurse.catalogue", world.est)
    prisoner = world.prisoners[0]
    await app[IDENTITY].set_locale(
        Principal(prisoner.account_id, Role.PRISONER, world.est, ""), lang
    )
    watch = PageWatch()

    # Shop staff: a price that is not pounds and pence is refused, nothing is added.
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/shop-desk", keeper)
    await page.wait_for_selector("#screen-shopdesk:not([hidden])")
    await page.wait_for_selector("body[data-ready='true']")
    await _language(page, lang)
    form = page.locator("#item-form")
    await form.get_by_label(words["category"]).fill("Food")
    await form.get_by_label(words["item"]).fill("Biscuits")
    await form.get_by_label(words["price"]).fill("1.2.5")
    await form.get_by_label(words["level"]).select_option(label=words["enhanced"])
    await form.get_by_role("button", name=words["add"]).click()
    await form.locator("#item-error").get_by_text(words["bad_price"]).wait_for()
    assert await page.locator("#catalogue-table tbody tr[data-item]").count() == 0
    await check_accessibility(page, axe_source, f"shop catalogue, bad price ({lang})")
    await screenshot(page, f"shop-catalogue-bad-price-{lang}")

    await form.get_by_label(words["price"]).fill("1.25")
    await form.get_by_role("button", name=words["add"]).click()
    await page.locator("#catalogue-result").get_by_text(words["added"]).wait_for()
    row = page.locator("#catalogue-table tbody tr[data-item]")
    await row.get_by_text("£1.25").wait_for()
    assert await row.all_inner_texts() == [f"Food\tBiscuits\t£1.25\t{words['enhanced']}"]

    # A new price and any level.
    change = page.locator("#change-form")
    await change.get_by_label(words["price"]).fill("0.99")
    await change.get_by_label(words["level"]).select_option(label=words["any"])
    await change.get_by_role("button", name=words["save"]).click()
    await page.locator("#catalogue-result").get_by_text(words["changed"]).wait_for()
    await row.get_by_text("£0.99").wait_for()
    assert await row.all_inner_texts() == [f"Food\tBiscuits\t£0.99\t{words['any']}"]
    await check_accessibility(page, axe_source, f"shop catalogue ({lang})")
    await screenshot(page, f"shop-catalogue-{lang}")

    # Healthcare make it unavailable to one prisoner: no reason is asked.
    desk = await new_page(browser, watch)
    # From their desk, by the link only those who may restrict items see.
    await sign_in_staff_page(desk, live, "/triage", nurse)
    await desk.locator("a[href='/shop-restrictions']:visible").click()
    await desk.wait_for_selector("#screen-restrict:not([hidden])")
    await desk.wait_for_selector("body[data-ready='true']")
    await _language(desk, lang)
    await desk.get_by_label(words["number"]).fill(A.lower())
    await desk.get_by_role("button", name=words["show"]).click()
    await desk.get_by_role("button", name=words["stop"]).click()
    await desk.locator("#restrict-result").get_by_text(words["stopped"]).wait_for()
    await desk.wait_for_selector("#restrict-items [data-restricted='true']")
    assert await desk.locator("textarea, input[name*='reason']").count() == 0
    await check_accessibility(desk, axe_source, f"shop restrictions ({lang})")
    await screenshot(desk, f"shop-restrictions-{lang}")

    # The prisoner's device: only "not available to you".
    device = await new_page(browser, watch)
    await sign_in_device(device, live, SimpleNamespace(prisoner=prisoner))
    await device.locator("a.tile-shop").click()
    await device.wait_for_selector("#screen-shop:not([hidden])")
    card = device.locator("#shop-items li.card")
    await card.get_by_text(words["not_for_you"]).wait_for()
    assert await card.get_by_role("button").count() == 0
    await check_accessibility(device, axe_source, f"device shop, restricted ({lang})")
    await screenshot(device, f"shop-restricted-device-{lang}")
    assert watch.problems == []
