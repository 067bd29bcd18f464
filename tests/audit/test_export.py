"""Export bundles verify offline with the bundle alone, and prove that no event of the range
is missing; edited bundles, and bundles with an event taken out, do not verify."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit import AuditLog
from audit.checkpoints import timestamp
from audit.export import export_bundle
from audit.verify import verify_bundle
from core.clock import FakeClock
from core.errors import ServiceError
from core.events import Action, AuditRecord

ROOT = Path(__file__).resolve().parents[2]


async def verify_file(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "audit.verify", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


@pytest.fixture
async def start(audit_log: AuditLog, clock: FakeClock) -> datetime:
    """Twenty events 5 s apart (event i at start + 5i s), odd ones at est-1, even at est-2.

    Checkpoints every 4 events: at sizes 4, 8, 12, 16, 20, dated with the event
    that completes them (size 8 at +35 s, size 16 at +75 s).
    """
    began = clock.now()
    for i in range(20):
        await audit_log.append(
            AuditRecord(
                Action.ADMITTED,
                actor="clinician-1",
                establishment="est-1" if i % 2 else "est-2",
                subject=f"p-{i}",
                details={"i": i},
            )
        )
        clock.advance(5)
    return began


async def march(log: AuditLog, start: datetime, establishment: str | None = None) -> Any:
    """Events 9 to 12 (at +45 s to +60 s): the range +42 s to +62 s."""
    return await export_bundle(
        log,
        actor="manager-1",
        start=start + timedelta(seconds=42),
        end=start + timedelta(seconds=62),
        establishment=establishment,
    )


@pytest.fixture
async def bundle(audit_log: AuditLog, start: datetime) -> dict[str, Any]:
    return dict(await march(audit_log, start))


@pytest.fixture
async def scoped(audit_log: AuditLog, start: datetime) -> dict[str, Any]:
    return dict(await march(audit_log, start, "est-1"))


async def test_bundle_holds_every_event_between_the_checkpoints_around_the_range(
    bundle: dict[str, Any], start: datetime
) -> None:
    assert bundle["segment"] == {"start": 8, "end": 16}
    assert [e["seq"] for e in bundle["events"]] == list(range(8, 16))
    found = bundle["checkpoints"]
    assert (found["start"]["size"], found["end"]["size"], found["latest"]["size"]) == (8, 16, 20)
    assert found["start"]["at"] < timestamp(start + timedelta(seconds=42))
    assert found["end"]["at"] >= timestamp(start + timedelta(seconds=62))
    report = verify_bundle(bundle)
    assert report.ok, report.summary()
    assert report.size == 20 and report.checkpoints == 3
    assert report.notes[-1].startswith("4 events of the range, complete from ")


async def test_a_managers_bundle_gives_other_establishments_as_leaf_hashes_only(
    scoped: dict[str, Any],
) -> None:
    whole = [e for e in scoped["events"] if "leaf_hash" not in e]
    hashed = [e for e in scoped["events"] if "leaf_hash" in e]
    assert [e["seq"] for e in whole] == [9, 11, 13, 15]
    assert {e["establishment"] for e in whole} == {"est-1"}
    assert [e["seq"] for e in hashed] == [8, 10, 12, 14]
    assert all(set(e) == {"seq", "leaf_hash"} for e in hashed)
    report = verify_bundle(scoped)
    assert report.ok, report.summary()
    assert report.notes[-1].startswith("2 events of the range")


async def test_removing_any_event_from_a_bundle_fails_verification(
    bundle: dict[str, Any], scoped: dict[str, Any]
) -> None:
    """Regression: with one event taken out, the bundle used to verify ("274 events proven")."""
    for original in (bundle, scoped):
        for index, removed in enumerate(original["events"]):
            edited = copy.deepcopy(original)
            del edited["events"][index]
            report = verify_bundle(edited)
            assert not report.ok, f"event {removed['seq']} removed, yet the bundle verifies"
            assert report.problem == f"event {removed['seq']} is missing from the bundle"


async def test_an_event_withheld_as_its_hash_from_a_bundle_of_every_establishment_fails(
    bundle: dict[str, Any], scoped: dict[str, Any]
) -> None:
    edited = copy.deepcopy(bundle)
    edited["events"][2] = next(e for e in scoped["events"] if e["seq"] == 10)
    report = verify_bundle(edited)
    assert (report.ok, report.problem) == (
        False,
        "event 10 is withheld from a bundle of every establishment",
    )


async def test_a_range_widened_past_the_checkpoint_before_it_fails(
    bundle: dict[str, Any], start: datetime
) -> None:
    """Events 6 and 7 (+30 s, +35 s) are not in the bundle: it cannot claim a range from +30 s."""
    edited = copy.deepcopy(bundle)
    edited["range"]["from"] = timestamp(start + timedelta(seconds=30))
    report = verify_bundle(edited)
    assert (report.ok, report.problem) == (
        False,
        "the checkpoint at size 8 does not precede the range",
    )


async def test_a_bundle_cut_short_before_the_end_of_its_range_fails(
    audit_log: AuditLog, bundle: dict[str, Any], start: datetime
) -> None:
    """Ending at the checkpoint at 12 (+55 s) would leave out event 12 (+60 s)."""
    whole = await export_bundle(audit_log, actor="manager-1")
    edited = copy.deepcopy(bundle)
    edited["events"] = [e for e in edited["events"] if e["seq"] < 12]
    shorter = await export_bundle(
        audit_log,
        actor="manager-1",
        start=start + timedelta(seconds=42),
        end=start + timedelta(seconds=52),
    )
    edited["checkpoints"]["end"] = shorter["checkpoints"]["end"]
    edited["segment"]["end"] = 12
    edited["consistency"] = shorter["consistency"]
    assert whole["checkpoints"]["latest"]["size"] > 12
    report = verify_bundle(edited)
    assert (report.ok, report.problem) == (
        False,
        "the checkpoint at size 12 does not follow the range",
    )


async def test_a_whole_log_bundle_starts_at_the_first_event(
    audit_log: AuditLog, start: datetime
) -> None:
    bundle = await export_bundle(audit_log, actor="admin-1")
    assert bundle["segment"] == {"start": 0, "end": 20}
    assert bundle["checkpoints"]["start"] is None and bundle["frontier"] == []
    report = verify_bundle(bundle)
    assert report.ok, report.summary()
    assert "20 events of the range, complete from the first event" in report.notes[-1]


async def test_a_range_that_ends_before_it_starts_is_refused(
    audit_log: AuditLog, start: datetime
) -> None:
    with pytest.raises(ServiceError) as refused:
        await export_bundle(audit_log, actor="manager-1", start=start, end=start)
    assert refused.value.detail == "The range ends before it starts."


async def test_export_is_itself_logged(audit_log: AuditLog, bundle: dict[str, Any]) -> None:
    again = await export_bundle(audit_log, actor="manager-1")
    exported = [e for e in again["events"] if e["action"] == "log_exported"]
    assert [(e["seq"], e["actor"]) for e in exported] == [(20, "manager-1")]
    assert verify_bundle(again).ok


def _edit_event(b: dict[str, Any]) -> None:
    b["events"][2]["actor"] = "someone-else"


def _edit_ciphertext(b: dict[str, Any]) -> None:
    raw = b["events"][0]["details"]
    b["events"][0]["details"] = ("A" if raw[0] != "A" else "B") + raw[1:]


def _edit_time(b: dict[str, Any]) -> None:
    b["events"][4]["at"] = b["events"][3]["at"]


def _edit_checkpoint(b: dict[str, Any]) -> None:
    b["checkpoints"]["end"]["root"] = b["checkpoints"]["start"]["root"]


def _drop_consistency(b: dict[str, Any]) -> None:
    b["consistency"].pop()


def _other_key(b: dict[str, Any]) -> None:
    b["public_key"] = "A" * 43 + "="


def _reorder(b: dict[str, Any]) -> None:
    events = b["events"]
    events[1], events[2] = events[2], events[1]


@pytest.mark.parametrize(
    ("edit", "first_bad", "problem"),
    [
        (_edit_event, 8, "the events of the bundle do not give the checkpoint at size 16"),
        (_edit_ciphertext, 8, "the events of the bundle do not give the checkpoint at size 16"),
        (_edit_time, 8, "the events of the bundle do not give the checkpoint at size 16"),
        (_edit_checkpoint, 8, "checkpoint at size 16 has a bad signature"),
        (_drop_consistency, 16, "checkpoints at sizes 16 and 20 are not consistent"),
        (_other_key, 8, "checkpoint at size 8 has a bad signature"),
        (_reorder, 9, "event 9 is missing from the bundle"),
    ],
)
async def test_an_edited_bundle_is_refused(
    bundle: dict[str, Any], edit: Any, first_bad: int, problem: str
) -> None:
    edited = copy.deepcopy(bundle)
    edit(edited)
    report = verify_bundle(edited)
    assert (report.ok, report.first_bad_seq, report.problem) == (False, first_bad, problem)


@pytest.mark.slow
@pytest.mark.allow_blocking
async def test_python_m_audit_verify_checks_a_bundle_file(
    bundle: dict[str, Any], tmp_path: Path
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(bundle))
    bad = tmp_path / "bad.json"
    edited = copy.deepcopy(bundle)
    del edited["events"][3]
    bad.write_text(json.dumps(edited))
    ok = await verify_file(str(good))
    assert ok.returncode == 0, ok.stderr
    assert "4 events of the range, complete from 2026-03-03T09:00:42" in ok.stdout
    assert "OK: the bundle holds every event of its range, in a tree of 20" in ok.stdout
    failed = await verify_file(str(bad))
    assert failed.returncode == 1
    assert "FAILED at sequence 11: event 11 is missing from the bundle" in failed.stdout
    wrong_key = await verify_file(str(good), "--key-id", "0" * 16)
    assert wrong_key.returncode == 1
