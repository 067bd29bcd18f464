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

from signalling.messages.base import choice

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


RECORDING_MESSAGES = (RecordStart, RecordAnswer, RecordWithdraw, RecordStop)
