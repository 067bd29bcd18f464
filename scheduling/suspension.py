"""The one suspension mechanism: modules a lockdown closes register here.

The kiosk, campus and interventions each call `scheduling.suspensions.register(name)` once,
at start-up, and `await scheduling.require_open(principal, name)` before serving a prisoner
anything but their own records. While a lockdown (or a communications restriction) is in
force at the prisoner's establishment the check refuses with `Code.LOCKDOWN` ("closed during
lockdown"); lifting it, by hand or by the job at its end time, opens them again at once
because the check reads the lockdowns table each time rather than a flag somebody must reset.

Health consults are not a module here: an in-cell video consult needs no escort and goes
ahead; only a communications restriction stops it, by cancelling it (scheduling.lockdown).
"""

from __future__ import annotations

import re

NAME = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class Suspensions:
    """The registered module names, in the order they registered."""

    def __init__(self) -> None:
        self._modules: list[str] = []

    def register(self, module: str) -> None:
        if not NAME.match(module):
            raise ValueError("a module name is 2-32 lower-case letters, digits or _")
        if module not in self._modules:
            self._modules.append(module)

    def __contains__(self, module: object) -> bool:
        return module in self._modules

    @property
    def modules(self) -> tuple[str, ...]:
        return tuple(self._modules)
