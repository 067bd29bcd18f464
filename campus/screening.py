"""Screening what education staff put in a lesson, before anyone approves it.

Pure functions, blocking (nh3, pikepdf): the service runs them in a thread.

- `clean_html`: the lesson's text through nh3 with a small allow-list of tags; a link
  keeps its `href` only if it stays on this service (a path, not another host or a
  scheme), so a lesson cannot send a learner out of the prison network. What was taken
  out is named, so the editor can say so.
- `screen_file`: the real type from the bytes (`filetype`), which must be the type the
  uploader claimed and one the campus allows; a size limit; and a PDF opened with
  pikepdf and refused if anything in it could run (JavaScript, a launch action), carry
  another file (embedded files) or point elsewhere (URI actions, remote go-to, forms
  that submit).
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import filetype
import nh3
import pikepdf

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_HTML = 20_000

TAGS = {
    "p",
    "br",
    "h2",
    "h3",
    "h4",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "ul",
    "ol",
    "li",
    "blockquote",
    "a",
}
ATTRIBUTES = {"a": {"href"}}
# Something in the input that can only be there to run or pull in: named when removed.
RISKY = re.compile(
    r"<\s*/?\s*(script|style|iframe|object|embed|svg|math|form|input|link|meta|base)\b"
    r"|\son[a-z]+\s*=|javascript\s*:|data\s*:",
    re.IGNORECASE,
)

# The types a lesson may carry: the declared type (and its aliases) -> the kind.
ALLOWED = {
    "image/png": "image",
    "image/jpeg": "image",
    "image/webp": "image",
    "audio/mpeg": "audio",
    "audio/ogg": "audio",
    "audio/x-wav": "audio",
    "application/pdf": "pdf",
}
ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "audio/mp3": "audio/mpeg",
    "audio/wav": "audio/x-wav",
    "audio/wave": "audio/x-wav",
    "audio/vnd.wave": "audio/x-wav",
}


class Refusal(StrEnum):
    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TYPE_NOT_ALLOWED = "type_not_allowed"
    TYPE_MISMATCH = "type_mismatch"
    PDF_UNREADABLE = "pdf_unreadable"
    PDF_ENCRYPTED = "pdf_encrypted"
    PDF_SCRIPT = "pdf_script"
    PDF_LAUNCH = "pdf_launch"
    PDF_EMBEDDED_FILE = "pdf_embedded_file"
    PDF_EXTERNAL_LINK = "pdf_external_link"


MESSAGES = {
    Refusal.EMPTY: "The file is empty.",
    Refusal.TOO_LARGE: f"A file is at most {MAX_FILE_BYTES // (1024 * 1024)} MB.",
    Refusal.TYPE_NOT_ALLOWED: "A lesson file is a PNG, JPEG or WebP image, MP3, Ogg or WAV "
    "audio, or a PDF.",
    Refusal.TYPE_MISMATCH: "The file is not the type it says it is.",
    Refusal.PDF_UNREADABLE: "The PDF cannot be read.",
    Refusal.PDF_ENCRYPTED: "The PDF is locked with a password.",
    Refusal.PDF_SCRIPT: "The PDF contains a script.",
    Refusal.PDF_LAUNCH: "The PDF tries to start a program.",
    Refusal.PDF_EMBEDDED_FILE: "The PDF carries another file inside it.",
    Refusal.PDF_EXTERNAL_LINK: "The PDF links to another site or sends a form.",
}


class ScreenError(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Cleaned:
    html: str
    # What was taken out: "script", "external_link", "other".
    removed: tuple[str, ...]


@dataclass(frozen=True)
class Screened:
    kind: str
    mime: str
    size: int
    sha256: str


def local_href(value: str) -> bool:
    """A link that stays on this service: a path or a fragment, never a host or scheme."""
    value = value.strip()
    if not value or value.startswith(("//", "\\")) or "\\" in value:
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def clean_html(html: str) -> Cleaned:
    dropped: list[str] = []

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href" and not local_href(value):
            dropped.append(value)
            return None
        return value

    cleaned = nh3.clean(
        html,
        tags=TAGS,
        attributes=ATTRIBUTES,
        attribute_filter=keep,
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()
    removed = []
    if RISKY.search(html):
        removed.append("script")
    if dropped:
        removed.append("external_link")
    if not removed and _squash(cleaned) != _squash(html):
        removed.append("other")
    return Cleaned(cleaned, tuple(removed))


def _squash(html: str) -> str:
    return re.sub(r"\s+", " ", html.replace("'", '"')).strip()


def declared_type(value: str | None) -> str:
    mime = (value or "").split(";")[0].strip().lower()
    return ALIASES.get(mime, mime)


def screen_file(data: bytes, claimed: str | None) -> Screened:
    """The file's checked type, or a `ScreenError` naming why it is refused."""
    if not data:
        raise ScreenError(Refusal.EMPTY)
    if len(data) > MAX_FILE_BYTES:
        raise ScreenError(Refusal.TOO_LARGE)
    mime = declared_type(claimed)
    if mime not in ALLOWED:
        raise ScreenError(Refusal.TYPE_NOT_ALLOWED)
    found = filetype.guess(data)
    actual = ALIASES.get(found.mime, found.mime) if found is not None else None
    if actual != mime:
        raise ScreenError(Refusal.TYPE_MISMATCH)
    if mime == "application/pdf":
        check_pdf(data)
    return Screened(ALLOWED[mime], mime, len(data), hashlib.sha256(data).hexdigest())


# Name objects whose presence anywhere in the document refuses it, and why.
_KEYS = {
    "/JS": Refusal.PDF_SCRIPT,
    "/JavaScript": Refusal.PDF_SCRIPT,
    "/EmbeddedFiles": Refusal.PDF_EMBEDDED_FILE,
    "/EmbeddedFile": Refusal.PDF_EMBEDDED_FILE,
    "/EF": Refusal.PDF_EMBEDDED_FILE,
    "/RichMedia": Refusal.PDF_EMBEDDED_FILE,
    "/XFA": Refusal.PDF_SCRIPT,
}
# Action types (an action dictionary's /S) and why.
_ACTIONS = {
    "/JavaScript": Refusal.PDF_SCRIPT,
    "/Rendition": Refusal.PDF_SCRIPT,
    "/Launch": Refusal.PDF_LAUNCH,
    "/URI": Refusal.PDF_EXTERNAL_LINK,
    "/GoToR": Refusal.PDF_EXTERNAL_LINK,
    "/GoToE": Refusal.PDF_EMBEDDED_FILE,
    "/SubmitForm": Refusal.PDF_EXTERNAL_LINK,
    "/ImportData": Refusal.PDF_EXTERNAL_LINK,
}


def check_pdf(data: bytes) -> None:
    try:
        pdf = pikepdf.open(io.BytesIO(data))
    except pikepdf.PasswordError:
        raise ScreenError(Refusal.PDF_ENCRYPTED) from None
    except (pikepdf.PdfError, ValueError, OSError):
        raise ScreenError(Refusal.PDF_UNREADABLE) from None
    with pdf:
        if pdf.is_encrypted:
            raise ScreenError(Refusal.PDF_ENCRYPTED)
        seen: set[tuple[int, int]] = set()
        _walk(pdf.trailer, seen, 0)
        # Objects the trailer does not reach (orphans) are read too: a viewer that
        # repairs a file may find them by scanning.
        for obj in pdf.objects:
            _walk(obj, seen, 0)


def _walk(obj: Any, seen: set[tuple[int, int]], depth: int) -> None:
    if depth > 200:
        raise ScreenError(Refusal.PDF_UNREADABLE)
    if isinstance(obj, pikepdf.Object) and obj.is_indirect:
        if obj.objgen in seen:
            return
        seen.add(obj.objgen)
    if isinstance(obj, pikepdf.Dictionary | pikepdf.Stream):
        keys = set(obj.keys())
        for key, reason in _KEYS.items():
            if key in keys:
                raise ScreenError(reason)
        kind = obj.get("/S")
        if isinstance(kind, pikepdf.Name) and str(kind) in _ACTIONS:
            raise ScreenError(_ACTIONS[str(kind)])
        kind = obj.get("/Type")
        if isinstance(kind, pikepdf.Name) and str(kind) in ("/Filespec", "/EmbeddedFile"):
            raise ScreenError(Refusal.PDF_EMBEDDED_FILE)
        for key in keys:
            _walk(obj.get(key), seen, depth + 1)
    elif isinstance(obj, pikepdf.Array):
        for item in obj:
            _walk(item, seen, depth + 1)
