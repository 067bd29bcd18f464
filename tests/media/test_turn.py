"""TURN REST credentials: their shape, and coturn accepting them for real."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from core.config import Secret
from core.identity import Principal, Role
from media.pair import DirectPair
from media.peer import candidate_types, create_peer, rtc_configuration
from media.tracks import synthetic_media
from media.turn import IceServers, turn_credential
from tests.media.conftest import Coturn


@dataclass(frozen=True)
class Appointment:
    id: str
    window_closes: datetime
    relay_only: bool = True


PRISONER = Principal(
    account_id="7f1c1a8e-3d5b-4c8e-9a51-3f0f6f0d2b11",
    role=Role.PRISONER,
    establishment_id="est",
    session_id="s",
    device_id="d",
)


def soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=30)


def test_credential_names_expiry_appointment_and_participant() -> None:
    closes = datetime(2026, 3, 3, 9, 40, tzinfo=UTC)
    cred = turn_credential(
        Secret("s3cret"), appointment_id="appt-1", participant_id="person-2", expires=closes
    )
    assert cred.username == "1772530800:appt-1:person-2"
    assert cred.expires_at == int(closes.timestamp())
    expected = base64.b64encode(
        hmac.new(b"s3cret", cred.username.encode(), hashlib.sha1).digest()
    ).decode()
    assert cred.password == expected


def test_credential_differs_per_secret_and_per_participant() -> None:
    closes = soon()
    one = turn_credential(Secret("a"), appointment_id="x", participant_id="p", expires=closes)
    other_secret = turn_credential(
        Secret("b"), appointment_id="x", participant_id="p", expires=closes
    )
    other_person = turn_credential(
        Secret("a"), appointment_id="x", participant_id="q", expires=closes
    )
    assert len({one.password, other_secret.password, other_person.password}) == 3


def test_naive_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        turn_credential(
            Secret("a"), appointment_id="x", participant_id="p", expires=datetime(2026, 3, 3)
        )


def test_ice_servers_expire_with_the_appointment_window() -> None:
    closes = soon()
    build = IceServers(["stun:127.0.0.1:3478", "turn:127.0.0.1:3478"], Secret("k"))
    servers = build(PRISONER, Appointment("appt-9", closes))
    assert servers[0] == {"urls": ["stun:127.0.0.1:3478"]}
    turn = servers[1]
    assert turn["urls"] == ["turn:127.0.0.1:3478"]
    assert turn["username"] == f"{int(closes.timestamp())}:appt-9:{PRISONER.account_id}"
    assert turn["credentialType"] == "password"


def test_no_urls_means_no_servers() -> None:
    assert IceServers([], None)(PRISONER, Appointment("a", soon())) == []


def test_turn_urls_without_a_secret_are_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        IceServers(["turn:127.0.0.1:3478"], None)


def test_secret_does_not_show_in_repr() -> None:
    assert "k3y" not in repr(IceServers(["turn:127.0.0.1:1"], Secret("k3y")).__dict__)


@pytest.mark.slow
async def test_relay_only_peers_decode_frames_through_coturn(coturn: Coturn) -> None:
    build = IceServers([coturn.url], coturn.secret)
    appointment = Appointment("appt-relay", soon())
    clinician = Principal("c-1", Role.CLINICIAN, "est", "s2")
    config_a = rtc_configuration(build(PRISONER, appointment), relay_only=True)
    config_b = rtc_configuration(build(clinician, appointment), relay_only=True)
    pair = DirectPair(config_a, config_b)
    try:
        await pair.connect()
        assert candidate_types(pair.a.pc.localDescription.sdp) == {"relay"}
        assert candidate_types(pair.b.pc.localDescription.sdp) == {"relay"}
        assert await pair.b.counters["video"].wait_for(10) >= 10
        assert await pair.a.counters["video"].wait_for(10) >= 10
        assert await pair.b.counters["audio"].wait_for(10) >= 10
    finally:
        await pair.close()


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["wrong secret", "expired"])
async def test_coturn_refuses_a_bad_credential(coturn: Coturn, problem: str) -> None:
    secret = Secret("not-the-secret") if problem == "wrong secret" else coturn.secret
    closes = soon() if problem == "wrong secret" else datetime.now(UTC) - timedelta(minutes=1)
    servers = IceServers([coturn.url], secret)(PRISONER, Appointment("appt-bad", closes))
    pc = create_peer(rtc_configuration(servers, relay_only=True), synthetic_media())
    try:
        await pc.setLocalDescription(await pc.createOffer())
        assert candidate_types(pc.localDescription.sdp) == set()
    finally:
        await pc.close()
