"""Lessons worked offline: progress and assessment answers from a device's queue through
POST /api/sync, on both stores. Stored once; a replay (in any order) changes nothing;
progress from two devices keeps the furthest step and the first completion; a lesson of a
course the learner is not on, another person's items, forged ids and a lockdown are refused
with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from campus.tables import campus_attempts, campus_enrolments, campus_progress
from core.clock import FakeClock
from tests.campus.conftest import Campus, make_campus
from tests.offline_device import Device, count, statuses
from web.state import CLOCK, DATABASE, SCHEDULING


async def _learning(client: Any, clock: FakeClock) -> tuple[Campus, Any, list[str], Device]:
    c = await make_campus(client, clock)
    course = await c.course()
    await c.learning.enrol(c.learner, course.id)
    _course, _enrolment, lessons = await c.learning.course_lessons(c.learner, course.id)
    device = await Device.sign_in(client, c.sched.world.prisoners[0])
    return c, course, [lesson.id for lesson, _ in lessons], device


def _step(device: Device, lesson: str, step: int, completed: bool = False) -> Any:
    return device.seal("lesson", {"lesson_id": lesson, "step": step, "completed": completed})


async def _progress(client: Any) -> list[tuple[str, int, bool]]:
    p = campus_progress.c
    async with client.server.app[DATABASE].connect() as conn:
        rows = await conn.execute(select(p.lesson_id, p.step, p.completed_at))
        return sorted((r.lesson_id, r.step, r.completed_at is not None) for r in rows)


async def test_lesson_progress_made_offline_is_stored_once_and_a_replay_changes_nothing(
    client: Any, clock: FakeClock
) -> None:
    c, course, (one, two), device = await _learning(client, clock)
    items = [
        _step(device, one, 1),
        _step(device, one, 1, completed=True),
        _step(device, two, 0, completed=True),
    ]
    first = await device.sync(items)
    assert statuses(first) == ["stored"] * 3
    assert await _progress(client) == sorted([(one, 1, True), (two, 0, True)])
    mine = await device.get(f"/api/campus/courses/{course.id}")
    assert mine["enrolment"]["lessons_done"] == 2
    assert mine["enrolment"]["ready_for_assessment"] is True

    again = await device.sync(list(reversed(items)))
    assert statuses(again) == ["replayed"] * 3
    assert [r["lesson"] for r in again["results"]] == [two, one, one]
    assert await _progress(client) == sorted([(one, 1, True), (two, 0, True)])

    # The assessment answered offline is marked when it arrives: passed, the course done.
    test = device.seal("assessment", {"course_id": course.id, "answers": [1, 0]})
    marked = await device.sync([test])
    assert marked["results"][0]["status"] == "stored"
    assert (marked["results"][0]["score"], marked["results"][0]["passed"]) == (100, True)
    # A second attempt queued on another device before it knew: refused, and said why.
    late = await device.sync(
        [test, device.seal("assessment", {"course_id": course.id, "answers": [0, 0]})]
    )
    assert statuses(late) == ["replayed", "refused"]
    assert late["results"][1]["reason"] == "completed"
    assert await count(client.server.app, campus_attempts) == 1
    async with client.server.app[DATABASE].connect() as conn:
        status = await conn.scalar(select(campus_enrolments.c.status))
    assert status == "completed"


async def test_progress_from_two_devices_keeps_the_furthest_step_and_the_first_completion(
    client: Any, clock: FakeClock
) -> None:
    _c, _course, (one, _two), device = await _learning(client, clock)
    await device.sync([_step(device, one, 1, completed=True)])
    async with client.server.app[DATABASE].connect() as conn:
        done_at = await conn.scalar(select(campus_progress.c.completed_at))
    clock.advance(minutes=5)
    # The other device, behind: an earlier step, not completed. Nothing goes backwards.
    answer = await device.sync([_step(device, one, 0), _step(device, one, 1, completed=True)])
    assert statuses(answer) == ["stored", "stored"]
    assert await _progress(client) == [(one, 1, True)]
    async with client.server.app[DATABASE].connect() as conn:
        assert await conn.scalar(select(campus_progress.c.completed_at)) == done_at


async def test_bad_lesson_items_are_refused_and_change_nothing(
    client: Any, clock: FakeClock
) -> None:
    c, course, (one, _two), device = await _learning(client, clock)
    other_course = await c.course("Budgeting")
    _c, _e, theirs = await c.learning.course_lessons(c.learner, other_course.id)
    not_mine = theirs[0][0].id
    # Not enrolled on that course, a made-up lesson, a step out of range: refused, each said.
    answer = await device.sync(
        [
            _step(device, not_mine, 1, completed=True),
            _step(device, "no-such-lesson", 0),
            _step(device, one, 101),
            device.seal("assessment", {"course_id": course.id, "answers": [1, 0]}),
        ]
    )
    assert statuses(answer) == ["refused"] * 4
    assert [r["code"] for r in answer["results"]] == [
        "not_found",
        "not_found",
        "invalid_request",
        "conflict",
    ]
    assert answer["results"][3]["reason"] == "lessons_left"
    assert await _progress(client) == []

    # Another person's item sent from this session, an id changed on the way: whole batch 409.
    other = await Device.sign_in(client, c.sched.world.prisoners[1])
    good = _step(device, one, 1)
    await device.sync([good, _step(other, one, 1)], status=409)
    await device.sync([{**good, "id": "5f0c2b9e-4d3a-4c11-8e7f-0a1b2c3d4e5f"}], status=409)
    assert await _progress(client) == []
    # The same lesson id sent by someone not on the course: as if there were no such lesson.
    assert (await other.sync([_step(other, one, 1)]))["results"][0]["code"] == "not_found"

    # A lockdown: refused whole (423), nothing stored; lifted, the same batch goes.
    app = client.server.app
    lockdown = await app[SCHEDULING].declare_lockdown(
        c.sched.officer,
        c.sched.world.est,
        starts_at=None,
        ends_at=app[CLOCK].now() + timedelta(hours=2),
    )
    assert (await device.sync([good], status=423))["code"] == "lockdown"
    assert await _progress(client) == []
    await app[SCHEDULING].lift_lockdown(c.sched.officer, lockdown.id)
    assert statuses(await device.sync([good])) == ["stored"]
    assert await _progress(client) == [(one, 1, False)]
