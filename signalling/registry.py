"""Decoding and the allow-lists: what each direction and each role may carry.

Every client frame goes through `decode`, which either returns one frozen
message or raises `SignallingError` with a fixed message; nothing else leaves.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from core.identity import Role
from signalling.errors import ErrorCode, SignallingError
from signalling.messages import (
    Admit,
    Answer,
    BringBack,
    CallBack,
    Candidate,
    ConfirmIdentity,
    End,
    Hello,
    IceRefresh,
    IceRestart,
    Join,
    Leave,
    Mode,
    ModeOffer,
    Notice,
    Offer,
    Ping,
    Quality,
    Reauth,
)
from signalling.messages.base import ClientMessage
from signalling.messages.negotiation import NEGOTIATION
from signalling.messages.recording import RECORDING_MESSAGES
from signalling.messages.test_call import PRECALL_MESSAGES, PRECALL_SERVER_TYPES

VERSION = 1
MAX_DEPTH = 8
MAX_REF = 64

CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    cls.TYPE: cls
    for cls in (
        Hello,
        Ping,
        Reauth,
        Join,
        Admit,
        Leave,
        End,
        Offer,
        Answer,
        Candidate,
        IceRestart,
        Quality,
        Notice,
        ModeOffer,
        Mode,
        CallBack,
        ConfirmIdentity,
        BringBack,
        IceRefresh,
        *PRECALL_MESSAGES,
        *RECORDING_MESSAGES,
    )
}

SERVER_TYPES = frozenset(
    {
        "welcome",
        "pong",
        "error",
        "reauth",
        "room",
        "waiting",
        "arrived",
        "admitted",
        "joined",
        "notice",
        "inbox",
        "offer",
        "answer",
        "candidate",
        "ice_restart",
        "away",
        "reconnected",
        "left",
        "ended",
        "quality",
        "mode_offered",
        "mode",
        "on_hold",
        "ice_servers",
        "recording",
        "recorder_answer",
    }
    | PRECALL_SERVER_TYPES
)
"""What the server may send: the other direction's allow-list."""

BEFORE_HELLO = frozenset({"hello"})
# `test_call` is let through for every role, like `join`, so that staff get
# the explicit refusal (`test_call_refused`, `not_a_device`).
_SESSION = frozenset({"ping", "reauth", "join", "test_call"})
_MEMBER = frozenset(
    {"leave", "offer", "answer", "candidate", "ice_restart", "quality", "mode_offer", "mode", "ice"}
)
# Interpreters, chaperones and officers: in the call, but they never admit, end,
# record, bring back or message the patient (`not_allowed`, nothing changes).
_THIRD_PARTY = _MEMBER - {"mode_offer", "mode"}
_TESTING = frozenset({"test_answer", "test_candidate", "test_report", "test_stop"})
# Recording: the clinician asks and stops; only the patient answers or withdraws.
_RECORDS = frozenset({"record_start", "record_stop", "recorder_offer"})
_CONSENTS = frozenset({"record_answer", "record_withdraw", "recorder_offer"})

ALLOWED_BY_ROLE: dict[Role, frozenset[str]] = {
    Role.PRISONER: _SESSION | _MEMBER | _TESTING | _CONSENTS,
    # Only the clinician chooses a call-back: from a patient it is `not_allowed`.
    Role.CLINICIAN: _SESSION
    | _MEMBER
    | _RECORDS
    | {"admit", "notice", "end", "call_back", "confirm_identity", "bring_back"},
    Role.INTERPRETER: _SESSION | _THIRD_PARTY,
    Role.CHAPERONE: _SESSION | _THIRD_PARTY,
    # An officer joins where invited for the identity check (the join policy says).
    Role.OFFICER: _SESSION | _THIRD_PARTY,
    # Staff who never join a consult may still authenticate; `join` is let
    # through so that they get the explicit refusal rather than `not_allowed`.
    Role.MANAGER: _SESSION,
    Role.ADMIN: _SESSION,
    **{
        role: _SESSION
        for role in Role
        if role
        not in (Role.PRISONER, Role.CLINICIAN, Role.INTERPRETER, Role.CHAPERONE, Role.OFFICER)
    },
}


def _depth_ok(value: Any, limit: int) -> bool:
    """Whether `value` nests at most `limit` containers deep (scalars cost nothing)."""
    if not isinstance(value, dict | list):
        return True
    if limit <= 0:
        return False
    for child in value.values() if isinstance(value, dict) else value:
        if isinstance(child, dict | list) and not _depth_ok(child, limit - 1):
            return False
    return True


def load(frame: str) -> dict[str, Any]:
    """JSON text -> object. Its depth is checked by `check_depth`, or bounded by a closed schema."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        # Rare: the standard parser says why (too deep, malformed) exactly as before.
        try:
            obj = json.loads(frame)
        except RecursionError:
            raise SignallingError(ErrorCode.TOO_DEEP) from None
        except ValueError:
            raise SignallingError(ErrorCode.MALFORMED_JSON) from None
    if not isinstance(obj, dict):
        raise SignallingError(ErrorCode.NOT_AN_OBJECT)
    return obj


def check_depth(obj: dict[str, Any]) -> None:
    if not _depth_ok(obj, MAX_DEPTH):
        raise SignallingError(ErrorCode.TOO_DEEP)


def ref_of(obj: dict[str, Any] | None) -> str | None:
    """The client's `ref`, echoed in an error it causes (if it is a short string)."""
    raw_ref = obj.get("ref") if obj is not None else None
    return raw_ref if isinstance(raw_ref, str) and len(raw_ref) <= MAX_REF else None


def parse_frame(frame: str) -> tuple[dict[str, Any], str | None]:
    """JSON text -> (object, the client's `ref`), checking shape, depth and version."""
    obj = load(frame)
    check_depth(obj)
    return obj, ref_of(obj)


def _check_version(obj: dict[str, Any]) -> None:
    version = obj.get("v")
    if version != VERSION or version.__class__ is not int:  # not True, not 1.0
        raise SignallingError(ErrorCode.UNSUPPORTED_VERSION)


def decode(obj: dict[str, Any]) -> ClientMessage:
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in CLIENT_MESSAGES:
        raise SignallingError(ErrorCode.UNKNOWN_TYPE)
    _check_version(obj)
    return CLIENT_MESSAGES[kind].parse(obj)


def read_negotiation(obj: dict[str, Any], kind: str) -> tuple[str, str]:
    """For the relay: check a frame whose `type` is in `NEGOTIATION` as `decode` would,
    and return its recipient and its SDP or candidate line (no value is built)."""
    _check_version(obj)
    if "ref" in obj and ref_of(obj) is None:  # forwarded with the rest, so it must be valid
        raise SignallingError(ErrorCode.INVALID_FIELD, field="ref")
    return NEGOTIATION[kind].read(obj)


def allowed(role: Role | None, kind: str) -> bool:
    if role is None:
        return kind in BEFORE_HELLO
    return kind in ALLOWED_BY_ROLE.get(role, frozenset())


def encode(body: dict[str, Any], seq: int) -> str:
    """A server message with its `seq`; the type must be on the server allow-list."""
    if body.get("type") not in SERVER_TYPES:
        raise ValueError("not a server message type")
    return orjson.dumps({"seq": seq, **body}).decode()
