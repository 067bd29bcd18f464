"""Session family: hello (authentication, optional resume), ping, reauth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from signalling.messages.base import _bad, number, text

MAX_TOKEN = 4096


@dataclass(frozen=True)
class ResumeRequest:
    token: str
    last_seq: int


@dataclass(frozen=True)
class Hello:
    """`token` may be left out by a browser page signed in with the session
    cookie: the server then uses the cookie its upgrade request carried."""

    TYPE: ClassVar[str] = "hello"
    token: str | None
    resume: ResumeRequest | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Hello:
        token = text(obj, "token", max_len=MAX_TOKEN) if obj.get("token") is not None else None
        raw = obj.get("resume")
        resume = None
        if raw is not None:
            if not isinstance(raw, dict):
                raise _bad("resume")
            resume = ResumeRequest(
                token=text(raw, "token", max_len=128),
                last_seq=int(number(raw, "last_seq", maximum=2**53, integer=True)),
            )
        return cls(token=token, resume=resume)


@dataclass(frozen=True)
class Ping:
    TYPE: ClassVar[str] = "ping"

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Ping:
        return cls()


@dataclass(frozen=True)
class Reauth:
    TYPE: ClassVar[str] = "reauth"
    token: str

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Reauth:
        return cls(token=text(obj, "token", max_len=MAX_TOKEN))
