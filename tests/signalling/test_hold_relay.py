"""A hold ends the officer's relay allocations at that moment, with a real coturn.

The app issues real TURN REST credentials (`ice_servers` in the room snapshot);
the officer and the clinician allocate relays with them on a coturn whose admin
CLI is on loopback. When the clinician confirms the identity, the officer's
allocations are cancelled and the clinician's remain; where the CLI cannot be
reached the hold happens all the same, and the failure is audited.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.events import Action, MemorySink
from core.identity.passwords import SecretHasher
from media.turn import IceServers
from media.turn_admin import TurnAdmin, owned_by
from tests.media.consults import Booked, book_consult
from tests.signalling.test_third_parties import admit, enter, identity_check, invite, waits
from tests.turn import Turn, free_port, start_turnserver, stop
from tests.turn_client import Attr, Method, TurnClient, TurnRefused
from tests.world import World, sign_in_staff
from web.state import SCHEDULING


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Turn]:
    proc, turn = start_turnserver(tmp_path_factory.mktemp("coturn"))
    yield turn
    stop(proc)


@pytest.fixture
def cli_reachable(request: pytest.FixtureRequest) -> bool:
    return bool(getattr(request, "param", True))


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, hasher: SecretHasher, coturn: Turn, cli_reachable: bool
) -> Any:
    from web.app import create_app
    from web.ws import AUDIT_TAP, ICE_SERVERS, RELAY_REVOKER

    clock.set(datetime.now(UTC))  # coturn checks a credential's expiry against the real time
    app: Any = create_app(settings, clock=clock, hasher=hasher)
    app[AUDIT_TAP] = MemorySink()
    app[ICE_SERVERS] = IceServers([coturn.url], coturn.secret)
    port = coturn.cli_port if cli_reachable else free_port()
    app[RELAY_REVOKER] = TurnAdmin(port, coturn.cli_password)
    return app


@pytest.fixture
async def booked(client: Any, world: World, clock: FakeClock) -> Booked:
    starts = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=5)
    return await book_consult(client.server.app[SCHEDULING], world, starts_at=starts)


async def relay_for(peer: Any, turn: Turn) -> TurnClient:
    """A relay allocated with the credential the app gives this member."""
    await peer.send({"type": "ice"})
    servers = (await peer.expect("ice_servers"))["ice_servers"]
    [server] = [s for s in servers if "username" in s]
    relay = TurnClient(("127.0.0.1", turn.port), server["username"], server["credential"])
    await relay.__aenter__()
    await relay.allocate()
    return relay


async def refresh(relay: TurnClient) -> None:
    await relay.request(Method.REFRESH, [(Attr.LIFETIME, struct.pack("!I", 600))])


def audited(client: Any) -> list[Any]:
    from web.ws import AUDIT_TAP

    sink = client.server.app[AUDIT_TAP]
    assert isinstance(sink, MemorySink)
    return list(sink.records)


@pytest.mark.parametrize("cli_reachable", [True], indirect=True)
async def test_the_hold_cancels_the_officers_relay_allocations_and_no_one_elses(
    client: Any, world: World, booked: Booked, coturn: Turn
) -> None:
    await identity_check(client, world.est, True)
    officer = world.staff["officer"]
    c_tokens = await sign_in_staff(client, booked.clinician)
    assert (await invite(client, booked, officer, tokens=c_tokens)).status == 200
    clinician, _ = await enter(client, c_tokens, booked)
    await clinician.expect("room")
    patient, p_id = await waits(client, booked, clinician, None)
    off, o_id = await waits(client, booked, clinician, officer)
    await admit(clinician, patient, p_id)
    await admit(clinician, off, o_id)
    officer_relay = await relay_for(off, coturn)
    clinician_relay = await relay_for(clinician, coturn)
    admin = TurnAdmin(coturn.cli_port, coturn.cli_password)
    try:
        listed = await admin.sessions(f":{booked.appointment}:")
        assert any(owned_by(s.username, booked.appointment, o_id) for s in listed)

        await clinician.send({"type": "confirm_identity"})
        await off.expect("on_hold")
        await clinician.expect("on_hold")

        # The cut is done before the hold's step returns: the next message the
        # clinician's step answers comes after it.
        await clinician.send({"type": "ping"})
        await clinician.expect("pong")
        cut = [r for r in audited(client) if r.action is Action.RELAY_CUT]
        assert [(r.actor, r.details) for r in cut] == [
            (booked.clinician.account_id, {"participant": o_id, "sessions": 1})
        ]
        listed = await admin.sessions(f":{booked.appointment}:")
        assert not any(owned_by(s.username, booked.appointment, o_id) for s in listed)
        assert any(
            owned_by(s.username, booked.appointment, booked.clinician.account_id) for s in listed
        )
        with pytest.raises(TurnRefused) as refused:
            await refresh(officer_relay)
        assert refused.value.code == 437  # no allocation left for it
        await refresh(clinician_relay)
    finally:
        await officer_relay.__aexit__(None, None, None)
        await clinician_relay.__aexit__(None, None, None)


@pytest.mark.parametrize("cli_reachable", [False], indirect=True)
async def test_a_relay_out_of_reach_does_not_stop_the_hold_and_is_audited(
    client: Any, world: World, booked: Booked, coturn: Turn, caplog: pytest.LogCaptureFixture
) -> None:
    await identity_check(client, world.est, True)
    officer = world.staff["officer"]
    c_tokens = await sign_in_staff(client, booked.clinician)
    assert (await invite(client, booked, officer, tokens=c_tokens)).status == 200
    clinician, _ = await enter(client, c_tokens, booked)
    await clinician.expect("room")
    patient, p_id = await waits(client, booked, clinician, None)
    off, o_id = await waits(client, booked, clinician, officer)
    await admit(clinician, patient, p_id)
    await admit(clinician, off, o_id)

    await clinician.send({"type": "confirm_identity"})
    await off.expect("on_hold")
    await clinician.expect("on_hold")
    await patient.expect("on_hold")
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")
    actions = [r.action for r in audited(client)]
    assert Action.PUT_ON_HOLD in actions
    failed = [r for r in audited(client) if r.action is Action.RELAY_CUT_FAILED]
    assert [r.details for r in failed] == [{"participant": o_id}]
    assert "could not cut a held member's relay sessions" in caplog.text
    assert coturn.cli_password.reveal() not in caplog.text
