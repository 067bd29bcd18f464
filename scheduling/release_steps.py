"""Release and transfer are each one step that other modules add to.

Releasing a prisoner runs, in one transaction, the built-in steps of
`scheduling.release` (the account disabled with its sessions and device sign-ins,
the hand-over to community services built, pending care closed, consents that
end with custody ended, the cell left), then every step a module registered
here, in the order they registered: the kiosk pays out a balance, the
programmes issue a community-account claim code. A step that raises rolls the
whole release back, so a prisoner is released completely or not at all.

A step writes through `ctx.conn`, puts what it did in `ctx.summary` (counts and
ids, never words: the summary goes to the audit log), and may ask for work after
the commit with `ctx.after_commit` (telling other nodes, say). What only the person
may know (a one-time code for them) goes in `ctx.handout`: returned with the release,
never audited. The built-in steps
are not held here (they are the service's own, run first), but their names are
listed first in `names`, so an admin page can show the whole sequence.

A transfer works the same way with `TransferSteps`: the built-in steps (the
consults moved or sent to triage, requests and consents moved, the cell left)
run first, then each registered step with a `TransferContext` that names both
establishments, all in the transfer's one transaction.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from core.identity import Principal

NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
BUILT_IN = ("account", "handover", "care", "consents", "cell")
TRANSFER_BUILT_IN = ("care", "requests", "consents", "cell")


@dataclass
class ReleaseContext:
    conn: AsyncConnection
    actor: Principal
    prisoner_id: str
    establishment_id: str
    now: datetime
    summary: dict[str, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    handout: dict[str, Any] = field(default_factory=dict)
    """What the officer hands the person and nobody else may keep (the community
    account's claim code): returned in the release's answer, never audited or logged."""


@dataclass
class TransferContext:
    conn: AsyncConnection
    actor: Principal
    prisoner_id: str
    from_establishment_id: str
    to_establishment_id: str
    now: datetime
    summary: dict[str, Any] = field(default_factory=dict)
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


C = TypeVar("C", ReleaseContext, TransferContext)
ReleaseStep = Callable[[ReleaseContext], Awaitable[None]]
TransferStep = Callable[[TransferContext], Awaitable[None]]


class _Steps(Generic[C]):
    """The steps modules add to a movement, in the order they registered."""

    built_in: tuple[str, ...] = ()

    def __init__(self) -> None:
        self._steps: dict[str, Callable[[C], Awaitable[None]]] = {}

    def register(self, name: str, step: Callable[[C], Awaitable[None]]) -> None:
        if not NAME.match(name):
            raise ValueError("a step's name is 2-32 lower-case letters, digits or _")
        if name in self.built_in or name in self._steps:
            raise ValueError(f"a step named {name} is already registered")
        self._steps[name] = step

    def __iter__(self) -> Iterator[tuple[str, Callable[[C], Awaitable[None]]]]:
        return iter(list(self._steps.items()))

    @property
    def names(self) -> tuple[str, ...]:
        return self.built_in + tuple(self._steps)


class ReleaseSteps(_Steps[ReleaseContext]):
    """The steps modules add to a release, in the order they registered."""

    built_in = BUILT_IN


class TransferSteps(_Steps[TransferContext]):
    """The steps modules add to a transfer, in the order they registered."""

    built_in = TRANSFER_BUILT_IN
