"""The campus: courses (per establishment or shared), lessons and their screened files,
assessment questions, and each learner's enrolments, progress, attempts and plan (issue 17).

Revision ID: 0027
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0027"
down_revision = "0028"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "campus_courses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("requires_course_id", sa.String(length=36), nullable=True),
        sa.Column("pass_mark", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        _fk("campus_courses", "establishment_id", "establishments"),
        _fk("campus_courses", "requires_course_id", "campus_courses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_courses")),
    )
    op.create_index("ix_campus_courses_establishment", "campus_courses", ["establishment_id"])
    op.create_table(
        "campus_lessons",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("course_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=False),
        _fk("campus_lessons", "course_id", "campus_courses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_lessons")),
        sa.UniqueConstraint("course_id", "position", name="uq_campus_lessons_course_id_position"),
    )
    op.create_table(
        "campus_files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lesson_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("uploaded_by", sa.String(length=36), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(length=36), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        _fk("campus_files", "lesson_id", "campus_lessons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_files")),
    )
    op.create_index("ix_campus_files_lesson", "campus_files", ["lesson_id", "position"])
    op.create_table(
        "campus_questions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("course_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("choices", sa.Text(), nullable=False),
        sa.Column("answer", sa.Integer(), nullable=False),
        _fk("campus_questions", "course_id", "campus_courses"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_questions")),
        sa.UniqueConstraint("course_id", "position", name="uq_campus_questions_course_id_position"),
    )
    op.create_table(
        "campus_enrolments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("course_id", sa.String(length=36), nullable=False),
        sa.Column("learner_id", sa.String(length=36), nullable=False),
        sa.Column("enrolled_by", sa.String(length=36), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("completed_establishment_id", sa.String(length=36), nullable=True),
        sa.Column("best_score", sa.Integer(), nullable=True),
        _fk("campus_enrolments", "course_id", "campus_courses"),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["accounts.id"], name=op.f("fk_campus_enrolments_learner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_enrolments")),
        sa.UniqueConstraint(
            "course_id", "learner_id", name="uq_campus_enrolments_course_id_learner_id"
        ),
    )
    op.create_index("ix_campus_enrolments_learner", "campus_enrolments", ["learner_id"])
    op.create_table(
        "campus_progress",
        sa.Column("enrolment_id", sa.String(length=36), nullable=False),
        sa.Column("lesson_id", sa.String(length=36), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("campus_progress", "enrolment_id", "campus_enrolments"),
        _fk("campus_progress", "lesson_id", "campus_lessons"),
        sa.PrimaryKeyConstraint("enrolment_id", "lesson_id", name=op.f("pk_campus_progress")),
    )
    op.create_table(
        "campus_attempts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrolment_id", sa.String(length=36), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        _fk("campus_attempts", "enrolment_id", "campus_enrolments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_attempts")),
    )
    op.create_index("ix_campus_attempts_enrolment", "campus_attempts", ["enrolment_id", "at"])
    op.create_table(
        "campus_goals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("learner_id", sa.String(length=36), nullable=False),
        sa.Column("goal_enc", sa.LargeBinary(), nullable=False),
        sa.Column("target_date", sa.String(length=10), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["learner_id"], ["accounts.id"], name=op.f("fk_campus_goals_learner_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_goals")),
    )
    op.create_index("ix_campus_goals_learner", "campus_goals", ["learner_id"])


def downgrade() -> None:
    for table in (
        "campus_goals",
        "campus_attempts",
        "campus_progress",
        "campus_enrolments",
        "campus_questions",
        "campus_files",
        "campus_lessons",
        "campus_courses",
    ):
        op.drop_table(table)
