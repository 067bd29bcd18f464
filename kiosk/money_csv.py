"""The finance team's credits file: CSV in, lines or a clear problem per line out.

Pure: no store, no clock. `read_credits` checks each line's form; the money service then
checks each prison number against the establishment. A file is posted whole or not at
all, so the problems of every line are collected rather than stopping at the first.

The file, with a header line:

    prison_number,account,amount,kind,reference
    A1234BC,spends,12.50,wages,Wages week 12

`amount` is pounds with 0 or 2 decimal places (`12`, `12.50`, `£12.50`), read as text
into integer pence: money never passes through a float.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass
from enum import StrEnum

from core.identity.validation import PRISON_NUMBER

MAX_LINES = 1000
MAX_LINE_PENCE = 100_000
"""£1,000: more than any wage or postal order on one line; a typo's extra zeros are refused."""
MAX_REFERENCE = 80
HEADER = ("prison_number", "account", "amount", "kind", "reference")

_AMOUNT = re.compile(r"^£?(\d{1,7})(?:\.(\d{2}))?$")
_UNSAFE = re.compile(r"[<>\x00-\x1f\x7f]")


class MoneyAccount(StrEnum):
    PRIVATE = "private"
    SPENDS = "spends"


class EntryKind(StrEnum):
    WAGES = "wages"
    SENT_IN = "sent_in"
    REFUND = "refund"
    ORDER = "order"
    TRANSFER = "transfer"
    REVERSAL = "reversal"
    PAYOUT = "payout"


CSV_KINDS = (EntryKind.WAGES, EntryKind.SENT_IN, EntryKind.REFUND)
"""What finance may post from a file: credits only."""


class Problem(StrEnum):
    """Why a line was refused; the finance page words each one in its reader's language."""

    HEADER = "header"
    COLUMNS = "columns"
    PRISON_NUMBER = "prison_number"
    UNKNOWN_PRISONER = "unknown_prisoner"
    ACCOUNT = "account"
    AMOUNT = "amount"
    TOO_MUCH = "too_much"
    KIND = "kind"
    REFERENCE = "reference"
    EMPTY = "empty"
    TOO_MANY = "too_many"
    NOT_TEXT = "not_text"


@dataclass(frozen=True)
class CreditLine:
    line: int
    prison_number: str
    account: MoneyAccount
    kind: EntryKind
    amount_pence: int
    reference: str


@dataclass(frozen=True)
class LineProblem:
    line: int
    problem: Problem


def pence(text: str) -> int | None:
    """`12.50` -> 1250; None for anything that is not a whole number of pence."""
    found = _AMOUNT.match(text.strip())
    if not found:
        return None
    return int(found.group(1)) * 100 + int(found.group(2) or 0)


def digest(text: str) -> str:
    """The file's identity for refusing a second posting: SHA-256 of its lines, with line
    endings and trailing blank lines made uniform, so saving it again on Windows is the
    same file."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def safe_text(value: str, limit: int) -> bool:
    """Plain words only: no markup, no control characters, not too long."""
    return len(value) <= limit and not _UNSAFE.search(value)


def read_credits(text: str) -> tuple[list[CreditLine], list[LineProblem]]:
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows or tuple(c.strip().lower() for c in rows[0]) != HEADER:
        return [], [LineProblem(1, Problem.HEADER)]
    body = rows[1:]
    if not body:
        return [], [LineProblem(1, Problem.EMPTY)]
    if len(body) > MAX_LINES:
        return [], [LineProblem(MAX_LINES + 2, Problem.TOO_MANY)]
    lines: list[CreditLine] = []
    problems: list[LineProblem] = []
    for index, row in enumerate(body, start=2):
        found = _line(index, row)
        if isinstance(found, LineProblem):
            problems.append(found)
        else:
            lines.append(found)
    return lines, problems


def _line(index: int, row: list[str]) -> CreditLine | LineProblem:
    if len(row) != len(HEADER):
        return LineProblem(index, Problem.COLUMNS)
    number, account, amount, kind, reference = (cell.strip() for cell in row)
    number = number.upper()
    if not PRISON_NUMBER.match(number):
        return LineProblem(index, Problem.PRISON_NUMBER)
    if account.lower() not in [a.value for a in MoneyAccount]:
        return LineProblem(index, Problem.ACCOUNT)
    value = pence(amount)
    if value is None or value <= 0:
        return LineProblem(index, Problem.AMOUNT)
    if value > MAX_LINE_PENCE:
        return LineProblem(index, Problem.TOO_MUCH)
    if kind.lower() not in [k.value for k in CSV_KINDS]:
        return LineProblem(index, Problem.KIND)
    if not safe_text(reference, MAX_REFERENCE):
        return LineProblem(index, Problem.REFERENCE)
    return CreditLine(
        line=index,
        prison_number=number,
        account=MoneyAccount(account.lower()),
        kind=EntryKind(kind.lower()),
        amount_pence=value,
        reference=reference,
    )
