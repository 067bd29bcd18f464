"""Interventions' programmes: programmes of sessions with exercises, enrolments, each
exercise's answer sealed under the prisoner's key, every device write by its id, and
completed sessions (issue 17 item 2).

Revision ID: 0028
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0028"
down_revision = "0029"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}")
    )


def upgrade() -> None:
    op.create_table(
        "programmes",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("title_cy", sa.String(length=200), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("summary_cy", sa.Text(), nullable=True),
        sa.Column("self_enrol", sa.Boolean(), nullable=False),
        sa.Column("check_kinds", sa.String(length=64), nullable=False),
        sa.Column("check_every_days", sa.Integer(), nullable=True),
        sa.Column("check_every_sessions", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        _fk("programmes", "establishment_id", "establishments"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programmes")),
    )
    op.create_table(
        "programme_sessions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("programme_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _fk("programme_sessions", "programme_id", "programmes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_sessions")),
        sa.UniqueConstraint("programme_id", "position", name="uq_programme_sessions_position"),
    )
    op.create_table(
        "programme_enrolments",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("programme_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("enrolled_by", sa.String(length=36), nullable=False),
        sa.Column("enrolled_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        _fk("programme_enrolments", "programme_id", "programmes"),
        _fk("programme_enrolments", "prisoner_id", "accounts"),
        _fk("programme_enrolments", "establishment_id", "establishments"),
        _fk("programme_enrolments", "enrolled_by", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_enrolments")),
        sa.UniqueConstraint("programme_id", "prisoner_id", name="uq_programme_enrolments_person"),
    )
    op.create_index(
        "ix_programme_enrolments_establishment", "programme_enrolments", ["establishment_id"]
    )
    op.create_index("ix_programme_enrolments_prisoner", "programme_enrolments", ["prisoner_id"])
    op.create_table(
        "programme_answers",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("enrolment_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("exercise", sa.String(length=32), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("answer_enc", sa.LargeBinary(), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        _fk("programme_answers", "enrolment_id", "programme_enrolments"),
        _fk("programme_answers", "session_id", "programme_sessions"),
        _fk("programme_answers", "prisoner_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_programme_answers")),
        sa.UniqueConstraint(
            "enrolment_id", "session_id", "exercise", name="uq_programme_answers_slot"
        ),
    )
    op.create_table(
        "programme_answer_writes",
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=36), nullable=False),
        sa.Column("answer_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
        _fk("programme_answer_writes", "prisoner_id", "accounts"),
        _fk("programme_answer_writes", "answer_id", "programme_answers"),
        sa.PrimaryKeyConstraint(
            "prisoner_id", "client_id", name=op.f("pk_programme_answer_writes")
        ),
    )
    op.create_table(
        "programme_completions",
        sa.Column("enrolment_id", sa.String(length=36), nullable=False),
        sa.Column("session_id", sa.String(length=36), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=False),
        _fk("programme_completions", "enrolment_id", "programme_enrolments"),
        _fk("programme_completions", "session_id", "programme_sessions"),
        sa.PrimaryKeyConstraint(
            "enrolment_id", "session_id", name=op.f("pk_programme_completions")
        ),
    )


def downgrade() -> None:
    op.drop_table("programme_completions")
    op.drop_table("programme_answer_writes")
    op.drop_table("programme_answers")
    op.drop_index("ix_programme_enrolments_prisoner", table_name="programme_enrolments")
    op.drop_index("ix_programme_enrolments_establishment", table_name="programme_enrolments")
    op.drop_table("programme_enrolments")
    op.drop_table("programme_sessions")
    op.drop_table("programmes")
