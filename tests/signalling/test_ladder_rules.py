"""The fallback ladder's rules over random sequences of steps (the room alone, no sockets).

Whatever people do (join, admit, drop, leave, offers, mode changes and call-backs, by the
right and the wrong person, on consults that do and do not require video): a refused step
changes nothing; a consult that requires video is never audio only; only its clinician
ever chooses a call-back, which happens once and is final; and every change of mode is
one audit event with its cause.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import Action
from signalling.errors import SignallingError
from signalling.rooms import CallMode, Room
from tests.signalling.test_room_recovery import NOW, Model, _room


class LadderModel(Model):
    def __init__(self, video_required: bool) -> None:
        super().__init__()
        self.room = Room.open(replace(_room().view(), video_required=video_required), NOW)
        self.changes: list[dict[str, object]] = []
        self.call_backs: list[tuple[str, str | None]] = []

    def ladder(self, kind: str, who: str, arg: str) -> None:
        before = self.room.to_json()
        previous = self.room.mode
        try:
            if kind == "offer":
                out = self.room.offer_mode(who, arg, self.now)
            elif kind == "mode":
                out = self.room.change_mode(who, arg, "chosen", self.now)
            else:
                out = self.room.call_back(who, arg, self.now)
        except SignallingError:
            assert self.room.to_json() == before, f"refused {kind} {who} {arg} changed the room"
            return
        self.take(out)
        changed = [a for a in out.audits if a.action is Action.CALL_MODE_CHANGED]
        self.changes += [a.details for a in changed]
        self.call_backs += out.call_backs
        if self.room.mode is previous:
            assert changed == [] and out.call_backs == []
        else:
            [change] = changed
            assert change.details["previous"] == previous.value
            assert change.details["mode"] == self.room.mode.value
            assert change.details["cause"]
        if kind == "offer":
            assert self.room.mode is previous


people = st.sampled_from(["pat", "doc", "ghost"])
steps = st.one_of(
    st.tuples(
        st.sampled_from(["join", "drop", "leave", "answer"]), st.sampled_from(["pat", "doc"])
    ),
    st.tuples(st.just("admit"), st.just("doc")),
    st.tuples(st.just("offer"), people, st.sampled_from(["low_bitrate", "ice_failed"])),
    st.tuples(st.just("mode"), people, st.sampled_from(["audio", "video"])),
    st.tuples(st.just("call_back"), people, st.just("high_loss")),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(steps, max_size=30), video_required=st.booleans())
def test_the_ladder_only_moves_as_its_rules_say(
    ops: list[tuple[str, ...]], video_required: bool
) -> None:
    model = LadderModel(video_required)
    # In a call first: most steps of the ladder need one (random steps take it apart again).
    for step in (("join", "pat"), ("join", "doc"), ("admit", "doc")):
        model.run(step)
    assert model.room.members["pat"].admitted
    for op in ops:
        if op[0] in ("offer", "mode", "call_back"):
            model.ladder(op[0], op[1], op[2])
        else:
            model.run((op[0], op[1]))
        model.check_consistent()
        if video_required:
            assert model.room.mode is not CallMode.AUDIO
    # A call-back is chosen by the clinician alone, once, and stays.
    assert len(model.call_backs) <= 1
    assert all(by == "doc" for by, _ in model.call_backs)
    if model.call_backs:
        assert model.room.mode is CallMode.CALL_BACK
        assert model.changes[-1]["mode"] == "call_back"
    assert [c["mode"] for c in model.changes].count("call_back") == len(model.call_backs)


def test_the_rules_test_reaches_every_step() -> None:
    """The property above sees changes of mode, not only refusals."""
    model = LadderModel(False)
    for step in (("join", "pat"), ("join", "doc"), ("admit", "doc")):
        model.run(step)
    model.ladder("offer", "pat", "low_bitrate")
    model.ladder("mode", "doc", "audio")
    model.ladder("call_back", "pat", "high_loss")
    model.ladder("call_back", "doc", "high_loss")
    assert [c["mode"] for c in model.changes] == ["audio", "call_back"]
    assert model.call_backs == [("doc", None)]
