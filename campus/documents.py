"""The campus's PDFs, made with fpdf2: a certificate of completion and a learning record.

Pure and blocking: the service calls them in a thread. The words are the learner's
language (English or Welsh), held here because the domain cannot read the web's
i18n files; DejaVu Sans carries Welsh's ŵ and ŷ, which the PDF core fonts lack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIXED = datetime(2000, 1, 1)

WORDS = {
    "en": {
        "certificate": "Certificate of completion",
        "certify": "This is to certify that",
        "completed": "has completed the course",
        "on": "on {date}",
        "at": "at {establishment}",
        "score": "Assessment score: {score}%",
        "record": "Learning record",
        "record_of": "The learning record of {name}",
        "made": "Made on {date}",
        "courses": "Courses",
        "no_courses": "No courses yet.",
        "enrolled": "Enrolled {date}",
        "done": "Completed {date}",
        "in_progress": "In progress: {done} of {total} lessons",
        "goals": "Learning plan",
        "no_goals": "No goals set yet.",
        "goal": "{goal} (by {date})",
        "goal_done": "{goal} (by {date}) - done",
    },
    "cy": {
        "certificate": "Tystysgrif cwblhau",
        "certify": "Mae hyn i dystio bod",
        "completed": "wedi cwblhau'r cwrs",
        "on": "ar {date}",
        "at": "yn {establishment}",
        "score": "Sgôr yr asesiad: {score}%",
        "record": "Cofnod dysgu",
        "record_of": "Cofnod dysgu {name}",
        "made": "Gwnaed ar {date}",
        "courses": "Cyrsiau",
        "no_courses": "Dim cyrsiau eto.",
        "enrolled": "Ymrestrwyd {date}",
        "done": "Cwblhawyd {date}",
        "in_progress": "Ar y gweill: {done} o {total} o wersi",
        "goals": "Cynllun dysgu",
        "no_goals": "Dim nodau wedi'u gosod eto.",
        "goal": "{goal} (erbyn {date})",
        "goal_done": "{goal} (erbyn {date}) - wedi'i wneud",
    },
}
MONTHS = {
    "en": [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    "cy": [
        "Ionawr",
        "Chwefror",
        "Mawrth",
        "Ebrill",
        "Mai",
        "Mehefin",
        "Gorffennaf",
        "Awst",
        "Medi",
        "Hydref",
        "Tachwedd",
        "Rhagfyr",
    ],
}


def language(locale: str | None) -> str:
    return "cy" if locale == "cy" else "en"


def long_date(day: date, locale: str) -> str:
    return f"{day.day} {MONTHS[language(locale)][day.month - 1]} {day.year}"


@dataclass(frozen=True)
class CertificateFacts:
    learner: str
    course: str
    completed_on: date
    establishment: str
    score: int | None
    locale: str


@dataclass(frozen=True)
class RecordCourse:
    title: str
    enrolled_on: date
    completed_on: date | None
    lessons_done: int
    lessons_total: int
    score: int | None


@dataclass(frozen=True)
class RecordGoal:
    goal: str
    target_date: date
    done: bool


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED)
    pdf.add_font("DejaVu", fname=str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", style="B", fname=str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=20)
    return pdf


def certificate_pdf(facts: CertificateFacts) -> bytes:
    words = WORDS[language(facts.locale)]
    pdf = _pdf()
    pdf.set_title(words["certificate"])
    # The facts again in the document's properties, where a reader (or a test) finds them
    # without parsing the page.
    pdf.set_subject(
        " | ".join(
            (
                facts.learner,
                facts.course,
                long_date(facts.completed_on, facts.locale),
                facts.establishment,
            )
        )
    )
    pdf.set_lang(language(facts.locale))
    pdf.add_page(orientation="L")
    pdf.set_line_width(1.5)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.ln(25)

    def line(text: str, size: int, bold: bool = False, gap: float = 6) -> None:
        pdf.set_font("DejaVu", style="B" if bold else "", size=size)
        pdf.multi_cell(0, size * 0.5, text, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    line(words["certificate"], 30, bold=True, gap=12)
    line(words["certify"], 16)
    line(facts.learner, 26, bold=True)
    line(words["completed"], 16)
    line(facts.course, 24, bold=True)
    line(words["on"].format(date=long_date(facts.completed_on, facts.locale)), 16, gap=2)
    line(words["at"].format(establishment=facts.establishment), 16)
    if facts.score is not None:
        line(words["score"].format(score=facts.score), 12)
    return bytes(pdf.output())


def record_pdf(
    name: str,
    courses: Sequence[RecordCourse],
    goals: Sequence[RecordGoal],
    *,
    made_on: date,
    locale: str,
) -> bytes:
    words = WORDS[language(locale)]
    pdf = _pdf()
    pdf.set_title(words["record"])
    pdf.set_subject(" | ".join([name, *(c.title for c in courses)]))
    pdf.set_lang(language(locale))
    pdf.add_page()

    def text(value: str, size: int = 12, bold: bool = False, gap: float = 2) -> None:
        pdf.set_font("DejaVu", style="B" if bold else "", size=size)
        pdf.multi_cell(0, size * 0.55, value, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    text(words["record_of"].format(name=name), 20, bold=True, gap=2)
    text(words["made"].format(date=long_date(made_on, locale)), 10, gap=8)
    text(words["courses"], 15, bold=True)
    if not courses:
        text(words["no_courses"])
    for c in courses:
        text(c.title, 12, bold=True, gap=0)
        parts = [words["enrolled"].format(date=long_date(c.enrolled_on, locale))]
        if c.completed_on is not None:
            parts.append(words["done"].format(date=long_date(c.completed_on, locale)))
        else:
            parts.append(words["in_progress"].format(done=c.lessons_done, total=c.lessons_total))
        if c.score is not None:
            parts.append(words["score"].format(score=c.score))
        text(". ".join(parts) + ".", 11, gap=4)
    pdf.ln(4)
    text(words["goals"], 15, bold=True)
    if not goals:
        text(words["no_goals"])
    for g in goals:
        key = "goal_done" if g.done else "goal"
        text("• " + words[key].format(goal=g.goal, date=long_date(g.target_date, locale)), 11)
    return bytes(pdf.output())
