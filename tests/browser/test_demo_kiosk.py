"""Issue 16 item 9: after `throughcare demo`, the demo prisoner signs in on their device and
each kiosk tile opens a screen with the demo's records: Money (wages, money sent in, an
order, a refund), Shop (the catalogue with an item healthcare restricted, orders placed,
packed with a line refunded, delivered), Applications (waiting, answered, a complaint, an
appeal) and Timetable (the regime, work, education and gym). English then Welsh,
axe-checked, with screenshots."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.browser.conftest import (
    Live,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
)
from web.demo import seed
from web.demo_kiosk import deps_of
from web.state import ACCESS, IDENTITY, PEOPLE, PLACES, SCHEDULING

pytestmark = pytest.mark.slow

WORDS = {
    "en": {
        "home": "Home",
        "money": "Money",
        "shop": "Shop",
        "applications": "Applications",
        "timetable": "Timetable",
        "wages": "Wages paid into your spends",
        "sent_in": "Money sent in, paid into your private cash",
        "order": "Shop order paid from your spends",
        "refund": "Refund paid into your spends",
        "restricted": "Not available to you.",
        "refunded_line": "1 × Chocolate bar: out of stock, money given back",
        "work": "Work",
    },
    "cy": {
        "home": "Hafan",
        "money": "Arian",
        "shop": "Siop",
        "applications": "Ceisiadau",
        "timetable": "Amserlen",
        "wages": "Cyflog wedi'i dalu i'ch arian gwario",
        "sent_in": "Arian a anfonwyd i mewn, wedi'i dalu i'ch arian preifat",
        "order": "Archeb siop wedi'i thalu o'ch arian gwario",
        "refund": "Ad-daliad wedi'i dalu i'ch arian gwario",
        "restricted": "Ddim ar gael i chi.",
        "refunded_line": "1 × Chocolate bar: allan o stoc, arian wedi'i roi'n ôl",
        "work": "Gwaith",
    },
}


async def _tile(page: Any, words: dict[str, str], name: str, screen: str) -> None:
    """From wherever the prisoner is: Home, then the tile, then its screen."""
    if await page.locator("#screen-home").is_hidden():
        shown = page.locator(".screen:not([hidden])")
        await shown.get_by_role("link", name=words["home"], exact=True).click()
        await page.wait_for_selector("#screen-home:not([hidden])")
    await page.locator("ul.tiles").get_by_role("link", name=words[name], exact=False).click()
    await page.wait_for_selector(f"#screen-{screen}:not([hidden])")


async def _tiles(page: Any, axe_source: str, lang: str) -> None:
    words = WORDS[lang]
    suffix = "" if lang == "en" else "-cy"

    await _tile(page, words, "money", "money")
    titles = page.locator("#money-entries .card-title")
    await titles.first.wait_for()
    found = " | ".join(await titles.all_inner_texts())
    for kind in ("wages", "sent_in", "order", "refund"):
        assert words[kind] in found, (kind, found)
    await check_accessibility(page, axe_source, f"demo money {lang}")
    await screenshot(page, f"demo-kiosk-money{suffix}")

    await _tile(page, words, "shop", "shop")
    orders = page.locator("#shop-orders")
    for status in ("placed", "picked", "delivered"):
        await orders.locator(f"[data-status='{status}']").first.wait_for()
    await orders.get_by_text(words["refunded_line"]).wait_for()
    energy = page.locator("#shop-items [data-item]", has_text="Energy drink")
    assert await energy.locator(".hint").inner_text() == words["restricted"]
    assert await page.locator("#shop-items [data-item]").count() == 11
    await check_accessibility(page, axe_source, f"demo shop {lang}")
    await screenshot(page, f"demo-kiosk-shop{suffix}")

    await _tile(page, words, "applications", "applications")
    cards = page.locator("#apps-list li.application")
    await cards.first.wait_for()
    stages = {
        (await c.get_attribute("data-stage"), await c.get_attribute("data-status"))
        for c in await cards.all()
    }
    assert {
        ("application", "open"),
        ("application", "answered"),
        ("complaint", "open"),
        ("complaint", "answered"),
        ("appeal", "open"),
    } <= stages, stages
    await check_accessibility(page, axe_source, f"demo applications {lang}")
    await screenshot(page, f"demo-kiosk-applications{suffix}")

    await _tile(page, words, "timetable", "timetable")
    days = page.locator("#timetable-days")
    for kind in ("regime", "work", "education", "gym"):
        await days.locator(f"li[data-kind='{kind}']").first.wait_for()
    assert words["work"] in await days.inner_text()
    await check_accessibility(page, axe_source, f"demo timetable {lang}")
    await screenshot(page, f"demo-kiosk-timetable{suffix}")


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_the_demo_prisoner_finds_something_behind_each_kiosk_tile(
    live: Live, browser: Any, axe_source: str, tmp_path: Path
) -> None:
    app = live.app
    data: dict[str, Any] = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        app[SCHEDULING],
        places=app[PLACES],
        people=app[PEOPLE],
        access=app[ACCESS],
        kiosk=deps_of(app),
    )
    first = data["prisoners"][0]
    watch = PageWatch()
    device = await new_page(browser, watch)
    await sign_in_device(device, live, SimpleNamespace(prisoner=SimpleNamespace(**first)))
    await _tiles(device, axe_source, "en")
    # Welsh, chosen on the device, then every tile again.
    await device.locator("#lang-switch").click()
    await device.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await _tiles(device, axe_source, "cy")
    # Back and reload: the screen comes back with the same content.
    await device.reload()
    await device.wait_for_selector("#screen-timetable:not([hidden])")
    await device.locator("#timetable-days li[data-kind='gym']").first.wait_for()
    assert watch.problems == []
