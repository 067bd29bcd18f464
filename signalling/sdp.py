"""Checks on session descriptions and candidates. They read, never rewrite.

A device reaches nothing but our TURN relay: it may not open a data channel,
and in a relay-only establishment only `typ relay` candidates leave it.
"""

from __future__ import annotations

from signalling.errors import ErrorCode, SignallingError


def candidate_type(line: str) -> str | None:
    """The candidate type, read where RFC 8839 puts it (the word after `typ`, the 7th).

    Read by position, as a browser reads it: a `typ` anywhere else, or a line
    split by anything but single spaces, has no type and is refused from a device.
    """
    at = line.find(" typ ")
    if at < 0 or line.count(" ", 0, at) != 5:  # `typ` must be the seventh field
        return None
    start = at + 5
    end = line.find(" ", start)
    return line[start:end] if end >= 0 else line[start:]


def check_candidate(line: str, *, device: bool, relay_only: bool) -> None:
    if line == "":
        return
    if not line.startswith(("candidate:", "a=candidate:")):
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
