"""Pre-call tests: what the server refuses, in words a device can show, changing nothing.

The real app (scheduling's rules, the real test peer) on a loopback port; the
clients speak the protocol of docs/signalling.md ("Pre-call test"). No media
flows here (tests/media/test_echo.py runs whole tests through coturn); the
verdict itself is a pure function, tested last.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FakeClock
from core.config import Settings
from core.identity.passwords import SecretHasher
from media.precall import PrecallDevice, PrecallRefused
from scheduling.tables import test_calls
from signalling.messages.test_call import DeviceCheck
from signalling.test_calls import LinkMeasures, PrecallConfig, judge
from tests.media.conftest import AIORTC_BLOCKING
from tests.media.consults import Booked, book_consult
from tests.world import World, build_world, sign_in_prisoner, sign_in_staff
from web.state import DATABASE, SCHEDULING


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The test peer closes aiortc objects: the library's bounded thread joins are accepted."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        for filename, name in AIORTC_BLOCKING:
            function.can_block_in(filename, name)


@pytest.fixture
async def app(
    settings: Settings, clock: FakeClock, hasher: SecretHasher, precall_clip_dir: Path
) -> Any:
    from web.app import create_app
    from web.test_calls import CLIP_DIR, PRECALL_CONFIG

    app = create_app(settings, clock=clock, hasher=hasher)
    app[CLIP_DIR] = precall_clip_dir
    app[PRECALL_CONFIG] = PrecallConfig(duration_s=2.0, connect_within_s=30.0)
    return app


@pytest.fixture
async def world(client: Any) -> World:
    return await build_world(client.server.app)


async def book_in(client: Any, world: World, clock: FakeClock, hours: float) -> Booked:
    starts = (clock.now() + timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    return await book_consult(client.server.app[SCHEDULING], world, starts_at=starts)


@pytest.fixture
async def sockets(client: Any) -> AsyncIterator[list[PrecallDevice]]:
    made: list[PrecallDevice] = []
    yield made
    for socket in made:
        await socket.close()


async def open_socket(
    client: Any, made: list[PrecallDevice], tokens: dict[str, Any]
) -> PrecallDevice:
    socket = PrecallDevice(str(client.make_url("/ws")), tokens["access_token"], name=str(len(made)))
    made.append(socket)
    await socket.connect()
    return socket


async def device_socket(client: Any, world: World, made: list[PrecallDevice]) -> PrecallDevice:
    return await open_socket(client, made, await sign_in_prisoner(client, world.prisoners[0]))


async def rows(client: Any) -> list[tuple[str | None, str]]:
    """(outcome, device) of every test the store holds."""
    async with client.server.app[DATABASE].connect() as conn:
        found = await conn.execute(
            select(test_calls.c.outcome, test_calls.c.device_id).order_by(test_calls.c.started_at)
        )
        return [(r.outcome, r.device_id) for r in found]


async def refused(socket: PrecallDevice, appointment: str | None = None) -> dict[str, Any]:
    with pytest.raises(PrecallRefused) as caught:
        await socket.start(appointment)
    body = caught.value.body
    assert body["code"] == "test_call_refused"
    assert body["message"] == "You cannot start a test call now."
    return body


async def stop(socket: PrecallDevice, started: dict[str, Any]) -> None:
    await socket.send({"type": "test_stop", "test": started["test"]})


async def settled(client: Any, count: int) -> list[tuple[str | None, str]]:
    """The store once `count` tests are closed (closing runs after the reply)."""
    for _ in range(100):
        found = await rows(client)
        if sum(1 for outcome, _ in found if outcome is not None) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"tests still open: {await rows(client)}")


async def test_no_consult_in_the_next_24_hours_is_refused_and_nothing_is_kept(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    far = await book_in(client, world, clock, hours=30)
    socket = await device_socket(client, world, sockets)
    assert (await refused(socket))["reason"] == "no_consult"
    # Naming the consult does not help, nor naming another prisoner's.
    assert (await refused(socket, far.appointment))["reason"] == "no_consult"
    other = await book_consult(
        client.server.app[SCHEDULING],
        world,
        starts_at=(clock.now() + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0),
        prisoner_index=1,
        service_code="gp2",
    )
    assert (await refused(socket, other.appointment))["reason"] == "no_consult"
    assert await rows(client) == []


async def test_a_fourth_test_in_an_hour_is_refused_until_the_hour_has_passed(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    booked = await book_in(client, world, clock, hours=3)
    socket = await device_socket(client, world, sockets)
    for n in range(3):
        started = await socket.start(booked.appointment)
        await socket.expect("test_offer")
        await stop(socket, started)
        await settled(client, n + 1)
        clock.advance(minutes=5)
    assert (await refused(socket))["reason"] == "too_many"
    assert [outcome for outcome, _ in await rows(client)] == ["aborted"] * 3
    clock.advance(minutes=50)
    started = await socket.start()
    assert started["duration_s"] == 2.0
    await stop(socket, started)
    await settled(client, 4)


async def test_staff_cannot_start_or_feed_a_test_call(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    await book_in(client, world, clock, hours=3)
    for role in ("clinician", "officer", "manager", "admin"):
        socket = await open_socket(client, sockets, await sign_in_staff(client, world.staff[role]))
        assert (await refused(socket))["reason"] == "not_a_device"
        await socket.send({"type": "test_answer", "test": "x", "sdp": "v=0"})
        error = await socket.expect("error")
        assert (error["code"], error["message"]) == (
            "not_allowed",
            "You cannot send this message now.",
        )
    assert await rows(client) == []


async def test_a_second_test_from_the_same_device_is_refused_while_one_runs(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    await book_in(client, world, clock, hours=3)
    first = await device_socket(client, world, sockets)
    started = await first.start()
    await first.expect("test_offer")
    assert (await refused(first))["reason"] == "already_testing"
    # The same device on another socket (a second tab, or a second node).
    second = await device_socket(client, world, sockets)
    assert (await refused(second))["reason"] == "already_testing"
    assert [outcome for outcome, _ in await rows(client)] == [None]
    await stop(first, started)
    assert [outcome for outcome, _ in await settled(client, 1)] == ["aborted"]


async def test_answers_candidates_and_reports_are_checked_and_refusals_change_nothing(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    await book_in(client, world, clock, hours=3)
    socket = await device_socket(client, world, sockets)
    started = await socket.start()
    test = started["test"]
    assert started["relay_only"] is True
    await socket.expect("test_offer")
    host = "candidate:1 1 udp 2122260223 10.0.0.5 50000 typ host"
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"type": "test_answer", "test": "not-this-one", "sdp": "v=0\r\n"}, "not_testing", None),
        ({"type": "test_answer", "test": test, "sdp": "hello"}, "sdp_invalid", None),
        (
            {"type": "test_answer", "test": test, "sdp": f"v=0\r\na={host}\r\n"},
            "candidate_refused",
            None,
        ),
        (
            {"type": "test_answer", "test": test, "sdp": "v=0\r\nm=application 9 x\r\n"},
            "data_channel_refused",
            None,
        ),
        (
            {"type": "test_candidate", "test": test, "candidate": {"candidate": host}},
            "candidate_refused",
            None,
        ),
        (
            {"type": "test_report", "test": test, "check": {"camera": "ok", "microphone": "ok"}},
            "invalid_field",
            "rtt_ms",
        ),
        (
            {"type": "test_report", "test": test, "check": {"camera": "yes", "microphone": "ok"}},
            "invalid_field",
            "check.camera",
        ),
        ({"type": "test_stop", "test": 7}, "invalid_field", "test"),
        # SDP that passes the checks but that the peer cannot use: refused, socket kept.
        (
            {"type": "test_answer", "test": test, "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF\r\n"},
            "sdp_invalid",
            None,
        ),
    ]
    for body, code, field in cases:
        await socket.send(body)
        error = await socket.expect("error")
        assert error["code"] == code, (body, error)
        assert error.get("field") == field, (body, error)
    # The test is still the one running, untouched.
    assert [outcome for outcome, _ in await rows(client)] == [None]
    await stop(socket, started)
    await settled(client, 1)


async def test_a_device_in_its_consult_cannot_start_a_test_on_that_socket(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    booked = await book_in(client, world, clock, hours=1)
    clock.set(booked.starts_at - timedelta(minutes=5))
    socket = await device_socket(client, world, sockets)
    await socket.send({"type": "join", "appointment": booked.appointment})
    assert (await socket.expect("room"))["state"] == "waiting"
    assert (await refused(socket))["reason"] == "in_consult"
    assert await rows(client) == []


async def test_a_device_that_goes_mid_test_aborts_it_and_alerts_nobody(
    client: Any, world: World, clock: FakeClock, sockets: list[PrecallDevice]
) -> None:
    await book_in(client, world, clock, hours=3)
    socket = await device_socket(client, world, sockets)
    await socket.start()
    await socket.expect("test_offer")
    await socket.close()
    assert [outcome for outcome, _ in await settled(client, 1)] == ["aborted"]
    officer = await sign_in_staff(client, world.staff["officer"])
    resp = await client.get(
        "/api/test-call-alerts", headers={"Authorization": f"Bearer {officer['access_token']}"}
    )
    assert await resp.json() == []


# ------------------------------------------------------------------ the verdict

GOOD = LinkMeasures(
    connected=True,
    rtt_ms=40,
    bitrate_kbps=600,
    fps=30,
    width=640,
    height=360,
    video_frames=300,
    audio_packets=500,
)
OK = DeviceCheck("ok", "ok")


def test_both_directions_good_is_good() -> None:
    result = judge(GOOD, GOOD, OK)
    assert (result.outcome, result.camera, result.microphone, result.connection) == (
        "good",
        "ok",
        "ok",
        "good",
    )
    assert result.problems == ()


@pytest.mark.parametrize(
    "worse",
    [
        replace(GOOD, loss_pct=6.0),
        replace(GOOD, rtt_ms=450.0),
        replace(GOOD, jitter_ms=80.0),
        replace(GOOD, bitrate_kbps=120.0),
        replace(GOOD, fps=8.0),
    ],
)
def test_either_direction_past_a_threshold_is_poor(worse: LinkMeasures) -> None:
    for up, down in ((worse, GOOD), (GOOD, worse)):
        result = judge(up, down, OK)
        assert (result.outcome, result.connection, result.problems) == ("poor", "poor", ())


def test_audio_only_is_not_poor_for_its_low_bitrate_but_the_camera_failed() -> None:
    no_video = replace(GOOD, bitrate_kbps=40, fps=0, width=0, height=0, video_frames=0)
    result = judge(no_video, GOOD, DeviceCheck("fail", "ok"))
    assert (result.outcome, result.camera, result.connection) == ("failed", "failed", "good")
    assert result.problems == ("camera",)
    # Without the device's word, no frame arriving says the same.
    assert judge(no_video, GOOD, OK).camera == "failed"


def test_nothing_arriving_either_way_fails_the_connection() -> None:
    nothing = LinkMeasures(connected=True)
    for up, down in ((LinkMeasures(connected=False), None), (GOOD, nothing), (nothing, GOOD)):
        result = judge(up, down, OK)
        assert (result.outcome, result.connection) == ("failed", "failed")
        assert "connection" in result.problems
    # A device that opened neither camera nor microphone sends nothing: the path is judged
    # by what came back, and the camera and microphone are what failed.
    silent = judge(nothing, GOOD, DeviceCheck("fail", "fail"))
    assert (silent.connection, silent.problems) == ("good", ("camera", "microphone"))
    # With the link down, the camera and microphone are not known, unless the device knew.
    unknown = judge(LinkMeasures(connected=False), None, DeviceCheck("ok", "fail"))
    assert (unknown.camera, unknown.microphone) == ("unknown", "failed")
