"""The programmes' tables: programmes of sessions, who is on them, and their answers.

- `programmes`: a programme (substance misuse, thinking skills, violence) offered by one
  establishment, or by all (`establishment_id` null); whether a prisoner may enrol
  themselves; which questionnaires its baseline and progress checks ask (`check_kinds`,
  comma-separated instrument kinds) every `check_every_days`, and again after every
  `check_every_sessions` completed sessions.
- `programme_sessions`: its sessions in order; each session's words and exercises are one
  JSON document (`content`, English and Welsh), since they are read and written whole.
  Exercise keys are stable inside a session: answers name them.
- `programme_enrolments`: a person on a programme, in the establishment that holds the
  record now (a transfer moves it), with who put them on it.
- `programme_answers`: one row per exercise answered, the answer sealed under the
  prisoner's own key (`answer_enc`, free text, choices and the personal plan alike, as
  each says something about the person's use or behaviour); `client_id` and `version`
  name its latest write. `programme_answer_writes` keeps every write's client id, so
  the same id again changes nothing.
- `programme_completions`: each session completed, once.
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

programmes = Table(
    "programmes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("title", String(200), nullable=False),
    Column("title_cy", String(200), nullable=True),
    Column("summary", Text, nullable=False),
    Column("summary_cy", Text, nullable=True),
    Column("self_enrol", Boolean, nullable=False),
    Column("check_kinds", String(64), nullable=False),
    Column("check_every_days", Integer, nullable=True),
    Column("check_every_sessions", Integer, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

programme_sessions = Table(
    "programme_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("programme_id", String(36), ForeignKey("programmes.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("content", Text, nullable=False),
    UniqueConstraint("programme_id", "position", name="uq_programme_sessions_position"),
)

programme_enrolments = Table(
    "programme_enrolments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("programme_id", String(36), ForeignKey("programmes.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("enrolled_by", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("enrolled_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    UniqueConstraint("programme_id", "prisoner_id", name="uq_programme_enrolments_person"),
    Index("ix_programme_enrolments_establishment", "establishment_id"),
    Index("ix_programme_enrolments_prisoner", "prisoner_id"),
)

programme_answers = Table(
    "programme_answers",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("enrolment_id", String(36), ForeignKey("programme_enrolments.id"), nullable=False),
    Column("session_id", String(36), ForeignKey("programme_sessions.id"), nullable=False),
    Column("exercise", String(32), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("answer_enc", LargeBinary, nullable=False),
    Column("client_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("enrolment_id", "session_id", "exercise", name="uq_programme_answers_slot"),
)

# Every write a device made, by its own id: a replay of any of them, even one a later
# write has overtaken, is known and changes nothing.
programme_answer_writes = Table(
    "programme_answer_writes",
    metadata,
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("client_id", String(36), primary_key=True),
    Column("answer_id", String(36), ForeignKey("programme_answers.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("written_at", UTCDateTime, nullable=False),
)

programme_completions = Table(
    "programme_completions",
    metadata,
    Column("enrolment_id", String(36), ForeignKey("programme_enrolments.id"), primary_key=True),
    Column("session_id", String(36), ForeignKey("programme_sessions.id"), primary_key=True),
    Column("completed_at", UTCDateTime, nullable=False),
)
