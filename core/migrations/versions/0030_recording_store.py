"""Consult recordings at rest, and recording consent per appointment (issue 18 item 2).

- `recordings`: one row per stored recording: where its sealed objects lie, its own
  data key sealed under the patient's subject key, sizes, both SHA-256 digests,
  when it expires; a tombstone once retention deleted it.
- `recording_holds`: a manager's legal hold (complaint, inquest, claim): retention
  never deletes a recording with a hold not lifted.
- `recording_retention`: how many days each service keeps its recordings.
- `consents.appointment_id`: recording consent is now for one appointment.

Moving the existing data: a recording consent given to a prisoner as a whole cannot
say yes to a recording that nobody had yet asked for. Each prisoner's newest
per-prisoner recording decision still in force (given and not withdrawn, or
declined) is carried over as the *booking* answer of each of their appointments
still to come (booked or checked in, not started), with its original form
version, language, time and witness, and no device: so a prisoner who had said
yes is asked again on the device when the clinician wants to record, and one
who had said no is not asked. The old rows stay, as the history they are, and
no longer permit anything. Downgrading deletes the carried-over rows (they are
the ones with an appointment) and drops the column.

Revision ID: 0030
Revises: 0027
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0030"
down_revision = "0027"
branch_labels = None
depends_on = None


def _carry_over() -> None:
    conn = op.get_bind()
    newest = conn.execute(
        sa.text(
            "SELECT c.prisoner_id, c.establishment_id, c.form_version, c.language, c.decision,"
            " c.decided_at, c.witness_id, c.withdrawn_at, c.ended_reason FROM consents c"
            " WHERE c.scope = 'recording' AND c.appointment_id IS NULL"
            " ORDER BY c.prisoner_id, c.decided_at DESC, c.id"
        )
    ).all()
    seen: set[str] = set()
    for row in newest:
        if row.prisoner_id in seen:
            continue
        seen.add(row.prisoner_id)
        if row.withdrawn_at is not None or row.ended_reason is not None:
            continue
        coming = conn.execute(
            sa.text(
                "SELECT id FROM appointments WHERE prisoner_id = :p"
                " AND status IN ('booked', 'checked_in') AND starts_at > :now"
            ).bindparams(sa.bindparam("now", type_=UTCDateTime)),
            {"p": row.prisoner_id, "now": datetime.now(UTC)},
        ).all()
        for appt in coming:
            conn.execute(
                sa.text(
                    "INSERT INTO consents (id, prisoner_id, establishment_id, scope,"
                    " form_version, language, decision, decided_at, device_id, witness_id,"
                    " appointment_id) VALUES (:id, :p, :e, 'recording', :v, :l, :d, :at,"
                    " NULL, :w, :a)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "p": row.prisoner_id,
                    "e": row.establishment_id,
                    "v": row.form_version,
                    "l": row.language,
                    "d": row.decision,
                    "at": row.decided_at,  # as stored: copied, not converted
                    "w": row.witness_id,
                    "a": appt.id,
                },
            )


def upgrade() -> None:
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("appointment_id", sa.String(36), nullable=True))
    op.create_index("ix_consents_appointment", "consents", ["appointment_id", "scope"])
    _carry_over()
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column(
            "appointment_id", sa.String(36), sa.ForeignKey("appointments.id"), nullable=False
        ),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("service_id", sa.String(36), nullable=False),
        sa.Column("clinician_id", sa.String(36), nullable=False),
        sa.Column("storage", sa.String(8), nullable=False),
        sa.Column("media_key", sa.String(120), nullable=True),
        sa.Column("poster_key", sa.String(120), nullable=True),
        sa.Column("data_key", sa.LargeBinary, nullable=True),
        sa.Column("mime", sa.String(40), nullable=False),
        sa.Column("chunk_size", sa.Integer, nullable=False),
        sa.Column("plain_size", sa.Integer, nullable=False),
        sa.Column("stored_size", sa.Integer, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("verified_at", UTCDateTime, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_recordings_appointment", "recordings", ["appointment_id"])
    op.create_index("ix_recordings_expiry", "recordings", ["state", "expires_at"])
    op.create_table(
        "recording_holds",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("recording_id", sa.String(36), sa.ForeignKey("recordings.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("placed_by", sa.String(36), nullable=False),
        sa.Column("placed_at", UTCDateTime, nullable=False),
        sa.Column("lifted_by", sa.String(36), nullable=True),
        sa.Column("lifted_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_recording_holds_recording", "recording_holds", ["recording_id"])
    op.create_table(
        "recording_retention",
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id"), primary_key=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("set_by", sa.String(36), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recording_retention")
    op.drop_index("ix_recording_holds_recording", table_name="recording_holds")
    op.drop_table("recording_holds")
    op.drop_index("ix_recordings_expiry", table_name="recordings")
    op.drop_index("ix_recordings_appointment", table_name="recordings")
    op.drop_table("recordings")
    op.execute("DELETE FROM consents WHERE appointment_id IS NOT NULL")
    op.drop_index("ix_consents_appointment", table_name="consents")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("appointment_id")
