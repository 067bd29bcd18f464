"""Building aiortc peer connections the way the product wants them.

Two rules the defaults would break: an `RTCConfiguration` without
`iceServers` makes aiortc reach out to a public STUN server, so the list is
always passed (empty if need be); and a relay-only participant sets
`iceTransportPolicy` to relay, so it gathers no host candidates at all and
can reach nothing but the TURN relay, as an in-cell device must.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
)
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from aiortc.sdp import candidate_from_sdp, candidate_to_sdp

from media.tracks import LocalMedia

_CANDIDATE_LINE = re.compile(r"^a=candidate:(.+)$", re.MULTILINE)
_CANDIDATE_TYPE = re.compile(r" typ (\w+)")


def rtc_configuration(
    ice_servers: Iterable[Mapping[str, Any]], *, relay_only: bool
) -> RTCConfiguration:
    servers = [
        RTCIceServer(
            urls=list(s["urls"]) if not isinstance(s["urls"], str) else s["urls"],
            username=s.get("username"),
            credential=s.get("credential"),
        )
        for s in ice_servers
    ]
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def create_peer(configuration: RTCConfiguration, media: LocalMedia) -> RTCPeerConnection:
    """A peer connection that sends `media` and receives audio and video.

    Video prefers VP8, the codec every browser we support decodes in software.
    """
    pc = RTCPeerConnection(configuration)
    for kind, track in (("audio", media.audio), ("video", media.video)):
        if track is not None:
            pc.addTrack(track)
        else:
            pc.addTransceiver(kind, direction="recvonly")
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            caps = RTCRtpSender.getCapabilities("video")
            vp8 = [c for c in caps.codecs if c.mimeType.lower() in ("video/vp8", "video/rtx")]
            transceiver.setCodecPreferences(vp8)
    return pc


def sdp_candidates(sdp: str) -> list[str]:
    """The `candidate:...` attribute values embedded in an SDP."""
    return [f"candidate:{m}" for m in _CANDIDATE_LINE.findall(sdp)]


def candidate_types(sdp: str) -> set[str]:
    return {m for line in sdp_candidates(sdp) for m in _CANDIDATE_TYPE.findall(line)}


def parse_candidate(
    candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
) -> RTCIceCandidate:
    """A browser-style `candidate:...` string as an aiortc candidate."""
    text = candidate.removeprefix("a=").removeprefix("candidate:")
    parsed = candidate_from_sdp(text)
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


def format_candidate(candidate: RTCIceCandidate) -> str:
    return "candidate:" + candidate_to_sdp(candidate)
