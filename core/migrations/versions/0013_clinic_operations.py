"""Clinic operations: misses coded, lockdown suspensions (issue 14 items 4 and 5).

- `services.escort_if_in_person`: an in-person appointment of this service needs an officer
  to escort the prisoner, so a lockdown moves it; a video consult of it avoids the escort.
- `appointments.in_person`: seen in person rather than by video in the cell.
- `lockdowns.kind` (`lockdown` or `communications`), and for a communications restriction the
  second person who confirmed it (`confirmed_by`, `confirmed_at`; NULL until confirmed, and a
  restriction not yet confirmed is not in force). A plain lockdown is confirmed by its
  declarer in the same step.
- `ix_appointments_status_end`: the window-closing job finds open appointments by end time.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy): SQLite adds them in place, and a batch copy of
    # `services` would have to drop a table that others reference.
    op.add_column(
        "services",
        sa.Column("escort_if_in_person", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "appointments",
        sa.Column("in_person", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "lockdowns", sa.Column("kind", sa.String(16), nullable=False, server_default="lockdown")
    )
    op.add_column("lockdowns", sa.Column("confirmed_by", sa.String(36), nullable=True))
    op.add_column("lockdowns", sa.Column("confirmed_at", UTCDateTime(), nullable=True))
    op.execute("UPDATE lockdowns SET confirmed_by = declared_by, confirmed_at = declared_at")
    op.create_index("ix_appointments_status_end", "appointments", ["status", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_appointments_status_end", table_name="appointments")
    op.drop_column("lockdowns", "confirmed_at")
    op.drop_column("lockdowns", "confirmed_by")
    op.drop_column("lockdowns", "kind")
    op.drop_column("appointments", "in_person")
    op.drop_column("services", "escort_if_in_person")
