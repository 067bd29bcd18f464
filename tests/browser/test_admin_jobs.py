"""An admin in a real browser: the scheduled jobs page, a failed job run again, a
waiting one cancelled, in English and Welsh; nobody else gets the page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.identity import Principal, Role
from core.jobs import JobContext
from tests.browser.conftest import Live, PageWatch, check_accessibility, new_page, screenshot, visit
from tests.world import PASSWORD, World, build_world
from web.state import CLOCK, JOBS, SCHEDULING

pytestmark = pytest.mark.slow


async def sign_in(page: Any, live: Live, world: World, who: str) -> None:
    await page.get_by_label("Username").fill(world.staff[who].username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("6-digit code").fill(world.staff[who].code(live.app))
    await page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("store_kind", ["postgres"])
async def test_admin_runs_a_failed_job_again_and_cancels_a_waiting_one(
    live: Live, browser: Any, axe_source: str
) -> None:
    world = await build_world(live.app)
    runner = live.app[JOBS]
    failing = [True]

    async def post(ctx: JobContext) -> None:
        if failing[0]:
            raise ConnectionRefusedError

    runner.register("test.post", post, max_attempts=1)
    failed = await runner.schedule(None, "test.post", {"bundle": "b-1"})
    officer = world.staff["officer"]
    clock = live.app[CLOCK]
    await live.app[SCHEDULING].declare_lockdown(
        Principal(officer.account_id, Role.OFFICER, world.est, "test"),
        world.est,
        starts_at=clock.now() + timedelta(hours=1),
        ends_at=clock.now() + timedelta(hours=3),
    )
    await runner.run_due()

    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff"))
    await sign_in(page, live, world, "admin")
    await page.get_by_role("link", name="Scheduled jobs").click()
    await page.wait_for_selector("body[data-ready='true'] #screen-jobs:not([hidden])")
    assert await page.locator("#jobs-counts li[data-status='failed']").inner_text() == "1 Failed"
    row = page.locator(f"tr[data-job='{failed}']")
    assert await row.locator("td").all_inner_texts() == [
        "test.post",
        "Failed",
        await row.locator("td").nth(2).inner_text(),
        "1 of 1",
        "ConnectionRefusedError",
        "Run now",
    ]
    await check_accessibility(page, axe_source, "admin jobs")
    await screenshot(page, "admin-jobs")

    failing[0] = False
    await row.get_by_role("button", name="Run now: test.post").click()
    await page.get_by_text("test.post will run now.").wait_for()
    await page.wait_for_selector(f"tr[data-job='{failed}'][data-status='pending']")
    await runner.run_due()
    await page.get_by_role("button", name="Show jobs").click()
    await page.wait_for_selector(f"tr[data-job='{failed}'][data-status='done']")

    lockdown_end = page.locator("tr[data-status='pending']", has_text="End of a lockdown")
    await lockdown_end.get_by_role("button", name="Cancel: End of a lockdown").click()
    await page.get_by_text("End of a lockdown was cancelled.").wait_for()
    [job] = await runner.jobs(kind="scheduling.lockdown_end")
    assert job.status.value == "cancelled"
    assert (
        await page.locator("tr", has_text="Appointment reminders")
        .get_by_role("button", name="Cancel")
        .count()
        == 0
    ), "a recurring job is not cancelled"

    await page.get_by_label("Show", exact=True).select_option("failed")
    await page.get_by_role("button", name="Show jobs").click()
    await page.get_by_text("No jobs.").wait_for()

    await page.locator("#lang-switch").click()
    await page.wait_for_selector(
        "html[lang='cy'] body[data-ready='true'] #screen-jobs:not([hidden])"
    )
    assert await page.locator("#jobs-heading").inner_text() == "Tasgau wedi'u hamserlennu"
    await page.get_by_text("Diwedd cyfyngiadau symud").first.wait_for()
    await check_accessibility(page, axe_source, "admin jobs (cy)")
    await screenshot(page, "admin-jobs-cy")
    assert watch.problems == []


@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_an_officer_gets_no_jobs_page(live: Live, browser: Any) -> None:
    world = await build_world(live.app)
    watch = PageWatch()
    page = await new_page(browser, watch)
    await visit(page, live.url("/staff"))
    await sign_in(page, live, world, "officer")
    await page.wait_for_selector("#screen-officer:not([hidden])")
    assert await page.get_by_role("link", name="Scheduled jobs").count() == 0
    await visit(page, live.url("/admin/jobs"))
    await page.wait_for_selector("#screen-wrong-role:not([hidden])")
    assert await page.locator("#screen-jobs").is_hidden()
    assert watch.problems == []
