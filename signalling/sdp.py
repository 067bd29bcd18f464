"""Checks on session descriptions and candidates. They read, never rewrite.

A device reaches nothing but our TURN relay: it may not open a data channel,
and in a relay-only establishment only `typ relay` candidates leave it.
"""

from __future__ import annotations

from signalling.errors import ErrorCode, SignallingError


def candidate_type(line: str) -> str | None:
    parts = line.split()
    for i in range(len(parts) - 1):
        if parts[i] == "typ":
            return parts[i + 1]
    return None


def check_candidate(line: str, *, device: bool, relay_only: bool) -> None:
    if line == "":
        return
    if not (line.startswith("candidate:") or line.startswith("a=candidate:")):
        raise SignallingError(ErrorCode.CANDIDATE_REFUSED if device else ErrorCode.SDP_INVALID)
    if device and relay_only and candidate_type(line) != "relay":
        raise SignallingError(ErrorCode.CANDIDATE_REFUSED)


def check_sdp(sdp: str, *, device: bool, relay_only: bool) -> None:
    if not sdp.startswith("v=0"):
        raise SignallingError(ErrorCode.SDP_INVALID)
    if not device:
        return
    if "m=application" in sdp:
        raise SignallingError(ErrorCode.DATA_CHANNEL_REFUSED)
    if relay_only and "a=candidate:" in sdp:
        for line in sdp.splitlines():
            if line.startswith("a=candidate:") and candidate_type(line) != "relay":
                raise SignallingError(ErrorCode.CANDIDATE_REFUSED)
