"""Negotiation family: offer, answer, candidate, ice_restart, relayed between members."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import _bad, flag, ident, text

MAX_SDP = 64 * 1024
MAX_CANDIDATE = 1024


@dataclass(frozen=True)
class Offer:
    TYPE: ClassVar[str] = "offer"
    to: str
    sdp: str
    ice_restart: bool = False

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Offer:
        return cls(
            to=ident(obj, "to"),
            sdp=text(obj, "sdp", max_len=MAX_SDP),
            ice_restart=flag(obj, "ice_restart"),
        )


@dataclass(frozen=True)
class Answer:
    TYPE: ClassVar[str] = "answer"
    to: str
    sdp: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Answer:
        return cls(to=ident(obj, "to"), sdp=text(obj, "sdp", max_len=MAX_SDP))


@dataclass(frozen=True)
class IceCandidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None

    def to_wire(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }


@dataclass(frozen=True)
class Candidate:
    TYPE: ClassVar[str] = "candidate"
    to: str
    candidate: IceCandidate

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Candidate:
        to = ident(obj, "to")
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
        return cls(to=to, candidate=IceCandidate(line, mid, index))


@dataclass(frozen=True)
class IceRestart:
    TYPE: ClassVar[str] = "ice_restart"
    to: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> IceRestart:
        return cls(to=ident(obj, "to"))
