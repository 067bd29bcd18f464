"""The decoder and the room logic refuse bad input with fixed errors and change nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.identity import Role
from scheduling.types import AppointmentView
from signalling.errors import ErrorCode, SignallingError
from signalling.messages import Candidate, Hello, Join, Offer
from signalling.registry import CLIENT_MESSAGES, allowed, decode, encode, parse_frame
from signalling.rooms import ConsultState, Room
from signalling.sdp import check_candidate, check_sdp

NOW = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def _code(frame: str) -> str:
    with pytest.raises(SignallingError) as info:
        obj, _ = parse_frame(frame)
        decode(obj)
    return info.value.code.slug


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "not_an_object"),
        ('"hello"', "not_an_object"),
        ('{"type": "dance", "v": 1}', "unknown_type"),
        ('{"v": 1}', "unknown_type"),
        ('{"type": "ping", "v": 2}', "unsupported_version"),
        ('{"type": "ping", "v": true}', "unsupported_version"),
        ('{"type": "ping"}', "unsupported_version"),
        ('{"type": "hello", "v": 1, "token": 5}', "invalid_field"),
        ('{"type": "offer", "v": 1, "to": "x"}', "invalid_field"),
        ('{"type": "end", "v": 1, "reason": "bored"}', "invalid_field"),
        ('{"type": "quality", "v": 1, "rtt_ms": -1}', "invalid_field"),
        ('{"type": "notice", "v": 1, "text": ""}', "invalid_field"),
        ('{"type": "ping", "v": 1, "x": ' + "[" * 9 + "]" * 9 + "}", "too_deep"),
        ("[" * 100_000 + "]" * 100_000, "too_deep"),
    ],
)
def test_bad_frames_get_fixed_errors(frame: str, code: str) -> None:
    assert _code(frame) == code


def test_error_messages_are_fixed_sentences() -> None:
    wire = SignallingError(ErrorCode.NOT_A_MEMBER).to_wire("r1")
    assert wire == {
        "type": "error",
        "v": 1,
        "code": "not_a_member",
        "message": "That participant is not in this consult.",
        "ref": "r1",
    }


def test_invalid_field_names_the_field() -> None:
    with pytest.raises(SignallingError) as info:
        decode({"type": "candidate", "v": 1, "to": "p", "candidate": {"candidate": 3}})
    assert info.value.field == "candidate"


def test_messages_decode_to_frozen_typed_values() -> None:
    hello = decode({"type": "hello", "v": 1, "token": "t", "resume": {"token": "r", "last_seq": 4}})
    assert isinstance(hello, Hello) and hello.resume is not None and hello.resume.last_seq == 4
    join = decode({"type": "join", "v": 1, "appointment": "a"})
    assert isinstance(join, Join) and join.check is None
    cand = decode(
        {"type": "candidate", "v": 1, "to": "p", "candidate": {"candidate": "", "sdpMid": None}}
    )
    assert isinstance(cand, Candidate) and cand.candidate.candidate == ""
    offer = decode({"type": "offer", "v": 1, "to": "p", "sdp": "v=0"})
    assert isinstance(offer, Offer)
    with pytest.raises(AttributeError):
        offer.sdp = "x"  # type: ignore[misc]


def test_allow_lists_per_role() -> None:
    assert allowed(None, "hello") and not allowed(None, "join")
    assert allowed(Role.CLINICIAN, "admit") and allowed(Role.CLINICIAN, "end")
    assert not allowed(Role.PRISONER, "admit")
    assert not allowed(Role.PRISONER, "end")
    assert not allowed(Role.PRISONER, "notice")
    # Third parties negotiate (in a room they were invited to) but steer nothing.
    for role in (Role.OFFICER, Role.INTERPRETER, Role.CHAPERONE):
        assert allowed(role, "offer") and allowed(role, "leave")
        for kind in ("admit", "end", "notice", "call_back", "confirm_identity", "bring_back"):
            assert not allowed(role, kind), (role, kind)
    assert allowed(Role.CLINICIAN, "confirm_identity") and allowed(Role.CLINICIAN, "bring_back")
    assert not allowed(Role.MANAGER, "admit") and not allowed(Role.MANAGER, "offer")


def test_server_cannot_send_a_client_only_type() -> None:
    with pytest.raises(ValueError):
        encode({"type": "hello", "v": 1}, 0)
    assert json.loads(encode({"type": "pong", "v": 1}, 7)) == {"seq": 7, "type": "pong", "v": 1}


DEVICE_SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def test_device_may_not_offer_a_data_channel() -> None:
    sdp = DEVICE_SDP + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
    with pytest.raises(SignallingError) as info:
        check_sdp(sdp, device=True, relay_only=False)
    assert info.value.code is ErrorCode.DATA_CHANNEL_REFUSED
    check_sdp(sdp, device=False, relay_only=True)


def test_relay_only_device_sdp_with_host_candidate_is_refused() -> None:
    host = DEVICE_SDP + "a=candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host\r\n"
    relay = DEVICE_SDP + "a=candidate:2 1 udp 41885439 127.0.0.1 6000 typ relay raddr 0.0.0.0\r\n"
    with pytest.raises(SignallingError) as info:
        check_sdp(host, device=True, relay_only=True)
    assert info.value.code is ErrorCode.CANDIDATE_REFUSED
    check_sdp(relay, device=True, relay_only=True)
    check_sdp(host, device=True, relay_only=False)


@pytest.mark.parametrize(
    "line",
    [
        "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host",
        "candidate:1 1 udp 1686052607 203.0.113.9 5000 typ srflx raddr 10.0.0.2 rport 5000",
        "candidate:1 1 tcp 1518280447 10.0.0.2 9 typ host tcptype active",
        "candidate:1 1 udp 1 1.2.3.4 5 typ",
    ],
)
def test_relay_only_device_non_relay_candidates_are_refused(line: str) -> None:
    with pytest.raises(SignallingError) as info:
        check_candidate(line, device=True, relay_only=True)
    assert info.value.code is ErrorCode.CANDIDATE_REFUSED


def test_relay_candidates_and_end_of_candidates_pass() -> None:
    check_candidate("", device=True, relay_only=True)
    check_candidate(
        "candidate:2 1 udp 41885439 127.0.0.1 6000 typ relay raddr 0.0.0.0 rport 0",
        device=True,
        relay_only=True,
    )


# ------------------------------------------------------------ property-based


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
    room = Room.open(view, NOW)
    room.join("pat", "patient", "c1", None, NOW)
    room.join("doc", "clinician", "c2", None, NOW)
    return room


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from([*CLIENT_MESSAGES, "x"]), "v": st.sampled_from([1, 1, 2, "1"])},
    optional={
        "to": st.sampled_from(["pat", "doc", "ghost", ""]) | st.text(max_size=70),
        "participant": st.sampled_from(["pat", "doc", "ghost"]) | json_values,
        "sdp": st.sampled_from(["v=0\r\nm=application 9 x\r\n", "x"]) | json_values,
        "candidate": json_values,
        "reason": st.sampled_from(["completed", "other", "nope"]) | json_values,
        "text": json_values,
        "appointment": json_values,
        "token": json_values,
        "rtt_ms": json_values,
    },
)
actors = st.sampled_from([("pat", "c1"), ("doc", "c2"), ("ghost", "c9"), ("pat", "c-old")])


def _apply(room: Room, message: Any, actor: str, conn: str) -> None:
    kind = message.TYPE
    if kind == "admit":
        room.admit(actor, message.participant, NOW)
    elif kind == "leave":
        room.leave(actor, "left", NOW)
    elif kind == "end":
        room.end(actor, message.reason, NOW)
    elif kind == "notice":
        room.notice(actor, message.text, NOW)
    elif kind in ("offer", "answer", "candidate", "ice_restart"):
        room.check_relay(actor, conn, message.to)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=messages, actor=actors)
def test_arbitrary_messages_never_crash_and_refusals_change_nothing(
    body: dict[str, Any], actor: tuple[str, str]
) -> None:
    frame = json.dumps(body)
    room = _room()
    before = room.to_json()
    try:
        obj, _ = parse_frame(frame)
        message = decode(obj)
    except SignallingError:
        assert room.to_json() == before
        return
    try:
        _apply(room, message, *actor)
    except SignallingError:
        assert room.to_json() == before


@settings(max_examples=200, deadline=None)
@given(frame=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_text_never_crashes_the_decoder(frame: str) -> None:
    try:
        obj, _ = parse_frame(frame)
        decode(obj)
    except SignallingError:
        pass


def test_state_machine_refuses_and_names_both_states() -> None:
    room = _room()
    with pytest.raises(SignallingError) as info:
        room.transition(ConsultState.IN_CALL)
    assert info.value.code is ErrorCode.INVALID_TRANSITION
    assert info.value.debug_context == {"from": "waiting", "to": "in_call"}
    room.admit("doc", "pat", NOW)
    assert room.state is ConsultState.ADMITTED
    assert room.start_call(NOW)
    room.end("doc", "completed", NOW)
    with pytest.raises(SignallingError) as info:
        room.admit("doc", "pat", NOW)
    assert info.value.code is ErrorCode.ROOM_ENDED


def test_relay_is_refused_between_anyone_but_admitted_members() -> None:
    room = _room()
    with pytest.raises(SignallingError) as info:
        room.check_relay("pat", "c1", "doc")
    assert info.value.code is ErrorCode.NOT_ADMITTED
    room.admit("doc", "pat", NOW)
    room.check_relay("pat", "c1", "doc")
    for to in ("ghost", "pat"):
        with pytest.raises(SignallingError) as info:
            room.check_relay("pat", "c1", to)
        assert info.value.code is ErrorCode.NOT_A_MEMBER
    with pytest.raises(SignallingError) as info:
        room.check_relay("pat", "c-old", "doc")
    assert info.value.code is ErrorCode.NOT_IN_ROOM
