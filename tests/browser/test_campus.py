"""Issue 17 item 1 in a real browser, English and Welsh, axe-clean: education staff build a
course (the lesson's script and outside link are taken out, and the page says so; a PNG
named as a PDF is refused), a colleague approves the picture, and the prisoner joins from
the device's Learning tile, reads the lesson part by part (a reload keeps their place),
passes the test and downloads the certificate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
    sign_in_device,
    visit,
)
from tests.browser.seed import consult_world
from tests.campus import files
from tests.world import PASSWORD, Staff, new_staff
from web.app import create_app  # noqa: F401  (aiortc reads the system at import: not on the loop)
from web.state import ACCESS, IDENTITY

pytestmark = pytest.mark.slow

SYSTEM = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
WORDS = {
    "en": {
        "removed": "Scripts and other active content were taken out of the text.",
        "removed_link": "Links to other sites were taken out of the text.",
        "mismatch": "The file is not what it says it is",
        "approved": "payslip approved.",
        "join": "Join the course",
        "part": "Part 2 of 2",
        "passed": "You passed!",
        "done": "Finished. Well done!",
        "own": "You uploaded this file: another member of education approves it.",
        "goal_set": "Goal added to the learner's plan.",
    },
    "cy": {
        "removed": "Cafodd sgriptiau a chynnwys gweithredol arall eu tynnu o'r testun.",
        "removed_link": "Cafodd dolenni i wefannau eraill eu tynnu o'r testun.",
        "mismatch": "Nid yw'r ffeil yr hyn y mae'n dweud ei bod",
        "approved": "payslip wedi'i chymeradwyo.",
        "join": "Ymuno â'r cwrs",
        "part": "Rhan 2 o 2",
        "passed": "Rydych wedi pasio!",
        "done": "Wedi gorffen. Da iawn!",
        "own": "Chi a lwythodd y ffeil hon: mae aelod arall o'r adran addysg yn ei chymeradwyo.",
        "goal_set": "Nod wedi'i ychwanegu at gynllun y dysgwr.",
    },
}


async def _desk(browser: Any, watch: PageWatch, live: Any, who: Staff) -> Any:
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff/campus"))
    await page.fill("#username", who.username)
    await page.fill("#password", PASSWORD)
    await page.fill("#totp", who.code(live.app))
    await page.press("#totp", "Enter")
    await page.wait_for_selector("#screen-campus:not([hidden])")
    await page.wait_for_selector("body[data-ready='true']")
    return page


async def _ready(page: Any) -> None:
    await page.wait_for_selector("body[data-ready='true']")


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_staff_build_and_approve_a_course_and_the_prisoner_learns_and_is_certified(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    teacher = await new_staff(live.app, Role.DEPARTMENT_STAFF, f"teacher.{lang}", world.est)
    tutor = await new_staff(live.app, Role.DEPARTMENT_STAFF, f"tutor.{lang}", world.est)
    education = next(
        d
        for d in await live.app[ACCESS].departments.of_establishment(SYSTEM, world.est)
        if d.code == "education"
    )
    await live.app[ACCESS].departments.set_members(
        SYSTEM, education.id, [teacher.account_id, tutor.account_id]
    )
    for person, role in (
        (teacher, Role.DEPARTMENT_STAFF),
        (tutor, Role.DEPARTMENT_STAFF),
        (world.prisoner, Role.PRISONER),
    ):
        await live.app[IDENTITY].set_locale(Principal(person.account_id, role, world.est, ""), lang)
    words = WORDS[lang]
    suffix = "" if lang == "en" else "-cy"
    watch = PageWatch()

    # The teacher adds a course and a lesson; the script and the outside link are taken out.
    desk = await _desk(browser, watch, live, teacher)
    await desk.locator("details:has(#course-form) > summary").click()
    await desk.fill("#course-title", "Reading a payslip")
    await desk.fill("#course-summary", "What each line means")
    await desk.locator("#course-form button[type='submit']").click()
    await desk.wait_for_selector("#scampus-result:has-text('Reading a payslip')")
    await desk.fill("#lesson-title", "What it shows")
    await desk.fill(
        "#lesson-text",
        '<p>Your pay.</p><script>alert(1)</script><p><a href="https://evil.example/">More</a></p>',
    )
    await desk.locator("#lesson-form button[type='submit']").click()
    await desk.wait_for_selector(f'#scampus-result:has-text("{words["removed"]}")')
    assert words["removed_link"] in await desk.locator("#scampus-result").inner_text()
    lesson = desk.locator("#staff-lessons li[data-lesson]")
    await lesson.wait_for()

    # A PNG that calls itself a PDF is refused, in words; the real PNG goes in, pending.
    upload = lesson.locator("input[type='file']")
    await upload.set_input_files(
        files=[{"name": "payslip.pdf", "mimeType": "application/pdf", "buffer": files.png()}]
    )
    await lesson.locator("form button[type='submit']").click()
    problem = lesson.locator("form .error:not([hidden])")
    await problem.wait_for()
    assert words["mismatch"] in await problem.inner_text()
    await upload.set_input_files(
        files=[{"name": "payslip.png", "mimeType": "image/png", "buffer": files.png()}]
    )
    await lesson.locator("form button[type='submit']").click()
    await desk.wait_for_selector("#staff-lessons li[data-status='pending']")
    await desk.fill(
        "#questions-text",
        "Where is the tax? | Top | *Deductions\nNet pay is? | *What you get | Before tax",
    )
    await desk.locator("#questions-form button[type='submit']").click()
    await desk.wait_for_selector("#scampus-result:has-text('2')")
    # The uploader cannot approve it.
    mine = desk.locator("#pending li[data-status='pending']")
    await mine.wait_for()
    await mine.locator("button.primary").click()
    await mine.locator(".error:not([hidden])").wait_for()
    assert await mine.locator(".error").inner_text() == words["own"]
    await check_accessibility(desk, axe_source, f"education desk {lang}")
    await screenshot(desk, f"staff-campus-upload{suffix}")

    # A colleague approves it.
    approver = await _desk(browser, watch, live, tutor)
    waiting = approver.locator("#pending li[data-status='pending']")
    await waiting.wait_for()
    await approver.wait_for_function(
        "() => [...document.querySelectorAll('#pending img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    await check_accessibility(approver, axe_source, f"education approval {lang}")
    await screenshot(approver, f"staff-campus-approve{suffix}")
    await waiting.locator("button.primary").click()
    await approver.wait_for_selector(f'#scampus-result:has-text("{words["approved"]}")')

    # The prisoner joins from the Learning tile.
    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.locator("a.tile-learning").click()
    await device.wait_for_selector("#screen-courses:not([hidden])")
    await _ready(device)
    await check_accessibility(device, axe_source, f"device learning courses {lang}")
    await screenshot(device, f"device-learning-courses{suffix}")
    await device.get_by_role("button", name=f"{words['join']}: Reading a payslip").click()
    await device.wait_for_selector("#screen-course:not([hidden])")
    await _ready(device)
    await device.locator("#lessons a").first.click()
    await device.wait_for_selector("#screen-lesson:not([hidden])")
    await _ready(device)
    body = await device.locator("#lesson-body").inner_html()
    assert "Your pay." in body and "script" not in body and "evil" not in body
    await device.locator("#lesson-next").click()
    await device.wait_for_selector("#lesson-body img")
    assert await device.locator("#lesson-part").inner_text() == words["part"]
    await device.wait_for_function(
        "() => document.querySelector('#lesson-body img').naturalWidth > 0"
    )
    await check_accessibility(device, axe_source, f"device lesson {lang}")
    await screenshot(device, f"device-learning-lesson{suffix}")

    # A reload mid-lesson opens it again at the same part.
    await device.reload()
    await device.wait_for_selector("#screen-lesson:not([hidden])")
    await _ready(device)
    assert await device.locator("#lesson-part").inner_text() == words["part"]
    await device.locator("#lesson-done").click()
    await device.wait_for_selector("#screen-course:not([hidden]) #take-test:not([hidden])")
    await device.locator("#take-test").click()
    await device.wait_for_selector("#screen-test:not([hidden])")
    await _ready(device)
    await device.locator("#test-send").click()
    await device.locator("#test-error:not([hidden])").wait_for()
    await device.locator("fieldset[data-question='0'] label").nth(1).click()
    await device.locator("fieldset[data-question='1'] label").nth(0).click()
    await check_accessibility(device, axe_source, f"device test {lang}")
    await screenshot(device, f"device-learning-test{suffix}")
    await device.locator("#test-send").click()
    await device.wait_for_selector("#screen-result:not([hidden])")
    assert await device.locator("#result-heading").inner_text() == words["passed"]
    await check_accessibility(device, axe_source, f"device result {lang}")
    await screenshot(device, f"device-learning-passed{suffix}")
    async with device.expect_download() as download:
        await device.locator("#result-certificate").click()
    saved = await (await download.value).path()
    pdf = await asyncio.to_thread(Path(saved).read_bytes)
    assert pdf.startswith(b"%PDF")
    assert (await download.value).suggested_filename == f"certificate-{lang}.pdf"

    # Back on the courses screen the course is finished.
    await device.locator("#screen-result a[href='#courses']").click()
    await device.wait_for_selector("#screen-courses:not([hidden])")
    await _ready(device)
    await device.wait_for_selector(f'#my-courses li:has-text("{words["done"]}")')
    await screenshot(device, f"device-learning-finished{suffix}")

    # The education desk sees the learner's progress.
    await approver.reload()
    await _ready(approver)
    row = approver.locator(f"#progress-rows tr[data-learner='{world.prisoner.prison_number}']")
    await row.wait_for()
    assert "100%" in await row.inner_text()
    # The plan, set with the learner: it shows on their device.
    await approver.fill("#plan-goal", "Read my own payslip without help")
    await approver.fill("#plan-date", "2027-06-30")
    await approver.locator("#plan-form button[type='submit']").click()
    await approver.wait_for_selector(f'#scampus-result:has-text("{words["goal_set"]}")')
    await check_accessibility(approver, axe_source, f"education progress {lang}")
    await screenshot(approver, f"staff-campus-progress{suffix}")
    await device.reload()
    await _ready(device)
    await device.wait_for_selector("#goals li:has-text('Read my own payslip without help')")
    assert watch.problems == []


REFUSALS = {
    "en": {
        "needs": "You need to finish Reading a payslip before you can join this course.",
        "not_found": "We could not find that lesson. You may need to join the course first.",
        "lockdown": "Learning is closed during the lockdown. "
        "You can still see your courses and your certificates.",
    },
    "cy": {
        "needs": "Mae angen i chi orffen Reading a payslip cyn y gallwch ymuno â'r cwrs hwn.",
        "not_found": "Ni allem ddod o hyd i'r wers honno. "
        "Efallai bod angen i chi ymuno â'r cwrs yn gyntaf.",
        "lockdown": "Mae Dysgu ar gau yn ystod y cyfyngiadau symud. "
        "Gallwch weld eich cyrsiau a'ch tystysgrifau o hyd.",
    },
}


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize("lang", ["en", "cy"])
async def test_the_device_says_why_when_a_course_or_lesson_is_refused_and_nothing_changes(
    make_live: LiveFactory, browser: Any, axe_source: str, lang: str
) -> None:
    from web.campus import CATALOGUE, LEARNING
    from web.state import CLOCK, SCHEDULING

    live = await make_live()
    world = await consult_world(live.app, relay_only=False)
    teacher_staff = await new_staff(live.app, Role.DEPARTMENT_STAFF, f"t.{lang}", world.est)
    education = next(
        d
        for d in await live.app[ACCESS].departments.of_establishment(SYSTEM, world.est)
        if d.code == "education"
    )
    await live.app[ACCESS].departments.set_members(SYSTEM, education.id, [teacher_staff.account_id])
    teacher = Principal(teacher_staff.account_id, Role.DEPARTMENT_STAFF, world.est, "")
    learner = Principal(world.prisoner.account_id, Role.PRISONER, world.est, "")
    await live.app[IDENTITY].set_locale(learner, lang)
    catalogue = live.app[CATALOGUE]
    first = await catalogue.add_course(teacher, title="Reading a payslip")
    lesson, _ = await catalogue.add_lesson(
        teacher, first.id, title="What it shows", body_html="<p>Your pay.</p>"
    )
    second = await catalogue.add_course(teacher, title="Budgeting", requires_course_id=first.id)
    await catalogue.add_lesson(teacher, second.id, title="Money", body_html="<p>Money.</p>")
    words = REFUSALS[lang]
    suffix = "" if lang == "en" else "-cy"
    watch = PageWatch()

    device = await new_page(browser, watch)
    await sign_in_device(device, live, world)
    await device.locator("a.tile-learning").click()
    await device.wait_for_selector("#screen-courses:not([hidden])")
    await _ready(device)
    # The course that needs another first: the page says which, and nothing is joined.
    budgeting = device.locator(f"#catalogue li[data-course='{second.id}']")
    await budgeting.locator("button").click()
    await budgeting.locator(".error:not([hidden])").wait_for()
    assert await budgeting.locator(".error").inner_text() == words["needs"]
    assert await live.app[LEARNING].mine(learner) == []
    await check_accessibility(device, axe_source, f"device learning prerequisite {lang}")
    await screenshot(device, f"device-learning-prerequisite{suffix}")

    # A lesson of a course not joined, opened by its address.
    await device.goto(live.url(f"/device/learning#lesson/{lesson.id}"))
    await _ready(device)
    await device.wait_for_selector("#flash:not([hidden])")
    assert await device.locator("#flash").inner_text() == words["not_found"]

    # Joined, then a lockdown: the lesson is closed, the course is still listed.
    await live.app[LEARNING].enrol(learner, first.id)
    now = live.app[CLOCK].now()
    await live.app[SCHEDULING].declare_lockdown(
        Principal(world.officer.account_id, Role.OFFICER, world.est, ""),
        world.est,
        starts_at=now.isoformat(),
        ends_at=(now.replace(hour=23, minute=0)).isoformat(),
    )
    await device.goto(live.url("/device/learning#courses"))
    await _ready(device)
    await device.goto(live.url(f"/device/learning#lesson/{lesson.id}"))
    await device.reload()
    await _ready(device)
    await device.wait_for_selector("#flash:not([hidden])")
    assert await device.locator("#flash").inner_text() == words["lockdown"]
    mine = device.locator(f"#my-courses li[data-course='{first.id}']")
    await mine.wait_for()
    progress = await live.app[LEARNING].course_lessons(learner, first.id)
    assert [p.step for _lesson, p in progress[2]] == [0]
    await check_accessibility(device, axe_source, f"device learning lockdown {lang}")
    await screenshot(device, f"device-learning-lockdown{suffix}")
    assert watch.problems == []
