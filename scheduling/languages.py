"""The languages an interpreter may be invited for: codes from a fixed list, never free text.

A free-text "language" field would be one more place where someone types what the
consult is about; a code from this list carries only the language. Codes are ISO 639-3
(British Sign Language is `bfi`); pages name them in the reader's language from the
`language.<code>` keys of web/i18n.
"""

from __future__ import annotations

from core.errors import Code, ServiceError

LANGUAGES = (
    "bfi",  # British Sign Language
    "cym",  # Welsh
    "pol",
    "ron",
    "lit",
    "sqi",  # Albanian
    "ara",
    "ben",
    "cmn",  # Mandarin
    "yue",  # Cantonese
    "fas",
    "fra",
    "guj",
    "hin",
    "kur",
    "pan",
    "por",
    "rus",
    "som",
    "spa",
    "tir",
    "tur",
    "urd",
    "vie",
)


def language(value: object) -> str:
    """A language code of the list, or a clear refusal."""
    if not isinstance(value, str) or value.strip().lower() not in LANGUAGES:
        raise ServiceError(
            Code.INVALID_REQUEST,
            "The language is one of: " + ", ".join(LANGUAGES) + ".",
            extra={"reason": "bad_language"},
        )
    return value.strip().lower()
