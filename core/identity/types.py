from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from core.errors import Code, ServiceError


class Role(StrEnum):
    PRISONER = "prisoner"
    CLINICIAN = "clinician"
    MANAGER = "manager"
    OFFICER = "officer"
    ADMIN = "admin"
    HEALTHCARE_ADMIN = "healthcare_admin"
    GOVERNOR = "governor"
    KEYWORKER = "keyworker"
    INTERPRETER = "interpreter"
    CHAPERONE = "chaperone"
    DEPARTMENT_STAFF = "department_staff"
    # A former prisoner's own account, claimed with the code given at release
    # (core/identity/community.py): their programmes and learning record, nothing else.
    COMMUNITY = "community"


def parse_role(value: object) -> Role:
    """A role named by a client or an operator: one of the table's, or a clear refusal."""
    if isinstance(value, str):
        try:
            return Role(value.strip())
        except ValueError:
            pass
    raise ServiceError(
        Code.INVALID_REQUEST, "No such role. Roles are: " + ", ".join(r.value for r in Role) + "."
    )


SYSTEM_ACTOR = "system"
"""The actor of changes made by the service itself or the CLI, not a person."""

STAFF_ROLES = frozenset(set(Role) - {Role.PRISONER, Role.COMMUNITY})
"""Every role but the prisoner's and the former prisoner's: accounts that sign in with a
username, a password and TOTP. A community account signs in with its email instead."""

# Roles whose staff may serve several establishments and choose one on their desk.
MULTI_ESTABLISHMENT_ROLES = frozenset({Role.CLINICIAN, Role.KEYWORKER})


@dataclass(frozen=True)
class Principal:
    """Who is acting, as proven by a verified access token."""

    account_id: str
    role: Role
    establishment_id: str | None
    session_id: str
    device_id: str | None = None
    token_id: str = ""

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class EndReason(StrEnum):
    """Why sessions ended; each closes the sockets they opened with its own code."""

    SIGNED_OUT = "signed_out"
    SESSION_REVOKED = "session_revoked"
    DEVICE_REVOKED = "device_revoked"
    ACCOUNT_DISABLED = "account_disabled"
    RELEASED = "released"


@dataclass(frozen=True)
class SessionsEnded:
    """Sessions that ended in the store, for whoever holds sockets opened with them.

    `account_id` alone: every session of the account. With `session_id`: that
    session only. `device_id` alone (no account): every session on that device.
    """

    reason: EndReason
    account_id: str | None = None
    session_id: str | None = None
    device_id: str | None = None


class SessionEndings(Protocol):
    """Told after the store has ended sessions (signalling implements it on its bus)."""

    async def sessions_ended(self, ended: SessionsEnded) -> None: ...


class NoEndings:
    """Nobody holds sockets (the CLI, tests of identity alone)."""

    async def sessions_ended(self, ended: SessionsEnded) -> None:
        return None
