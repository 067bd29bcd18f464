"""Reports as tables for a spreadsheet: CSV and XLSX, safe against formula injection.

A cell whose text starts with `=`, `+`, `-` or `@` (or a tab or carriage return,
which some spreadsheets skip before reading a formula) would run as a formula
when opened; such text gets a leading apostrophe and is shown as typed. Numbers
stay numbers. Wing and service names are staff-typed, so they are the way in.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Table = tuple[list[str], list[list[Any]]]


def safe(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_START) else text


def table(name: str, data: dict[str, Any]) -> Table:
    """One report's figures as rows under a header."""
    if name == "quality":
        header = [
            "appointment_id",
            "scheduled_start",
            "call_s",
            "final_mode",
            "worst_loss_pct",
            "lowest_bitrate_kbps",
        ]
        return header, [[call[h] for h in header] for call in data["calls"]]
    if name == "attendance":
        header = ["appointment_id", "scheduled_start", "role", "person", "kind", "from", "to"]
        return header, [
            [call["appointment_id"], call["scheduled_start"], row["role"], row["n"], kind, *span]
            for call in data["calls"]
            for row in call["presence"]
            for kind in ("present", "on_hold")
            for span in row[kind]
        ]
    if name == "precall":
        header = ["wing", "tests", "failed", "poor"]
        return header, [[w[h] for h in header] for w in data["by_wing"]]
    if name == "requests":
        header = ["service", "target_days", "requests", "waiting", "over_target", "longest_wait_s"]
        return header, [[s[h] for h in header] for s in data["by_service"]]
    rows: list[list[Any]] = []
    for key, value in data.items():
        if key in ("report", "period"):
            continue
        if isinstance(value, dict):
            rows.extend([f"{key}.{inner}", v] for inner, v in value.items())
        else:
            rows.append([key, value])
    return ["measure", "value"], rows


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe(h) for h in header])
    writer.writerows([safe(v) for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(title: str, header: list[str], rows: list[list[Any]]) -> bytes:
    """Blocking (zip and XML): run it off the event loop."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    sheet.append([safe(h) for h in header])
    for row in rows:
        sheet.append([safe(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
