from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    PRISONER = "prisoner"
    CLINICIAN = "clinician"
    MANAGER = "manager"
    OFFICER = "officer"
    ADMIN = "admin"


STAFF_ROLES = frozenset({Role.CLINICIAN, Role.MANAGER, Role.OFFICER, Role.ADMIN})


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
