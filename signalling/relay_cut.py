"""Cutting a member's relay allocations when it is put on hold.

coturn's TURN REST credentials cannot be withdrawn: a held officer's credential
is good until its short expiry (`media.turn.OFFICER_TTL_S`). What can end at
the moment of the hold is what the credential already opened: the officer's
allocations on the relay. `RelayRevoker` is that cut, implemented in media
(`media.turn_admin.TurnAdmin`, coturn's admin CLI) and injected, as the ICE
server issuer is. The hold never waits on the relay's answer for its own
effects, and never fails because of it: the others have already been told
to close their links, and the credential's expiry stays the backstop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from core.events import Action, AuditRecord, AuditSink

log = logging.getLogger(__name__)

CUT_TIMEOUT_S = 3.0
"""How long a hold waits for the relay before it logs the cut as failed."""


class RelayUnavailable(Exception):
    """The relay's admin interface could not be reached or refused us (no detail sent on)."""


class RelayRevoker(Protocol):
    async def revoke(self, appointment: str, participant: str) -> int:
        """Cancel every relay session of `participant`'s credentials for `appointment`.

        Returns how many were cancelled; raises `RelayUnavailable`.
        """
        ...


class RelayCut:
    """What the hub does with a hold's relay: cut it, log and audit the outcome."""

    def __init__(self, revoker: RelayRevoker | None, audit: AuditSink) -> None:
        self._revoker = revoker
        self._audit = audit

    async def hold(
        self,
        *,
        appointment: str,
        participant: str,
        establishment: str,
        subject: str,
        actor: str,
    ) -> None:
        if self._revoker is None:
            return
        try:
            cancelled = await asyncio.wait_for(
                self._revoker.revoke(appointment, participant), CUT_TIMEOUT_S
            )
        except (RelayUnavailable, TimeoutError, OSError) as exc:
            log.warning(
                "could not cut a held member's relay sessions (%s); its credential's "
                "expiry ends them",
                type(exc).__name__,
            )
            action = Action.RELAY_CUT_FAILED
            details: dict[str, object] = {"participant": participant}
        else:
            action = Action.RELAY_CUT
            details = {"participant": participant, "sessions": cancelled}
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor,
                establishment=establishment,
                subject=subject,
                appointment=appointment,
                details=details,
            )
        )
