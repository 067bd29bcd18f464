"""Transfer and release from the officer's People page (issue 14 item 6), in English and
Welsh, axe-clean: the officer is told what will happen before it does, sees the result in
words, and prints a letter in the prisoner's own language (not necessarily the page's) that
gives each appointment's time and what happens to it (never its reason). Releasing a prisoner
twice is refused in words; the released prisoner can no longer sign in on the in-cell device.

Before, release and transfer had no screen, and a released prisoner, whose account (and so
inbox) is closed at release, was never told what happened to their appointments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert

# aiortc (imported by the app) runs ldconfig on import: not on the event loop.
import web.app  # noqa: F401
from core.db.schema import staff_establishments
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
    visit,
)
from tests.browser.seed import ConsultWorld, consult_world
from tests.browser.test_views import sign_in_staff_page
from tests.kiosk.money_world import join_department
from tests.world import new_staff, place
from web.kiosk.money import MONEY
from web.kiosk.shop import SHOP
from web.state import CLOCK, DATABASE, IDENTITY, SCHEDULING

pytestmark = pytest.mark.slow
SYSTEM = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")

# What the officer's page says (in the page's language) and what the letter says (in the
# prisoner's, here the same one).
WORDS = {
    "en": {
        "open": "Open",
        "transfer_to": "Transfer to",
        "transfer": "Transfer…",
        "release": "Release…",
        "yes_transfer": "Yes, transfer",
        "yes_release": "Yes, release",
        "confirm_transfer": "A consult that cannot move is cancelled here and sent to the"
        " healthcare team at HMP New, who will offer a new time.",
        "confirm_release": "Their account is disabled and they are signed out everywhere,"
        " on every device, at once.",
        "transferred": "has been transferred to HMP New. Consults that moved with them: 1."
        " Sent to the healthcare team there for a new time: 1.",
        "released": "has been released. Their account is disabled and they are signed out"
        " everywhere. Booked consults closed: 1.",
        "letter": "What happens to your appointments",
        "moved": "this appointment moves with you. It goes ahead at HMP New at the same time.",
        "reoffered": "this appointment is cancelled. The healthcare team at HMP New will offer"
        " you a new time.",
        "handed_over": "handed over to your community health service",
        "cancelled": "If you still need it, ask your GP or local health service.",
        "closed": "Your Throughcare account is now closed, so you can no longer sign in.",
        "twice": "This prisoner has already been released. Nothing was changed.",
        "print": "Print the letter",
        "bad_sign_in": "That prison number or PIN is not right.",
        "money_moved": "Your money moves with you: £0.00 private cash and £10.00 spends.",
        "orders_cancelled": "Shop orders not yet delivered are cancelled: 1. £1.30 was"
        " refunded to your spends first.",
        "paid_out": "Pay out £25.00 to them (receipt P",
        "refunded": "Shop orders not yet delivered, cancelled and refunded: 1.",
        "confirm_money": "Their money moves with them. Shop orders not yet delivered are"
        " cancelled and refunded to their spends.",
        "money_paid": "Paid out to you today: £20.00 private cash and £5.00 spends, £25.00 in"
        " all. Receipt number: P",
    },
    "cy": {
        "open": "Agor",
        "transfer_to": "Trosglwyddo i",
        "transfer": "Trosglwyddo…",
        "release": "Rhyddhau…",
        "yes_transfer": "Ie, trosglwyddo",
        "yes_release": "Ie, rhyddhau",
        "confirm_transfer": "Bydd ymgynghoriad na all symud yn cael ei ganslo yma a'i anfon at"
        " y tîm gofal iechyd yn HMP New, a fydd yn cynnig amser newydd.",
        "confirm_release": "Bydd eu cyfrif yn cael ei analluogi a byddant yn cael eu"
        " hallgofnodi ym mhobman, ar bob dyfais, ar unwaith.",
        "transferred": "wedi cael ei drosglwyddo i HMP New. Ymgynghoriadau a symudodd gyda"
        " nhw: 1. Wedi'u hanfon at y tîm gofal iechyd yno am amser newydd: 1.",
        "released": "wedi cael ei ryddhau. Mae eu cyfrif wedi'i analluogi ac maen nhw wedi'u"
        " hallgofnodi ym mhobman. Ymgynghoriadau wedi'u cau: 1.",
        "letter": "Beth sy'n digwydd i'ch apwyntiadau",
        "moved": "mae'r apwyntiad hwn yn symud gyda chi. Bydd yn mynd yn ei flaen yn HMP New"
        " ar yr un amser.",
        "reoffered": "mae'r apwyntiad hwn wedi'i ganslo. Bydd y tîm gofal iechyd yn HMP New yn"
        " cynnig amser newydd i chi.",
        "handed_over": "a'i drosglwyddo i'ch gwasanaeth iechyd cymunedol",
        "cancelled": "Os oes ei angen arnoch o hyd, gofynnwch i'ch meddyg teulu",
        "closed": "Mae eich cyfrif Throughcare bellach wedi'i gau, felly ni allwch fewngofnodi"
        " mwyach.",
        "twice": "Mae'r carcharor hwn eisoes wedi cael ei ryddhau. Ni newidiwyd dim.",
        "print": "Argraffu'r llythyr",
        "bad_sign_in": "Nid yw'r rhif carchar neu'r PIN hwnnw'n gywir.",
        "money_moved": "Mae eich arian yn symud gyda chi: £0.00 o arian preifat a £10.00 o"
        " arian gwario.",
        "orders_cancelled": "Archebion siop heb eu dosbarthu wedi'u canslo: 1. Cafodd £1.30 ei"
        " ad-dalu i'ch arian gwario yn gyntaf.",
        "paid_out": "Talwch £25.00 iddynt (derbynneb P",
        "refunded": "Archebion siop heb eu dosbarthu, wedi'u canslo a'u had-dalu: 1.",
        "confirm_money": "Mae eu harian yn symud gyda nhw. Mae archebion siop heb eu dosbarthu"
        " yn cael eu canslo a'u had-dalu i'w harian gwario.",
        "money_paid": "Wedi'i dalu allan i chi heddiw: £20.00 o arian preifat a £5.00 o arian"
        " gwario, £25.00 i gyd. Rhif y dderbynneb: P",
    },
}
REASON = "Follow-up of a wound dressing"


async def _world(live: Any, lang: str) -> tuple[ConsultWorld, str, str]:
    """The consult world (its prisoner, on the device, has a nurse consult in 5 minutes and
    is the one released) and a second prisoner with a nurse consult and a dental one, to be
    transferred to HMP New, which has a nurse clinic (the same clinician serves both) and no
    dental service. The released prisoner's account is in `lang`, the mover's in the other."""
    app = live.app
    world = await consult_world(app, relay_only=False, cell="A1-01")
    scheduling, identity = app[SCHEDULING], app[IDENTITY]
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, "")
    mover = await identity.create_prisoner(
        establishment_id=world.est, prison_number="M1234MV", display_name="Mover Jones", pin="2468"
    )
    dental = await scheduling.create_service(manager, world.est, code="dental", name="Dental")
    now = app[CLOCK].now()
    tomorrow = now + timedelta(days=1)
    await scheduling.add_availability(
        manager,
        clinician_id=world.clinician.account_id,
        service_id=dental.id,
        weekday_value=tomorrow.weekday(),
        start="00:00",
        end="23:59",
    )
    for service, starts in (
        (world.service_id, now + timedelta(hours=2)),
        (dental.id, tomorrow.replace(hour=10, minute=0, second=0, microsecond=0)),
    ):
        await scheduling.book(
            manager,
            prisoner_id=mover,
            service_id=service,
            clinician_id=world.clinician.account_id,
            starts_at=starts,
            reason_text=REASON,
        )
    new_est = await identity.create_establishment(f"HMP-N{world.est[-4:]}", "HMP New")
    async with app[DATABASE].begin() as conn:
        await conn.execute(
            insert(staff_establishments).values(
                account_id=world.clinician.account_id, establishment_id=new_est, created_at=now
            )
        )
    nurse = await scheduling.create_service(
        SYSTEM, new_est, code="nurse", name="Nurse clinic", minutes=20, buffer_minutes=0
    )
    for day in (now, tomorrow):
        await scheduling.add_availability(
            SYSTEM,
            clinician_id=world.clinician.account_id,
            service_id=nurse.id,
            weekday_value=day.weekday(),
            start="00:00",
            end="23:59",
        )
    await place(app, new_est, "N1-01")
    await _money(app, world, mover)
    # The mover reads the other language from the officer's page: their letter is in theirs.
    other = "cy" if lang == "en" else "en"
    for account, locale in ((mover, other), (world.prisoner.account_id, lang)):
        await identity.set_locale(Principal(account, Role.PRISONER, world.est, ""), locale)
    return world, mover, new_est


async def _money(app: Any, world: ConsultWorld, mover: str) -> None:
    """Issue 16 item 6: the mover has 10.00 in spends and an order of 1.30 not yet picked;
    the prisoner to be released has 20.00 private cash and 5.00 spends."""
    money, shop = app[MONEY], app[SHOP]
    await money.post(SYSTEM, mover, [Posting(MoneyAccount.SPENDS, EntryKind.WAGES, 1000)])
    await money.post(
        SYSTEM,
        world.prisoner.account_id,
        [
            Posting(MoneyAccount.PRIVATE, EntryKind.SENT_IN, 2000),
            Posting(MoneyAccount.SPENDS, EntryKind.WAGES, 500),
        ],
    )
    staff = await new_staff(app, Role.DEPARTMENT_STAFF, "shop.leaving", world.est)
    await join_department(app, world.est, "shop", staff.account_id)
    keeper = Principal(staff.account_id, Role.DEPARTMENT_STAFF, world.est, "")
    await shop.set_settings(
        keeper,
        world.est,
        limits={"basic": 5000, "standard": 5000, "enhanced": 5000},
        cutoff_weekday=6,
        cutoff_time="23:59",
    )
    crisps = await shop.add_item(keeper, world.est, category="Food", name="Crisps", price_pence=65)
    await shop.place(
        Principal(mover, Role.PRISONER, world.est, ""),
        [{"item_id": crisps.id, "quantity": 2}],
        "leaving-order-0001",
    )


async def _open(page: Any, words: dict[str, str], name: str) -> Any:
    await page.get_by_role("button", name=f"{words['open']}: {name}").click()
    panel = page.locator("#prisoner")
    await panel.get_by_role("heading", name=name).wait_for()
    return panel


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_officer_transfers_and_releases_and_prints_each_prisoners_letter(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world, _mover, _new_est = await _world(live, lang)
    if lang == "en":
        # With a community-sharing consent a released prisoner's care is handed over;
        # without it (the Welsh run) it is only cancelled: the letter says which.
        clinician = Principal(world.clinician.account_id, Role.CLINICIAN, world.est, "")
        await live.app[SCHEDULING].record_consent(
            clinician,
            prisoner_id=world.prisoner.account_id,
            scope_value="community_sharing",
            version=1,
            decision="given",
        )
    words = WORDS[lang]
    watch = PageWatch()
    page = await new_page(browser, watch)
    await sign_in_staff_page(page, live, "/people", world.officer)
    await page.wait_for_selector("body[data-ready='true'] #screen-people:not([hidden])")
    if lang == "cy":
        await page.locator("#lang-switch").click()
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")

    # A second tab, open on the prisoner to be released: it will try again.
    stale = watch.attach(await page.context.new_page())
    await visit(stale, live.url("/people"))
    await stale.wait_for_selector("#screen-people:not([hidden])")
    stale_panel = await _open(stale, words, world.prisoner_name)

    # Transfer: the confirmation says what will happen; nothing happens until "Yes".
    panel = await _open(page, words, "Mover Jones")
    await panel.get_by_label(words["transfer_to"]).select_option(label="HMP New")
    await panel.get_by_role("button", name=words["transfer"]).click()
    confirm = page.locator("#leave-confirm")
    await confirm.get_by_text(words["confirm_transfer"]).wait_for()
    await confirm.get_by_text(words["confirm_money"]).wait_for()
    await check_accessibility(page, axe_source, f"people transfer confirmation ({lang})")
    await screenshot(page, f"people-transfer-confirm-{lang}")
    await confirm.get_by_role("button", name=words["yes_transfer"]).click()
    leaving = page.locator("#leaving")
    await leaving.get_by_text(f"Mover Jones {words['transferred']}", exact=False).wait_for()
    assert words["refunded"] in await page.locator("#leaving-result").inner_text()
    letter = page.locator("#letter")
    theirs = WORDS["cy" if lang == "en" else "en"]
    assert await letter.get_attribute("lang") == ("cy" if lang == "en" else "en")
    assert await letter.get_by_role("heading", level=3).inner_text() == theirs["letter"]
    fates = letter.locator("li[data-fate]")
    assert await fates.evaluate_all("items => items.map(i => i.dataset.fate)") == [
        "moved",
        "reoffered",
    ]
    assert theirs["moved"] in await fates.nth(0).inner_text()
    assert theirs["reoffered"] in await fates.nth(1).inner_text()
    assert "M1234MV" in await letter.inner_text()
    # Their money moves with them; the order the old shop had not picked is refunded.
    assert await letter.locator("#letter-money").inner_text() == theirs["money_moved"]
    assert await letter.locator("#letter-orders").inner_text() == theirs["orders_cancelled"]
    # Times only: the consult's reason never reaches the letter.
    assert REASON not in await letter.inner_text()
    # The transferred prisoner is no longer on this establishment's roll.
    # (The roll reloads after the letter is shown: wait for it rather than race it.)
    await page.get_by_role("button", name=f"{words['open']}: Mover Jones").wait_for(
        state="detached"
    )
    await check_accessibility(page, axe_source, f"people transfer letter ({lang})")
    await screenshot(page, f"people-transfer-letter-{lang}")

    # Release: the confirmation says the account is disabled and signed out everywhere.
    panel = await _open(page, words, world.prisoner_name)
    await panel.get_by_role("button", name=words["release"]).click()
    await confirm.get_by_text(words["confirm_release"]).wait_for()
    await screenshot(page, f"people-release-confirm-{lang}")
    await confirm.get_by_role("button", name=words["yes_release"]).click()
    await leaving.get_by_text(f"{world.prisoner_name}", exact=False).first.wait_for()
    assert words["released"] in await page.locator("#leaving-result").inner_text()
    # The officer is told in their own language what to pay out, and under which receipt.
    assert words["paid_out"] in await page.locator("#leaving-result").inner_text()
    [fate] = await fates.evaluate_all("items => items.map(i => i.dataset.fate)")
    assert fate == ("handed_over" if lang == "en" else "cancelled")
    assert words[fate] in await fates.nth(0).inner_text()
    assert await letter.get_attribute("lang") == lang
    assert await letter.get_by_role("heading", level=3).inner_text() == words["letter"]
    assert words["closed"] in await letter.inner_text()
    # The payout and its receipt number are part of the same printed letter.
    paid = await letter.locator("#letter-money").inner_text()
    assert paid.startswith(words["money_paid"]) and len(paid) == len(words["money_paid"]) + 8
    assert await letter.locator("#letter-orders").is_hidden()
    assert REASON not in await letter.inner_text()
    await check_accessibility(page, axe_source, f"people release letter ({lang})")
    await screenshot(page, f"people-release-letter-{lang}")

    # On paper, only the letter.
    await page.emulate_media(media="print")
    assert await letter.is_visible()
    assert await letter.locator("#letter-money").is_visible()
    assert not await page.get_by_role("button", name=words["print"]).is_visible()
    assert not await page.locator("#roll-heading").is_visible()
    await screenshot(page, f"people-release-letter-print-{lang}")
    await page.emulate_media(media="screen")

    # The second officer releases the same prisoner again: refused, in words.
    await stale_panel.get_by_role("button", name=words["release"]).click()
    await stale.locator("#leave-confirm").get_by_role("button", name=words["yes_release"]).click()
    refusal = stale.locator("#leave-error")
    await refusal.get_by_text(words["twice"]).wait_for()
    assert await stale.locator("#leaving").is_hidden()
    await check_accessibility(stale, axe_source, f"people release refused ({lang})")
    await screenshot(stale, f"people-release-twice-{lang}")

    # The released prisoner can no longer sign in on the in-cell device.
    device = await new_page(browser, watch)
    await device.context.add_cookies([{"name": "tc_lang", "value": lang, "url": live.url("/")}])
    await device.goto(live.url("/healthz"))
    await device.evaluate(
        "c => localStorage.setItem('tc_device_credential', c)", world.prisoner.device_credential
    )
    await visit(device, live.url("/device"))
    await device.fill("#prison-number", world.prisoner.prison_number)
    await device.fill("#pin", world.prisoner.pin)
    await device.press("#pin", "Enter")
    await device.locator("#signin-error").get_by_text(words["bad_sign_in"]).wait_for()
    assert await device.locator("#screen-home").is_hidden()
    await screenshot(device, f"device-after-release-{lang}")
    assert watch.problems == []
