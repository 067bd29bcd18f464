"""The service's small error vocabulary.

Domain code raises `ServiceError(Code.X)`; the web edge turns it into
problem+json and the signalling edge into a WebSocket error or close code, each
in exactly one place. The message a client sees is fixed per code, so nothing
from an exception's internals (a health detail, a SQL fragment) can leak out.
Anything an operator needs goes in `debug_context`, which is logged, never sent.
"""

from __future__ import annotations

from enum import Enum
from typing import Any


class Code(Enum):
    """code, HTTP status, fixed message."""

    INVALID_REQUEST = ("invalid_request", 400, "The request is not valid.")
    MALFORMED_JSON = ("malformed_json", 400, "The request body is not valid JSON.")
    BODY_TOO_LARGE = ("body_too_large", 413, "The request body is too large.")
    UNSUPPORTED_MEDIA_TYPE = ("unsupported_media_type", 415, "Send the body as application/json.")
    NOT_FOUND = ("not_found", 404, "There is nothing at this address.")
    METHOD_NOT_ALLOWED = ("method_not_allowed", 405, "This method is not allowed here.")
    UNAUTHENTICATED = ("unauthenticated", 401, "Sign in first.")
    INVALID_TOKEN = ("invalid_token", 401, "The access token is not valid.")
    TOKEN_EXPIRED = ("token_expired", 401, "The access token has expired.")
    SESSION_REVOKED = ("session_revoked", 401, "This session has ended. Sign in again.")
    INVALID_CREDENTIALS = ("invalid_credentials", 401, "The sign-in details are not right.")
    LOCKED_OUT = ("locked_out", 423, "Too many wrong attempts. Try again in 15 minutes.")
    DEVICE_NOT_ENROLLED = ("device_not_enrolled", 401, "This device is not enrolled.")
    DEVICE_NOT_ALLOWED = ("device_not_allowed", 403, "This device cannot be used for this account.")
    ENROLMENT_CODE_INVALID = (
        "enrolment_code_invalid",
        400,
        "The enrolment code is not valid, has expired or was already used.",
    )
    REFRESH_TOKEN_INVALID = ("refresh_token_invalid", 401, "The refresh token is not valid.")
    REFRESH_TOKEN_REUSED = (
        "refresh_token_reused",
        401,
        "This refresh token was already used; the session has been ended.",
    )
    CSRF_FAILED = ("csrf_failed", 403, "The request could not be verified. Reload and try again.")
    FORBIDDEN = ("forbidden", 403, "You are not allowed to do this.")
    CONFLICT = ("conflict", 409, "This conflicts with the current state.")
    EMAIL_NOT_SENT = ("email_not_sent", 502, "The email could not be sent.")
    EMAIL_LINK_INVALID = (
        "email_link_invalid",
        400,
        "This link is not valid, has expired or was already used.",
    )
    # A module suspended by a lockdown at the prisoner's establishment.
    LOCKDOWN = ("lockdown", 423, "This is closed during the lockdown.")
    RATE_LIMITED = ("rate_limited", 429, "Too many requests. Slow down.")
    UNAVAILABLE = ("unavailable", 503, "The service is not ready.")
    STORE_UNAVAILABLE = (
        "store_unavailable",
        503,
        "The service cannot reach its records just now. Try again shortly.",
    )
    # media/recordings.py: a range past the end, a shredded subject's recording, and a
    # stored recording that no longer authenticates (refused, and logged).
    RANGE_NOT_SATISFIABLE = (
        "range_not_satisfiable",
        416,
        "The range asked for is beyond the end of the recording.",
    )
    RECORDING_SHREDDED = ("recording_shredded", 410, "This recording can no longer be played.")
    RECORDING_DAMAGED = (
        "recording_damaged",
        409,
        "This recording failed its integrity check and cannot be played.",
    )
    INTERNAL = ("internal_error", 500, "Something went wrong on our side.")

    @property
    def slug(self) -> str:
        return self.value[0]

    @property
    def status(self) -> int:
        return self.value[1]

    @property
    def message(self) -> str:
        return self.value[2]


class ServiceError(Exception):
    """A refusal the client is allowed to know about.

    `detail` must be a fixed, non-sensitive sentence chosen by the raiser (it is
    sent); `debug_context` is for logs only.
    """

    def __init__(
        self,
        code: Code,
        detail: str | None = None,
        *,
        debug_context: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(code.slug)
        self.code = code
        self.detail = detail
        self.debug_context = debug_context or {}
        self.extra = extra or {}

    def __repr__(self) -> str:
        return f"ServiceError({self.code.slug!r})"
