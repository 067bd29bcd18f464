"""The shipped coturn configuration relays a consult's media and reaches nothing inside.

coturn runs `deploy/turnserver.conf` with only this machine's additions
(`tests.turn.start_shipped_turnserver`). A real TURN client
(`tests.turn_client`) allocates an IPv4 and an IPv6 relay with credentials
issued as `media/turn.py` issues them, and asks for a permission to addresses
in every block of IANA's special-purpose registries, vendored from
https://www.iana.org/assignments/iana-ipv4-special-registry/iana-ipv4-special-registry-1.csv
and
https://www.iana.org/assignments/iana-ipv6-special-registry/iana-ipv6-special-registry-1.csv
(as published on 2026-07-18), plus multicast, the IPv6 space outside global
unicast, and the IPv6 forms that wrap an IPv4 address. The expectations come
from those registries, not from the configuration, so a range missing from the
file, or one that covers too much, fails here.
"""

from __future__ import annotations

import csv
import ipaddress
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.identity import Principal, Role
from media.pair import DirectPair
from media.peer import candidate_types, rtc_configuration
from media.turn import IceServers, turn_credential
from tests.turn import (
    SHIPPED_CONFIG,
    Turn,
    machine_relay_addresses,
    start_shipped_turnserver,
    stop,
)
from tests.turn_client import TCP, TurnClient, TurnRefused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def registry(name: str) -> list[Network]:
    """Every block of one IANA special-purpose registry (footnote marks dropped)."""
    with (FIXTURES / name).open(newline="") as file:
        cells = [row["Address Block"] for row in csv.DictReader(file)]
    return [
        ipaddress.ip_network(part.strip())
        for cell in cells
        for part in re.sub(r"\s*\[\d+\]", "", cell).split(",")
    ]


GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
IPV6_RESERVED = [  # IANA's IPv6 address space: all but 2000::/3 is reserved or special
    net
    for block in ipaddress.IPv6Network("::/0").address_exclude(GLOBAL_UNICAST)
    for net in (
        block.address_exclude(ipaddress.IPv6Network("::/8"))
        if block.supernet_of(ipaddress.IPv6Network("::/8"))
        else [block]
    )
]
DENIED: list[Network] = [
    *registry("iana-ipv4-special-registry-1.csv"),
    *registry("iana-ipv6-special-registry-1.csv"),
    ipaddress.IPv4Network("224.0.0.0/4"),  # multicast, RFC 5771
    ipaddress.IPv6Network("ff00::/8"),  # multicast, RFC 4291 section 2.7
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible, RFC 4291 section 2.5.5.1
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated, RFC 2765
    *IPV6_RESERVED,
]

# The addresses the outside review reached with the old flags, and their kin.
REVIEWED = [
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "fe80::1",
    "64:ff9b::a00:1",
    "64:ff9b::7f00:1",
    "100.64.0.1",
    "169.254.169.254",
    "fd00::1",
    "2002:a00:1::1",
    "2001:0:a00:1::1",
]


def wrapped(v4: ipaddress.IPv4Address) -> list[ipaddress.IPv6Address]:
    """The IPv6 spellings of an IPv4 address an IPv6 relay could be asked for."""
    n = int(v4)
    return [
        ipaddress.IPv6Address((0xFFFF << 32) | n),  # IPv4-mapped
        ipaddress.IPv6Address(n),  # IPv4-compatible
        ipaddress.IPv6Address((0xFFFF << 48) | n),  # IPv4-translated
        ipaddress.IPv6Address((0x64FF9B << 96) | n),  # NAT64
        ipaddress.IPv6Address((0x2002 << 112) | (n << 80)),  # 6to4
    ]


def edges(net: Network) -> list[Address]:
    return [net[0], net[net.num_addresses // 2], net[-1]]


def refused(address: Address, relays: Iterable[str]) -> bool:
    if str(address) in relays:
        return False
    return any(address in net for net in DENIED if net.version == address.version)


def denied_probes(relays: tuple[str, ...]) -> set[Address]:
    probes: set[Address] = {ipaddress.ip_address(a) for a in REVIEWED}
    for net in DENIED:
        probes.update(edges(net))
        v4_edges = [a for a in edges(net) if isinstance(a, ipaddress.IPv4Address)]
        probes.update(w for a in v4_edges for w in wrapped(a))
    for relay in relays:
        own = ipaddress.ip_address(relay)
        probes.update({own - 1, own + 1})
    return {a for a in probes if refused(a, relays)}


def allowed_probes(relays: tuple[str, ...]) -> set[Address]:
    """The relays' own addresses, and each denied block's public neighbours."""
    probes: set[Address] = {ipaddress.ip_address(r) for r in relays}
    for net in DENIED:
        for step, edge in ((-1, net[0]), (1, net[-1])):
            try:
                neighbour = edge + step
            except ipaddress.AddressValueError:
                continue
            public = neighbour.version == 4 or neighbour in GLOBAL_UNICAST
            if public and not refused(neighbour, relays):
                probes.add(neighbour)
    return probes


def setting(name: str) -> str:
    lines = SHIPPED_CONFIG.read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith(f"{name}="))


USER_QUOTA = int(setting("user-quota"))


@pytest.fixture(scope="module")
def relays() -> tuple[str, str]:
    return machine_relay_addresses()


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory, relays: tuple[str, str]) -> Iterator[Turn]:
    proc, turn = start_shipped_turnserver(tmp_path_factory.mktemp("shipped-turn"), relays)
    yield turn
    stop(proc)


def client(turn: Turn, participant: str = "person-1", *, tcp: bool = False) -> TurnClient:
    cred = turn_credential(
        turn.secret,
        appointment_id="appt-probe",
        participant_id=participant,
        expires=datetime.now(UTC) + timedelta(minutes=30),
    )
    return TurnClient(("127.0.0.1", turn.port), cred.username, cred.password, tcp=tcp)


FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])


@pytest.mark.slow
@FAMILIES
async def test_a_device_gets_no_permission_to_any_special_purpose_address(
    shipped: Turn, relays: tuple[str, str], family: int
) -> None:
    probes = sorted(str(a) for a in denied_probes(relays) if a.version == family)
    async with client(shipped) as turn:
        relayed, _port = await turn.allocate(family)
        assert relayed == relays[0 if family == 4 else 1]
        outcomes = {peer: await turn.permission_outcome(peer) for peer in probes}
    assert {peer: code for peer, code in outcomes.items() if code != 403} == {}
    reviewed = {str(a) for a in map(ipaddress.ip_address, REVIEWED) if a.version == family}
    assert reviewed <= outcomes.keys()


@pytest.mark.slow
@FAMILIES
async def test_public_peers_and_the_relays_own_address_stay_reachable(
    shipped: Turn, relays: tuple[str, str], family: int
) -> None:
    probes = sorted(str(a) for a in allowed_probes(relays) if a.version == family)
    async with client(shipped) as turn:
        await turn.allocate(family)
        outcomes = {peer: await turn.permission_outcome(peer) for peer in probes}
    assert {peer: code for peer, code in outcomes.items() if code != 200} == {}
    assert relays[0 if family == 4 else 1] in outcomes


@pytest.mark.slow
async def test_a_device_cannot_open_a_tcp_relay(shipped: Turn) -> None:
    """RFC 6062 TCP relay would let a device open TCP connections from the relay."""
    async with client(shipped, tcp=True) as turn:
        with pytest.raises(TurnRefused) as refusal:
            await turn.allocate(transport=TCP)
    assert refusal.value.code == 442  # Unsupported Transport Protocol


@pytest.mark.slow
async def test_one_participant_holds_no_more_than_the_user_quota_of_allocations(
    shipped: Turn,
) -> None:
    quota = USER_QUOTA
    held = [client(shipped, "person-greedy") for _ in range(quota + 1)]
    try:
        for turn in held[:quota]:
            await turn.__aenter__()
            await turn.allocate()
        await held[quota].__aenter__()
        with pytest.raises(TurnRefused) as refusal:
            await held[quota].allocate()
        assert refusal.value.code == 486  # Allocation Quota Reached
        async with client(shipped, "person-other") as other:
            await other.allocate()
    finally:
        for turn in held:
            await turn.__aexit__(None, None, None)


@pytest.mark.slow
async def test_coturn_fingerprints_its_answers_to_a_client_that_does_not(shipped: Turn) -> None:
    async with client(shipped) as turn:
        turn.fingerprint = False
        await turn.allocate()
        assert turn.last_response is not None
        assert turn.last_response.fingerprint_valid is True


@pytest.mark.slow
async def test_relay_only_call_works_through_the_shipped_configuration(shipped: Turn) -> None:
    build = IceServers([shipped.url], shipped.secret)

    class Appointment:
        id = "appt-shipped"
        window_closes = datetime.now(UTC) + timedelta(minutes=30)
        relay_only = True

    device = Principal("p-1", Role.PRISONER, "est", "s1", "d1")
    clinician = Principal("c-1", Role.CLINICIAN, "est", "s2")
    pair = DirectPair(
        rtc_configuration(build(device, Appointment()), relay_only=True),
        rtc_configuration(build(clinician, Appointment()), relay_only=True),
    )
    try:
        await pair.connect()
        assert candidate_types(pair.a.pc.localDescription.sdp) == {"relay"}
        assert candidate_types(pair.b.pc.localDescription.sdp) == {"relay"}
        assert await pair.b.counters["video"].wait_for(10) >= 10
        assert await pair.a.counters["video"].wait_for(10) >= 10
    finally:
        await pair.close()
