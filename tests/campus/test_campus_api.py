"""The campus over HTTP: what the device and the education desk send and get, the headers a
served file carries, and bad input answered clearly with nothing changed."""

from __future__ import annotations

import io
from typing import Any

import pikepdf

from campus.screening import MAX_FILE_BYTES
from tests.campus import files
from tests.campus.conftest import make_campus
from tests.scheduling.conftest import at
from tests.world import bearer, sign_in_prisoner, sign_in_staff


async def _json(resp: Any, status: int) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_staff_build_and_approve_a_course_and_a_learner_takes_it_over_http(
    client: Any, clock: Any
) -> None:
    c = await make_campus(client, clock)
    teacher = bearer(await sign_in_staff(client, c.teacher_staff))
    approver = bearer(await sign_in_staff(client, c.approver_staff))
    learner = bearer(await sign_in_prisoner(client, c.sched.world.prisoners[0]))

    course = await _json(
        await client.post(
            "/api/campus/staff/courses",
            json={"title": "Reading a payslip", "summary": "What each line means"},
            headers=teacher,
        ),
        201,
    )
    lesson = await _json(
        await client.post(
            f"/api/campus/staff/courses/{course['id']}/lessons",
            json={
                "title": "What it shows",
                "body_html": '<p>Pay <a href="https://evil.example">here</a></p><script>x()</script>',
            },
            headers=teacher,
        ),
        201,
    )
    assert lesson["removed"] == ["script", "external_link"]
    assert lesson["body_html"] == '<p>Pay <a rel="noopener noreferrer">here</a></p>'
    upload = f"/api/campus/staff/lessons/{lesson['id']}/files?name=payslip"

    # A PNG that says it is a PDF, a PDF with a script, one too large: refused, nothing kept.
    resp = await client.post(
        upload, data=files.png(), headers={**teacher, "Content-Type": "application/pdf"}
    )
    assert (await _json(resp, 400))["reason"] == "type_mismatch"
    resp = await client.post(
        upload,
        data=files.pdf_with_javascript(),
        headers={**teacher, "Content-Type": "application/pdf"},
    )
    body = await _json(resp, 400)
    assert body["reason"] == "pdf_script" and body["detail"] == "The PDF contains a script."
    resp = await client.post(
        upload,
        data=io.BytesIO(b"\x89PNG" + b"\x00" * (MAX_FILE_BYTES + 10)),
        headers={**teacher, "Content-Type": "image/png"},
    )
    assert (await _json(resp, 413))["reason"] == "too_large"
    assert await _json(await client.get("/api/campus/staff/pending", headers=approver), 200) == []

    made = await _json(
        await client.post(
            upload, data=files.png(), headers={**teacher, "Content-Type": "image/png"}
        ),
        201,
    )
    assert made["status"] == "pending" and made["mime"] == "image/png"
    resp = await client.post(
        f"/api/campus/staff/files/{made['id']}/decision", json={"approve": True}, headers=teacher
    )
    assert (await _json(resp, 403))["reason"] == "own_upload"
    [waiting] = await _json(await client.get("/api/campus/staff/pending", headers=approver), 200)
    assert waiting["file"]["id"] == made["id"]
    await _json(
        await client.post(
            f"/api/campus/staff/files/{made['id']}/decision",
            json={"approve": True},
            headers=approver,
        ),
        200,
    )
    await _json(
        await client.put(
            f"/api/campus/staff/courses/{course['id']}/questions",
            json={
                "questions": [{"text": "Where is tax?", "choices": ["Top", "Box 4"], "answer": 1}]
            },
            headers=teacher,
        ),
        200,
    )

    # The learner: not enrolled, the lesson is not there; enrolled, it opens.
    resp = await client.get(f"/api/campus/lessons/{lesson['id']}", headers=learner)
    assert resp.status == 404
    [entry] = await _json(await client.get("/api/campus/courses", headers=learner), 200)
    assert entry["enrolment"] is None and entry["ready"]
    await _json(
        await client.post(f"/api/campus/courses/{course['id']}/enrol", headers=learner), 201
    )
    await _json(
        await client.post(f"/api/campus/courses/{course['id']}/enrol", headers=learner), 200
    )
    view = await _json(
        await client.get(f"/api/campus/lessons/{lesson['id']}", headers=learner), 200
    )
    [picture] = view["lesson"]["files"]
    served = await client.get(picture["url"], headers=learner)
    assert served.status == 200 and await served.read() == files.png()
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Disposition"] == 'inline; filename="payslip.png"'
    assert served.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    progress = f"/api/campus/lessons/{lesson['id']}/progress"
    resp = await client.put(progress, json={"step": "two"}, headers=learner)
    assert resp.status == 400
    await _json(await client.put(progress, json={"step": 1}, headers=learner), 200)
    done = await _json(
        await client.put(progress, json={"step": 1, "completed": True}, headers=learner), 200
    )
    assert done == {"lesson_id": lesson["id"], "step": 1, "completed": True}
    test = f"/api/campus/courses/{course['id']}/assessment"
    [question] = await _json(await client.get(test, headers=learner), 200)
    assert "answer" not in question
    resp = await client.post(test, json={"answers": [5]}, headers=learner)
    assert resp.status == 400
    result = await _json(await client.post(test, json={"answers": [1]}, headers=learner), 200)
    assert result["passed"] and result["completed"] and result["score"] == 100
    certificate = await client.get(
        f"/api/campus/courses/{course['id']}/certificate", headers=learner
    )
    assert certificate.status == 200
    assert certificate.headers["Content-Type"] == "application/pdf"
    assert certificate.headers["Content-Disposition"] == 'attachment; filename="certificate-en.pdf"'
    with pikepdf.open(io.BytesIO(await certificate.read())) as pdf:
        assert str(pdf.docinfo["/Title"]) == "Certificate of completion"

    record = await _json(await client.get("/api/campus/record", headers=learner), 200)
    assert record["format"] == "throughcare.learning-record/1"
    assert [c["status"] for c in record["courses"]] == ["completed"]
    assert "prison_number" not in record["learner"]
    pdf = await client.get("/api/campus/record.pdf", headers=learner)
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")
    staff_record = await _json(
        await client.get(
            f"/api/campus/staff/learners/{c.learner.account_id}/record", headers=teacher
        ),
        200,
    )
    assert staff_record["learner"]["prison_number"] == "A1234BC"
    [row] = await _json(
        await client.get(f"/api/campus/staff/courses/{course['id']}/progress", headers=teacher),
        200,
    )
    assert row["enrolment"]["status"] == "completed"
    # Staff enrol the prisoner next door by number; a number of nobody here is 404.
    await _json(
        await client.post(
            f"/api/campus/staff/courses/{course['id']}/enrolments",
            json={"prison_number": "B2345CD"},
            headers=teacher,
        ),
        201,
    )
    resp = await client.post(
        f"/api/campus/staff/courses/{course['id']}/enrolments",
        json={"prison_number": "C3456DE"},
        headers=teacher,
    )
    assert resp.status == 404


async def test_a_lockdown_answers_423_to_learning_but_records_still_read(
    client: Any, clock: Any
) -> None:
    c = await make_campus(client, clock)
    course = await c.course()
    learner = bearer(await sign_in_prisoner(client, c.sched.world.prisoners[0]))
    await c.learning.enrol(c.learner, course.id)
    await c.sched.svc.declare_lockdown(
        c.sched.officer, c.sched.world.est, starts_at=at(3, 9), ends_at=at(3, 18)
    )
    _c, _e, lessons = await c.learning.course_lessons(c.learner, course.id)
    resp = await client.get(f"/api/campus/lessons/{lessons[0][0].id}", headers=learner)
    assert resp.status == 423 and (await resp.json())["code"] == "lockdown"
    resp = await client.post(f"/api/campus/courses/{course.id}/enrol", headers=learner)
    assert resp.status in (200, 423)
    mine = await _json(await client.get("/api/campus/my-courses", headers=learner), 200)
    assert [e["course_id"] for e in mine] == [course.id]
    await _json(await client.get("/api/campus/record", headers=learner), 200)
