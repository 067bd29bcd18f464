"""Four people in a consult, then the recorder too: the device's worst case (issue 18 item 1).

The device (the patient), the health worker, an interpreter and a chaperone (her page in
Welsh) are all admitted; each page receives sound and pictures from each of the three
others (`getStats`), every tile says whose it is, and a fifth person is told the consult is
full. The patient then agrees to recording, so the device sends to three people and the
recorder at once: every sender of every link carries a cap (upstream.js), the caps add up to
at most 1,500 kbit/s, and what the device sends over a measured interval, read from
`getStats` of every peer connection the page made, is at or under 1,500 kbit/s (printed).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from core.clock import FakeClock
from core.identity import Principal, Role
from tests.browser.conftest import (
    LiveFactory,
    PageWatch,
    check_accessibility,
    new_page,
    screenshot,
)
from tests.browser.journeys import PEERS_WATCHED
from tests.browser.seed import ConsultWorld, consult_world
from tests.browser.test_consult import run_consult
from tests.browser.test_third_parties import (
    growing,
    live_with_turn,
    sign_in_attendee,
    sound_only,
)
from tests.media.consults import principal_of
from tests.turn import Turn
from tests.world import Staff, new_staff
from web.state import SCHEDULING, SIGNALLING

pytestmark = pytest.mark.slow

UPSTREAM_KBPS = 1500
CY = json.loads((Path(__file__).resolve().parents[2] / "web/i18n/cy.json").read_text("utf-8"))


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    """The recorder is aiortc in this process (see test_consult_recording.py)."""
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        function.can_block_in("aiortc/rtcrtpreceiver.py", "__stop_decoder")


# The device's camera sends noise (a few frames of it, in turn): a picture no encoder can
# squeeze, so every link would take all it is let (the fake camera's is easy to squeeze).
NOISY_CAMERA = """(() => {
  const native = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    if (!constraints || !constraints.video) return native(constraints);
    const tracks = [];
    if (constraints.audio) {
      tracks.push(...(await native({ audio: constraints.audio })).getAudioTracks());
    }
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 360;
    const g = canvas.getContext("2d");
    const frames = [];
    for (let n = 0; n < 6; n++) {
      const frame = g.createImageData(640, 360);
      for (let i = 0; i < frame.data.length; i += 4) {
        const v = (Math.random() * 256) | 0;
        frame.data[i] = v;
        frame.data[i + 1] = (v * 7) & 255;
        frame.data[i + 2] = (v * 13) & 255;
        frame.data[i + 3] = 255;
      }
      frames.push(frame);
    }
    let n = 0;
    setInterval(() => g.putImageData(frames[n++ % frames.length], 0, 0), 40);
    tracks.push(...canvas.captureStream(25).getVideoTracks());
    return new MediaStream(tracks);
  };
})();"""

# On the device: bytes sent by every open peer connection the page made (PEERS_WATCHED),
# the media's (outbound-rtp, payload and headers) and the wire's (the transport's).
SENT = """async () => {
  const out = [];
  for (const [i, pc] of (window.tcPeers || []).entries()) {
    if (pc.connectionState === "closed") continue;
    const row = { i, media: 0, wire: 0 };
    (await pc.getStats()).forEach((r) => {
      if (r.type === "outbound-rtp") row.media += (r.bytesSent || 0) + (r.headerBytesSent || 0);
      if (r.type === "transport") row.wire += r.bytesSent || 0;
    });
    out.push(row);
  }
  return { at: performance.now(), links: out };
}"""

# On the device: the caps on every sender of every open peer connection, with the kind of
# link upstream.js knows it as (null: a link it does not know, which would be uncapped).
CAPS = """() => {
  const kinds = new Map();
  const links = window.tcUpstream ? window.tcUpstream.links : new Map();
  for (const link of links.values()) kinds.set(link.pc, link.kind);
  const open = (window.tcPeers || []).filter((pc) => pc.connectionState !== "closed");
  return open.map((pc) => ({
    kind: kinds.get(pc) || null,
    senders: pc.getTransceivers()
      .filter((t) => !t.stopped && t.direction !== "recvonly")
      .map((t) => ({
        media: t.receiver.track.kind,
        sending: Boolean(t.sender.track),
        encodings: t.sender.getParameters().encodings.map((e) => ({
          maxBitrate: e.maxBitrate || null, scale: e.scaleResolutionDownBy || 1, active: e.active,
        })),
      })),
  }));
}"""


async def device_upstream(page: Any, seconds: float = 5.0) -> dict[str, Any]:
    """What the device sent over `seconds`, in kbit/s: in all, and per link."""
    before = await asyncio.wait_for(page.evaluate(SENT), 10)
    await asyncio.sleep(seconds)
    after = await asyncio.wait_for(page.evaluate(SENT), 10)
    span = (after["at"] - before["at"]) / 1000
    was = {row["i"]: row for row in before["links"]}
    per_link = [
        {
            "media": (row["media"] - was[row["i"]]["media"]) * 8 / 1000 / span,
            "wire": (row["wire"] - was[row["i"]]["wire"]) * 8 / 1000 / span,
        }
        for row in after["links"]
        if row["i"] in was
    ]
    return {
        "links": len(per_link),
        "media_kbps": round(sum(r["media"] for r in per_link), 1),
        "wire_kbps": round(sum(r["wire"] for r in per_link), 1),
        "per_link_media_kbps": [round(r["media"], 1) for r in per_link],
        "per_link_wire_kbps": [round(r["wire"], 1) for r in per_link],
        "seconds": round(span, 2),
    }


async def admitted(
    live: Any,
    world: ConsultWorld,
    browser: Any,
    watch: PageWatch,
    clinician: Any,
    staff: Staff,
    role: str,
    cy: bool,
) -> Any:
    """A third party signs in, joins from /attend (in Welsh if `cy`) and is admitted."""
    page = await new_page(browser, watch)
    await sign_in_attendee(page, live, staff)
    join, in_call = "Join", "You are in the consult."
    if cy:
        await page.locator("#lang-switch").click()
        await page.wait_for_selector("html[lang='cy'] body[data-ready='true']")
        await page.locator("#screen-list:not([hidden])").wait_for()
        join, in_call = CY["attend.join"], CY["attend.in_call"]
    card = page.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("button", name=join).click()
    await clinician.get_by_role("button", name=f"Admit: {role}").click()
    await page.get_by_text(in_call).wait_for()
    return page


async def recorder_has_both_sides(live: Any, world: ConsultWorld, within: float = 60) -> None:
    sides: list[Any] = []
    for _ in range(int(within * 5)):
        held = live.app[SIGNALLING]._recorders.get(world.appointment_id)
        handle = held.handle if held is not None else None
        sides = handle.sides if handle is not None else []
        members = {member for member, video, audio in sides if video > 40 and audio > 100}
        if members >= {world.clinician.account_id, world.prisoner.account_id}:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the recorder did not get both sides: {sides}")


async def labels(page: Any) -> list[str]:
    return sorted(await page.locator("#call-tiles figcaption").all_inner_texts())


@pytest.mark.timeout(420)
@pytest.mark.parametrize("store_kind", ["sqlite"])
async def test_four_people_then_the_recorder_within_the_devices_upstream(
    make_live: LiveFactory, browser: Any, coturn: Turn, clock: FakeClock, axe_source: str
) -> None:
    live = await live_with_turn(make_live, coturn, clock)
    world = await consult_world(live.app, relay_only=True)
    interpreter = await new_staff(live.app, Role.INTERPRETER, "ines.interp", world.est)
    chaperone = await new_staff(live.app, Role.CHAPERONE, "cerys.chap", world.est)
    fifth = await new_staff(live.app, Role.INTERPRETER, "ivan.interp", world.est)
    await live.app[SCHEDULING].set_attendees(
        principal_of(world.clinician),
        world.appointment_id,
        [interpreter.account_id, chaperone.account_id, fifth.account_id],
    )
    # The booking's answer to recording (as test_consult_recording.py gives it).
    manager = Principal(world.manager.account_id, Role.MANAGER, world.est, session_id="")
    await live.app[SCHEDULING].record_consent(
        manager,
        prisoner_id=world.prisoner.account_id,
        scope_value="recording",
        version=2,
        decision="given",
        appointment_id=world.appointment_id,
    )

    async def watched(page: Any) -> None:
        await page.add_init_script(PEERS_WATCHED)
        await page.add_init_script(NOISY_CAMERA)

    clinician, device = await run_consult(live, world, browser, None, "four-", watched)
    watch = PageWatch()
    interp = await admitted(
        live, world, browser, watch, clinician, interpreter, "Interpreter", False
    )
    chap = await admitted(live, world, browser, watch, clinician, chaperone, "Chaperone", True)

    # Sound and pictures flow between every pair: each page, from each of the three others.
    await growing(device, {"main", "interpreter", "chaperone"})
    await growing(clinician, {"main", "interpreter", "chaperone"})
    await growing(interp, {"clinician", "patient", "chaperone"})
    await growing(chap, {"clinician", "patient", "interpreter"})

    # Every tile says whose it is (the chaperone's page in Welsh).
    assert await device.locator("p.tile-label").inner_text() == "Health worker"
    assert await clinician.locator("p.tile-label").inner_text() == "Patient"
    assert await labels(device) == ["Chaperone", "Interpreter"]
    assert await labels(clinician) == ["Chaperone", "Interpreter"]
    assert await labels(interp) == ["Chaperone", "Health worker", "Patient"]
    assert await labels(chap) == sorted(
        CY[f"consult.role_{r}"] for r in ("clinician", "patient", "interpreter")
    )
    for page, name in (
        (device, "device"),
        (clinician, "clinician"),
        (interp, "interpreter"),
        (chap, "chaperone-cy"),
    ):
        await check_accessibility(page, axe_source, f"four people: {name}")
        await screenshot(page, f"four-{name}")

    # A fifth person is told, in words, that the consult is full; the four go on.
    late = await new_page(browser, watch)
    await sign_in_attendee(late, live, fifth)
    card = late.locator(f"li[data-appointment='{world.appointment_id}']")
    await card.get_by_role("button", name="Join").click()
    await late.get_by_text("This consult already has four people: nobody else can join.").wait_for()
    assert await clinician.get_by_role("button", name="Admit: Interpreter").count() == 0
    await check_accessibility(late, axe_source, "a fifth person refused")
    await screenshot(late, "four-fifth-refused")
    assert await labels(device) == ["Chaperone", "Interpreter"]

    # The patient agrees to recording: four people and the recorder, the device's worst case.
    await clinician.get_by_role("button", name="Record this consult").click()
    try:
        await (
            clinician.locator("#recording-status").get_by_text("on their device whether").wait_for()
        )
        question = device.get_by_role("alertdialog", name="May this appointment be recorded?")
        await question.get_by_role("button", name="Yes, record it").click()
    except Exception:
        await screenshot(device, "four-failed-device")
        await screenshot(clinician, "four-failed-clinician")
        raise
    await (
        device.locator("#recording-on").get_by_text("This appointment is being recorded").wait_for()
    )
    await clinician.locator("#recording-on").get_by_text("Recording this consult").wait_for()
    await recorder_has_both_sides(live, world)
    await growing(device, {"main", "interpreter", "chaperone"})

    # Every sender of the device's four links is capped, within 1,500 kbit/s in all; the
    # health worker's picture gets the most, the third parties' a quarter of the pixels.
    caps = await device.evaluate(CAPS)
    print(json.dumps({"device_caps": caps}), flush=True)
    assert sorted(c["kind"] for c in caps) == ["main", "recorder", "third", "third"], caps
    encodings = [e for c in caps for s in c["senders"] for e in s["encodings"]]
    assert all(e["maxBitrate"] for e in encodings), caps
    assert sum(e["maxBitrate"] for e in encodings if e["active"]) <= UPSTREAM_KBPS * 1000
    video = {
        c["kind"]: s["encodings"][0] for c in caps for s in c["senders"] if s["media"] == "video"
    }
    assert video["main"]["maxBitrate"] > video["recorder"]["maxBitrate"]
    assert video["recorder"]["maxBitrate"] > video["third"]["maxBitrate"]
    assert video["third"]["scale"] == 2 and video["main"]["scale"] == 1

    # Measured: what the device sends to all four, from getStats. On a loaded machine the
    # fallback ladder may have put the main pair on sound only: video back on first, so that
    # the worst case is what is measured.
    ladder = await sound_only(device)
    if ladder:
        await clinician.get_by_role("button", name="Video back on").click()
        await device.locator("#call-mode").wait_for(state="hidden")
    sent = await device_upstream(device)
    sent["sound_only_before"] = ladder
    sent["sound_only_after"] = await sound_only(device)
    print(json.dumps({"people": 4, "recorder": True, "device_upstream": sent}), flush=True)
    assert sent["links"] == 4 and all(kbps > 0 for kbps in sent["per_link_media_kbps"]), sent
    assert sent["media_kbps"] <= UPSTREAM_KBPS and sent["wire_kbps"] <= UPSTREAM_KBPS, sent
    await check_accessibility(device, axe_source, "four people, recording: device")
    await screenshot(device, "four-device-recording")
    await screenshot(clinician, "four-clinician-recording")

    await clinician.get_by_role("button", name="Stop recording").click()
    await device.locator("#recording-on").wait_for(state="hidden")
    assert watch.problems == []
