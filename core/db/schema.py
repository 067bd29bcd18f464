"""Tables owned by the core layer: establishments, places, accounts, devices, sessions.

Other packages declare their own tables on the same `metadata` in their own
`tables.py`; the Alembic migrations in `core/migrations/` are the source of truth
for what exists in a database, and a test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

establishments = Table(
    "establishments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("relay_only", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime, nullable=False),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Column("role", String(16), nullable=False),
    # Staff sign in with a username; prisoners with a prison number, found by
    # its blind index and stored only encrypted.
    Column("username", String(64), nullable=True, unique=True),
    Column("prison_number_index", String(64), nullable=True, unique=True),
    Column("prison_number_enc", LargeBinary, nullable=True),
    Column("display_name_enc", LargeBinary, nullable=False),
    Column("sex", String(1), nullable=True),
    Column("password_hash", String(200), nullable=True),
    Column("pin_hash", String(200), nullable=True),
    Column("totp_secret_enc", LargeBinary, nullable=True),
    # The last TOTP time step accepted, so a code cannot be used twice.
    Column("totp_last_step", Integer, nullable=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", UTCDateTime, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("locale", String(8), nullable=False, default="en"),
    Column("created_at", UTCDateTime, nullable=False),
)

# Places (core/places.py): establishment -> wing -> cell. A wing's name is
# unique in its establishment; a cell's name is unique in its establishment
# (officers name a cell by its name alone, "Cell A1-02"), so on its wing too.
# The composite keys make "a cell belongs to exactly one wing of its own
# establishment" and "a device's cell is in the device's establishment" facts
# the store enforces, not rules the code has to remember.
wings = Table(
    "wings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("name", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("establishment_id", "name", name="uq_wings_establishment_name"),
    UniqueConstraint("establishment_id", "id", name="uq_wings_establishment_id"),
)

cells = Table(
    "cells",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("wing_id", String(36), nullable=False),
    Column("name", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["establishment_id", "wing_id"],
        ["wings.establishment_id", "wings.id"],
        name="fk_cells_wing_wings",
    ),
    UniqueConstraint("establishment_id", "name", name="uq_cells_establishment_name"),
    UniqueConstraint("establishment_id", "id", name="uq_cells_establishment_id"),
    Index("ix_cells_wing", "wing_id"),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    # The cell gives the wing (cells.wing_id); migration 0007 moved the old
    # free-text cell here.
    Column("cell_id", String(36), nullable=False),
    Column("enrolment_code_hash", String(64), nullable=True, unique=True),
    Column("enrolment_expires_at", UTCDateTime, nullable=True),
    Column("credential_hash", String(64), nullable=True, unique=True),
    Column("enrolled_by", String(36), ForeignKey("accounts.id"), nullable=True),
    Column("enrolled_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["establishment_id", "cell_id"],
        ["cells.establishment_id", "cells.id"],
        name="fk_devices_cell_cells",
    ),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("device_id", String(36), ForeignKey("devices.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("revoked_reason", String(32), nullable=True),
    # The establishment a member of staff chose to act in on their desk, among
    # those they serve (core/access/serving.py); null means their home one.
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Index("ix_sessions_account", "account_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", String(36), ForeignKey("sessions.id"), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_refresh_tokens_session", "session_id"),
)

# The durable job runner (core/jobs/, docs/jobs.md). A job is claimable while
# `available_at` has passed: a pending job's due time, a running job's lease
# expiry. It is NULL once the job is over (done, failed, cancelled), so the
# index that finds due work never walks the finished ones.
jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(64), nullable=False),
    # The idempotency key: scheduling the same (kind, key) again is a no-op.
    Column("key", String(200), nullable=True),
    # JSON of ids and codes, never words or health detail.
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("available_at", UTCDateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    # The runner instance (node name and a random suffix) holding the lease.
    Column("lease_owner", String(100), nullable=True),
    # The error's type name or "timeout": never an exception's text.
    Column("last_error", String(200), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=True),
    Column("finished_at", UTCDateTime, nullable=True),
    UniqueConstraint("kind", "key", name="uq_jobs_kind_key"),
    Index("ix_jobs_available_at", "available_at"),
    Index("ix_jobs_status_due_at", "status", "due_at"),
)

# ----------------------------------------------------------------- access (issue 13)
# core/access/: who serves where, departments, caseloads, verified email.

# Establishments a member of staff serves besides their home one (accounts.establishment_id).
staff_establishments = Table(
    "staff_establishments",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

departments = Table(
    "departments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("establishment_id", "code", name="uq_departments_establishment_code"),
)

department_members = Table(
    "department_members",
    metadata,
    Column("department_id", String(36), ForeignKey("departments.id"), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_department_members_account", "account_id"),
)

# A keyworker's caseload: the prisoners they key-work.
caseloads = Table(
    "caseloads",
    metadata,
    Column("keyworker_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_caseloads_prisoner", "prisoner_id"),
)

# A staff account's verified email address (only ever set by opening a link sent to it).
staff_emails = Table(
    "staff_emails",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("verified_at", UTCDateTime, nullable=False),
)

# Staff who asked to be emailed when a notice reaches their inbox (docs/notifications.md):
# a row while opted in. The mail goes to their verified address in `staff_emails`.
notice_email_optins = Table(
    "notice_email_optins",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("opted_in_at", UTCDateTime, nullable=False),
)

# Links sent to prove an address: the token only as its hash, used once, expiring.
email_verifications = Table(
    "email_verifications",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("email", String(254), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Index("ix_email_verifications_account", "account_id"),
)

# People (core/people/): where a prisoner is, their incentive level and their
# identity details. The current cell and level are one row per prisoner; each
# change is also a history row. A current cell is in the prisoner's
# establishment's cells (the composite key); that the establishment is the
# prisoner's own is the service's rule (`core.people.locations`).
prisoner_cells = Table(
    "prisoner_cells",
    metadata,
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("cell_id", String(36), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        ["establishment_id", "cell_id"],
        ["cells.establishment_id", "cells.id"],
        name="fk_prisoner_cells_cell_cells",
    ),
    Index("ix_prisoner_cells_cell", "cell_id"),
)

cell_moves = Table(
    "cell_moves",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    # 1, 2, 3... per prisoner: the order of their moves, even within one clock tick.
    Column("seq", Integer, nullable=False),
    # move (within an establishment), transfer (between two), or release.
    Column("kind", String(16), nullable=False),
    Column("from_establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Column("from_cell_id", String(36), ForeignKey("cells.id"), nullable=True),
    Column("to_establishment_id", String(36), ForeignKey("establishments.id"), nullable=True),
    Column("to_cell_id", String(36), ForeignKey("cells.id"), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(36), nullable=False),
    UniqueConstraint("prisoner_id", "seq", name="uq_cell_moves_prisoner_seq"),
)

incentive_levels = Table(
    "incentive_levels",
    metadata,
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("level", String(16), nullable=False),
    Column("since", UTCDateTime, nullable=False),
)

incentive_changes = Table(
    "incentive_changes",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("from_level", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    # The officer's reason, sealed under the prisoner's own key (core.fields.SubjectCipher).
    Column("reason_enc", LargeBinary, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(36), nullable=False),
    UniqueConstraint("prisoner_id", "seq", name="uq_incentive_changes_prisoner_seq"),
)

# A prisoner's date of birth and photo for the clinician's identity check, each
# sealed under the prisoner's own key, so a shred erases them.
identity_details = Table(
    "identity_details",
    metadata,
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("date_of_birth_enc", LargeBinary, nullable=True),
    Column("photo_enc", LargeBinary, nullable=True),
    Column("photo_at", UTCDateTime, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Community accounts (core/identity/community.py, docs/release.md). A claim code is given
# to a prisoner at release: kept only as its keyed hash (the blind index), it expires and
# is spent once. While the person enrols TOTP on the claim page, the secret waits here,
# encrypted; the claim moves it to the account.
community_claims = Table(
    "community_claims",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), nullable=False, index=True),
    Column("code_index", String(64), nullable=False, unique=True),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("issued_by", String(36), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("totp_secret_enc", LargeBinary, nullable=True),
    Column("claimed_at", UTCDateTime, nullable=True),
)

# A community account's email, its sign-in name: found by its blind index, stored encrypted.
community_emails = Table(
    "community_emails",
    metadata,
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("email_index", String(64), nullable=False, unique=True),
    Column("email_enc", LargeBinary, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
)

# Failed claims by where they came from (a keyed hash of the address), so guessing codes
# is slowed: too many in the window and the claim page answers 429 for a while.
community_claim_failures = Table(
    "community_claim_failures",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_community_claim_failures_source_at", "source", "at"),
)
