"""Interventions: questionnaire responses, the risk alerts they raise, and the plans of
baseline and progress checks (issue 17).

Scores and bands in the clear for trend charts; item answers and free text
sealed under the prisoner's own key.

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

from core.db.types import UTCDateTime

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questionnaire_responses",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("substance", sa.String(length=32), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(length=32), nullable=False),
        sa.Column("answers_enc", sa.LargeBinary(), nullable=False),
        sa.Column("comment_enc", sa.LargeBinary(), nullable=True),
        sa.Column("client_id", sa.String(length=36), nullable=True),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_questionnaire_responses_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"],
            ["accounts.id"],
            name=op.f("fk_questionnaire_responses_prisoner_id_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_responses")),
        sa.UniqueConstraint("prisoner_id", "client_id", name="uq_questionnaire_responses_client"),
    )
    op.create_index(
        "ix_questionnaire_responses_prisoner",
        "questionnaire_responses",
        ["prisoner_id", "kind", "submitted_at"],
        unique=False,
    )
    op.create_table(
        "risk_alerts",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("response_id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=36), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["questionnaire_responses.id"],
            name=op.f("fk_risk_alerts_response_id_questionnaire_responses"),
        ),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_risk_alerts_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"], ["accounts.id"], name=op.f("fk_risk_alerts_prisoner_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by"],
            ["accounts.id"],
            name=op.f("fk_risk_alerts_acknowledged_by_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alerts")),
        sa.UniqueConstraint("response_id", name="uq_risk_alerts_response_id"),
    )
    op.create_table(
        "questionnaire_plans",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("establishment_id", sa.String(length=36), nullable=False),
        sa.Column("prisoner_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("every_days", sa.Integer(), nullable=False),
        sa.Column("next_due_at", UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.String(length=36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["establishment_id"],
            ["establishments.id"],
            name=op.f("fk_questionnaire_plans_establishment_id_establishments"),
        ),
        sa.ForeignKeyConstraint(
            ["prisoner_id"],
            ["accounts.id"],
            name=op.f("fk_questionnaire_plans_prisoner_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["set_by"], ["accounts.id"], name=op.f("fk_questionnaire_plans_set_by_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_plans")),
        sa.UniqueConstraint("prisoner_id", "kind", name="uq_questionnaire_plans_prisoner_kind"),
    )
    op.create_index(
        "ix_risk_alerts_queue", "risk_alerts", ["establishment_id", "acknowledged_at"], unique=False
    )


def downgrade() -> None:
    op.drop_table("questionnaire_plans")
    op.drop_index("ix_risk_alerts_queue", table_name="risk_alerts")
    op.drop_table("risk_alerts")
    op.drop_index("ix_questionnaire_responses_prisoner", table_name="questionnaire_responses")
    op.drop_table("questionnaire_responses")
