"""Field readers shared by the message families; each raises one fixed error."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from signalling.errors import ErrorCode, SignallingError

MAX_ID = 64


class ClientMessage(Protocol):
    TYPE: ClassVar[str]

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> ClientMessage: ...


def _bad(name: str) -> SignallingError:
    return SignallingError(ErrorCode.INVALID_FIELD, field=name)


def text(obj: dict[str, Any], name: str, *, max_len: int, min_len: int = 1) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not min_len <= len(value) <= max_len:
        raise _bad(name)
    return value


def ident(obj: dict[str, Any], name: str) -> str:
    value = text(obj, name, max_len=MAX_ID)
    if not value.isprintable():
        raise _bad(name)
    return value


def number(obj: dict[str, Any], name: str, *, maximum: float, integer: bool = False) -> float:
    value = obj.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(name)
    if integer and not isinstance(value, int):
        raise _bad(name)
    if not 0 <= value <= maximum:
        raise _bad(name)
    return float(value)


def flag(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name)
    return value


def choice(obj: dict[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise _bad(name)
    return value
