"""A signalling app on a loopback port, with a small fake join policy.

The policy answers like scheduling's does (same `JoinDecision`), for
appointments the test books with `book()`; the scheduling module's own policy
is tested in `tests/scheduling`.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from core.clock import FakeClock
from core.config import Secret, Settings
from core.events import AuditSink, MemorySink
from core.identity import Principal, Role
from core.identity.passwords import SecretHasher
from scheduling.types import AppointmentView, JoinDecision
from signalling.bus.memory import MemoryBus
from signalling.hub import Hub, HubConfig
from signalling.policy import Authenticator, JoinPolicy
from signalling.store.memory import MemoryRoomStore
from tests.world import World, sign_in_prisoner, sign_in_staff

TICK_S = 0.05


@dataclass
class FakePolicy:
    clock: FakeClock
    views: dict[str, AppointmentView] = field(default_factory=dict)
    consent: set[str] = field(default_factory=set)
    events: list[tuple[str, str, str]] = field(default_factory=list)
    call_backs: list[tuple[str, str, str | None]] = field(default_factory=list)
    summaries: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def book(
        self,
        appointment_id: str,
        *,
        prisoner: str,
        clinician: str,
        establishment: str,
        relay_only: bool = True,
        starts_in_min: int = 5,
        consent: bool = True,
        video_required: bool = False,
    ) -> AppointmentView:
        starts = self.clock.now() + timedelta(minutes=starts_in_min)
        view = AppointmentView(
            id=appointment_id,
            establishment_id=establishment,
            prisoner_id=prisoner,
            clinician_id=clinician,
            service="gp",
            starts_at=starts,
            ends_at=starts + timedelta(minutes=20),
            window_opens=starts - timedelta(minutes=10),
            window_closes=starts + timedelta(minutes=35),
            status="booked",
            relay_only=relay_only,
            video_required=video_required,
        )
        self.views[appointment_id] = view
        if consent:
            self.consent.add(appointment_id)
        return view

    async def join_decision(self, principal: Principal, appointment_id: str) -> JoinDecision:
        view = self.views.get(appointment_id)
        if view is None:
            return JoinDecision(False, "not_found", None, None)
        now: datetime = self.clock.now()
        role: Any
        if principal.role is Role.PRISONER and principal.account_id == view.prisoner_id:
            if principal.device_id is None:
                return JoinDecision(False, "wrong_device", None, view)
            if appointment_id not in self.consent:
                return JoinDecision(False, "no_consent", None, view)
            role = "patient"
        elif principal.role is Role.CLINICIAN and principal.account_id == view.clinician_id:
            role = "clinician"
        else:
            return JoinDecision(False, "not_your_appointment", None, None)
        if now < view.window_opens:
            return JoinDecision(False, "too_early", None, view)
        if now > view.window_closes:
            return JoinDecision(False, "too_late", None, view)
        return JoinDecision(True, None, role, view)

    async def record_call_event(self, appointment_id: str, event: Any, actor: str) -> None:
        self.events.append((appointment_id, event, actor))

    async def request_call_back(
        self, appointment_id: str, clinician_id: str, device_id: str | None
    ) -> bool:
        self.call_backs.append((appointment_id, clinician_id, device_id))
        return True

    async def record_call_summary(self, appointment_id: str, summary: dict[str, Any]) -> None:
        self.summaries.append((appointment_id, summary))


class Tokens:
    """An authenticator for a hub driven directly: tokens that name a principal."""

    def __init__(self) -> None:
        self.principals: dict[str, Principal] = {}

    def issue(self, principal: Principal) -> str:
        token = uuid.uuid4().hex
        self.principals[token] = principal
        return token

    async def authenticate(self, token: object) -> Principal:
        return self.principals[str(token)]


def ice_servers(principal: Principal, appointment: AppointmentView) -> list[dict[str, Any]]:
    return [
        {
            "urls": ["turn:127.0.0.1:3478"],
            "username": f"x:{appointment.id}:{principal.account_id}",
            "credential": "secret",
        }
    ]


@pytest.fixture
def bus_kind(request: pytest.FixtureRequest) -> str:
    """The in-process bus unless a module runs on both:
    `pytestmark = pytest.mark.parametrize("bus_kind", BUSES, indirect=True)`."""
    return str(getattr(request, "param", "memory"))


BUSES = ["memory", "redis"]


@pytest.fixture
def ws_path(request: pytest.FixtureRequest) -> str:
    """How `/ws` carries frames (web/ws.py): the fast path on aiohttp's internals
    unless a module or test runs on both, with `EDGES` or
    `pytest.mark.parametrize("ws_path", WS_PATHS, indirect=True)`."""
    return str(getattr(request, "param", "fast"))


WS_PATHS = ["fast", "public"]

EDGES = [("memory", "fast"), ("memory", "public"), ("redis", "fast")]
"""Both buses, and both WebSocket paths on one node, where the fast path relays
from the read callback (on Redis it relays nothing itself):
`pytestmark = pytest.mark.parametrize(("bus_kind", "ws_path"), EDGES, indirect=True)`."""


@pytest.fixture
def policy(clock: FakeClock) -> FakePolicy:
    return FakePolicy(clock)


@pytest.fixture
def sig_settings(
    settings: Settings, bus_kind: str, ws_path: str, request: pytest.FixtureRequest
) -> Settings:
    settings = replace(settings, ws_fast_path="off" if ws_path == "public" else "auto")
    if bus_kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return replace(settings, redis_url=Secret(url))
    return settings


def build_app(
    settings: Settings, clock: FakeClock, hasher: SecretHasher, policy: FakePolicy, **config: Any
) -> Any:
    from web.app import create_app
    from web.ws import AUDIT_TAP, HUB_CONFIG, ICE_SERVERS, JOIN_POLICY

    app = create_app(settings, clock=clock, hasher=hasher)
    app[AUDIT_TAP] = MemorySink()
    app[JOIN_POLICY] = policy
    app[ICE_SERVERS] = ice_servers
    app[HUB_CONFIG] = HubConfig(**{"tick_s": TICK_S, "hello_timeout_s": 1.0, **config})
    return app


@pytest.fixture
async def app(
    sig_settings: Settings, clock: FakeClock, hasher: SecretHasher, policy: FakePolicy
) -> Any:
    return build_app(sig_settings, clock, hasher, policy)


@pytest.fixture
async def client(aiohttp_client: Any, app: Any, ws_path: str) -> Any:
    """The app on a loopback port, on the WebSocket path the test asked for."""
    from web.ws import WS_PATH

    started = await aiohttp_client(app)
    chosen = app[WS_PATH]
    assert chosen.name == ws_path, f"/ws runs the {chosen.name} path: {chosen.why}"
    return started


# ---------------------------------------------------------------- clients


class Peer:
    """One WebSocket client speaking the protocol, as a test drives it."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.last_seq = 0

    async def send(self, body: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps({"v": 1, **body}))

    async def recv(self, wait: float = 3.0) -> dict[str, Any]:
        msg = await asyncio.wait_for(self.ws.receive(), wait)
        if msg.type is not WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {msg.type} {msg.data!r}")
        body: dict[str, Any] = json.loads(msg.data)
        self.last_seq = max(self.last_seq, int(body["seq"]))
        self.seen.append(body)
        return body

    async def expect(self, kind: str, wait: float = 3.0) -> dict[str, Any]:
        """The next message of `kind`, skipping others (kept in `seen`)."""
        while True:
            body = await self.recv(wait)
            if body["type"] == kind:
                return body

    async def closed(self, wait: float = 3.0) -> int:
        while True:
            msg = await asyncio.wait_for(self.ws.receive(), wait)
            if msg.type is WSMsgType.CLOSE:
                # The code the server sent, whatever became of our reply to it.
                return int(msg.data)
            if msg.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return int(self.ws.close_code)
            if msg.type is WSMsgType.TEXT:
                self.seen.append(json.loads(msg.data))

    async def quiet(self, seconds: float = 0.2) -> None:
        """Nothing arrives for a moment."""
        try:
            msg = await asyncio.wait_for(self.ws.receive(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected message {msg.data!r}")


async def open_peer(
    client: TestClient[Any, Any],
    token: str | None,
    *,
    resume: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[Peer, dict[str, Any]]:
    ws = await client.ws_connect("/ws", headers=headers or {})
    peer = Peer(ws)
    hello: dict[str, Any] = {"type": "hello", "token": token}
    if resume is not None:
        hello["resume"] = resume
    await peer.send(hello)
    welcome = await peer.recv()
    assert welcome["type"] == "welcome", welcome
    return peer, welcome


@dataclass
class Consult:
    """One booked appointment and the two people of it, signed in."""

    appointment: str
    patient_id: str
    clinician_id: str
    patient_token: str
    clinician_token: str


async def book_consult(
    client: Any, world: World, policy: FakePolicy, appointment: str = "appt-1", **kw: Any
) -> Consult:
    prisoner = world.prisoners[0]
    clinician = world.staff["clinician"]
    policy.book(
        appointment,
        prisoner=prisoner.account_id,
        clinician=clinician.account_id,
        establishment=world.est,
        **kw,
    )
    p = await sign_in_prisoner(client, prisoner)
    c = await sign_in_staff(client, clinician)
    return Consult(
        appointment, prisoner.account_id, clinician.account_id, p["access_token"], c["access_token"]
    )


async def in_call(client: Any, consult: Consult) -> tuple[Peer, Peer]:
    """Patient waiting, clinician joined and admitted them: both in the call."""
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("room")
    await patient.expect("waiting")
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    await clinician.expect("joined")
    return patient, clinician


@pytest.fixture
async def peers() -> AsyncIterator[list[Peer]]:
    made: list[Peer] = []
    yield made
    for peer in made:
        await peer.ws.close()


def audit_records(client: Any) -> list[Any]:
    from web.ws import AUDIT_TAP

    sink: MemorySink = client.server.app[AUDIT_TAP]
    return sink.records


# ---------------------------------------------------------------- straight into a hub


SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def candidate(n: int) -> dict[str, Any]:
    """A relay candidate (as a device may send), numbered by its foundation."""
    line = f"candidate:{n} 1 udp 1 127.0.0.1 3478 typ relay"
    return {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}


class HubClient:
    """A connection driven straight into a hub, with no socket: what the hub
    sends it is kept in `got` and queued for `expect`.

    `writable` is what `Hub.relay_now` sees (a socket that can take a write at
    once); `held` makes `send` wait, as a client that stops reading would.
    """

    def __init__(
        self,
        hub: Hub,
        tokens: Tokens | None = None,
        principal: Principal | None = None,
        *,
        writable: bool = False,
    ) -> None:
        self.hub = hub
        self.token = tokens.issue(principal) if tokens and principal else None
        self.got: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: int | None = None
        self.open = writable
        self.held: asyncio.Event | None = None
        self.stuck = asyncio.Event()
        self.conn = hub.connect(self)

    def _arrived(self, text: str) -> None:
        body = json.loads(text)
        self.got.append(body)
        self.inbox.put_nowait(body)

    async def send(self, text: str) -> None:
        if self.held is not None:
            self.stuck.set()
            await self.held.wait()
        self._arrived(text)

    def writable(self) -> bool:
        return self.open

    def write(self, text: str) -> None:
        assert self.open, "written to while not writable"
        self._arrived(text)

    async def close(self, code: int, reason: str) -> None:
        self.closed = code

    def frame(self, body: dict[str, Any]) -> str:
        return json.dumps({"v": 1, **body})

    async def say(self, body: dict[str, Any]) -> None:
        await self.hub.receive(self.conn, self.frame(body))

    async def expect(self, kind: str) -> dict[str, Any]:
        while True:
            body = await asyncio.wait_for(self.inbox.get(), 5)
            assert body["type"] != "error", body
            if body["type"] == kind:
                return body

    def kinds(self) -> list[str]:
        return [body["type"] for body in self.got]


@pytest.fixture
async def make_hub(clock: FakeClock) -> AsyncIterator[Callable[..., Hub]]:
    """`make_hub(tokens, policy, **config)`: a hub on the in-memory store and bus,
    closed (with its bus) when the test ends, however it ends."""
    made: list[tuple[Hub, MemoryBus]] = []

    def make(
        tokens: Authenticator, policy: JoinPolicy, audit: AuditSink | None = None, **config: Any
    ) -> Hub:
        bus = MemoryBus()
        hub = Hub(
            identity=tokens,
            policy=policy,
            store=MemoryRoomStore(),
            bus=bus,
            audit=audit or MemorySink(),
            clock=clock,
            config=HubConfig(**config),
        )
        made.append((hub, bus))
        return hub

    yield make
    for hub, bus in made:
        await hub.close()
        await bus.close()
