"""The campus on both stores: content screened and approved by a second person, a learner's
journey from enrolment to certificate, prerequisites, lockdown, other establishments, the
learning plan and record, transfer, and bad input that changes nothing."""

from __future__ import annotations

import io
from typing import Any

import pikepdf
import pytest
from sqlalchemy import func, select

from campus.tables import campus_enrolments, campus_files, campus_goals, campus_progress
from core.errors import Code, ServiceError
from tests.campus import files
from tests.campus.conftest import Campus
from tests.scheduling.conftest import at
from web.state import DATABASE, IDENTITY


async def _refused(code: Code, call: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await call
    assert caught.value.code == code, caught.value
    return caught.value


async def _count(c: Campus, table: Any) -> int:
    async with c.sched.app[DATABASE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def _info(pdf: bytes) -> dict[str, str]:
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return {k: str(v) for k, v in doc.docinfo.items()}


async def test_a_file_is_served_only_once_another_member_of_education_approves_it(
    campus: Campus,
) -> None:
    course = await campus.catalogue.add_course(campus.teacher, title="Numbers")
    lesson, cleaned = await campus.catalogue.add_lesson(
        campus.teacher, course.id, title="Adding up", body_html="<p>Two and two.</p>"
    )
    assert cleaned.removed == ()
    sheet = await campus.catalogue.upload(
        campus.teacher, lesson.id, data=files.pdf(), claimed="application/pdf", name="sheet"
    )
    assert sheet.status == "pending" and sheet.kind == "pdf"
    await campus.learning.enrol(campus.learner, course.id)
    # Pending: the learner's lesson has no file, and asking for it is 'no such file'.
    view = await campus.learning.open_lesson(campus.learner, lesson.id)
    assert view.lesson.files == ()
    await _refused(Code.NOT_FOUND, campus.catalogue.file_content(campus.learner, sheet.id))
    # The uploader cannot approve their own upload; nor can staff outside education.
    refused = await _refused(
        Code.FORBIDDEN, campus.catalogue.decide(campus.teacher, sheet.id, approve=True)
    )
    assert refused.extra["reason"] == "own_upload"
    refused = await _refused(
        Code.FORBIDDEN, campus.catalogue.decide(campus.shopkeeper, sheet.id, approve=True)
    )
    assert refused.extra["reason"] == "not_education"
    approved = await campus.catalogue.decide(campus.approver, sheet.id, approve=True)
    assert approved.status == "approved"
    await _refused(Code.CONFLICT, campus.catalogue.decide(campus.approver, sheet.id, approve=False))
    view = await campus.learning.open_lesson(campus.learner, lesson.id)
    assert [f.id for f in view.lesson.files] == [sheet.id]
    served, data = await campus.catalogue.file_content(campus.learner, sheet.id)
    assert served.mime == "application/pdf" and data == files.pdf()
    actions = campus.actions
    assert "campus_file_uploaded" in actions and "campus_file_approved" in actions
    approval = next(r for r in campus.audit.records if r.action.value == "campus_file_approved")
    assert approval.actor == campus.approver.account_id
    assert approval.details["uploaded_by"] == campus.teacher.account_id


async def test_a_refused_file_is_never_served(campus: Campus) -> None:
    course = await campus.course()
    _c, _e, lessons = await campus.learning.course_lessons(campus.learner, course.id)
    second = lessons[1][0]
    sound = await campus.catalogue.upload(
        campus.teacher, second.id, data=files.wav(), claimed="audio/wav", name="listen"
    )
    await campus.catalogue.decide(campus.approver, sound.id, approve=False)
    await campus.learning.enrol(campus.learner, course.id)
    view = await campus.learning.open_lesson(campus.learner, second.id)
    assert view.lesson.files == ()
    await _refused(Code.NOT_FOUND, campus.catalogue.file_content(campus.learner, sound.id))
    # Staff still see it, to know why it is missing.
    found, _ = await campus.catalogue.file_content(campus.approver, sound.id)
    assert found.status == "refused"


@pytest.mark.parametrize(
    ("data", "claimed", "reason"),
    [
        (files.png(), "application/pdf", "type_mismatch"),
        (files.pdf_with_javascript(), "application/pdf", "pdf_script"),
        (files.pdf_with_embedded_file(), "application/pdf", "pdf_embedded_file"),
        (b"<svg onload=alert(1)>", "image/svg+xml", "type_not_allowed"),
    ],
)
async def test_a_bad_upload_gets_a_clear_answer_and_stores_nothing(
    campus: Campus, data: bytes, claimed: str, reason: str
) -> None:
    course = await campus.catalogue.add_course(campus.teacher, title="Numbers")
    lesson, _ = await campus.catalogue.add_lesson(
        campus.teacher, course.id, title="One", body_html="<p>One.</p>"
    )
    before = len(campus.audit.records)
    refused = await _refused(
        Code.INVALID_REQUEST,
        campus.catalogue.upload(campus.teacher, lesson.id, data=data, claimed=claimed, name="x"),
    )
    assert refused.extra["reason"] == reason
    assert await _count(campus, campus_files) == 0
    assert len(campus.audit.records) == before


async def test_lesson_html_is_sanitised_and_the_answer_says_what_went(campus: Campus) -> None:
    course = await campus.catalogue.add_course(campus.teacher, title="Numbers")
    lesson, cleaned = await campus.catalogue.add_lesson(
        campus.teacher,
        course.id,
        title="One",
        body_html='<p>Hi<script>steal()</script> <a href="https://evil.example">go</a></p>',
    )
    assert cleaned.removed == ("script", "external_link")
    assert "script" not in lesson.body_html and "evil" not in lesson.body_html
    await _refused(
        Code.INVALID_REQUEST,
        campus.catalogue.add_lesson(
            campus.teacher, course.id, title="Two", body_html="<script>only()</script>"
        ),
    )


async def test_a_learner_enrols_reads_passes_and_gets_a_certificate_in_welsh(
    campus: Campus,
) -> None:
    course = await campus.course()
    [entry] = await campus.learning.catalogue(campus.learner)
    assert entry.enrolment is None and entry.ready
    enrolment, new = await campus.learning.enrol(campus.learner, course.id)
    assert new and enrolment.status == "enrolled" and enrolment.lessons_total == 2
    again, new = await campus.learning.enrol(campus.learner, course.id)
    assert not new and again.id == enrolment.id
    _c, _e, lessons = await campus.learning.course_lessons(campus.learner, course.id)
    first = lessons[0][0]
    view = await campus.learning.open_lesson(campus.learner, first.id)
    assert view.progress.step == 0 and len(view.lesson.files) == 1
    assert view.next_lesson_id == lessons[1][0].id
    # The test waits until every lesson is finished.
    refused = await _refused(Code.CONFLICT, campus.learning.assessment(campus.learner, course.id))
    assert refused.extra["reason"] == "lessons_left"
    # Progress only moves forward, and replaying it changes nothing.
    assert (await campus.learning.record_progress(campus.learner, first.id, step=1)).step == 1
    assert (await campus.learning.record_progress(campus.learner, first.id, step=0)).step == 1
    done = await campus.learning.record_progress(campus.learner, first.id, step=1, completed=True)
    replay = await campus.learning.record_progress(campus.learner, first.id, step=1, completed=True)
    assert done == replay and done.completed
    assert campus.actions.count("campus_lesson_completed") == 1
    await campus.finish_lessons(campus.learner, course.id)
    questions = await campus.learning.assessment(campus.learner, course.id)
    assert [q.choices for q in questions] == [("Top", "Deductions"), ("Yes", "No")]
    failed = await campus.learning.submit(campus.learner, course.id, [0, 0])
    assert (failed.score, failed.passed, failed.marks, failed.completed) == (
        50,
        False,
        (False, True),
        False,
    )
    await _refused(Code.CONFLICT, campus.learning.certificate(campus.learner, course.id))
    passed = await campus.learning.submit(campus.learner, course.id, [1, 0])
    assert (passed.score, passed.passed, passed.completed) == (100, True, True)
    [mine] = await campus.learning.mine(campus.learner)
    assert mine.status == "completed" and mine.best_score == 100
    await _refused(Code.CONFLICT, campus.learning.submit(campus.learner, course.id, [1, 0]))

    await campus.sched.app[IDENTITY].set_locale(campus.learner, "cy")
    name, pdf = await campus.learning.certificate(campus.learner, course.id)
    assert name == "certificate-cy.pdf" and pdf.startswith(b"%PDF")
    info = _info(pdf)
    assert info["/Title"] == "Tystysgrif cwblhau"
    assert info["/Subject"] == "Prisoner A1234BC | Reading a payslip | 3 Mawrth 2026 | HMP One"
    for action in ("campus_enrolled", "campus_assessed", "campus_completed"):
        assert action in campus.actions
    assert campus.actions.count("campus_assessed") == 2


async def test_a_prerequisite_not_met_refuses_and_enrols_nobody(campus: Campus) -> None:
    first = await campus.course("Reading a payslip")
    second = await campus.course("Budgeting", requires_course_id=first.id)
    entries = {e.course.id: e for e in await campus.learning.catalogue(campus.learner)}
    assert not entries[second.id].ready
    refused = await _refused(Code.CONFLICT, campus.learning.enrol(campus.learner, second.id))
    assert refused.extra["reason"] == "prerequisite"
    assert refused.extra["requires_title"] == "Reading a payslip"
    assert await _count(campus, campus_enrolments) == 0
    await campus.learning.enrol(campus.learner, first.id)
    await campus.finish_lessons(campus.learner, first.id)
    await campus.learning.submit(campus.learner, first.id, [1, 0])
    enrolment, new = await campus.learning.enrol(campus.learner, second.id)
    assert new and enrolment.course_id == second.id


async def test_a_lesson_is_not_there_for_someone_not_enrolled_nor_another_establishment(
    campus: Campus,
) -> None:
    course = await campus.course()
    _c, _e, lessons = await campus.learning.course_lessons(campus.learner, course.id)
    lesson = lessons[0][0]
    missing = await _refused(Code.NOT_FOUND, campus.learning.open_lesson(campus.learner, "nope"))
    theirs = await _refused(Code.NOT_FOUND, campus.learning.open_lesson(campus.learner, lesson.id))
    assert (missing.detail, missing.extra) == (theirs.detail, theirs.extra)
    await _refused(
        Code.NOT_FOUND, campus.learning.record_progress(campus.learner, lesson.id, step=1)
    )
    assert await _count(campus, campus_progress) == 0
    # Another establishment's course, and its staff: as if it did not exist.
    their_course = await campus.catalogue.add_course(campus.their_teacher, title="Theirs")
    await campus.catalogue.add_lesson(
        campus.their_teacher, their_course.id, title="T", body_html="<p>T</p>"
    )
    await _refused(Code.NOT_FOUND, campus.learning.enrol(campus.learner, their_course.id))
    await _refused(Code.NOT_FOUND, campus.catalogue.course(campus.learner, their_course.id))
    await _refused(Code.NOT_FOUND, campus.learning.course_progress(campus.teacher, their_course.id))
    await _refused(Code.NOT_FOUND, campus.catalogue.staff_course(campus.their_teacher, course.id))
    assert [e.course.id for e in await campus.learning.catalogue(campus.learner)] == [course.id]


async def test_a_shared_course_is_in_every_catalogue_and_changed_only_centrally(
    campus: Campus,
) -> None:
    from core.identity import Principal, Role
    from core.identity.types import SYSTEM_ACTOR

    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    shared = await campus.catalogue.add_course(system, title="Staying safe online", shared=True)
    await campus.catalogue.add_lesson(system, shared.id, title="One", body_html="<p>One</p>")
    for teacher in (campus.teacher, campus.their_teacher):
        assert [c.id for c in await campus.catalogue.courses(teacher)] == [shared.id]
    refused = await _refused(
        Code.FORBIDDEN,
        campus.catalogue.add_lesson(campus.teacher, shared.id, title="Mine", body_html="<p>x</p>"),
    )
    assert refused.extra["reason"] == "shared_course"
    await _refused(
        Code.FORBIDDEN, campus.catalogue.add_course(campus.teacher, title="X", shared=True)
    )


async def test_a_lockdown_closes_enrolment_lessons_and_tests_but_records_still_read(
    campus: Campus,
) -> None:
    course = await campus.course()
    other = await campus.course("Budgeting")
    await campus.learning.enrol(campus.learner, course.id)
    _c, _e, lessons = await campus.learning.course_lessons(campus.learner, course.id)
    await campus.learning.record_progress(campus.learner, lessons[0][0].id, step=1)
    lockdown = await campus.sched.svc.declare_lockdown(
        campus.sched.officer, campus.sched.world.est, starts_at=at(3, 9), ends_at=at(3, 18)
    )
    before = await _count(campus, campus_enrolments), await _count(campus, campus_progress)
    await _refused(Code.LOCKDOWN, campus.learning.enrol(campus.learner, other.id))
    await _refused(Code.LOCKDOWN, campus.learning.open_lesson(campus.learner, lessons[0][0].id))
    await _refused(
        Code.LOCKDOWN,
        campus.learning.record_progress(campus.learner, lessons[0][0].id, step=2, completed=True),
    )
    picture = lessons[0][0].files[0]
    await _refused(Code.LOCKDOWN, campus.catalogue.file_content(campus.learner, picture.id))
    assert (
        await _count(campus, campus_enrolments),
        await _count(campus, campus_progress),
    ) == before
    # Reading one's own courses and record still works; staff still enrol.
    assert [e.course_id for e in await campus.learning.mine(campus.learner)] == [course.id]
    assert (await campus.learning.record(campus.learner)).courses[0].lessons_done == 0
    await campus.learning.enrol(campus.teacher, other.id, campus.learner.account_id)
    assert "suspended_refused" in campus.sched.audit_actions
    await campus.sched.svc.lift_lockdown(campus.sched.officer, lockdown.id)
    assert (await campus.learning.open_lesson(campus.learner, lessons[0][0].id)).progress.step == 1


async def test_education_staff_see_their_learners_progress_and_reading_is_logged(
    campus: Campus,
) -> None:
    course = await campus.course()
    await campus.learning.enrol(campus.learner, course.id)
    enrolment, new = await campus.learning.enrol(
        campus.teacher, course.id, campus.learner2.account_id
    )
    assert new
    await campus.finish_lessons(campus.learner, course.id)
    found = await campus.learning.course_progress(campus.approver, course.id)
    assert [(p.prison_number, p.enrolment.lessons_done) for p in found] == [
        ("A1234BC", 2),
        ("B2345CD", 0),
    ]
    reads = [r for r in campus.audit.records if r.action.value == "campus_record_read"]
    assert {r.subject for r in reads} == {campus.learner.account_id, campus.learner2.account_id}
    refused = await _refused(
        Code.FORBIDDEN, campus.learning.course_progress(campus.shopkeeper, course.id)
    )
    assert refused.extra["reason"] == "not_education"
    enrolled = next(r for r in campus.audit.records if r.details.get("by") == "staff")
    assert enrolled.actor == campus.teacher.account_id


async def test_the_plan_is_sealed_and_the_record_exports_as_json_and_pdf(campus: Campus) -> None:
    course = await campus.course()
    await campus.learning.enrol(campus.learner, course.id)
    await campus.learning.add_goal(
        campus.learner, goal="Read my payslip on my own", target_date="2026-06-01"
    )
    await campus.learning.add_goal(
        campus.teacher,
        goal="Entry level 3 maths",
        target_date="2026-09-01",
        learner_id=campus.learner.account_id,
    )
    await _refused(
        Code.INVALID_REQUEST,
        campus.learning.add_goal(campus.learner, goal="Past", target_date="2020-01-01"),
    )
    async with campus.sched.app[DATABASE].connect() as conn:
        stored = [r.goal_enc for r in await conn.execute(select(campus_goals.c.goal_enc))]
    assert len(stored) == 2 and all(b"payslip" not in blob for blob in stored)
    record = await campus.learning.record(campus.learner)
    assert [(g.goal, g.set_by_learner) for g in record.goals] == [
        ("Read my payslip on my own", True),
        ("Entry level 3 maths", False),
    ]
    assert [c.course_title for c in record.courses] == ["Reading a payslip"]
    pdf = await campus.learning.record_pdf(campus.learner)
    assert _info(pdf)["/Subject"] == "Prisoner A1234BC | Reading a payslip"
    staff_view = await campus.learning.record(campus.teacher, campus.learner.account_id)
    assert staff_view.prison_number == "A1234BC"
    assert campus.audit.records[-1].action.value == "campus_record_read"


async def test_a_transfer_takes_the_record_to_the_new_establishments_staff(
    campus: Campus,
) -> None:
    course = await campus.course()
    await campus.learning.enrol(campus.learner, course.id)
    await campus.finish_lessons(campus.learner, course.id)
    await campus.learning.submit(campus.learner, course.id, [1, 0])
    assert (await campus.learning.record(campus.teacher, campus.learner.account_id)).courses
    await _refused(
        Code.NOT_FOUND, campus.learning.record(campus.their_teacher, campus.learner.account_id)
    )
    await campus.sched.svc.transfer(
        campus.sched.officer, campus.learner.account_id, campus.sched.world.other_est
    )
    moved = await campus.learning.record(campus.their_teacher, campus.learner.account_id)
    assert [c.status for c in moved.courses] == ["completed"]
    await _refused(
        Code.NOT_FOUND, campus.learning.record(campus.teacher, campus.learner.account_id)
    )
    assert await campus.learning.course_progress(campus.teacher, course.id) == []
