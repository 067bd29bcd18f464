"""The campus's tables, declared on the shared metadata; migration 0027 creates the same.

A course belongs to an establishment, or to none (`establishment_id` null: shared by
all). Its lessons hold sanitised HTML; the files a lesson shows (images, audio, PDFs)
are stored in the database (`campus_files.data`, one node's disk is not another's) and
hold teaching material only, never personal data. A file is served to devices only once
approved by a second member of the education department.

A learner's record is per person (`learner_id`), not per establishment: enrolments,
lesson progress, assessment attempts and the learning plan follow the prisoner on a
transfer because who may read them is decided by where the learner is now. The plan's
goals are the learner's own words, sealed under their data key.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

campus_courses = Table(
    "campus_courses",
    metadata,
    Column("id", String(36), primary_key=True),
    # Null: a shared course, in every establishment's catalogue.
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Column("title", String(120), nullable=False),
    Column("summary", String(500), nullable=False),
    # Another course the learner must have completed first.
    Column("requires_course_id", String(36), ForeignKey("campus_courses.id"), nullable=True),
    # The share of the assessment's questions to answer right, in percent.
    Column("pass_mark", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(36), nullable=False),
    Index("ix_campus_courses_establishment", "establishment_id"),
)

campus_lessons = Table(
    "campus_lessons",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("course_id", String(36), ForeignKey("campus_courses.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(120), nullable=False),
    # Sanitised on the way in (campus.screening.clean_html): no script, no other host.
    Column("body_html", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("created_by", String(36), nullable=False),
    UniqueConstraint("course_id", "position", name="uq_campus_lessons_course_id_position"),
)

campus_files = Table(
    "campus_files",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("lesson_id", String(36), ForeignKey("campus_lessons.id"), nullable=False),
    Column("position", Integer, nullable=False),
    # image, audio or pdf; `mime` is the type its bytes were checked to be.
    Column("kind", String(8), nullable=False),
    Column("mime", String(64), nullable=False),
    Column("name", String(80), nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
    # pending -> approved | refused
    Column("status", String(12), nullable=False),
    Column("uploaded_by", String(36), nullable=False),
    Column("uploaded_at", UTCDateTime, nullable=False),
    Column("decided_by", String(36), nullable=True),
    Column("decided_at", UTCDateTime, nullable=True),
    Index("ix_campus_files_lesson", "lesson_id", "position"),
)

campus_questions = Table(
    "campus_questions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("course_id", String(36), ForeignKey("campus_courses.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("text", String(300), nullable=False),
    # A JSON list of 2-6 choices' words.
    Column("choices", Text, nullable=False),
    Column("answer", Integer, nullable=False),
    UniqueConstraint("course_id", "position", name="uq_campus_questions_course_id_position"),
)

campus_enrolments = Table(
    "campus_enrolments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("course_id", String(36), ForeignKey("campus_courses.id"), nullable=False),
    Column("learner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("enrolled_by", String(36), nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    # enrolled -> completed
    Column("status", String(12), nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    # Where the learner was when they completed: the certificate names it.
    Column("completed_establishment_id", String(36), nullable=True),
    Column("best_score", Integer, nullable=True),
    UniqueConstraint("course_id", "learner_id", name="uq_campus_enrolments_course_id_learner_id"),
    Index("ix_campus_enrolments_learner", "learner_id"),
)

campus_progress = Table(
    "campus_progress",
    metadata,
    Column("enrolment_id", String(36), ForeignKey("campus_enrolments.id"), primary_key=True),
    Column("lesson_id", String(36), ForeignKey("campus_lessons.id"), primary_key=True),
    # The furthest part of the lesson reached (0: its text; 1..n: its files).
    Column("step", Integer, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

campus_attempts = Table(
    "campus_attempts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("enrolment_id", String(36), ForeignKey("campus_enrolments.id"), nullable=False),
    Column("score", Integer, nullable=False),
    Column("total", Integer, nullable=False),
    Column("passed", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_campus_attempts_enrolment", "enrolment_id", "at"),
)

campus_goals = Table(
    "campus_goals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("learner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("goal_enc", LargeBinary, nullable=False),
    Column("target_date", String(10), nullable=False),
    Column("set_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Index("ix_campus_goals_learner", "learner_id"),
)
