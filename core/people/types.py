"""What `core.people` hands out: levels, places a prisoner has been, identity for a check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class IncentiveLevel(StrEnum):
    """The national incentives scheme's three levels; a new prisoner is on Standard."""

    BASIC = "basic"
    STANDARD = "standard"
    ENHANCED = "enhanced"


DEFAULT_LEVEL = IncentiveLevel.STANDARD


class MoveKind(StrEnum):
    MOVE = "move"
    TRANSFER = "transfer"
    RELEASE = "release"


@dataclass(frozen=True)
class Location:
    """Where a prisoner is now: their establishment, and their cell if they have one."""

    prisoner_id: str
    establishment_id: str
    cell_id: str | None
    cell: str | None
    wing: str | None
    since: datetime | None


@dataclass(frozen=True)
class CellMove:
    kind: MoveKind
    at: datetime
    actor: str
    from_establishment_id: str | None
    from_cell: str | None
    to_establishment_id: str | None
    to_cell: str | None


@dataclass(frozen=True)
class IncentiveChange:
    at: datetime
    actor: str
    from_level: IncentiveLevel
    level: IncentiveLevel
    reason: str | None
    """None when the reason cannot be read (the prisoner's key was shredded)."""


@dataclass(frozen=True)
class Incentive:
    level: IncentiveLevel
    since: datetime | None
    history: list[IncentiveChange]


@dataclass(frozen=True)
class RollEntry:
    """One prisoner on an officer's roll: who, where, level, and whether identity is on file."""

    prisoner_id: str
    name: str
    prison_number: str
    cell_id: str | None
    cell: str | None
    wing: str | None
    level: IncentiveLevel
    has_date_of_birth: bool
    has_photo: bool


@dataclass(frozen=True)
class IdentityCheck:
    """What a clinician sees to confirm a patient is who they say: never more."""

    shown: bool
    """False: this reader may not see the details (they are withheld, not missing)."""
    date_of_birth: date | None
    has_photo: bool
