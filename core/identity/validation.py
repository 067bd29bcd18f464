"""Shapes of the identifiers people type. Everything typed is untrusted."""

from __future__ import annotations

import re

from core.config import EMAIL
from core.errors import Code, ServiceError

PRISON_NUMBER = re.compile(r"^[A-Z][0-9]{4}[A-Z]{2}$")
PIN = re.compile(r"^[0-9]{4,8}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
TOTP = re.compile(r"^[0-9]{6}$")
ESTABLISHMENT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
MIN_PASSWORD = 12
MAX_SECRET = 256


def prison_number(value: object) -> str:
    refusal = ServiceError(
        Code.INVALID_REQUEST,
        "A prison number looks like A1234BC.",
        extra={"reason": "bad_prison_number"},
    )
    if not isinstance(value, str):
        raise refusal
    normalised = value.strip().upper()
    if not PRISON_NUMBER.match(normalised):
        raise refusal
    return normalised


def pin(value: object) -> str:
    if not isinstance(value, str) or not PIN.match(value):
        raise ServiceError(
            Code.INVALID_REQUEST, "A PIN is 4 to 8 digits.", extra={"reason": "bad_pin"}
        )
    return value


def username(value: object) -> str:
    if not isinstance(value, str) or not USERNAME.match(value.strip().lower()):
        raise ServiceError(
            Code.INVALID_REQUEST,
            "A username is 3 to 64 lower-case letters, digits, dots, dashes or underscores.",
        )
    return value.strip().lower()


def password(value: object) -> str:
    if not isinstance(value, str) or not MIN_PASSWORD <= len(value) <= MAX_SECRET:
        raise ServiceError(Code.INVALID_REQUEST, "A password is 12 to 256 characters.")
    return value


def totp_code(value: object) -> str:
    if not isinstance(value, str) or not TOTP.match(value.strip()):
        raise ServiceError(Code.INVALID_REQUEST, "The sign-in code is 6 digits.")
    return value.strip()


def display_name(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= 200:
        raise ServiceError(
            Code.INVALID_REQUEST, "A name is 1 to 200 characters.", extra={"reason": "bad_name"}
        )
    return value.strip()


def establishment_code(value: object) -> str:
    if not isinstance(value, str) or not ESTABLISHMENT_CODE.match(value.strip().upper()):
        raise ServiceError(
            Code.INVALID_REQUEST, "An establishment code is 2 to 32 letters or digits."
        )
    return value.strip().upper()


def sex(value: object) -> str | None:
    if value is None:
        return None
    if value not in ("F", "M", "X"):
        raise ServiceError(Code.INVALID_REQUEST, "Sex is F, M or X.", extra={"reason": "bad_sex"})
    return str(value)


def email(value: object) -> str:
    if not isinstance(value, str) or len(value.strip()) > 254 or not EMAIL.fullmatch(value.strip()):
        raise ServiceError(Code.INVALID_REQUEST, "An email address looks like name@example.org.")
    local, _, domain = value.strip().rpartition("@")
    return f"{local}@{domain.lower()}"
