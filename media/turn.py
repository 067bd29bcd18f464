"""TURN REST credentials (coturn's `use-auth-secret` scheme) and `iceServers`.

The relay and this service share one secret. A credential is
`username = "<expiry>:<appointment>:<participant>"` and
`password = base64(HMAC-SHA1(secret, username))`; coturn recomputes the HMAC
and refuses the allocation once the unix time `expiry` has passed. Expiry is
the appointment's window close, so a device's relay access ends with the
consult it was issued for and names whom it was issued to.

An officer's credential is short-lived (`OFFICER_TTL_S`): an officer is put on
hold once it has checked the patient's identity, and from then on signalling
issues it none (`signalling.session._ice`, the `ice` message), so what it holds
lapses within that time. coturn's REST scheme has no way to withdraw a
credential before its expiry; the short lifetime is how a hold ends it. Everyone
else's lasts to the window's close, as before.

Signalling takes `ice_servers(principal, appointment)` as an injected callable;
`IceServers` is that callable, built once from settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from core.config import Secret, Settings
from core.identity import Principal, Role

OFFICER_TTL_S = 120
"""How long an officer's relay credential lasts; it asks for a fresh one (`ice`) until on hold."""


class AppointmentWindow(Protocol):
    """What a credential needs to know about an appointment."""

    @property
    def id(self) -> str: ...

    @property
    def window_closes(self) -> datetime: ...

    @property
    def relay_only(self) -> bool: ...


IceServerIssuer = Callable[[Principal, AppointmentWindow], list[dict[str, Any]]]


@dataclass(frozen=True)
class TurnCredential:
    username: str
    password: str
    expires_at: int


def turn_credential(
    secret: Secret, *, appointment_id: str, participant_id: str, expires: datetime
) -> TurnCredential:
    if expires.tzinfo is None:
        raise ValueError("a TURN credential's expiry must be timezone-aware")
    if ":" in appointment_id or ":" in participant_id:
        raise ValueError("ids in a TURN username cannot contain ':'")
    expiry = int(expires.timestamp())
    username = f"{expiry}:{appointment_id}:{participant_id}"
    digest = hmac.new(secret.reveal().encode(), username.encode(), hashlib.sha1).digest()
    return TurnCredential(username, base64.b64encode(digest).decode("ascii"), expiry)


def _is_turn(url: str) -> bool:
    return url.startswith(("turn:", "turns:"))


class IceServers:
    """Builds a participant's `iceServers` list (the browser's RTCIceServer shape).

    TURN URLs get a fresh credential per call; STUN URLs are listed without
    one. With no URLs configured the list is empty, and peers use host
    candidates only (the embedded single-node default, which cannot satisfy a
    relay-only establishment: `relay_only` is then the client's to enforce).
    """

    def __init__(self, urls: Sequence[str], secret: Secret | None) -> None:
        turn = tuple(u for u in urls if _is_turn(u))
        if turn and secret is None:
            raise ValueError("TURN URLs need a shared secret")
        self._turn = turn
        self._stun = tuple(u for u in urls if not _is_turn(u))
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> IceServerIssuer:
        """`THROUGHCARE_TURN_URLS` and `THROUGHCARE_TURN_SECRET`."""
        return cls(settings.turn_urls, settings.turn_secret)

    def __call__(
        self, principal: Principal, appointment: AppointmentWindow
    ) -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = []
        if self._stun:
            servers.append({"urls": list(self._stun)})
        if self._turn and self._secret is not None:
            expires = appointment.window_closes
            if principal.role is Role.OFFICER:
                expires = min(expires, datetime.now(UTC) + timedelta(seconds=OFFICER_TTL_S))
            cred = turn_credential(
                self._secret,
                appointment_id=appointment.id,
                participant_id=principal.account_id,
                expires=expires,
            )
            servers.append(
                {
                    "urls": list(self._turn),
                    "username": cred.username,
                    "credential": cred.password,
                    "credentialType": "password",
                }
            )
        return servers
