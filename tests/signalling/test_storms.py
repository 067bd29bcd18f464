"""Many clients coming back at once, and the ones that come back too often.

A storm: every client of a node drops at once and all come back together with
their resume tokens; each is back in its room with every logged message it was
owed, in order, none twice. The full-size storm (2,000 clients, timed) is
bench/connect.py; here 300. Limits on reconnecting, per identity and per client
address as the trusted proxy reports it (signalling/reconnects.py). A resume
token presented on two nodes at once resumes one of them. A node whose clock is
a few seconds off still takes valid tokens and refuses expired ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from core.clock import FakeClock
from core.config import Secret, Settings
from core.identity import Role
from core.identity.passwords import SecretHasher
from core.identity.tokens import LEEWAY_S
from signalling.hub import Hub
from tests.signalling.conftest import (
    EDGES,
    SDP,
    FakePolicy,
    Peer,
    book_consult,
    build_app,
    open_peer,
)
from tests.world import PASSWORD, World, build_world
from web.state import CLOCK, IDENTITY, SIGNALLING

STORM = 300
PEOPLE = 6
"""Pairs of people signed in for the storm; each pair meets in STORM / 2 / PEOPLE consults
at once (signing in 150 pairs took minutes on a loaded machine; bench/connect.py has every
client its own identity)."""
NOT_LOGGED = {"welcome", "room", "error", "pong", "reauth"}


@dataclass
class Person:
    patient_id: str
    clinician_id: str
    patient_token: str
    clinician_token: str


async def people(app: Any, world: World, count: int) -> list[Person]:
    """`count` prisoners and clinicians of their own, signed in through the identity service."""
    import pyotp

    identity = app[IDENTITY]
    device = world.prisoners[0].device_credential
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> Person:
        async with gate:
            number = f"S{n:04d}SS"
            patient_id = await identity.create_prisoner(
                establishment_id=world.est, prison_number=number, display_name=f"S{n}", pin="1234"
            )
            clinician_id, secret = await identity.create_staff(
                role=Role.CLINICIAN,
                establishment_id=world.est,
                username=f"storm.clinician.{n}",
                display_name=f"C{n}",
                password=PASSWORD,
            )
            patient = await identity.sign_in_prisoner(device, number, "1234")
            clinician = await identity.sign_in_staff(
                f"storm.clinician.{n}", PASSWORD, pyotp.TOTP(secret).at(app[CLOCK].now())
            )
        return Person(patient_id, clinician_id, patient.access.token, clinician.access.token)

    return list(await asyncio.gather(*(one(n) for n in range(count))))


@dataclass
class Seat:
    """One client of the storm: who, in which room, and what it had seen."""

    me: str
    peer: str
    token: str
    appointment: str
    socket: Peer | None = None
    resume: str = ""
    seen_before: int = 0


def peer_present(peer: Peer, who: str) -> bool:
    """Whether `peer` has seen `who` back: present in its snapshot, or `reconnected` since."""
    present = False
    for body in peer.seen:
        room = body.get("room") if body["type"] == "welcome" else None
        if room is not None:
            present = any(
                m["participant"] == who and m["status"] == "present" for m in room["members"]
            )
        elif body.get("participant") == who and body["type"] in ("reconnected", "joined"):
            present = True
        elif body.get("participant") == who and body["type"] == "away":
            present = False
    return present


@pytest.mark.parametrize(("bus_kind", "ws_path"), EDGES, indirect=True)
async def test_a_storm_of_clients_resuming_at_once_all_come_back_with_nothing_missed(
    client: Any, policy: FakePolicy
) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await _storm(Wide(client, session), policy)


@pytest.fixture
async def app(
    sig_settings: Settings, clock: FakeClock, hasher: SecretHasher, policy: FakePolicy
) -> Any:
    """Each person holds one socket per consult they are in, so more than the usual four."""
    return build_app(
        sig_settings,
        clock,
        hasher,
        policy,
        max_per_identity=64,
        connect_per_identity=500,
        hello_timeout_s=10.0,
    )


async def _open(
    client: Any, token: str, resume: dict[str, Any] | None = None
) -> tuple[Peer, dict[str, Any]]:
    """open_peer, waiting longer: hundreds at once on a shared machine can take seconds."""
    peer = Peer(await client.ws_connect("/ws"))
    await peer.send({"type": "hello", "token": token, **({"resume": resume} if resume else {})})
    return peer, await peer.recv(60)


class Wide:
    """The test client's server, through a session with no cap on open connections
    (the test client's holds 100)."""

    def __init__(self, client: Any, session: aiohttp.ClientSession) -> None:
        self.server = client.server
        self._client = client
        self._session = session

    async def ws_connect(self, path: str, **kw: Any) -> Any:
        return await self._session.ws_connect(self._client.make_url(path), **kw)


async def _storm(client: Any, policy: FakePolicy) -> None:
    app = client.server.app
    hub: Hub = app[SIGNALLING]
    world = await build_world(app)
    folks = await people(app, world, PEOPLE)
    seats: list[tuple[Seat, Seat]] = []
    for n in range(STORM // 2):
        person = folks[n % PEOPLE]
        appointment = f"storm-{n}"
        policy.book(
            appointment,
            prisoner=person.patient_id,
            clinician=person.clinician_id,
            establishment=world.est,
        )
        seats.append(
            (
                Seat(person.patient_id, person.clinician_id, person.patient_token, appointment),
                Seat(person.clinician_id, person.patient_id, person.clinician_token, appointment),
            )
        )
    gate = asyncio.Semaphore(32)

    async def into_room(patient: Seat, clinician: Seat) -> None:
        async with gate:
            for seat in (patient, clinician):
                seat.socket, _ = await _open(client, seat.token)
                await seat.socket.send({"type": "join", "appointment": seat.appointment})
                seat.resume = (await seat.socket.expect("room", 30))["resume_token"]
            assert patient.socket is not None and clinician.socket is not None
            await clinician.socket.send({"type": "admit", "participant": patient.me})
            await patient.socket.expect("admitted", 30)
            await clinician.socket.expect("joined", 30)

    await asyncio.gather(*(into_room(p, c) for p, c in seats))
    everyone = [seat for pair in seats for seat in pair]

    async def settled(seat: Seat) -> None:
        """Nothing more on its way to it: the waiting-room positions that the admits
        changed reach the other patients of each clinician, later on Redis under load."""
        assert seat.socket is not None
        while True:
            try:
                await seat.socket.recv(0.5)
            except TimeoutError:
                break
        seat.seen_before = seat.socket.last_seq

    await asyncio.gather(*(settled(seat) for seat in everyone))
    # Everyone drops at once; all are away.
    await asyncio.gather(*(seat.socket.ws.close() for seat in everyone if seat.socket))
    for _ in range(200):
        if not hub.meters.connections:
            break
        await asyncio.sleep(0.05)
    assert not hub.meters.connections

    async def back(seat: Seat) -> None:
        seat.socket, welcome = await _open(
            client, seat.token, {"token": seat.resume, "last_seq": seat.seen_before}
        )
        assert welcome["resumed"] is True, welcome
        assert welcome["replay"] == "complete"
        assert welcome["room"]["you"]["status"] == "present"
        for _ in range(50):
            if peer_present(seat.socket, seat.peer):
                return
            try:
                await seat.socket.recv(10)
            except TimeoutError:
                break
        raise AssertionError(f"{seat.me} never saw {seat.peer} back: {seat.socket.seen}")

    await asyncio.gather(*(back(seat) for seat in everyone))
    # In their rooms: each clinician's offer reaches its patient.
    for patient, clinician in seats:
        assert clinician.socket is not None
        await clinician.socket.send({"type": "offer", "to": patient.me, "sdp": SDP})
    for patient, clinician in seats:
        assert patient.socket is not None
        offer = await patient.socket.expect("offer", 10)
        assert offer["from"] == clinician.me
    # Nothing missed, nothing twice: what each got after its resume is exactly what the
    # room's log holds for it after the seq it resumed from, in order.
    await asyncio.sleep(0.3)  # the last reconnected and ice_restart land
    for seat in everyone:
        assert seat.socket is not None
        while True:
            try:
                await seat.socket.recv(0.001)
            except TimeoutError:
                break
        got = [b["seq"] for b in seat.socket.seen if b["type"] not in NOT_LOGGED]
        entries, complete = await hub._store.replay(seat.appointment, seat.seen_before)
        assert complete
        owed = [e.seq for e in entries if seat.me in e.recipients]
        assert got == owed, f"{seat.me}: got {got}, the log holds {owed}"
    for seat in everyone:
        assert seat.socket is not None
        await seat.socket.ws.close()


async def _tight_loop(client: Any, token: str, times: int, **kw: Any) -> list[dict[str, Any]]:
    """Connect, hello, close, `times` over; the first message of each."""
    firsts = []
    for _ in range(times):
        ws = await client.ws_connect("/ws", **kw)
        peer = Peer(ws)
        await peer.send({"type": "hello", "token": token})
        firsts.append(await peer.recv(30))
        await ws.close()
    return firsts


@pytest.mark.parametrize("ws_path", ["fast", "public"], indirect=True)
async def test_an_identity_reconnecting_in_a_tight_loop_is_told_to_back_off_others_are_not(
    aiohttp_client: Any,
    sig_settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> None:
    app = build_app(sig_settings, clock, hasher, policy, connect_per_identity=5)
    client = await aiohttp_client(app)
    world = await build_world(app)
    consult = await book_consult(client, world, policy)
    firsts = await _tight_loop(client, consult.patient_token, 5)
    assert [f["type"] for f in firsts] == ["welcome"] * 5
    # The sixth in the minute: told to back off, and for how long; the socket closes 1013.
    ws = await client.ws_connect("/ws")
    looping = Peer(ws)
    await looping.send({"type": "hello", "token": consult.patient_token})
    refused = await looping.recv()
    assert refused["code"] == "too_many_connections"
    assert "Wait retry_after_s seconds" in refused["message"]
    assert 1 <= refused["retry_after_s"] <= 60
    assert await looping.closed(30) == 1013
    # The clinician, from the same address, is let in; so is the patient once the wait is over.
    clinician, welcome = await _open(client, consult.clinician_token)
    assert welcome["participant"] == consult.clinician_id
    await clinician.ws.close()
    hub: Hub = app[SIGNALLING]
    assert hub.reconnects.identities.take("someone-else") is None


@pytest.mark.parametrize("ws_path", ["fast", "public"], indirect=True)
async def test_an_address_reconnecting_in_a_tight_loop_is_limited_by_the_proxys_word_only(
    aiohttp_client: Any,
    sig_settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> None:
    """Behind the trusted proxy each client address has its own limit; a prison's
    devices share one address, so the limit is generous (here 3 for the test)."""
    trusted = replace(sig_settings, trusted_proxies=("127.0.0.1/32",))
    app = build_app(trusted, clock, hasher, policy, connect_per_address=3)
    client = await aiohttp_client(app)
    world = await build_world(app)
    consult = await book_consult(client, world, policy)
    prison = {"X-Forwarded-For": "203.0.113.9"}
    firsts = await _tight_loop(client, consult.patient_token, 3, headers=prison)
    assert [f["type"] for f in firsts] == ["welcome"] * 3
    # The fourth from that address is refused before its hello is even read.
    ws = await client.ws_connect("/ws", headers=prison)
    refused = await Peer(ws).recv()
    assert (refused["type"], refused["code"]) == ("error", "too_many_connections")
    assert refused["retry_after_s"] >= 1
    assert await Peer(ws).closed(30) == 1013
    # Another address behind the same proxy is unaffected.
    other = Peer(await client.ws_connect("/ws", headers={"X-Forwarded-For": "198.51.100.7"}))
    await other.send({"type": "hello", "token": consult.clinician_token})
    welcome = await other.recv(30)
    assert welcome["type"] == "welcome"
    await other.ws.close()


@pytest.mark.parametrize("ws_path", ["fast"], indirect=True)
async def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(
    aiohttp_client: Any,
    sig_settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
) -> None:
    """Without THROUGHCARE_TRUSTED_PROXIES the peer's own address counts: a client that
    makes up a new X-Forwarded-For each time gets no fresh limit."""
    app = build_app(sig_settings, clock, hasher, policy, connect_per_address=2)
    client = await aiohttp_client(app)
    world = await build_world(app)
    consult = await book_consult(client, world, policy)
    for n in range(2):
        ws = await client.ws_connect("/ws", headers={"X-Forwarded-For": f"192.0.2.{n}"})
        await Peer(ws).send({"type": "hello", "token": consult.patient_token})
        assert (await Peer(ws).recv(30))["type"] == "welcome"
        await ws.close()
    ws = await client.ws_connect("/ws", headers={"X-Forwarded-For": "192.0.2.77"})
    refused = await Peer(ws).recv()
    assert refused["code"] == "too_many_connections"
    await ws.close()


async def test_a_resume_token_presented_on_two_nodes_at_once_resumes_one(
    aiohttp_client: Any,
    settings: Settings,
    clock: FakeClock,
    hasher: SecretHasher,
    policy: FakePolicy,
    redis_url: str,
) -> None:
    shared = replace(settings, redis_url=Secret(redis_url))
    a = await aiohttp_client(build_app(replace(shared, node_name="node-a"), clock, hasher, policy))
    b = await aiohttp_client(build_app(replace(shared, node_name="node-b"), clock, hasher, policy))
    world = await build_world(a.server.app)
    consult = await book_consult(a, world, policy)
    patient, _ = await open_peer(a, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    resume = (await patient.expect("room"))["resume_token"]
    clinician, _ = await open_peer(a, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    last_seq = patient.last_seq
    await patient.ws.close()
    await clinician.expect("away")

    async def present(node: Any) -> tuple[Peer, dict[str, Any], list[dict[str, Any]]]:
        peer, welcome = await open_peer(
            node, consult.patient_token, resume={"token": resume, "last_seq": last_seq}
        )
        after = [] if welcome["resumed"] else [await peer.recv()]
        return peer, welcome, after

    (pa, wa, ea), (pb, wb, eb) = await asyncio.gather(present(a), present(b))
    assert sorted([wa["resumed"], wb["resumed"]]) == [False, True]
    winner, loser, told = (pa, pb, eb) if wa["resumed"] else (pb, pa, ea)
    assert (told[0]["code"], told[0]["reason"]) == ("resume_failed", "expired")
    # The one that won is in the room: the clinician sees one reconnection, and its offer lands.
    back = await clinician.expect("reconnected")
    assert back["participant"] == consult.patient_id
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await winner.expect("offer"))["from"] == consult.clinician_id
    with pytest.raises(TimeoutError):
        await clinician.expect("reconnected", 0.3)
    for peer in (winner, loser, clinician):
        await peer.ws.close()


@pytest.mark.parametrize("skew_s", [-(LEEWAY_S - 1), LEEWAY_S - 1])
async def test_a_node_with_its_clock_a_few_seconds_off_takes_valid_tokens_refuses_expired(
    client: Any, clock: FakeClock, policy: FakePolicy, skew_s: int
) -> None:
    """The token is issued by a node whose clock is right; this node's is `skew_s` off.

    Behind, it sees a token issued "in the future"; ahead, it sees one expire early:
    within the leeway both still work. A token past its expiry by more than the
    leeway is refused, whatever the node's clock says, even one this node checked before.
    """
    world = await build_world(client.server.app)
    consult = await book_consult(client, world, policy)
    clock.advance(seconds=skew_s)
    peer, welcome = await open_peer(client, consult.patient_token)
    expires = datetime.fromisoformat(welcome["reauth_before"])
    await peer.ws.close()
    # This node's clock at the token's expiry, off by the skew: still taken.
    clock.set(expires)
    clock.advance(seconds=skew_s if skew_s > 0 else 0)
    peer, welcome = await open_peer(client, consult.patient_token)
    assert welcome["participant"] == consult.patient_id
    await peer.ws.close()
    # Expired by more than the leeway: refused, and the socket closed 4001.
    clock.set(expires)
    clock.advance(seconds=LEEWAY_S + 1)
    ws = await client.ws_connect("/ws")
    refused = Peer(ws)
    await refused.send({"type": "hello", "token": consult.patient_token})
    assert (await refused.recv(30))["code"] == "invalid_token"
    assert await refused.closed(30) == 4001
