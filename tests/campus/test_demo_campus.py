"""The demo's campus: two courses with content (text, a picture, a PDF), all of it approved,
one learner part-way with a goal in their plan and one with a certificate."""

from __future__ import annotations

from typing import Any

from tests.campus.conftest import make_campus
from web.demo_campus import seed_campus
from web.state import ACCESS, IDENTITY


async def test_the_demo_seeds_courses_a_learner_on_the_way_and_one_with_a_certificate(
    client: Any, clock: Any
) -> None:
    c = await make_campus(client, clock)
    app = c.sched.app
    prisoners = [
        {"account_id": p.account_id, "prison_number": p.prison_number}
        for p in c.sched.world.prisoners[:2]
    ]
    data = await seed_campus(
        app[IDENTITY],
        app[ACCESS],
        c.catalogue,
        c.learning,
        est_id=c.sched.world.est,
        prisoners=prisoners,
    )
    assert [p["username"] for p in data["staff"]] == ["teacher.demo", "tutor.demo"]
    entries = {e.course.title: e for e in await c.learning.catalogue(c.learner)}
    assert set(entries) == {"Reading a payslip", "Budgeting"}
    assert entries["Budgeting"].course.requires_title == "Reading a payslip"
    [part_way] = await c.learning.mine(c.learner)
    assert (part_way.status, part_way.lessons_done, part_way.lessons_total) == ("enrolled", 1, 2)
    view = await c.learning.open_lesson(
        c.learner, (await c.learning.course_lessons(c.learner, part_way.course_id))[2][0][0].id
    )
    assert sorted(f.kind for f in view.lesson.files) == ["image", "pdf"]
    assert [g.goal for g in (await c.learning.record(c.learner)).goals] == [
        "Read my own payslip without help"
    ]
    [done] = await c.learning.mine(c.learner2)
    assert done.status == "completed" and done.best_score == 100
    name, pdf = await c.learning.certificate(c.learner2, done.course_id)
    assert name == "certificate-en.pdf" and pdf.startswith(b"%PDF")
