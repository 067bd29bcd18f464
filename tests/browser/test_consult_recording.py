"""Recording a consult between two Chromiums, with the real recorder, end to end.

Each browser's camera and microphone are replaced by a picture of its own brightness and
a tone of its own pitch (an init script over `getUserMedia`), so the recording can be
checked for both sides: the clinician asks, the device confirms, both screens show that it
records, each page sends its media to the server's recorder through coturn (the device
relay-only), the device withdraws and both screens show it stopped at once; the file then
plays in the clinician's browser, both tones are in its sound (PyAV, a spectrum per tone)
and both pictures in its video, its digest is the one in the audit event, the bytes at
rest are not the file, and once the patient is shredded it does not play. In Welsh: the
question and the indicator, a reload of the device mid-recording still showing it, and the
clinician stopping it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from typing import Any

import av
import pytest

from audit.review import ReviewQuery, search
from core.clock import FakeClock
from core.events import Action
from core.identity import Principal, Role
from media.recordings import Recording
from scheduling.types import Decision, Scope
from tests.browser.conftest import Kiosks, LiveFactory, check_accessibility, screenshot
from tests.browser.journeys import Journey, both_screens, in_a_call, journey, media_flows
from tests.browser.seed import ConsultWorld
from tests.browser.test_recordings import _plays
from tests.media.sources import luma_of, tone_power
from tests.turn import Turn
from web.recordings_api import RECORDINGS
from web.state import AUDIT, SCHEDULING, SIGNALLING

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The recorder is aiortc in this process: its receivers join their decoder threads when
    they stop, a short bounded wait the media tests accept too (tests/media/conftest.py)."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        function.can_block_in("aiortc/rtcrtpreceiver.py", "__stop_decoder")


CLINICIAN_SIDE = (440, 60)
DEVICE_SIDE = (1000, 200)
"""Each side's tone (Hz) and picture brightness (luma)."""

FAKE_MEDIA = """(() => {
  const TONE = %d, LUMA = %d;
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const tracks = [];
    if (constraints && constraints.audio) {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = TONE;
      const gain = ctx.createGain();
      gain.gain.value = 0.4;
      const dest = ctx.createMediaStreamDestination();
      osc.connect(gain).connect(dest);
      osc.start();
      ctx.resume().catch(() => {});
      (window.tcTones = window.tcTones || []).push(ctx);
      tracks.push(...dest.stream.getAudioTracks());
    }
    if (constraints && constraints.video) {
      const canvas = document.createElement("canvas");
      canvas.width = 640;
      canvas.height = 360;
      const g = canvas.getContext("2d");
      let x = 0;
      setInterval(() => {
        g.fillStyle = `rgb(${LUMA},${LUMA},${LUMA})`;
        g.fillRect(0, 0, 640, 360);
        g.fillStyle = `rgb(${LUMA + 8},${LUMA + 8},${LUMA + 8})`;
        g.fillRect(x, 170, 20, 20);
        x = (x + 4) %% 620;
      }, 40);
      tracks.push(...canvas.captureStream(25).getVideoTracks());
    }
    return new MediaStream(tracks);
  };
})();"""


async def recording_journey(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, **kw: Any
) -> Journey:
    j = await journey(make_live, kiosks, coturn, clock, **kw)
    j.clinician.kiosk.init_script = (j.clinician.kiosk.init_script or "") + (
        FAKE_MEDIA % CLINICIAN_SIDE
    )
    j.device.kiosk.init_script = (j.device.kiosk.init_script or "") + FAKE_MEDIA % DEVICE_SIDE
    await yes_at_booking(j)
    return j


async def yes_at_booking(j: Journey) -> None:
    """The booking's answer, witnessed by staff: the clinician may ask on the device."""
    world: ConsultWorld = j.world
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, session_id="")
    await j.live.app[SCHEDULING].record_consent(
        manager,
        prisoner_id=world.prisoner.account_id,
        scope_value="recording",
        version=2,
        decision="given",
        appointment_id=world.appointment_id,
    )


def patient_on_device(j: Journey) -> Principal:
    prisoner = j.world.prisoner
    return Principal(
        prisoner.account_id, Role.PRISONER, j.world.est, session_id="", device_id=prisoner.device_id
    )


def recorder_of(j: Journey) -> Any:
    held = j.live.app[SIGNALLING]._recorders.get(j.world.appointment_id)
    return held.handle if held is not None else None


async def both_sides_recorded(j: Journey, within: float = 30) -> None:
    """The recorder has received pictures and sound from both pages."""
    for _ in range(int(within * 5)):
        recorder = recorder_of(j)
        sides = recorder.sides if recorder is not None else []
        members = {member for member, video, audio in sides if video > 40 and audio > 100}
        if members >= {j.world.clinician.account_id, j.world.prisoner.account_id}:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the recorder did not get both sides: {sides}; {j.watch.problems}")


async def stored(j: Journey, within: float = 60) -> Recording:
    clinician = Principal(j.world.clinician.account_id, Role.CLINICIAN, j.world.est, session_id="")
    recordings = j.live.app[RECORDINGS]
    for _ in range(int(within * 5)):
        found = await recordings.of_appointment(clinician, j.world.appointment_id)
        if found:
            first: Recording = found[0]
            return first
        await asyncio.sleep(0.2)
    raise AssertionError("no recording was stored")


async def audit_trail(j: Journey) -> list[dict[str, Any]]:
    """The appointment's audit events, oldest first, as its manager reads them."""
    manager = Principal(j.world.manager.account_id, Role.MANAGER, j.world.est, session_id="")
    query = ReviewQuery(appointment=j.world.appointment_id, limit=200)
    return list(reversed(await search(j.live.app[AUDIT], manager, query)))


async def audit_of(j: Journey, action: Action) -> list[dict[str, Any]]:
    return [e["details"] for e in await audit_trail(j) if e["action"] == action.value]


def sound_and_pictures(data: bytes) -> tuple[dict[int, float], list[float], tuple[int, int]]:
    """The file's tone powers (at each side's pitch and one between), and its two halves'
    brightness, decoded with PyAV."""
    with av.open(io.BytesIO(data), mode="r") as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        pcm = bytearray()
        gray = bytearray()
        size = (0, 0)
        for sound in container.decode(audio=0):
            assert isinstance(sound, av.AudioFrame)
            for out in resampler.resample(sound):
                pcm += bytes(out.planes[0])[: out.samples * 2]
    with av.open(io.BytesIO(data), mode="r") as container:
        for n, frame in enumerate(container.decode(video=0)):
            if n % 10 or not isinstance(frame, av.VideoFrame):
                continue
            size = (frame.width, frame.height)
            plane = frame.reformat(format="gray").planes[0]
            raw, stride = bytes(plane), plane.line_size
            for row in range(frame.height):
                gray += raw[row * stride : row * stride + frame.width]
    # Skip the first second (the far side may join a moment later).
    samples = bytes(pcm[48000 * 2 :])
    powers = {f: tone_power(samples, f) for f in (CLINICIAN_SIDE[0], DEVICE_SIDE[0], 700)}
    width = size[0]
    halves = [
        luma_of(bytes(gray), width, 0, width // 2),
        luma_of(bytes(gray), width, width // 2, width),
    ]
    return powers, halves, size


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_recorded_with_the_patients_yes_withdrawn_at_once_then_played_back(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    j = await recording_journey(make_live, kiosks, coturn, clock)
    await in_a_call(j)
    clinician, device = j.clinician.page, j.device.page

    # The clinician asks; the device is asked, in words, and nothing records yet.
    await clinician.get_by_role("button", name="Record this consult").click()
    question = device.get_by_role("alertdialog", name="May this appointment be recorded?")
    await question.wait_for()
    await clinician.locator("#recording-status").get_by_text("on their device whether").wait_for()
    assert recorder_of(j) is None
    await both_screens(j, "recording-asked", axe_source)

    await question.get_by_role("button", name="Yes, record it").click()
    await (
        device.locator("#recording-on").get_by_text("This appointment is being recorded").wait_for()
    )
    await clinician.locator("#recording-on").get_by_text("Recording this consult").wait_for()
    await both_sides_recorded(j)
    await media_flows(j)  # the consult itself goes on
    await both_screens(j, "recording-on", axe_source)

    # Withdrawn on the device: off on both screens at once, and the recorder stops.
    await device.get_by_role("button", name="Stop recording now").click()
    await device.locator("#recording-on").wait_for(state="hidden", timeout=2000)
    await clinician.locator("#recording-on").wait_for(state="hidden", timeout=2000)
    await clinician.get_by_text("The patient stopped the recording").wait_for(timeout=2000)
    await device.get_by_text("You stopped the recording. It will not start again.").wait_for()
    await both_screens(j, "recording-withdrawn", axe_source)
    assert not await j.live.app[SCHEDULING].recording_allowed(j.world.appointment_id)
    # Not started again without the patient: the clinician's request is refused, in words.
    await clinician.get_by_role("button", name="Record this consult").click()
    await clinician.get_by_text("withdrew consent to recording").wait_for()
    assert await device.locator("#recording-ask").is_hidden()

    rec = await stored(j)
    actions = [e["action"] for e in await audit_trail(j)]
    for step in (
        "recording_requested",
        "consent_given",
        "recording_started",
        "recording_stopped",
        "consent_withdrawn",
        "recording_stored",
    ):
        assert step in actions, (step, actions)

    # Played back in the clinician's browser: it plays; both sides are heard and seen.
    player = await j.clinician.kiosk.context.new_page()
    await player.goto(j.clinician.url(f"/recordings?appointment={j.world.appointment_id}"))
    await player.wait_for_selector("#screen-recordings:not([hidden]) video.recording-player")
    state = await _plays(player)
    assert state["error"] is None and state["duration"] > 2
    file = await player.evaluate(
        """async url => {
            const r = await fetch(url, {credentials: 'same-origin'});
            const b = new Uint8Array(await r.arrayBuffer());
            let s = '';
            for (let i = 0; i < b.length; i += 8192) {
                s += String.fromCharCode(...b.subarray(i, i + 8192));
            }
            return btoa(s);
        }""",
        f"/api/recordings/{rec.id}/media",
    )
    data = base64.b64decode(file)
    [event] = await audit_of(j, Action.RECORDING_STORED)
    assert hashlib.sha256(data).hexdigest() == event["sha256"] == rec.sha256
    powers, halves, size = await asyncio.to_thread(sound_and_pictures, data)
    assert powers[440] > 20 * powers[700], powers
    assert powers[1000] > 20 * powers[700], powers
    assert size == (1280, 360), size
    assert abs(min(halves) - CLINICIAN_SIDE[1]) < 25 and abs(max(halves) - DEVICE_SIDE[1]) < 25, (
        halves
    )
    # At rest: not the file.
    at_rest = b"".join([p async for p in j.live.app[RECORDINGS].stored_object(rec.id)])
    assert data[:4096] not in at_rest and data[-4096:] not in at_rest
    assert hashlib.sha256(at_rest).hexdigest() == event["stored_sha256"] != event["sha256"]
    await check_accessibility(player, axe_source, "recording: played back by the clinician")
    await screenshot(player, "recording-played-back")

    # The patient is shredded: the recording no longer plays.
    await j.live.app[AUDIT].shred(j.world.prisoner.account_id, "admin-test")
    await player.reload()
    await player.get_by_text("This recording can no longer be played").wait_for()
    status = await player.evaluate(
        "async url => (await fetch(url, {credentials: 'same-origin'})).status",
        f"/api/recordings/{rec.id}/media",
    )
    assert status == 410
    await screenshot(player, "recording-shredded")
    assert j.watch.problems == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_in_welsh_asked_confirmed_still_shown_after_reloads_and_stopped(
    make_live: LiveFactory, kiosks: Kiosks, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    j = await recording_journey(make_live, kiosks, coturn, clock, device_locale="cy-GB")
    await in_a_call(j)
    clinician, device = j.clinician.page, j.device.page
    for page in (clinician, device):
        if await page.evaluate("document.documentElement.lang") != "cy":
            await page.locator("#lang-switch").click()
            await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
    await clinician.wait_for_selector("#screen-list:not([hidden]), #screen-call:not([hidden])")
    if await clinician.locator("#screen-call").is_hidden():
        row = clinician.locator(f"tr[data-appointment='{j.world.appointment_id}']")
        await row.locator("button[data-open]").click()
    await device.wait_for_selector("#step-call:not([hidden])", timeout=15000)
    await clinician.wait_for_selector("#screen-call:not([hidden])")
    await media_flows(j)

    await clinician.get_by_role("button", name="Recordio'r ymgynghoriad hwn").click()
    question = device.get_by_role("alertdialog", name="A ellir recordio'r apwyntiad hwn?")
    await question.wait_for()
    await both_screens(j, "recording-asked-cy", axe_source)
    await question.get_by_role("button", name="Ie, recordiwch ef").click()
    await device.get_by_text("Mae'r apwyntiad hwn yn cael ei recordio").wait_for()
    await clinician.get_by_text("Yn recordio'r ymgynghoriad hwn").wait_for()
    await both_sides_recorded(j)
    await both_screens(j, "recording-on-cy", axe_source)
    [given] = [
        r
        for r in await j.live.app[SCHEDULING].consents_of(
            patient_on_device(j),
            j.world.prisoner.account_id,
        )
        if r.scope is Scope.RECORDING and r.device_id is not None
    ]
    # The device's yes, in the language it was asked in, for this appointment only.
    assert (given.decision, given.appointment_id) == (Decision.GIVEN, j.world.appointment_id)

    # The device reloads mid-recording: back in the call, the indicator shown.
    await device.reload()
    await device.wait_for_selector("#step-call:not([hidden])", timeout=15000)
    await device.get_by_text("Mae'r apwyntiad hwn yn cael ei recordio").wait_for()
    await clinician.get_by_text("Yn recordio'r ymgynghoriad hwn").wait_for()
    await both_screens(j, "recording-reloaded-cy", axe_source)

    # The clinician stops it: off on both screens.
    await clinician.get_by_role("button", name="Stopio recordio").click()
    await clinician.locator("#recording-on").wait_for(state="hidden", timeout=2000)
    await device.locator("#recording-on").wait_for(state="hidden", timeout=2000)
    await device.get_by_text("Mae'r gweithiwr iechyd wedi stopio recordio.").wait_for()
    await both_screens(j, "recording-stopped-cy", axe_source)
    rec = await stored(j)
    assert rec.duration_ms > 2000
    assert j.watch.problems == []
