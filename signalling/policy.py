"""What signalling asks of scheduling, and of the TURN credential issuer.

Scheduling implements `JoinPolicy`; media implements `IceServerIssuer`
(`media.turn.IceServers`). Both are injected: media sits above us.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from core.identity import Principal
from scheduling.types import AppointmentView, JoinDecision

CallEvent = Literal["waiting", "admitted", "ended"]


class JoinPolicy(Protocol):
    async def join_decision(self, principal: Principal, appointment_id: str) -> JoinDecision: ...

    async def record_call_event(
        self, appointment_id: str, event: CallEvent, actor: str
    ) -> None: ...

    async def request_call_back(
        self, appointment_id: str, clinician_id: str, device_id: str | None
    ) -> bool:
        """The last step of the fallback ladder: a task for the staff of the device's wing."""
        ...

    async def record_call_summary(self, appointment_id: str, summary: dict[str, Any]) -> None:
        """Keep the plain per-call summary (`Room.call_summary`) when a call ends."""
        ...


class Authenticator(Protocol):
    async def authenticate(self, token: object) -> Principal: ...


IceServerIssuer = Callable[[Principal, AppointmentView], list[dict[str, Any]]]


def no_ice_servers(principal: Principal, appointment: AppointmentView) -> list[dict[str, Any]]:
    return []
