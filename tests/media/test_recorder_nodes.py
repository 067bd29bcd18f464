"""The recorder across nodes: two hubs on the real Redis, the members on different nodes.

The patient's device is on node A, where its `given` starts the recorder; the clinician is
on node B. The clinician's offer to the recorder is checked on B, passed to A over the bus,
answered by A's recorder and handed back to the clinician on B. Both members are real
aiortc peers, relay-only through coturn, each with its own tone and picture; the one
recording on A has both voices and both pictures. The stop is asked on B too.

What the recorder stores into is a stand-in for `Recordings` that keeps the finished file
in memory (sealing and the database are tested in test_recordings.py); the recorder's own
scratch objects go to a local directory, sealed, as always.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from media.peer import create_peer, rtc_configuration
from media.recorder import RecorderDeps, RoomRecorder
from media.recording_storage import LocalStorage
from media.tracks import LocalMedia
from signalling.bus.redis import RedisBus
from signalling.hub import Hub, HubConfig
from signalling.store.redis import RedisRoomStore
from tests.media.conftest import Coturn
from tests.media.sources import FlatPicture, ToneTrack, decode, luma_of, tone_power
from tests.media.test_recorder import ice
from tests.signalling.conftest import FakePolicy, HubClient, Tokens

pytestmark = pytest.mark.slow


class _Kept:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data


class _Written(_Kept):
    """What `finalise` writes: the finished file, kept in memory for the test to look at."""

    def __init__(self, done: asyncio.Future[bytes]) -> None:
        super().__init__()
        self.poster = _Kept()
        self._done = done

    async def finish(self, *, duration_ms: int, mime: str) -> dict[str, int]:
        self._done.set_result(bytes(self.data))
        return {"duration_ms": duration_ms}

    async def abort(self) -> None:
        return None


@dataclass
class Services:
    """`RecordingServices` for both nodes: consent given, a real recorder on `start_recorder`."""

    coturn: Coturn
    storage: LocalStorage
    node: str = ""
    made: list[tuple[str, RoomRecorder]] = field(default_factory=list)
    stored: asyncio.Future[bytes] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    async def standing(self, appointment_id: str) -> str:
        return "given"

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, lang: str
    ) -> None:
        return None

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        return None

    async def recording_allowed(self, appointment_id: str) -> bool:
        return True

    async def begin(self, appointment_id: str, *, actor: str) -> _Written:
        return _Written(self.stored)

    def on(self, node: str) -> NodeServices:
        return NodeServices(self, node)


@dataclass
class NodeServices:
    shared: Services
    node: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shared, name)

    async def start_recorder(self, appointment_id: str, actor: str) -> RoomRecorder:
        shared = self.shared

        async def servers() -> list[dict[str, Any]]:
            return ice(shared.coturn, appointment_id, "recorder")

        recordings: Any = shared
        recordings.storage = shared.storage
        deps = RecorderDeps(recordings, shared, servers)
        recorder = RoomRecorder(deps, appointment_id, actor)
        await recorder.start()
        shared.made.append((self.node, recorder))
        return recorder


@pytest.fixture
async def nodes(
    redis_url: str, clock: FakeClock, coturn: Coturn, tmp_path: Path
) -> AsyncIterator[tuple[Hub, Hub, Tokens, FakePolicy, Services]]:
    prefix = f"tc-test-{uuid.uuid4().hex[:8]}:"
    tokens, policy = Tokens(), FakePolicy(clock)
    services = Services(coturn, LocalStorage(tmp_path / "recordings"))
    made: list[tuple[Hub, RedisRoomStore, RedisBus]] = []
    for name in ("node-a", "node-b"):
        bus = RedisBus(redis_url, prefix=prefix)
        await bus.start()
        store = RedisRoomStore(redis_url, prefix=prefix)
        hub = Hub(
            identity=tokens,
            policy=policy,
            store=store,
            bus=bus,
            audit=MemorySink(),
            clock=clock,
            config=HubConfig(tick_s=3600),
            node_name=name,
            recording=services.on(name),
        )
        await hub.start()
        made.append((hub, store, bus))
    yield made[0][0], made[1][0], tokens, policy, services
    for hub, store, bus in made:
        await hub.close()
        await store.close()
        await bus.close()
    for _, recorder in services.made:
        await recorder.discard()


async def offer_media(
    client: HubClient, coturn: Coturn, room: str, who: str, tone: int, luma: int
) -> RTCPeerConnection:
    """A member's media offered to the recorder through its own node, relay-only."""
    pc = create_peer(
        rtc_configuration(ice(coturn, room, who), relay_only=True),
        LocalMedia(ToneTrack(tone), FlatPicture(luma)),
    )
    await pc.setLocalDescription(await pc.createOffer())
    await client.say({"type": "recorder_offer", "sdp": pc.localDescription.sdp})
    answer = await client.expect("recorder_answer")
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    return pc


async def test_a_member_on_another_node_reaches_the_one_recorder(
    nodes: tuple[Hub, Hub, Tokens, FakePolicy, Services], coturn: Coturn
) -> None:
    a, b, tokens, policy, services = nodes
    prisoner, clinician, room = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    policy.book(room, prisoner=prisoner, clinician=clinician, establishment="est")
    patient, doctor = HubClient(a), HubClient(b)
    device = Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d")
    await patient.say({"type": "hello", "token": tokens.issue(device)})
    staff = Principal(clinician, Role.CLINICIAN, "est", "s2")
    await doctor.say({"type": "hello", "token": tokens.issue(staff)})
    await patient.say({"type": "join", "appointment": room})
    await patient.expect("waiting")
    await doctor.say({"type": "join", "appointment": room})
    await doctor.expect("room")
    await doctor.say({"type": "admit", "participant": prisoner})
    await patient.expect("admitted")

    await doctor.say({"type": "record_start"})
    await patient.expect("recording")
    await patient.say({"type": "record_answer", "decision": "given", "language": "en"})
    assert (await doctor.expect("recording"))["state"] in ("asking", "on")

    pcs = []
    try:
        # The patient's offer is answered on its own node; the clinician's crosses the bus.
        pcs.append(await offer_media(patient, coturn, room, prisoner, 440, 200))
        pcs.append(await offer_media(doctor, coturn, room, clinician, 1000, 40))
        assert [node for node, _ in services.made] == ["node-a"]
        recorder = services.made[0][1]
        assert [member for member, _, _ in recorder.sides] == [prisoner, clinician]
        for _ in range(600):
            if all(v >= 30 and au >= 100 for _, v, au in recorder.sides):
                break
            await asyncio.sleep(0.1)
        assert all(v >= 30 and au >= 100 for _, v, au in recorder.sides), recorder.sides

        # Stopped from node B: the recorder on A stops and stores one file of both.
        await doctor.say({"type": "record_stop"})
        data = await asyncio.wait_for(services.stored, 120)
    finally:
        for pc in pcs:
            await pc.close()
    with av.open(io.BytesIO(data), "r") as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    pcm = await decode(data, "-ss", "1", "-t", "1", "-ac", "1", "-ar", "48000", "-f", "s16le")
    heard = {f: tone_power(pcm, f) for f in (440, 1000, 700)}
    assert heard[440] > 50 * heard[700] and heard[1000] > 50 * heard[700], heard
    gray = await decode(data, "-ss", "1", "-frames:v", "1", "-pix_fmt", "gray", "-f", "rawvideo")
    assert luma_of(gray, 1280, 0, 640) > 150 and luma_of(gray, 1280, 640, 1280) < 90


async def test_no_node_recording_answers_unavailable(
    nodes: tuple[Hub, Hub, Tokens, FakePolicy, Services], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The room records but no node holds its recorder (it died with its node): the
    member's node asks, nobody answers, the member is told so (and nothing is made)."""
    import signalling.call_recording as call_recording

    monkeypatch.setattr(call_recording, "REMOTE_ANSWER_S", 0.5)
    a, b, tokens, policy, services = nodes
    prisoner, clinician, room = uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex
    policy.book(room, prisoner=prisoner, clinician=clinician, establishment="est")
    patient, doctor = HubClient(a), HubClient(b)
    await patient.say(
        {
            "type": "hello",
            "token": tokens.issue(Principal(prisoner, Role.PRISONER, "est", "s1", device_id="d")),
        }
    )
    await doctor.say(
        {"type": "hello", "token": tokens.issue(Principal(clinician, Role.CLINICIAN, "est", "s2"))}
    )
    await patient.say({"type": "join", "appointment": room})
    await patient.expect("waiting")
    await doctor.say({"type": "join", "appointment": room})
    await doctor.expect("room")
    await doctor.say({"type": "admit", "participant": prisoner})
    await patient.expect("admitted")
    await doctor.say({"type": "record_start"})
    await patient.expect("recording")
    await patient.say({"type": "record_answer", "decision": "given", "language": "en"})
    for _ in range(100):
        if services.made:
            break
        await asyncio.sleep(0.05)
    # Node A loses its recorder (as if it had died with another node).
    a._recorders.clear()
    await doctor.say(
        {"type": "recorder_offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}
    )
    while True:
        body = await asyncio.wait_for(doctor.inbox.get(), 5)
        if body["type"] == "error":
            break
    assert body["code"] == "recording_refused" and body["reason"] == "unavailable"
