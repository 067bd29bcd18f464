"""What a programme session holds, and what an answer to each exercise may be.

Pure functions, no I/O: a session's content (`parse_session`) is checked once when a
programme is made, and an answer (`check_answer`) before anything is written, so a
refused answer changes nothing. Each exercise is one of:

- `text`: a free-text answer, plain text of up to `MAX_TEXT` characters;
- `choice`: one of the exercise's options, by its value;
- `plan`: the personal plan, three lists (triggers, ways to avoid them, ways to cope)
  of up to `MAX_PLAN_ITEMS` entries each, every entry plain text of up to
  `MAX_PLAN_ITEM` characters, at least one entry in all.

Plain text means no markup: the pages show answers as text, so markup would do no
harm there, but an answer that looks like HTML is refused with a clear message
rather than stored to surprise some later reader (an export, a PDF).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from core.errors import Code, ServiceError

MAX_TEXT = 4000
MAX_PLAN_ITEMS = 10
MAX_PLAN_ITEM = 300
PLAN_PARTS = ("triggers", "avoid", "cope")
KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MARKUP = re.compile(r"<\s*[A-Za-z!/?]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ProgrammeKind(StrEnum):
    SUBSTANCE_MISUSE = "substance_misuse"
    THINKING_SKILLS = "thinking_skills"
    VIOLENCE = "violence"


class ExerciseKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    PLAN = "plan"


@dataclass(frozen=True)
class Words:
    """Words in English, and in Welsh where the programme has them."""

    en: str
    cy: str | None = None

    def json(self) -> dict[str, str | None]:
        return {"en": self.en, "cy": self.cy}


@dataclass(frozen=True)
class Option:
    value: str
    label: Words


@dataclass(frozen=True)
class Exercise:
    key: str
    kind: ExerciseKind
    prompt: Words
    options: tuple[Option, ...] = ()


@dataclass(frozen=True)
class SessionContent:
    title: Words
    intro: Words
    exercises: tuple[Exercise, ...]

    def exercise(self, key: object) -> Exercise:
        for e in self.exercises:
            if e.key == key:
                return e
        raise ServiceError(Code.NOT_FOUND, "This session has no such exercise.")

    def json(self) -> dict[str, Any]:
        return {
            "title": self.title.json(),
            "intro": self.intro.json(),
            "exercises": [
                {
                    "key": e.key,
                    "kind": e.kind.value,
                    "prompt": e.prompt.json(),
                    "options": [{"value": o.value, "label": o.label.json()} for o in e.options],
                }
                for e in self.exercises
            ],
        }


def _words(value: Any, what: str) -> Words:
    if isinstance(value, str):
        value = {"en": value}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be words")
    en, cy = value.get("en"), value.get("cy")
    if not isinstance(en, str) or not en.strip() or len(en) > 2000:
        raise ValueError(f"{what} needs English words")
    if cy is not None and (not isinstance(cy, str) or not cy.strip() or len(cy) > 2000):
        raise ValueError(f"{what}'s Welsh words must be text")
    return Words(en.strip(), cy.strip() if cy else None)


def parse_session(data: Any) -> SessionContent:
    """A session as a programme's author gave it; ValueError names what is wrong."""
    if not isinstance(data, Mapping):
        raise ValueError("a session must be an object")
    raw = data.get("exercises")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 20:
        raise ValueError("a session has 1 to 20 exercises")
    exercises: list[Exercise] = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise ValueError("an exercise must be an object")
        key = item.get("key")
        if not isinstance(key, str) or not KEY.match(key):
            raise ValueError("an exercise's key is 1-32 lower-case letters, digits or _")
        if any(e.key == key for e in exercises):
            raise ValueError(f"exercise {key} appears twice")
        try:
            kind = ExerciseKind(str(item.get("kind")))
        except ValueError:
            raise ValueError(f"exercise {key} has no known kind") from None
        options: list[Option] = []
        if kind == ExerciseKind.CHOICE:
            raw_options = item.get("options")
            if not isinstance(raw_options, list) or not 2 <= len(raw_options) <= 10:
                raise ValueError(f"exercise {key} needs 2 to 10 options")
            for o in raw_options:
                value = o.get("value") if isinstance(o, Mapping) else None
                if not isinstance(value, str) or not KEY.match(value):
                    raise ValueError(f"an option of {key} needs a value")
                if any(x.value == value for x in options):
                    raise ValueError(f"option {value} of {key} appears twice")
                options.append(Option(value, _words(o.get("label"), f"option {value}")))
        exercises.append(
            Exercise(key, kind, _words(item.get("prompt"), f"exercise {key}"), tuple(options))
        )
    return SessionContent(
        _words(data.get("title"), "the title"),
        _words(data.get("intro"), "the introduction"),
        tuple(exercises),
    )


def _refuse(detail: str, reason: str) -> ServiceError:
    """`reason` is a stable word the device turns into its own sentence, in its language."""
    return ServiceError(Code.INVALID_REQUEST, detail, extra={"reason": reason})


def _plain(value: Any, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise _refuse(f"{what} must be text.", "not_text")
    if len(value) > limit:
        raise _refuse(f"{what} must be {limit} characters or fewer.", "too_long")
    if MARKUP.search(value):
        raise _refuse(f"{what} must be plain words, without < > tags.", "markup")
    if CONTROL.search(value):
        raise _refuse(f"{what} has characters that are not text.", "not_text")
    return value.strip()


def check_answer(exercise: Exercise, value: Any) -> Any:
    """The answer as it will be stored (JSON-ready), or a refusal that says why."""
    if exercise.kind == ExerciseKind.TEXT:
        text = _plain(value, MAX_TEXT, "Your answer")
        if not text:
            raise _refuse("Write something before saving.", "empty")
        return text
    if exercise.kind == ExerciseKind.CHOICE:
        if not isinstance(value, str) or all(o.value != value for o in exercise.options):
            raise _refuse("Choose one of the answers shown.", "choice")
        return value
    if not isinstance(value, Mapping) or set(value) - set(PLAN_PARTS):
        raise _refuse("A plan has triggers, ways to avoid them and ways to cope.", "plan")
    plan: dict[str, list[str]] = {}
    for part in PLAN_PARTS:
        items = value.get(part, [])
        if not isinstance(items, list) or len(items) > MAX_PLAN_ITEMS:
            raise _refuse(f"Each part of the plan has up to {MAX_PLAN_ITEMS} entries.", "plan_size")
        entries = [_plain(i, MAX_PLAN_ITEM, "Each entry of the plan") for i in items]
        plan[part] = [e for e in entries if e]
    if not any(plan.values()):
        raise _refuse("Write at least one thing in your plan before saving.", "plan_empty")
    return plan
