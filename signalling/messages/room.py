"""Room family: join (with the pre-call check), admit, leave, end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import _bad, choice, ident

CHECK_RESULTS = frozenset({"ok", "poor", "fail"})
CHECK_FIELDS = ("camera", "microphone", "network")
END_REASONS = frozenset({"completed", "patient_unwell", "technical", "safeguarding", "other"})


@dataclass(frozen=True)
class Check:
    """The device's pre-call check, shown to the clinician in the waiting room."""

    camera: str
    microphone: str
    network: str

    def to_wire(self) -> dict[str, str]:
        return {"camera": self.camera, "microphone": self.microphone, "network": self.network}


@dataclass(frozen=True)
class Join:
    TYPE: ClassVar[str] = "join"
    appointment: str
    check: Check | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Join:
        appointment = ident(obj, "appointment")
        raw = obj.get("check")
        check = None
        if raw is not None:
            if not isinstance(raw, dict):
                raise _bad("check")
            values = [choice(raw, name, CHECK_RESULTS) for name in CHECK_FIELDS]
            check = Check(*values)
        return cls(appointment=appointment, check=check)


@dataclass(frozen=True)
class Admit:
    TYPE: ClassVar[str] = "admit"
    participant: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Admit:
        return cls(participant=ident(obj, "participant"))


@dataclass(frozen=True)
class Leave:
    TYPE: ClassVar[str] = "leave"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Leave:
        return cls()


@dataclass(frozen=True)
class End:
    TYPE: ClassVar[str] = "end"
    reason: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> End:
        return cls(reason=choice(obj, "reason", END_REASONS))


@dataclass(frozen=True)
class ConfirmIdentity:
    """The clinician saw the officer confirm the patient's identity: officers go on hold."""

    TYPE: ClassVar[str] = "confirm_identity"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> ConfirmIdentity:
        return cls()


@dataclass(frozen=True)
class BringBack:
    """The clinician brings a member on hold back into the call."""

    TYPE: ClassVar[str] = "bring_back"
    participant: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> BringBack:
        return cls(participant=ident(obj, "participant"))


@dataclass(frozen=True)
class IceRefresh:
    """A member asks for fresh relay credentials before its short-lived ones run out."""

    TYPE: ClassVar[str] = "ice"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> IceRefresh:
        return cls()
