"""Call mode family: the fallback ladder, video -> audio only -> call back.

A member whose page sees the video failing offers audio only (`mode_offer`);
either member then moves the call (`mode`); the clinician alone chooses a
call-back (`call_back`). The mode lives in the room, so both pages follow it
and a page that comes back reads it from the room snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import choice

MODES = frozenset({"video", "audio"})
CAUSES = frozenset({"ice_failed", "high_loss", "low_bitrate", "chosen"})
"""Why a step was taken: ICE failed after a restart, loss over 10% or received
bitrate under 150 kbit/s for 10 s (measured by the page), or a person chose it."""
AUTOMATIC = CAUSES - {"chosen"}


@dataclass(frozen=True)
class ModeOffer:
    TYPE: ClassVar[str] = "mode_offer"
    cause: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> ModeOffer:
        return cls(cause=choice(obj, "cause", AUTOMATIC))


@dataclass(frozen=True)
class Mode:
    TYPE: ClassVar[str] = "mode"
    mode: str
    cause: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Mode:
        return cls(mode=choice(obj, "mode", MODES), cause=choice(obj, "cause", CAUSES))


@dataclass(frozen=True)
class CallBack:
    TYPE: ClassVar[str] = "call_back"
    cause: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> CallBack:
        return cls(cause=choice(obj, "cause", CAUSES))
