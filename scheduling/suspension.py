"""The one suspension mechanism: modules a lockdown closes register here.

The kiosk, campus and interventions each call `scheduling.suspensions.register(name)` once,
at start-up, and `await scheduling.require_open(principal, name)` before serving a prisoner
anything but their own records. While a lockdown (or a communications restriction) is in
force at the prisoner's establishment the check refuses with `Code.LOCKDOWN` ("closed during
lockdown"); lifting it, by hand or by the job at its end time, opens them again at once
because the check reads the lockdowns table each time rather than a flag somebody must reset.

A module may also give `on_declared`: called once for each lockdown (or confirmed
restriction) that comes into force, after its own transaction commits, with the
establishment and the window (`Declared`). The visits use it to cancel the visits in the
window, offer new times and tell the visitors. A hook that fails is logged and named in
the declaration's audit event; it never undoes the lockdown, which is already in force.

Health consults are not a module here: an in-cell video consult needs no escort and goes
ahead; only a communications restriction stops it, by cancelling it (scheduling.lockdown).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from core.identity import Principal

NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


@dataclass(frozen=True)
class Declared:
    """A lockdown (or restriction) now in force, as a module's hook is told of it."""

    lockdown_id: str
    establishment_id: str
    starts_at: datetime
    ends_at: datetime
    kind: str
    actor: Principal | str


OnDeclared = Callable[[Declared], Awaitable[None]]


class Suspensions:
    """The registered module names, in the order they registered."""

    def __init__(self) -> None:
        self._modules: list[str] = []
        self._hooks: dict[str, OnDeclared] = {}

    def register(self, module: str, *, on_declared: OnDeclared | None = None) -> None:
        if not NAME.match(module):
            raise ValueError("a module name is 2-32 lower-case letters, digits or _")
        if module not in self._modules:
            self._modules.append(module)
        if on_declared is not None:
            self._hooks[module] = on_declared

    @property
    def on_declared(self) -> tuple[tuple[str, OnDeclared], ...]:
        """(module, hook) for each module that asked to hear of a lockdown coming into force."""
        return tuple((m, self._hooks[m]) for m in self._modules if m in self._hooks)

    def __contains__(self, module: object) -> bool:
        return module in self._modules

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(self._modules)
