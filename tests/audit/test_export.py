"""Export bundles verify offline with the bundle alone; edited bundles do not."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from audit import AuditLog
from audit.export import export_bundle
from audit.verify import verify_bundle
from core.clock import FakeClock
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
async def bundle(audit_log: AuditLog, clock: FakeClock) -> dict[str, Any]:
    for i in range(10):
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
    start = clock.now() - timedelta(seconds=35)
    return await export_bundle(audit_log, actor="manager-1", start=start, end=clock.now())


async def test_bundle_holds_the_range_and_verifies(bundle: dict[str, Any]) -> None:
    assert [e["seq"] for e in bundle["events"]] == [3, 4, 5, 6, 7, 8, 9]
    assert bundle["tree_size"] == 10
    assert [c["size"] for c in bundle["checkpoints"]] == [4, 8, 10]
    report = verify_bundle(bundle)
    assert report.ok, report.summary()
    assert report.checkpoints == 3


async def test_export_is_itself_logged(audit_log: AuditLog, bundle: dict[str, Any]) -> None:
    again = await export_bundle(audit_log, actor="manager-1")
    assert again["events"][-1]["action"] == "log_exported"
    assert verify_bundle(again).ok


def _edit_event(b: dict[str, Any]) -> None:
    b["events"][2]["actor"] = "someone-else"


def _edit_ciphertext(b: dict[str, Any]) -> None:
    raw = b["events"][0]["details"]
    b["events"][0]["details"] = ("A" if raw[0] != "A" else "B") + raw[1:]


def _edit_checkpoint(b: dict[str, Any]) -> None:
    b["checkpoints"][1]["root"] = b["checkpoints"][0]["root"]


def _drop_consistency(b: dict[str, Any]) -> None:
    b["consistency"].pop()


def _other_key(b: dict[str, Any]) -> None:
    b["public_key"] = "A" * 43 + "="


@pytest.mark.parametrize(
    ("edit", "first_bad", "problem"),
    [
        (_edit_event, 5, "event 5 is not in the signed tree as given"),
        (_edit_ciphertext, 3, "event 3 is not in the signed tree as given"),
        (_edit_checkpoint, 4, "checkpoint at size 8 has a bad signature"),
        (_drop_consistency, 8, "checkpoints at sizes 8 and 10 are not consistent"),
        (_other_key, 0, "checkpoint at size 4 has a bad signature"),
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
    _edit_event(edited)
    bad.write_text(json.dumps(edited))
    ok = await verify_file(str(good))
    assert ok.returncode == 0, ok.stderr
    assert "OK: 7 events proven in a tree of 10, 3 checkpoints consistent" in ok.stdout
    failed = await verify_file(str(bad))
    assert failed.returncode == 1
    assert "FAILED at sequence 5: event 5 is not in the signed tree as given" in failed.stdout
    wrong_key = await verify_file(str(good), "--key-id", "0" * 16)
    assert wrong_key.returncode == 1
