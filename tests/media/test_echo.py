"""Pre-call tests through the real server: a Python device, the real test peer, coturn.

The device is relay-only with the TURN credentials the server gave it for its
consult, and so is the peer: the media take the consult's path through
coturn. The fake clock is in the future so coturn accepts the expiries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.config import Settings
from core.identity.passwords import SecretHasher
from media.peer import candidate_types
from media.precall import PrecallDevice
from media.tracks import LocalMedia, ToneAudioTrack
from signalling.test_calls import PrecallConfig
from tests.media.conftest import Coturn
from tests.media.consults import Booked, book_consult
from tests.world import World, bearer, build_world, sign_in_prisoner, sign_in_staff
from web.state import SCHEDULING

pytestmark = pytest.mark.slow

CONSULT_AT = datetime(2030, 3, 6, 14, 0, tzinfo=UTC)
CONFIG = PrecallConfig(duration_s=3.0, connect_within_s=8.0, report_within_s=8.0)


@pytest.fixture
def settings(settings: Settings, coturn: Coturn) -> Settings:
    return replace(settings, turn_urls=(coturn.url,), turn_secret=coturn.secret)


@pytest.fixture
def clock() -> FakeClock:
    # Four hours before the consult: inside the 24 hours a device may test in.
    return FakeClock(CONSULT_AT - timedelta(hours=4))


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, hasher: SecretHasher, precall_clip_dir: Path
) -> Any:
    from web.app import create_app
    from web.test_calls import CLIP_DIR, PRECALL_CONFIG

    app = create_app(settings, clock=clock, hasher=hasher)
    app[CLIP_DIR] = precall_clip_dir
    app[PRECALL_CONFIG] = CONFIG
    return app


@pytest.fixture
async def world(client: Any) -> World:
    return await build_world(client.server.app)


@pytest.fixture
async def booked(client: Any, world: World) -> Booked:
    return await book_consult(client.server.app[SCHEDULING], world, starts_at=CONSULT_AT)


@pytest.fixture
async def devices(client: Any, booked: Booked) -> AsyncIterator[list[PrecallDevice]]:
    made: list[PrecallDevice] = []
    yield made
    for device in made:
        await device.close()


async def a_device(
    client: Any, booked: Booked, made: list[PrecallDevice], **kw: Any
) -> PrecallDevice:
    tokens = await sign_in_prisoner(client, booked.prisoner)
    device = PrecallDevice(str(client.make_url("/ws")), tokens["access_token"], **kw)
    made.append(device)
    await device.connect()
    return device


class Staff:
    """What staff see, each signed in once per test.

    A TOTP code works once, and the test's clock stands still.
    """

    def __init__(self, client: Any, world: World, booked: Booked) -> None:
        self.client, self.world, self.booked = client, world, booked
        self._tokens: dict[str, dict[str, Any]] = {}

    async def tokens(self, who: str) -> dict[str, Any]:
        if who not in self._tokens:
            self._tokens[who] = await sign_in_staff(self.client, self.world.staff[who])
        return self._tokens[who]

    async def get(self, who: str, path: str, **params: str) -> Any:
        resp = await self.client.get(path, params=params, headers=bearer(await self.tokens(who)))
        return resp.status, await resp.json()

    async def alerts(self, who: str = "officer") -> Any:
        status, body = await self.get(who, "/api/test-call-alerts")
        assert status == 200, body
        return body

    async def listed(self) -> Any:
        """The booked consult as its clinician's list shows it."""
        window = {
            "from": (CONSULT_AT - timedelta(hours=1)).isoformat(),
            "to": (CONSULT_AT + timedelta(hours=1)).isoformat(),
        }
        status, body = await self.get("clinician", "/api/appointments", **window)
        assert status == 200, body
        return {a["id"]: a for a in body}[self.booked.appointment]

    async def audit(self, action: str) -> list[dict[str, Any]]:
        status, body = await self.get("manager", "/api/audit/events", action=action)
        assert status == 200, body
        events: list[dict[str, Any]] = body["events"] if isinstance(body, dict) else body
        return events


@pytest.fixture
def staff(client: Any, world: World, booked: Booked) -> Staff:
    return Staff(client, world, booked)


async def test_a_device_tests_its_consults_path_through_turn_and_gets_the_clip_back(
    client: Any, booked: Booked, devices: list[PrecallDevice], staff: Staff
) -> None:
    device = await a_device(client, booked, devices)
    result = await device.run()
    assert result["outcome"] == "good", result
    assert (result["camera"], result["microphone"], result["connection"]) == ("ok", "ok", "good")
    up, down = result["measures"]["to_service"], result["measures"]["to_device"]
    # The peer decoded the device's 640x360 pattern; the device decoded the peer's clip.
    assert (up["width"], up["height"]) == (640, 360)
    assert up["fps"] > 15 and up["audio_packets"] > 50
    assert (down["width"], down["height"]) == (640, 360)
    assert down["fps"] > 15 and down["bitrate_kbps"] > 150
    assert device.pc is not None
    assert candidate_types(device.pc.localDescription.sdp) == {"relay"}
    started = next(m for m in device.received if m["type"] == "test_call_started")
    username = started["ice_servers"][0]["username"]
    assert username.endswith(f":{booked.appointment}:{booked.prisoner.account_id}")
    # The device's credentials end with the test, not with the consult hours later.
    assert int(username.split(":")[0]) <= int(
        (CONSULT_AT - timedelta(hours=4, minutes=-5)).timestamp()
    )

    listed = await staff.listed()
    assert listed["test_call"]["outcome"] == "good"
    assert listed["test_call"]["camera"] == "ok"
    assert await staff.alerts() == []
    events = await staff.audit("test_call_completed")
    assert len(events) == 1
    details = events[0]["details"]
    assert (details["outcome"], details["cell"], details["wing"]) == ("good", "W0-01", "W")
    assert events[0]["appointment_id"] == booked.appointment


async def audio_only() -> LocalMedia:
    return LocalMedia(audio=ToneAudioTrack(), video=None)


async def test_a_missing_camera_fails_the_test_and_alerts_the_wing_until_a_test_passes(
    client: Any,
    world: World,
    booked: Booked,
    devices: list[PrecallDevice],
    staff: Staff,
    clock: FakeClock,
) -> None:
    broken = await a_device(
        client, booked, devices, source=audio_only, check={"camera": "fail", "microphone": "ok"}
    )
    result = await broken.run()
    assert (result["outcome"], result["camera"], result["microphone"]) == ("failed", "failed", "ok")
    assert result["problems"] == ["camera"]
    assert result["measures"]["to_service"]["video_frames"] == 0
    assert result["measures"]["to_service"]["audio_packets"] > 50

    shown = await staff.alerts()
    assert [(a["wing"], a["cell"], a["problems"]) for a in shown] == [("W", "W0-01", ["camera"])]
    assert shown[0]["consult_at"] == CONSULT_AT.isoformat()
    assert set(shown[0]) == {"id", "at", "wing", "cell", "problems", "consult_at"}
    # Another establishment's officer sees none of it, and asking answers as for a
    # missing establishment (issue 13: one they do not serve is 404).
    assert await staff.alerts("officer2") == []
    status, _ = await staff.get("officer2", "/api/test-call-alerts", establishment_id=world.est)
    assert status == 404
    # A clinician may not read the officers' list.
    status, _ = await staff.get("clinician", "/api/test-call-alerts")
    assert status == 403
    assert (await staff.listed())["test_call"]["camera"] == "failed"

    clock.advance(minutes=10)  # an officer fixes the camera; the prisoner tests again
    fixed = await a_device(client, booked, devices)
    assert (await fixed.run())["outcome"] == "good"
    assert await staff.alerts() == []


async def test_a_path_that_never_connects_fails_the_connection_and_alerts(
    client: Any, booked: Booked, devices: list[PrecallDevice], staff: Staff
) -> None:
    device = await a_device(client, booked, devices, answer=False)
    result = await device.run()
    assert (result["outcome"], result["connection"]) == ("failed", "failed")
    assert result["problems"] == ["connection"]
    shown = await staff.alerts()
    assert [(a["cell"], a["problems"]) for a in shown] == [("W0-01", ["connection"])]
