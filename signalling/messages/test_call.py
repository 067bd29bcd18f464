"""Pre-call test family: a device tests the path its consult will take.

The device asks (`test_call`), the server's test peer offers, the device
answers and sends its candidates, both measure, the device reports what it
received (`test_report`), and the server sends the verdict. Nothing here is
relayed to another person: every message is read and used by the server, so
unknown fields are ignored as in the other non-relayed families.
See docs/signalling.md, "Pre-call test".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import _bad, ident, number, text
from signalling.messages.negotiation import MAX_CANDIDATE, MAX_SDP

DEVICE_CHECK = frozenset({"ok", "fail"})


@dataclass(frozen=True)
class DeviceCheck:
    """What the device found before the call: did the camera and microphone open."""

    camera: str
    microphone: str

    @classmethod
    def parse(cls, raw: object, name: str) -> DeviceCheck:
        if not isinstance(raw, dict):
            raise _bad(name)
        values = []
        for part in ("camera", "microphone"):
            value = raw.get(part)
            if not isinstance(value, str) or value not in DEVICE_CHECK:
                raise _bad(f"{name}.{part}")
            values.append(value)
        return cls(*values)


@dataclass(frozen=True)
class PrecallStart:
    TYPE: ClassVar[str] = "test_call"
    appointment: str | None = None
    check: DeviceCheck | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> PrecallStart:
        appointment = ident(obj, "appointment") if obj.get("appointment") is not None else None
        check = DeviceCheck.parse(obj["check"], "check") if obj.get("check") is not None else None
        return cls(appointment=appointment, check=check)


@dataclass(frozen=True)
class PrecallAnswer:
    TYPE: ClassVar[str] = "test_answer"
    test: str
    sdp: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> PrecallAnswer:
        return cls(test=ident(obj, "test"), sdp=text(obj, "sdp", max_len=MAX_SDP))


@dataclass(frozen=True)
class PrecallCandidate:
    TYPE: ClassVar[str] = "test_candidate"
    test: str
    candidate: str
    """The `candidate:` line; "" marks the end of candidates."""
    sdp_mid: str | None
    sdp_mline_index: int | None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> PrecallCandidate:
        test = ident(obj, "test")
        raw = obj.get("candidate")
        if not isinstance(raw, dict):
            raise _bad("candidate")
        line = text(raw, "candidate", max_len=MAX_CANDIDATE, min_len=0)
        mid = raw.get("sdpMid")
        if mid is not None and (not isinstance(mid, str) or len(mid) > 64):
            raise _bad("candidate.sdpMid")
        index = raw.get("sdpMLineIndex")
        if index is not None and (
            isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 64
        ):
            raise _bad("candidate.sdpMLineIndex")
        return cls(test=test, candidate=line, sdp_mid=mid, sdp_mline_index=index)


MEASURES = (
    ("rtt_ms", 60_000, False),
    ("loss_pct", 100, False),
    ("jitter_ms", 60_000, False),
    ("bitrate_kbps", 1_000_000, False),
    ("fps", 240, False),
    ("width", 16_384, True),
    ("height", 16_384, True),
    ("video_frames", 1_000_000, True),
    ("audio_packets", 1_000_000, True),
)
"""A link measure's name, its largest value, and whether it is a whole number."""


@dataclass(frozen=True)
class PrecallReport:
    """What the device received from the test peer, and its own camera and microphone."""

    TYPE: ClassVar[str] = "test_report"
    test: str
    check: DeviceCheck
    measures: dict[str, float]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> PrecallReport:
        test = ident(obj, "test")
        check = DeviceCheck.parse(obj.get("check"), "check")
        measures = {
            name: number(obj, name, maximum=limit, integer=whole) for name, limit, whole in MEASURES
        }
        return cls(test=test, check=check, measures=measures)


@dataclass(frozen=True)
class PrecallStop:
    TYPE: ClassVar[str] = "test_stop"
    test: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> PrecallStop:
        return cls(test=ident(obj, "test"))


PrecallMessage = PrecallStart | PrecallAnswer | PrecallCandidate | PrecallReport | PrecallStop
PRECALL_MESSAGES: tuple[type[PrecallMessage], ...] = (
    PrecallStart,
    PrecallAnswer,
    PrecallCandidate,
    PrecallReport,
    PrecallStop,
)
PRECALL_SERVER_TYPES = frozenset({"test_call_started", "test_offer", "test_result"})
"""What the server sends in this family (added to the server allow-list)."""
