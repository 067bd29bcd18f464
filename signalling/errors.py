"""The signalling error vocabulary and close codes, translated to the wire here only.

A client sees a stable `code` and the fixed `message` for it; anything an
operator needs goes in `debug_context`, which is logged, never sent.
"""

from __future__ import annotations

from enum import Enum, IntEnum
from typing import Any


class Close(IntEnum):
    NORMAL = 1000
    FLOOD = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    RESTART = 1012
    TRY_LATER = 1013
    AUTH_FAILED = 4001
    HELLO_TIMEOUT = 4002
    REPLACED = 4003
    TOKEN_EXPIRED = 4004
    SIGNED_OUT = 4005
    SESSION_REVOKED = 4006
    DEVICE_REVOKED = 4007
    ACCOUNT_DISABLED = 4008
    RELEASED = 4009
    SUPERSEDED = 4010


CLOSE_REASONS: dict[Close, str] = {
    Close.NORMAL: "goodbye",
    Close.FLOOD: "too many messages",
    Close.TOO_BIG: "message too big",
    Close.INTERNAL: "internal error",
    Close.RESTART: "reconnect elsewhere",
    Close.TRY_LATER: "try again later",
    Close.AUTH_FAILED: "authentication failed",
    Close.HELLO_TIMEOUT: "no hello",
    Close.REPLACED: "replaced by a newer connection",
    Close.TOKEN_EXPIRED: "token expired",
    Close.SIGNED_OUT: "signed out",
    Close.SESSION_REVOKED: "session revoked",
    Close.DEVICE_REVOKED: "device revoked",
    Close.ACCOUNT_DISABLED: "account disabled",
    Close.RELEASED: "released",
    Close.SUPERSEDED: "replaced: too many connections for this account",
}


class ErrorCode(Enum):
    """slug, fixed message."""

    MALFORMED_JSON = ("malformed_json", "The message is not valid JSON.")
    NOT_AN_OBJECT = ("not_an_object", "The message must be a JSON object.")
    BINARY_NOT_SUPPORTED = ("binary_not_supported", "Send text frames only.")
    TOO_DEEP = ("too_deep", "The message is nested too deeply.")
    UNKNOWN_TYPE = ("unknown_type", "The message type is not known.")
    UNSUPPORTED_VERSION = ("unsupported_version", "This protocol version is not supported.")
    INVALID_FIELD = ("invalid_field", "A field is missing or has the wrong type.")
    UNKNOWN_FIELD = ("unknown_field", "This message has a field the protocol does not define.")
    NOT_AUTHENTICATED = ("not_authenticated", "Send hello first.")
    INVALID_TOKEN = ("invalid_token", "The access token is not valid, has expired or was revoked.")
    ALREADY_AUTHENTICATED = ("already_authenticated", "This connection is already authenticated.")
    NOT_ALLOWED = ("not_allowed", "You cannot send this message now.")
    RATE_LIMITED = ("rate_limited", "Too many messages. Slow down.")
    JOIN_REFUSED = ("join_refused", "You cannot join this consult.")
    ALREADY_IN_ROOM = ("already_in_room", "This connection is already in a consult.")
    NOT_IN_ROOM = ("not_in_room", "Join a consult first.")
    ROOM_ENDED = ("room_ended", "This consult has ended.")
    NOT_A_MEMBER = ("not_a_member", "That participant is not in this consult.")
    NOT_ADMITTED = ("not_admitted", "Wait to be admitted.")
    NOT_WAITING = ("not_waiting", "That participant is not waiting.")
    INVALID_TRANSITION = ("invalid_transition", "The consult cannot do that now.")
    SDP_INVALID = ("sdp_invalid", "The session description is not valid.")
    DATA_CHANNEL_REFUSED = (
        "data_channel_refused",
        "Data channels are not allowed from this device.",
    )
    CANDIDATE_REFUSED = (
        "candidate_refused",
        "Only relay candidates are allowed from this device.",
    )
    RESUME_FAILED = ("resume_failed", "The consult could not be resumed. Join again.")
    REAUTH_REFUSED = ("reauth_refused", "The new token is not valid for this connection.")
    UNAVAILABLE = ("unavailable", "The service cannot do that now. Try again.")
    VIDEO_REQUIRED = ("video_required", "This consult needs video: it cannot go audio only.")
    TOO_MANY_CONNECTIONS = (
        "too_many_connections",
        "Too many connections in a short time. Wait retry_after_s seconds, then connect again.",
    )
    ROOM_FULL = (
        "room_full",
        "This consult already has four people: nobody else can join.",
    )
    ON_HOLD = ("on_hold", "You are on hold: wait to be brought back.")
    PARTICIPANT_ON_HOLD = (
        "participant_on_hold",
        "That participant is on hold: nothing is passed to or from them.",
    )
    TEST_CALL_REFUSED = ("test_call_refused", "You cannot start a test call now.")
    NOT_TESTING = ("not_testing", "There is no test call in progress.")
    RECORDING_REFUSED = ("recording_refused", "This consult cannot be recorded now.")

    @property
    def slug(self) -> str:
        return self.value[0]

    @property
    def message(self) -> str:
        return self.value[1]


class SignallingError(Exception):
    """A refusal: sent as `error`, and, when `close` is set, the connection is closed."""

    def __init__(
        self,
        code: ErrorCode,
        *,
        field: str | None = None,
        reason: str | None = None,
        close: Close | None = None,
        retry_after_s: int | None = None,
        debug_context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code.slug)
        self.code = code
        self.field = field
        self.reason = reason
        self.close = close
        self.retry_after_s = retry_after_s
        self.debug_context = debug_context or {}

    def __repr__(self) -> str:
        return f"SignallingError({self.code.slug!r})"

    def to_wire(self, ref: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "error",
            "v": 1,
            "code": self.code.slug,
            "message": self.code.message,
        }
        if self.field is not None:
            body["field"] = self.field
        if self.reason is not None:
            body["reason"] = self.reason
        if self.retry_after_s is not None:
            body["retry_after_s"] = self.retry_after_s
        if ref is not None:
            body["ref"] = ref
        return body
