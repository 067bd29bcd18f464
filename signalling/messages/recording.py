"""Recording family: the clinician asks to record, the patient's device answers.

`record_start` (the appointment's clinician) asks the patient, `record_answer`
(the patient, on their device) gives or declines, `record_withdraw` (the
patient) stops a recording at once, `record_stop` (the clinician) stops it.
The room's recording state reaches every member as `recording`
(signalling/room_recording.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import choice, text

MAX_SDP = 64 * 1024
DECISIONS = frozenset({"given", "declined"})
LANGUAGES = frozenset({"en", "cy"})


@dataclass(frozen=True)
class RecordStart:
    TYPE: ClassVar[str] = "record_start"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RecordStart:
        return cls()


@dataclass(frozen=True)
class RecordAnswer:
    TYPE: ClassVar[str] = "record_answer"
    decision: str
    language: str = "en"
    """The language the device asked in (kept with the consent)."""

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RecordAnswer:
        language = choice(obj, "language", LANGUAGES) if "language" in obj else "en"
        return cls(decision=choice(obj, "decision", DECISIONS), language=language)

    @property
    def given(self) -> bool:
        return self.decision == "given"


@dataclass(frozen=True)
class RecordWithdraw:
    TYPE: ClassVar[str] = "record_withdraw"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RecordWithdraw:
        return cls()


@dataclass(frozen=True)
class RecordStop:
    TYPE: ClassVar[str] = "record_stop"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RecordStop:
        return cls()


@dataclass(frozen=True)
class RecorderOffer:
    """A member's offer of its media to the recorder (send-only on its side), with every
    candidate in the SDP: the recorder answers in `recorder_answer` and never trickles."""

    TYPE: ClassVar[str] = "recorder_offer"
    sdp: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> RecorderOffer:
        return cls(sdp=text(obj, "sdp", max_len=MAX_SDP))


RECORDING_MESSAGES = (RecordStart, RecordAnswer, RecordWithdraw, RecordStop, RecorderOffer)
