"""The consult has a way back from every state while its window is open.

Random sequences of join, leave, drop, resume, admit, end, the answer that starts
the call, time passing (the reclaim window) and steps by the wrong person are
applied to one room. After any of them, unless the clinician ended the consult,
both people can get back into the call, and each is told what its page needs to
start the media again; a refused step changes nothing; the room's state always
agrees with its members.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduling.types import AppointmentView
from signalling.errors import ErrorCode, SignallingError
from signalling.rooms import ACTIVE, ConsultState, MemberStatus, Outbox, Room

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
RECLAIM_S = 30.0
PEOPLE = {"pat": "patient", "doc": "clinician"}


def _room() -> Room:
    view = AppointmentView(
        id="appt",
        establishment_id="est",
        prisoner_id="pat",
        clinician_id="doc",
        service="gp",
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=20),
        window_opens=NOW - timedelta(minutes=10),
        window_closes=NOW + timedelta(minutes=35),
        status="booked",
        relay_only=True,
    )
    return Room.open(view, NOW)


@dataclass
class Model:
    """The room, the clock, each person's connection, and what each was told."""

    room: Room = field(default_factory=_room)
    now: datetime = NOW
    conns: dict[str, str | None] = field(default_factory=lambda: dict.fromkeys(PEOPLE))
    told: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {p: [] for p in PEOPLE})
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def new_conn(self, who: str) -> str:
        conn = f"{who}-{next(self.ids)}"
        self.conns[who] = conn
        return conn

    def take(self, out: Outbox) -> Outbox:
        for delivery in out.deliveries:
            for recipient in delivery.recipients:
                self.told[recipient].append(delivery.body)
        return out

    def run(self, op: tuple[str, str]) -> None:
        """One step; a refusal must leave the room exactly as it was."""
        kind, who = op
        before, was_ended = self.room.to_json(), self.room.ended
        try:
            self._step(kind, who)
        except SignallingError:
            assert self.room.to_json() == before, f"refused {op} changed the room"
            return
        if kind != "end":
            assert self.room.ended == was_ended, f"{op} ended the consult"

    def _step(self, kind: str, who: str) -> None:
        room, now = self.room, self.now
        role = PEOPLE.get(who, "patient")
        if kind == "join":
            conn = f"{who}-{next(self.ids)}"
            self.take(room.join(who, role, conn, None, now))
            self.conns[who] = conn
        elif kind == "resume":
            conn = f"{who}-{next(self.ids)}"
            self.take(room.resume(who, conn, now))
            self.conns[who] = conn
        elif kind == "drop":
            current = self.conns.get(who)
            if current is not None:
                self.take(room.away(who, current, now))
        elif kind == "leave":
            self.take(room.leave(who, "left", now))
        elif kind == "admit":
            self.take(room.admit(who, "pat", now))
        elif kind == "end":
            self.take(room.end(who, "completed", now))
        elif kind == "answer":
            conn = self.conns.get(who) or "none"
            other = "doc" if who == "pat" else "pat"
            room.check_relay(who, conn, other)
            room.start_call(now)
        elif kind == "wait":
            self.now += timedelta(seconds=float(who))
            self.take(room.expire_away(self.now, RECLAIM_S))

    def check_consistent(self) -> None:
        room = self.room
        admitted_here = any(
            m.role == "patient" and m.admitted and m.status in ACTIVE for m in room.members.values()
        )
        if room.state is ConsultState.ENDED:
            assert all(m.status is MemberStatus.LEFT for m in room.members.values())
        elif admitted_here:
            assert room.state in (ConsultState.ADMITTED, ConsultState.IN_CALL), room.state
        else:
            assert room.state is ConsultState.WAITING, room.state
        for member in room.members.values():
            if member.status is MemberStatus.WAITING:
                assert not member.admitted
            if member.status is MemberStatus.PRESENT or member.role == "clinician":
                assert member.admitted or member.status is MemberStatus.LEFT


people = st.sampled_from(["pat", "doc"])
steps = st.one_of(
    st.tuples(st.sampled_from(["join", "resume", "drop", "leave", "answer"]), people),
    st.tuples(st.just("admit"), st.sampled_from(["doc", "doc", "pat", "ghost"])),
    st.tuples(st.just("end"), st.sampled_from(["pat", "ghost", "doc"])),
    st.tuples(st.just("wait"), st.sampled_from(["5", "29", "31"])),
    st.tuples(st.sampled_from(["leave", "resume", "drop"]), st.just("ghost")),
)


def _back(model: Model, who: str, how: str) -> str:
    """`who` gets back in, the way its page would; returns the way it took."""
    member = model.room.members.get(who)
    if how == "resume" and member is not None and member.status in ACTIVE:
        model.run(("resume", who))
        return "resume"
    model.run(("join", who))
    return "join"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(steps, max_size=25),
    order=st.sampled_from([("pat", "doc"), ("doc", "pat")]),
    ways=st.tuples(st.sampled_from(["join", "resume"]), st.sampled_from(["join", "resume"])),
)
def test_both_people_can_always_get_back_into_the_call(
    ops: list[tuple[str, str]], order: tuple[str, str], ways: tuple[str, str]
) -> None:
    model = Model()
    for op in ops:
        model.run(op)
        model.check_consistent()
    if model.room.ended:
        for who in PEOPLE:
            with pytest.raises(SignallingError) as info:
                model.room.join(who, PEOPLE[who], "late", None, model.now)
            assert info.value.code is ErrorCode.ROOM_ENDED
        return

    how = dict(zip(order, ways, strict=True))
    for who in order:
        other = "doc" if who == "pat" else "pat"
        other_here = model.room.members.get(other)
        other_active = other_here is not None and other_here.status in ACTIVE
        model.told = {p: [] for p in PEOPLE}
        way = _back(model, who, how[who])
        model.check_consistent()
        mine = [b["type"] for b in model.told[who]]
        theirs = [b["type"] for b in model.told[other]]
        me = model.room.members[who]
        if who == "pat" and not me.admitted:
            if other_active:
                assert ("arrived" if way == "join" else "reconnected") in theirs, theirs
        elif way == "join":
            # A fresh page: the other side starts the media again from scratch,
            # and a patient's page is told it is in the call.
            if other_active and (who == "pat" or model.room.members["pat"].admitted):
                assert "joined" in theirs, theirs
            if who == "pat":
                assert "admitted" in mine, mine
        elif other_active and (who == "pat" or model.room.members["pat"].admitted):
            # The same page on a new connection: an ICE restart on the links it has.
            assert "reconnected" in theirs, theirs
            restart = model.told["doc"] if who == "pat" else model.told["doc"]
            assert "ice_restart" in [b["type"] for b in restart], restart
    if not model.room.members["pat"].admitted:
        model.told = {p: [] for p in PEOPLE}
        model.run(("admit", "doc"))
        assert [b["type"] for b in model.told["pat"]] == ["admitted"]
        assert "joined" in [b["type"] for b in model.told["doc"]]

    room = model.room
    assert room.members["pat"].status is MemberStatus.PRESENT
    assert room.members["pat"].admitted
    assert room.members["doc"].status is MemberStatus.PRESENT
    assert room.state in (ConsultState.ADMITTED, ConsultState.IN_CALL)
    room.check_relay("doc", model.conns["doc"] or "", "pat")
    room.check_relay("pat", model.conns["pat"] or "", "doc")


def test_a_patient_who_left_mid_call_waits_and_the_room_goes_back_to_waiting() -> None:
    model = Model()
    for op in [("join", "pat"), ("join", "doc"), ("admit", "doc"), ("answer", "pat")]:
        model.run(op)
    assert model.room.state is ConsultState.IN_CALL
    model.run(("leave", "pat"))
    assert model.room.state.value == "waiting"
    model.told = {p: [] for p in PEOPLE}
    model.run(("join", "pat"))
    assert model.room.members["pat"].status is MemberStatus.WAITING
    assert [b["type"] for b in model.told["doc"]] == ["arrived"]
    model.run(("admit", "doc"))
    assert model.room.state.value == "admitted"


def test_a_refused_resume_says_why() -> None:
    model = Model()
    model.run(("join", "pat"))
    model.run(("leave", "pat"))
    with pytest.raises(SignallingError) as info:
        model.room.resume("pat", "x", NOW)
    assert (info.value.code, info.value.reason) == (ErrorCode.RESUME_FAILED, "expired")
    model.run(("join", "doc"))
    model.run(("end", "doc"))
    with pytest.raises(SignallingError) as info:
        model.room.resume("doc", "y", NOW)
    assert (info.value.code, info.value.reason) == (ErrorCode.RESUME_FAILED, "ended")


def test_an_away_patient_is_not_admitted_in_absentia() -> None:
    model = Model()
    for op in [("join", "pat"), ("join", "doc"), ("drop", "pat")]:
        model.run(op)
    before = model.room.to_json()
    with pytest.raises(SignallingError) as info:
        model.room.admit("doc", "pat", NOW)
    assert info.value.code is ErrorCode.NOT_WAITING
    assert model.room.to_json() == before
