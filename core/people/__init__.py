"""People: where a prisoner is, their incentive level, and their identity details.

- `locations`: a prisoner's current cell (in their own establishment) and the
  history of moves; officers move them within an establishment, and
  `scheduling`'s transfer and release move them between (`relocate`).
- `incentives`: Basic, Standard or Enhanced, each change with a reason sealed
  under the prisoner's key; the prisoner reads it on the device.
- `details`: date of birth and photo for the clinician's identity check,
  sealed under the prisoner's key, shown by `core.clinical`'s rule only.
- `records`: sealing the date of birth and photo (used by identity's account
  creation too, so it imports nothing of identity's).
- `photos`: what makes an upload a photo (and only a photo).
- `service.People`: the one object the application builds.

This package's own `__init__` imports only the types: `core.identity` imports
`core.people.records` while it is itself being imported, and `core.clinical`
(which `details` needs) imports `core.identity`. See docs/people.md.
"""

from core.people.types import (
    DEFAULT_LEVEL,
    CellMove,
    IdentityCheck,
    Incentive,
    IncentiveChange,
    IncentiveLevel,
    Location,
    MoveKind,
    RollEntry,
)

__all__ = [
    "DEFAULT_LEVEL",
    "CellMove",
    "IdentityCheck",
    "Incentive",
    "IncentiveChange",
    "IncentiveLevel",
    "Location",
    "MoveKind",
    "RollEntry",
]
