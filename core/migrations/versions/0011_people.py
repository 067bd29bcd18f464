"""People and places: cells, incentive levels, identity details (issue 13).

A prisoner's current cell and its history, their incentive level and its
history (the reason sealed under the prisoner's key), and their date of birth
and photo (both sealed under the prisoner's key). Nothing existing changes:
prisoners enrolled before have no cell (officers place them), are on Standard,
and have no date of birth or photo until reception records them.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prisoner_cells",
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("cell_id", sa.String(36), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("prisoner_id", name="pk_prisoner_cells"),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_prisoner_cells_prisoner_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id", "cell_id"],
            ["cells.establishment_id", "cells.id"],
            name="fk_prisoner_cells_cell_cells",
        ),
    )
    op.create_index("ix_prisoner_cells_cell", "prisoner_cells", ["cell_id"])
    op.create_table(
        "cell_moves",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_establishment_id", sa.String(36), nullable=True),
        sa.Column("from_cell_id", sa.String(36), nullable=True),
        sa.Column("to_establishment_id", sa.String(36), nullable=True),
        sa.Column("to_cell_id", sa.String(36), nullable=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cell_moves"),
        sa.UniqueConstraint("prisoner_id", "seq", name="uq_cell_moves_prisoner_seq"),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_cell_moves_prisoner_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["from_establishment_id"],
            ["establishments.id"],
            name="fk_cell_moves_from_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["from_cell_id"], ["cells.id"], name="fk_cell_moves_from_cell_id_cells"
        ),
        sa.ForeignKeyConstraint(
            ["to_establishment_id"],
            ["establishments.id"],
            name="fk_cell_moves_to_establishment_id_establishments",
        ),
        sa.ForeignKeyConstraint(
            ["to_cell_id"], ["cells.id"], name="fk_cell_moves_to_cell_id_cells"
        ),
    )
    op.create_table(
        "incentive_levels",
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("prisoner_id", name="pk_incentive_levels"),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_incentive_levels_prisoner_id_accounts"
        ),
    )
    op.create_table(
        "incentive_changes",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("establishment_id", sa.String(36), nullable=False),
        sa.Column("from_level", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("reason_enc", sa.LargeBinary, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_incentive_changes"),
        sa.UniqueConstraint("prisoner_id", "seq", name="uq_incentive_changes_prisoner_seq"),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_incentive_changes_prisoner_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name="fk_incentive_changes_establishment_id_establishments",
        ),
    )
    op.create_table(
        "identity_details",
        sa.Column("prisoner_id", sa.String(36), nullable=False),
        sa.Column("date_of_birth_enc", sa.LargeBinary, nullable=True),
        sa.Column("photo_enc", sa.LargeBinary, nullable=True),
        sa.Column("photo_at", UTCDateTime, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("prisoner_id", name="pk_identity_details"),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name="fk_identity_details_prisoner_id_accounts"
        ),
    )


def downgrade() -> None:
    op.drop_table("identity_details")
    op.drop_table("incentive_changes")
    op.drop_table("incentive_levels")
    op.drop_table("cell_moves")
    op.drop_index("ix_prisoner_cells_cell", "prisoner_cells")
    op.drop_table("prisoner_cells")
