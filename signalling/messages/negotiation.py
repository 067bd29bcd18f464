"""Negotiation family: offer, answer, candidate, ice_restart, relayed between members.

These are the only client messages the server forwards as the client wrote
them (the relay adds `seq` and `from` in front and re-encodes nothing), so
their fields are a closed set: a field the protocol does not define is refused,
never passed on, and no client can name its own `from` or `seq`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.errors import ErrorCode, SignallingError
from signalling.messages.base import _bad, flag, ident, text

MAX_SDP = 64 * 1024
MAX_CANDIDATE = 1024

_ENVELOPE = frozenset({"type", "v", "ref", "to"})
OFFER_FIELDS = _ENVELOPE | {"sdp", "ice_restart"}
ANSWER_FIELDS = _ENVELOPE | {"sdp"}
CANDIDATE_FIELDS = _ENVELOPE | {"candidate"}
ICE_RESTART_FIELDS = _ENVELOPE
CANDIDATE_INIT_FIELDS = frozenset({"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"})


def closed(obj: dict[str, Any], fields: frozenset[str], prefix: str = "") -> None:
    """Refuse a field outside `fields`, naming the first one found (callers test first)."""
    if obj.keys() <= fields:
        return
    extra = sorted(set(obj) - fields)[0]
    raise SignallingError(ErrorCode.UNKNOWN_FIELD, field=prefix + extra[:64])


# The readers below are on every relayed message's path: each field is checked
# once, and `read` returns only what the relay goes on to check. A
# closed set costs a length where it can: with `type`, `v` and every required
# field present (each is read, so each is checked), a frame has no other field
# exactly when its length is theirs plus the optional ones present.


@dataclass(frozen=True, slots=True)
class Offer:
    TYPE: ClassVar[str] = "offer"
    to: str
    sdp: str
    ice_restart: bool = False

    @staticmethod
    def read(obj: dict[str, Any]) -> tuple[str, str]:
        """Check every field; return the recipient and the SDP."""
        if len(obj) != 4 + ("ref" in obj) + ("ice_restart" in obj):  # type, v, to, sdp
            closed(obj, OFFER_FIELDS)
        flag(obj, "ice_restart")
        return ident(obj, "to"), text(obj, "sdp", max_len=MAX_SDP)

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Offer:
        to, sdp = cls.read(obj)
        return cls(to=to, sdp=sdp, ice_restart=obj.get("ice_restart", False))


@dataclass(frozen=True, slots=True)
class Answer:
    TYPE: ClassVar[str] = "answer"
    to: str
    sdp: str

    @staticmethod
    def read(obj: dict[str, Any]) -> tuple[str, str]:
        """Check every field; return the recipient and the SDP."""
        if len(obj) != 4 + ("ref" in obj):  # type, v, to, sdp
            closed(obj, ANSWER_FIELDS)
        return ident(obj, "to"), text(obj, "sdp", max_len=MAX_SDP)

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Answer:
        to, sdp = cls.read(obj)
        return cls(to=to, sdp=sdp)


@dataclass(frozen=True, slots=True)
class IceCandidate:
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None
    username_fragment: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }


@dataclass(frozen=True, slots=True)
class Candidate:
    TYPE: ClassVar[str] = "candidate"
    to: str
    candidate: IceCandidate

    @staticmethod
    def read(obj: dict[str, Any]) -> tuple[str, str]:
        """Check every field; return the recipient and the candidate line ("" at the end)."""
        if len(obj) != 4 + ("ref" in obj):  # type, v, to, candidate
            closed(obj, CANDIDATE_FIELDS)
        to = ident(obj, "to")
        raw = obj.get("candidate")
        if raw.__class__ is not dict:
            raise _bad("candidate")
        line = text(raw, "candidate", max_len=MAX_CANDIDATE, min_len=0)
        mid = raw.get("sdpMid")
        if mid is not None and (mid.__class__ is not str or len(mid) > 64):
            raise _bad("candidate.sdpMid")
        index = raw.get("sdpMLineIndex")
        if index is not None and (index.__class__ is not int or not 0 <= index < 64):
            raise _bad("candidate.sdpMLineIndex")
        ufrag = raw.get("usernameFragment")
        if ufrag is not None and (ufrag.__class__ is not str or len(ufrag) > 256):
            raise _bad("candidate.usernameFragment")
        if len(raw) != 1 + ("sdpMid" in raw) + ("sdpMLineIndex" in raw) + (
            "usernameFragment" in raw
        ):
            closed(raw, CANDIDATE_INIT_FIELDS, "candidate.")
        return to, line

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Candidate:
        to, line = cls.read(obj)
        raw = obj["candidate"]
        return cls(
            to=to,
            candidate=IceCandidate(
                line, raw.get("sdpMid"), raw.get("sdpMLineIndex"), raw.get("usernameFragment")
            ),
        )


@dataclass(frozen=True, slots=True)
class IceRestart:
    TYPE: ClassVar[str] = "ice_restart"
    to: str

    @staticmethod
    def read(obj: dict[str, Any]) -> tuple[str, str]:
        if len(obj) != 3 + ("ref" in obj):  # type, v, to
            closed(obj, ICE_RESTART_FIELDS)
        return ident(obj, "to"), ""

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> IceRestart:
        return cls(to=cls.read(obj)[0])


Negotiation = Offer | Answer | Candidate | IceRestart
NEGOTIATION: dict[str, type[Negotiation]] = {
    cls.TYPE: cls for cls in (Offer, Answer, Candidate, IceRestart)
}
