"""The campus's share of `throughcare demo`: two education staff (one writes and uploads, the
other approves), two courses with content (text, a drawn picture and a small generated PDF),
the second needing the first, one prisoner part-way through the first course with a goal
in their plan, and another who completed it and has a certificate to download.

Everything here is teaching material: no personal data in the files.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import pyotp

from campus.catalogue import Catalogue
from campus.learning import Learning
from core.access.service import Access
from core.identity import IdentityService, Principal, Role
from core.identity.types import SYSTEM_ACTOR

EDUCATION_STAFF = [
    {"username": "teacher.demo", "name": "Tegan Teacher", "password": "demo-teacher-pass"},
    {"username": "tutor.demo", "name": "Tomos Tutor", "password": "demo-tutor-pass"},
]
PAYSLIP = [
    (
        "What a payslip shows",
        "<h2>Your payslip</h2><p>A payslip shows what you <strong>earned</strong> and what "
        "was <strong>taken off</strong>.</p><ul><li>Gross pay: before anything is taken off"
        "</li><li>Net pay: what you get</li></ul>",
    ),
    (
        "Deductions",
        "<p>Tax and National Insurance are taken off before you are paid.</p>"
        "<p>The <em>tax code</em> says how much you can earn before paying tax.</p>",
    ),
]
BUDGET = [
    (
        "Money in, money out",
        "<p>A budget lists the money coming in and the money going out each week.</p>",
    ),
    (
        "Planning ahead",
        "<p>Put a little aside each week for the things that come once a year.</p>",
    ),
]
QUESTIONS = [
    {"text": "What is net pay?", "choices": ["Pay before tax", "What you get"], "answer": 1},
    {"text": "Who takes tax off?", "choices": ["Your employer", "The bank"], "answer": 0},
]


def demo_picture() -> bytes:
    """A drawn payslip: boxes and lines, no real person's details."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 300), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 10, 470, 290), outline=(0, 92, 64), width=4)
    draw.text((30, 25), "PAYSLIP", fill=(0, 92, 64), font_size=32)
    for n, (label, amount) in enumerate(
        (("Gross pay", "300.00"), ("Tax", "-25.00"), ("NI", "-12.00"), ("Net pay", "263.00"))
    ):
        y = 90 + n * 45
        draw.text((30, y), label, fill=(20, 20, 20), font_size=24)
        draw.text((330, y), amount, fill=(20, 20, 20), font_size=24)
        draw.line((30, y + 34, 450, y + 34), fill=(200, 200, 200), width=1)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def demo_pdf() -> bytes:
    """A one-page worksheet."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", style="B", size=20)
    pdf.cell(text="Worksheet: read a payslip", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=14)
    for line in ("1. Find the gross pay.", "2. Add up the deductions.", "3. Find the net pay."):
        pdf.cell(text=line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


async def seed_campus(
    identity: IdentityService,
    access: Access,
    catalogue: Catalogue,
    learning: Learning,
    *,
    est_id: str,
    prisoners: list[dict[str, Any]],
) -> dict[str, Any]:
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    staff = []
    for person in EDUCATION_STAFF:
        secret = pyotp.random_base32()
        account_id, _ = await identity.create_staff(
            role=Role.DEPARTMENT_STAFF,
            establishment_id=est_id,
            username=person["username"],
            display_name=person["name"],
            password=person["password"],
            totp_secret=secret,
        )
        staff.append(
            {
                "role": Role.DEPARTMENT_STAFF.value,
                "account_id": account_id,
                "username": person["username"],
                "password": person["password"],
                "totp_secret": secret,
            }
        )
    education = next(
        d
        for d in await access.departments.of_establishment(system, est_id)
        if d.code == "education"
    )
    await access.departments.set_members(
        system, education.id, [*education.members, *(p["account_id"] for p in staff)]
    )
    teacher, tutor = (
        Principal(p["account_id"], Role.DEPARTMENT_STAFF, est_id, "demo") for p in staff
    )

    payslip = await catalogue.add_course(
        teacher, title="Reading a payslip", summary="What each line on a payslip means."
    )
    lessons = []
    for title, html in PAYSLIP:
        lesson, _ = await catalogue.add_lesson(teacher, payslip.id, title=title, body_html=html)
        lessons.append(lesson)
    picture, sheet = await asyncio.gather(
        asyncio.to_thread(demo_picture), asyncio.to_thread(demo_pdf)
    )
    for data, mime, name in (
        (picture, "image/png", "payslip"),
        (sheet, "application/pdf", "worksheet"),
    ):
        made = await catalogue.upload(teacher, lessons[0].id, data=data, claimed=mime, name=name)
        await catalogue.decide(tutor, made.id, approve=True)
    await catalogue.set_questions(teacher, payslip.id, QUESTIONS)
    budget = await catalogue.add_course(
        teacher,
        title="Budgeting",
        summary="Planning the week's money.",
        requires_course_id=payslip.id,
    )
    for title, html in BUDGET:
        await catalogue.add_lesson(teacher, budget.id, title=title, body_html=html)
    await catalogue.set_questions(teacher, budget.id, QUESTIONS[:1])

    learners = [Principal(p["account_id"], Role.PRISONER, est_id, "demo") for p in prisoners[:2]]
    part_way, done = learners
    await learning.enrol(part_way, payslip.id)
    await learning.record_progress(part_way, lessons[0].id, step=2, completed=True)
    await learning.add_goal(
        teacher,
        goal="Read my own payslip without help",
        target_date="2027-06-30",
        learner_id=part_way.account_id,
    )
    await learning.enrol(done, payslip.id)
    for lesson in lessons:
        await learning.record_progress(done, lesson.id, step=0, completed=True)
    await learning.submit(done, payslip.id, [q["answer"] for q in QUESTIONS])
    return {
        "staff": staff,
        "courses": [payslip.id, budget.id],
        "part_way": prisoners[0]["prison_number"],
        "completed": prisoners[1]["prison_number"],
    }
