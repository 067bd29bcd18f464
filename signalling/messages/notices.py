"""Notices: a clinician's short message to the patient ("running 10 minutes late")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import _bad, text

MAX_NOTICE = 280


@dataclass(frozen=True)
class Notice:
    TYPE: ClassVar[str] = "notice"
    text: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Notice:
        value = text(obj, "text", max_len=MAX_NOTICE)
        if not value.strip() or any(ord(c) < 32 and c not in "\n" for c in value):
            raise _bad("text")
        return cls(text=value)
