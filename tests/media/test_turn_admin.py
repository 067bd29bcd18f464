"""Cutting a held officer's relay allocations through coturn's admin CLI, for real.

The session coturn fixture runs with its CLI on loopback (`tests.turn`). Real
allocations are made with the officer's and the others' TURN REST credentials;
`TurnAdmin.revoke` cancels only the officer's for that appointment.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Secret
from media.turn import turn_credential
from media.turn_admin import RelaySession, TurnAdmin, owned_by
from signalling.relay_cut import RelayUnavailable
from tests.media.conftest import Coturn
from tests.turn import free_port
from tests.turn_client import Attr, Method, TurnClient, TurnRefused


def client(turn: Coturn, appointment: str, participant: str, minutes: int = 30) -> TurnClient:
    cred = turn_credential(
        turn.secret,
        appointment_id=appointment,
        participant_id=participant,
        expires=datetime.now(UTC) + timedelta(minutes=minutes),
    )
    return TurnClient(("127.0.0.1", turn.port), cred.username, cred.password)


async def listed(admin: TurnAdmin, appointment: str) -> list[RelaySession]:
    return await admin.sessions(f":{appointment}:")


async def until_gone(admin: TurnAdmin, appointment: str, participant: str) -> list[RelaySession]:
    """coturn cancels a session on its relay thread: the listing catches up shortly after."""
    for _ in range(100):
        left = await listed(admin, appointment)
        if not any(owned_by(s.username, appointment, participant) for s in left):
            return left
        await asyncio.sleep(0.05)
    raise AssertionError("the officer's session is still listed")


def owners(sessions: Sequence[RelaySession]) -> set[str]:
    return {s.username.split(":", 1)[1] for s in sessions}


async def refresh(turn_client: TurnClient) -> None:
    await turn_client.request(Method.REFRESH, [(Attr.LIFETIME, struct.pack("!I", 600))])


async def test_revoking_cancels_only_the_officers_allocations_for_that_consult(
    coturn: Coturn,
) -> None:
    admin = TurnAdmin(coturn.cli_port, coturn.cli_password)
    # Two credentials issued to the officer (a refresh gives a new expiry), the
    # clinician's, the same officer in another consult, and an id that merely
    # starts with the officer's.
    officer_1 = client(coturn, "appt-a", "officer-1", minutes=2)
    officer_2 = client(coturn, "appt-a", "officer-1", minutes=3)
    clinician = client(coturn, "appt-a", "clinician-1")
    elsewhere = client(coturn, "appt-b", "officer-1")
    lookalike = client(coturn, "appt-a", "officer-10")
    everyone = (officer_1, officer_2, clinician, elsewhere, lookalike)
    for c in everyone:
        await c.__aenter__()
    try:
        for c in everyone:
            await c.allocate()
        before = await listed(admin, "appt-a")
        assert owners(before) == {"appt-a:officer-1", "appt-a:clinician-1", "appt-a:officer-10"}

        assert await admin.revoke("appt-a", "officer-1") == 2

        left = await until_gone(admin, "appt-a", "officer-1")
        assert owners(left) == {"appt-a:clinician-1", "appt-a:officer-10"}
        assert owners(await listed(admin, "appt-b")) == {"appt-b:officer-1"}
        # The officer's allocations are gone from the relay: a refresh finds none
        # (437 Allocation Mismatch); the others' still refresh.
        for gone in (officer_1, officer_2):
            with pytest.raises(TurnRefused) as refused:
                await refresh(gone)
            assert refused.value.code == 437
        for kept in (clinician, elsewhere, lookalike):
            await refresh(kept)
        assert await admin.revoke("appt-a", "officer-1") == 0
    finally:
        for c in everyone:
            await c.__aexit__(None, None, None)


async def test_a_wrong_password_or_no_relay_is_unavailable_and_names_no_secret(
    coturn: Coturn,
) -> None:
    wrong = TurnAdmin(coturn.cli_port, Secret("not-the-password"))
    with pytest.raises(RelayUnavailable) as refused:
        await wrong.revoke("appt-a", "officer-1")
    assert "not-the-password" not in repr(refused.value) + repr(wrong)
    closed = TurnAdmin(free_port(), coturn.cli_password)
    with pytest.raises(RelayUnavailable):
        await closed.revoke("appt-a", "officer-1")
    assert coturn.cli_password.reveal() not in repr(closed)


def test_the_cli_is_reached_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        TurnAdmin(5766, Secret("x"), host="10.0.0.5")
    TurnAdmin(5766, Secret("x"), host="::1")
