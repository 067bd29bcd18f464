"""Recording on the wire: the clinician asks, the patient's device confirms, everyone in the
room sees it, a withdrawal stops the recorder at once; every refusal changes nothing.

The consent store is a small stand-in (the join policy here is a fake whose appointments
are not in the database; scheduling's own `recording_standing` is tested in
tests/scheduling/test_recording_consent.py, and the browser test runs the real one). The
recorder is whatever `RECORDER_FACTORY` makes: here one that notes when it was started and
stopped, so the test sees the stop come before anything else the patient sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.events import Action
from core.identity import Principal
from tests.signalling.conftest import (
    BUSES,
    SDP,
    FakePolicy,
    Peer,
    audit_records,
    book_consult,
    in_call,
    open_peer,
)

ON_BOTH_BUSES = pytest.mark.parametrize("bus_kind", BUSES, indirect=True)


@dataclass
class Consents:
    standing_of: dict[str, str] = field(default_factory=dict)
    answers: list[tuple[str, str, bool, str]] = field(default_factory=list)
    withdrawn: list[tuple[str, str]] = field(default_factory=list)

    async def standing(self, appointment_id: str) -> str:
        return self.standing_of.get(appointment_id, "none")

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None:
        self.answers.append((principal.account_id, appointment_id, given, language))
        self.standing_of[appointment_id] = "given" if given else "declined"

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        self.withdrawn.append((principal.account_id, appointment_id))
        self.standing_of[appointment_id] = "withdrawn"


@dataclass
class Recorder:
    appointment: str
    actor: str
    log: list[str]
    stopped: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.log.append(f"start {self.appointment} by {self.actor}")

    async def accept(self, member: str, offer_sdp: str) -> str:
        self.log.append(f"offer from {member}")
        return "v=0\r\no=- 9 9 IN IP4 127.0.0.1\r\ns=recorder\r\nt=0 0\r\n"

    async def stop(self) -> None:
        self.log.append(f"stop {self.appointment}")
        self.stopped.set()


@dataclass
class Recorders:
    log: list[str] = field(default_factory=list)
    made: list[Recorder] = field(default_factory=list)
    fail: bool = False
    new: asyncio.Event = field(default_factory=asyncio.Event)

    async def made_n(self, n: int) -> None:
        while len(self.made) < n:
            self.new.clear()
            await self.new.wait()

    async def __call__(self, app: Any, appointment: str, actor: str) -> Recorder:
        if self.fail:
            raise RuntimeError("no recorder here")
        recorder = Recorder(appointment, actor, self.log)
        self.made.append(recorder)
        self.new.set()
        return recorder


@pytest.fixture
def consents() -> Consents:
    return Consents()


@pytest.fixture
def recorders() -> Recorders:
    return Recorders()


@pytest.fixture
async def app(app: Any, consents: Consents, recorders: Recorders) -> Any:
    from web.call_recording import RECORDER_FACTORY, RECORDING_CONSENTS

    app[RECORDING_CONSENTS] = consents
    app[RECORDER_FACTORY] = recorders
    return app


def actions(client: Any) -> list[tuple[str, str, dict[str, Any]]]:
    wanted = {
        Action.RECORDING_REQUESTED,
        Action.RECORDING_STARTED,
        Action.RECORDING_STOPPED,
    }
    return [
        (r.action.value, r.actor, r.details) for r in audit_records(client) if r.action in wanted
    ]


async def states(*peers: Peer) -> list[str]:
    return [(await p.expect("recording"))["state"] for p in peers]


async def refused(peer: Peer, body: dict[str, Any]) -> dict[str, Any]:
    await peer.send({**body, "ref": "r"})
    error = await peer.expect("error")
    assert error["ref"] == "r"
    return error


@ON_BOTH_BUSES
async def test_asked_confirmed_seen_by_both_then_withdrawn_at_once(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    consult = await book_consult(client, world, policy)
    consents.standing_of[consult.appointment] = "given"  # yes at booking
    patient, clinician = await in_call(client, consult)

    await clinician.send({"type": "record_start"})
    asked = [await p.expect("recording") for p in (patient, clinician)]
    assert [(m["state"], m["by"]) for m in asked] == [("asking", consult.clinician_id)] * 2
    assert recorders.made == []  # nothing recorded until the device says yes

    # Tapped twice: one question.
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "already"

    await patient.send({"type": "record_answer", "decision": "given", "language": "cy"})
    assert await states(patient, clinician) == ["on", "on"]
    assert consents.answers == [(consult.patient_id, consult.appointment, True, "cy")]
    await asyncio.wait_for(_started(recorders), 3)
    assert recorders.log == [f"start {consult.appointment} by {consult.clinician_id}"]

    # Each side offers its media to the recorder and gets the recorder's answer, alone.
    for side, who in ((patient, consult.patient_id), (clinician, consult.clinician_id)):
        await side.send({"type": "recorder_offer", "sdp": SDP})
        assert (await side.expect("recorder_answer"))["sdp"].startswith("v=0")
        assert recorders.log[-1] == f"offer from {who}"
    # A device's offer carrying a host candidate is refused (relay-only establishment).
    host = SDP + "a=candidate:1 1 udp 1 10.0.0.9 5000 typ host\r\n"
    error = await refused(patient, {"type": "recorder_offer", "sdp": host})
    assert error["code"] == "candidate_refused"
    assert recorders.log[-1] == f"offer from {consult.clinician_id}"

    # A reload of either page shows it recording.
    await clinician.ws.close()
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    room = await clinician.expect("room")
    assert room["recording"]["state"] == "on"
    await patient.expect("joined")
    await patient.ws.close()
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    assert (await patient.expect("room"))["recording"]["state"] == "on"

    # The device withdraws: off on both screens, the recorder stopped, the consent withdrawn.
    await patient.send({"type": "record_withdraw"})
    off = [await p.expect("recording") for p in (patient, clinician)]
    assert [(m["state"], m["reason"]) for m in off] == [("off", "withdrawn")] * 2
    await asyncio.wait_for(recorders.made[0].stopped.wait(), 3)
    assert recorders.log[-1] == f"stop {consult.appointment}"
    assert consents.withdrawn == [(consult.patient_id, consult.appointment)]

    # Not started again: the clinician cannot ask twice in this consult, nor in a new room.
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "withdrawn"
    assert len(recorders.made) == 1
    assert [(a, actor, d.get("reason")) for a, actor, d in actions(client)] == [
        ("recording_requested", consult.clinician_id, None),
        ("recording_started", consult.clinician_id, None),
        ("recording_stopped", consult.patient_id, "withdrawn"),
    ]
    await patient.ws.close()
    await clinician.ws.close()


async def _started(recorders: Recorders) -> None:
    await recorders.made_n(1)


@ON_BOTH_BUSES
async def test_declined_on_the_device_records_nothing_and_is_not_asked_again(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    consult = await book_consult(client, world, policy)
    consents.standing_of[consult.appointment] = "given"
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "record_start"})
    await states(patient, clinician)
    await patient.send({"type": "record_answer", "decision": "declined"})
    off = [await p.expect("recording") for p in (patient, clinician)]
    assert [(m["state"], m["reason"]) for m in off] == [("off", "declined")] * 2
    assert consents.answers == [(consult.patient_id, consult.appointment, False, "en")]
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "declined"
    assert recorders.made == []
    assert [a for a, _, _ in actions(client)] == ["recording_requested"]
    await patient.ws.close()
    await clinician.ws.close()


@ON_BOTH_BUSES
async def test_the_clinician_stops_it_and_ending_the_consult_stops_it(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    consult = await book_consult(client, world, policy)
    consents.standing_of[consult.appointment] = "given"
    patient, clinician = await in_call(client, consult)

    async def record() -> None:
        await clinician.send({"type": "record_start"})
        assert await states(patient, clinician) == ["asking", "asking"]
        await patient.send({"type": "record_answer", "decision": "given"})
        assert await states(patient, clinician) == ["on", "on"]

    await record()
    await asyncio.wait_for(_started(recorders), 3)
    await clinician.send({"type": "record_stop"})
    off = [await p.expect("recording") for p in (patient, clinician)]
    assert [(m["state"], m["reason"]) for m in off] == [("off", "stopped")] * 2
    await asyncio.wait_for(recorders.made[0].stopped.wait(), 3)
    # Stopped by the clinician, it may be asked for again: the device is asked again.
    await record()
    await asyncio.wait_for(recorders.made_n(2), 3)
    await clinician.send({"type": "end", "reason": "completed"})
    ending = await patient.expect("recording")
    assert (ending["state"], ending["reason"]) == ("off", "ended")
    await patient.expect("ended")
    await asyncio.wait_for(recorders.made[1].stopped.wait(), 3)
    reasons = [d.get("reason") for a, _, d in actions(client) if a == "recording_stopped"]
    assert reasons == ["stopped", "ended"]
    await patient.ws.close()
    await clinician.ws.close()


@ON_BOTH_BUSES
async def test_refusals_change_nothing(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)

    # No consent at booking (or a "no" there): the device is not asked.
    error = await refused(clinician, {"type": "record_start"})
    assert (error["code"], error["reason"]) == ("recording_refused", "no_consent")
    consents.standing_of[consult.appointment] = "declined"
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "no_consent"
    consents.standing_of[consult.appointment] = "withdrawn"
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "withdrawn"
    consents.standing_of[consult.appointment] = "given"

    # The patient's side cannot ask to record, nor stop the clinician's; nothing to answer yet.
    assert (await refused(patient, {"type": "record_start"}))["code"] == "not_allowed"
    assert (await refused(patient, {"type": "record_stop"}))["code"] == "not_allowed"
    error = await refused(patient, {"type": "record_answer", "decision": "given"})
    assert (error["code"], error["reason"]) == ("recording_refused", "not_asked")
    assert (await refused(patient, {"type": "record_withdraw"}))["reason"] == "not_recording"
    assert (await refused(clinician, {"type": "record_stop"}))["reason"] == "not_recording"
    # Nothing is recording: an offer to the recorder is refused.
    error = await refused(clinician, {"type": "recorder_offer", "sdp": SDP})
    assert (error["code"], error["reason"]) == ("recording_refused", "not_recording")

    # Asked: only the patient answers; a bad answer is refused by its field.
    await clinician.send({"type": "record_start"})
    await states(patient, clinician)
    error = await refused(clinician, {"type": "record_answer", "decision": "given"})
    assert error["code"] == "not_allowed"
    error = await refused(patient, {"type": "record_answer", "decision": "yes please"})
    assert (error["code"], error["field"]) == ("invalid_field", "decision")
    error = await refused(patient, {"type": "record_answer", "decision": "given", "language": "fr"})
    assert (error["code"], error["field"]) == ("invalid_field", "language")
    assert consents.answers == []
    assert recorders.made == []

    # Another prisoner cannot answer for this patient, nor an officer ask.
    from tests.world import sign_in_prisoner, sign_in_staff

    other = await sign_in_prisoner(client, world.prisoners[1])
    intruder, _ = await open_peer(client, other["access_token"])
    error = await refused(intruder, {"type": "record_answer", "decision": "given"})
    assert error["code"] == "not_in_room"
    officer, _ = await open_peer(
        client, (await sign_in_staff(client, world.staff["officer"]))["access_token"]
    )
    assert (await refused(officer, {"type": "record_start"}))["code"] == "not_allowed"
    assert consents.answers == []
    assert [a for a, _, _ in actions(client)] == ["recording_requested"]
    for peer in (intruder, officer, patient, clinician):
        await peer.ws.close()


def _open_room(now: Any) -> Any:
    """Appointment "a" of prisoner "p" with clinician "c", its room opened at `now`."""
    from datetime import timedelta

    from scheduling.types import AppointmentView
    from signalling.rooms import Room

    view = AppointmentView(
        id="a",
        establishment_id="e",
        prisoner_id="p",
        clinician_id="c",
        service="gp",
        starts_at=now,
        ends_at=now + timedelta(minutes=20),
        window_opens=now,
        window_closes=now + timedelta(minutes=30),
        status="booked",
        relay_only=True,
    )
    return Room.open(view, now)


def test_only_the_appointments_own_clinician_and_patient_move_it() -> None:
    """A second member with a clinician's role (a chaperone is healthcare staff) neither asks
    nor stops; nobody but the appointment's prisoner answers. Each refusal changes nothing."""
    from datetime import UTC, datetime

    from signalling.errors import SignallingError
    from signalling.rooms import Room

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    room = _open_room(now)
    room.join("p", "patient", "c1", None, now)
    room.join("c", "clinician", "c2", None, now)
    room.join("x", "clinician", "c3", None, now)
    room.admit("c", "p", now)
    before = room.to_json()
    steps: tuple[Callable[[], object], ...] = (
        lambda: room.recording_ask("x", now, "given"),
        lambda: room.recording_answer("c", True, now),
        lambda: room.recording_stop("x", now),
    )
    for step in steps:
        with pytest.raises(SignallingError) as caught:
            step()
        assert caught.value.code.slug in ("not_allowed", "recording_refused")
        assert room.to_json() == before
    room.recording_ask("c", now, "given")
    asked = room.to_json()
    steps = (
        lambda: room.recording_answer("x", True, now),
        lambda: room.recording_answer("c", True, now),
        lambda: room.recording_stop("x", now),
        lambda: room.recording_withdraw("c", now),
        lambda: room.recording_ask("c", now, "given"),
    )
    for step in steps:
        with pytest.raises(SignallingError):
            step()
        assert room.to_json() == asked
    out = room.recording_answer("p", True, now)
    assert room.recording == "on"
    # Every active member hears it, whatever their role.
    assert sorted(out.deliveries[0].recipients) == ["c", "p", "x"]
    assert Room.from_json(room.to_json()).recording_view() == room.recording_view()


def test_an_officer_on_hold_is_not_told_of_the_recording() -> None:
    """A member on hold receives nothing until brought back: not the question, not the
    recording's state, and its snapshot (a reload) does not carry it either."""
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    room = _open_room(now)
    room.join("p", "patient", "c1", None, now)
    room.join("c", "clinician", "c2", None, now)
    room.join("o", "officer", "c3", None, now)
    room.admit("c", "p", now)
    room.admit("c", "o", now)
    room.confirm_identity("c", now)
    sent = [
        *room.recording_ask("c", now, "given").deliveries,
        *room.recording_answer("p", True, now).deliveries,
    ]
    assert room.recording == "on"
    assert sent and all(sorted(d.recipients) == ["c", "p"] for d in sent)
    assert room.snapshot("o")["recording"] is None
    assert room.snapshot("c")["recording"]["state"] == "on"
    # Brought back, it is told the state along with the others.
    room.bring_back("c", "o", now)
    assert room.snapshot("o")["recording"]["state"] == "on"
    stopped = room.recording_stop("c", now).deliveries
    assert any(sorted(d.recipients) == ["c", "o", "p"] for d in stopped)


@ON_BOTH_BUSES
async def test_asking_needs_the_patient_in_the_call_and_a_leaving_patient_stops_it(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    consult = await book_consult(client, world, policy)
    consents.standing_of[consult.appointment] = "given"
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    # Waiting, not admitted: the device is not asked.
    assert (await refused(clinician, {"type": "record_start"}))["reason"] == "not_in_call"
    await clinician.send({"type": "admit", "participant": consult.patient_id})
    await patient.expect("admitted")
    await clinician.send({"type": "record_start"})
    await states(patient, clinician)
    await patient.send({"type": "record_answer", "decision": "given"})
    await states(patient, clinician)
    await asyncio.wait_for(_started(recorders), 3)
    await patient.send({"type": "leave"})
    off = await clinician.expect("recording")
    assert (off["state"], off["reason"]) == ("off", "left")
    await asyncio.wait_for(recorders.made[0].stopped.wait(), 3)
    await patient.ws.close()
    await clinician.ws.close()


@ON_BOTH_BUSES
async def test_a_recorder_that_cannot_start_is_shown_off_to_everyone(
    client: Any, world: Any, policy: FakePolicy, consents: Consents, recorders: Recorders
) -> None:
    recorders.fail = True
    consult = await book_consult(client, world, policy)
    consents.standing_of[consult.appointment] = "given"
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "record_start"})
    await states(patient, clinician)
    await patient.send({"type": "record_answer", "decision": "given"})
    assert await states(patient, clinician) == ["on", "on"]
    off = [await p.expect("recording") for p in (patient, clinician)]
    assert [(m["state"], m["reason"]) for m in off] == [("off", "failed")] * 2
    await patient.ws.close()
    await clinician.ws.close()
