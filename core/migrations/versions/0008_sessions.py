"""Session and socket hardening (issue 12).

The work landed without a schema change: ending sessions uses `sessions.revoked_at`
and `revoked_reason` ("account_disabled", "released" are new values) and
`accounts.active`; the open sockets per account are counted in the room store
(Redis), not here. The revision stays, empty, so that the chain is whole.

Revision ID: 0008
Revises: 0007
"""

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
