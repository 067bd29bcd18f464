"""Places (wings and cells) and pre-call test results (issue 11).

Devices enrolled before places existed had a free-text cell. Each becomes a
cell of its establishment, on the wing its name begins with ("A1-02" on wing
A; a name with no leading letters on wing "Unassigned"), the rule enrolment
still follows for a cell the establishment does not list yet (`core.places`).

SQLite cannot add a composite foreign key or make a column NOT NULL in place,
so there `devices` is rebuilt: its rows are held aside, the table dropped and
created anew, and the rows put back. Foreign keys are deferred for the
transaction (sessions point at devices) and putting the rows back settles
them. Alembic's batch mode (copy into a new table, drop, rename) would leave
them unsettled, and the commit would fail on any database with a session.

Revision ID: 0007
Revises: 0006
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def wing_named_by(cell: str) -> str:
    """The rule of `core.places.wing_named_by`, frozen here as this migration applied it."""
    found = re.match(r"^[A-Za-z]+", cell.strip())
    return found.group(0).upper() if found else "Unassigned"


def _device_columns(cell: sa.Column[Any]) -> list[Any]:
    return [
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        cell,
        sa.Column("enrolment_code_hash", sa.String(64), nullable=True),
        sa.Column("enrolment_expires_at", UTCDateTime, nullable=True),
        sa.Column("credential_hash", sa.String(64), nullable=True),
        sa.Column("enrolled_by", sa.String(36), nullable=True),
        sa.Column("enrolled_at", UTCDateTime, nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_devices_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["enrolled_by"], ["accounts.id"], name="fk_devices_enrolled_by_accounts"
        ),
        sa.UniqueConstraint("enrolment_code_hash", name="uq_devices_enrolment_code_hash"),
        sa.UniqueConstraint("credential_hash", name="uq_devices_credential_hash"),
    ]


_KEPT = (
    "id, establishment_id, enrolment_code_hash, enrolment_expires_at, credential_hash, "
    "enrolled_by, enrolled_at, revoked_at, created_at"
)


def _rebuild_devices_sqlite(cell: sa.Column[Any], extra: list[Any], select_cell: str) -> None:
    """Recreate `devices` with `cell` in place of the old cell column (SQLite)."""
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TABLE _devices_hold AS SELECT * FROM devices")
    op.drop_table("devices")
    op.create_table("devices", *_device_columns(cell), *extra)
    op.execute(
        f"INSERT INTO devices ({_KEPT}, {cell.name}) "
        f"SELECT {', '.join('h.' + c for c in _KEPT.split(', '))}, {select_cell}"
    )
    op.execute("DROP TABLE _devices_hold")


def _place_existing_devices() -> None:
    """A wing and a cell for every (establishment, free-text cell) devices hold."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    rows = bind.execute(sa.text("SELECT DISTINCT establishment_id, cell FROM devices")).all()
    wings = sa.table(
        "wings",
        sa.column("id", sa.String),
        sa.column("establishment_id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", UTCDateTime),
    )
    cells = sa.table(
        "cells",
        sa.column("id", sa.String),
        sa.column("establishment_id", sa.String),
        sa.column("wing_id", sa.String),
        sa.column("name", sa.String),
        sa.column("created_at", UTCDateTime),
    )
    wing_ids: dict[tuple[str, str], str] = {}
    for establishment_id, cell in rows:
        name = cell.strip()
        key = (establishment_id, wing_named_by(name))
        if key not in wing_ids:
            wing_ids[key] = str(uuid.uuid4())
            bind.execute(
                sa.insert(wings).values(
                    id=wing_ids[key], establishment_id=establishment_id, name=key[1], created_at=now
                )
            )
        bind.execute(
            sa.insert(cells).values(
                id=str(uuid.uuid4()),
                establishment_id=establishment_id,
                wing_id=wing_ids[key],
                name=name,
                created_at=now,
            )
        )


def upgrade() -> None:
    op.create_table(
        "wings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_wings"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_wings_establishment_id_establishments",
        ),
        sa.UniqueConstraint("establishment_id", "name", name="uq_wings_establishment_name"),
        sa.UniqueConstraint("establishment_id", "id", name="uq_wings_establishment_id"),
    )
    op.create_table(
        "cells",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("wing_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cells"),
        sa.ForeignKeyConstraint(
            ["establishment_id", "wing_id"],
            ["wings.establishment_id", "wings.id"],
            name="fk_cells_wing_wings",
        ),
        sa.UniqueConstraint("establishment_id", "name", name="uq_cells_establishment_name"),
        sa.UniqueConstraint("establishment_id", "id", name="uq_cells_establishment_id"),
    )
    op.create_index("ix_cells_wing", "cells", ["wing_id"])
    _place_existing_devices()

    cell_fk = sa.ForeignKeyConstraint(
        ["establishment_id", "cell_id"],
        ["cells.establishment_id", "cells.id"],
        name="fk_devices_cell_cells",
    )
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_devices_sqlite(
            sa.Column("cell_id", sa.String(36), nullable=False),
            [cell_fk],
            "c.id FROM _devices_hold h JOIN cells c "
            "ON c.establishment_id = h.establishment_id AND c.name = TRIM(h.cell)",
        )
    else:
        op.add_column("devices", sa.Column("cell_id", sa.String(36), nullable=True))
        op.execute(
            "UPDATE devices SET cell_id = c.id FROM cells c "
            "WHERE c.establishment_id = devices.establishment_id AND c.name = TRIM(devices.cell)"
        )
        op.alter_column("devices", "cell_id", nullable=False)
        op.create_foreign_key(
            "fk_devices_cell_cells",
            "devices",
            "cells",
            ["establishment_id", "cell_id"],
            ["establishment_id", "id"],
        )
        op.drop_column("devices", "cell")

    op.create_table(
        "test_calls",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("device_id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("appointment_id", sa.String(36), nullable=False),
        sa.Column("wing_id", sa.String(36), nullable=False),
        sa.Column("cell_id", sa.String(36), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("camera", sa.String(16), nullable=True),
        sa.Column("microphone", sa.String(16), nullable=True),
        sa.Column("connection", sa.String(16), nullable=True),
        sa.Column("measures", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_test_calls"),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_test_calls_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name="fk_test_calls_device_id_devices"
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_test_calls_prisoner_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name="fk_test_calls_appointment_id_appointments",
        ),
        sa.ForeignKeyConstraint(["wing_id"], ["wings.id"], name="fk_test_calls_wing_id_wings"),
        sa.ForeignKeyConstraint(["cell_id"], ["cells.id"], name="fk_test_calls_cell_id_cells"),
    )
    op.create_index("ix_test_calls_device", "test_calls", ["device_id", "started_at"])
    op.create_index(
        "ix_test_calls_establishment", "test_calls", ["establishment_id", "finished_at"]
    )
    op.create_index("ix_test_calls_appointment", "test_calls", ["appointment_id", "finished_at"])
    op.create_index(
        "uq_test_calls_running",
        "test_calls",
        ["device_id"],
        unique=True,
        sqlite_where=sa.text("finished_at IS NULL"),
        postgresql_where=sa.text("finished_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_test_calls_running", "test_calls")
    op.drop_index("ix_test_calls_appointment", "test_calls")
    op.drop_index("ix_test_calls_establishment", "test_calls")
    op.drop_index("ix_test_calls_device", "test_calls")
    op.drop_table("test_calls")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_devices_sqlite(
            sa.Column("cell", sa.String(32), nullable=False),
            [],
            "c.name FROM _devices_hold h JOIN cells c ON c.id = h.cell_id",
        )
    else:
        op.add_column("devices", sa.Column("cell", sa.String(32), nullable=True))
        op.execute("UPDATE devices SET cell = c.name FROM cells c WHERE c.id = devices.cell_id")
        op.alter_column("devices", "cell", nullable=False)
        op.drop_constraint("fk_devices_cell_cells", "devices", type_="foreignkey")
        op.drop_column("devices", "cell_id")
    op.drop_index("ix_cells_wing", "cells")
    op.drop_table("cells")
    op.drop_table("wings")
