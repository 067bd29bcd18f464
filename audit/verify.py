"""Independent verification: of the live log, and of an exported bundle.

`LogVerifier` re-derives every leaf from the stored columns, rebuilds the tree
and checks each signed checkpoint as the stream passes its size; it stops at
the first problem and names the first sequence number that cannot be trusted.
`verify_bundle` checks an export offline with the public key in the bundle and
nothing else:

    python -m audit.verify BUNDLE.json [--key-id ID]

prints a summary and exits 0 when every proof holds, 1 otherwise. It uses only
this module, the hashing and the leaf encoding (no database, no keys).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from audit.checkpoints import Checkpoint, public_key_id, verify_checkpoint
from audit.merkle import frontier_append, frontier_root, verify_consistency, verify_inclusion
from audit.record import LeafEncoder, leaf_bytes

BUNDLE_FORMAT = "throughcare-audit-bundle/v1"
_sha256 = hashlib.sha256


@dataclass
class Report:
    ok: bool = True
    size: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    root: str = ""
    unsigned_tail: int = 0
    notes: list[str] = field(default_factory=list)

    def fail(self, first_bad: int, problem: str) -> None:
        if self.ok:
            self.ok = False
            self.first_bad_seq = first_bad
            self.problem = problem

    def summary(self) -> str:
        if self.ok:
            text = (
                f"OK: {self.size} events, {self.checkpoints} signed checkpoints verified, "
                f"root {self.root}"
            )
            if self.unsigned_tail:
                text += f"; the last {self.unsigned_tail} events are not yet in a checkpoint"
            return text
        return f"FAILED at sequence {self.first_bad_seq}: {self.problem}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "checkpoints": self.checkpoints,
            "first_bad_seq": self.first_bad_seq,
            "problem": self.problem,
            "root": self.root,
            "unsigned_tail": self.unsigned_tail,
        }


class LogVerifier:
    """Feed it the events in sequence order, chunk by chunk; then `finish`.

    A row is (seq, at, establishment, actor, action, subject, appointment,
    key_id, ciphertext, recorded_leaf_hash).
    """

    def __init__(self, public_raw: bytes, checkpoints: Sequence[Checkpoint]) -> None:
        self.public_raw = public_raw
        self.checkpoints = sorted(checkpoints, key=lambda c: c.size)
        self.report = Report()
        self._frontier: list[bytes] = []
        self._next = 0
        self._last_good = 0
        self._encoder = LeafEncoder()
        self._check_due()

    @property
    def size(self) -> int:
        return self.report.size

    def _check_due(self) -> None:
        report = self.report
        while report.ok and self._next < len(self.checkpoints):
            cp = self.checkpoints[self._next]
            if cp.size != report.size:
                if cp.size < report.size:  # two checkpoints claiming one size, or worse
                    report.fail(self._last_good, f"checkpoint at size {cp.size} is out of order")
                return
            if not verify_checkpoint(self.public_raw, cp):
                report.fail(self._last_good, f"checkpoint at size {cp.size} has a bad signature")
                return
            if frontier_root(self._frontier) != cp.root:
                report.fail(
                    self._last_good,
                    f"checkpoint at size {cp.size} does not match the events before it",
                )
                return
            report.checkpoints += 1
            self._last_good = cp.size
            self._next += 1

    def feed(self, rows: Sequence[Sequence[Any]]) -> bool:
        report = self.report
        if not report.ok:
            return False
        frontier = self._frontier
        leaf = self._encoder.leaf
        size = report.size
        next_cp = self.checkpoints[self._next].size if self._next < len(self.checkpoints) else -1
        for row in rows:
            seq = row[0]
            if seq != size:
                report.size = size
                if seq > size:
                    report.fail(size, f"event {size} is missing")
                else:
                    report.fail(seq, f"event {seq} is out of order")
                return False
            digest = _sha256(
                b"\x00" + leaf(seq, row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])
            ).digest()
            if digest != row[9]:
                report.size = size
                report.fail(seq, f"event {seq} does not match its recorded hash")
                return False
            frontier_append(frontier, size, digest)
            size += 1
            if size == next_cp:
                report.size = size
                self._check_due()
                if not report.ok:
                    return False
                next_cp = (
                    self.checkpoints[self._next].size if self._next < len(self.checkpoints) else -1
                )
        report.size = size
        return True

    def finish(self, head_size: int | None = None) -> Report:
        report = self.report
        if report.ok and self._next < len(self.checkpoints):
            cp = self.checkpoints[self._next]
            report.fail(
                report.size,
                f"the log ends at {report.size} events but a checkpoint was signed at {cp.size}",
            )
        if report.ok and head_size is not None and head_size != report.size:
            report.fail(
                min(head_size, report.size),
                f"the log holds {report.size} events but its head says {head_size}",
            )
        report.root = frontier_root(self._frontier).hex()
        report.unsigned_tail = report.size - self._last_good
        return report


# ---------------------------------------------------------------- bundles


class BundleError(Exception):
    """The bundle is not well formed."""


def _b64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise BundleError("expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("expected a base64 string") from None


def _hex(value: Any) -> bytes:
    if not isinstance(value, str):
        raise BundleError("expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise BundleError("expected a hex string") from None


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BundleError("expected a non-negative integer")
    return value


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise BundleError("expected a time")
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise BundleError("expected a time") from None
    if at.tzinfo is None:
        raise BundleError("expected a time with its zone")
    return at


def _opt(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BundleError("expected a string or null")
    return value


def _checkpoint(raw: Any) -> Checkpoint:
    if not isinstance(raw, dict):
        raise BundleError("a checkpoint is not an object")
    return Checkpoint(
        size=_int(raw.get("size")),
        root=_hex(raw.get("root")),
        at=_time(raw.get("at")),
        key_id=str(raw.get("key_id")),
        signature=_b64(raw.get("signature")),
    )


def verify_bundle(bundle: Any, *, expected_key_id: str | None = None) -> Report:
    report = Report()
    try:
        _verify_bundle(bundle, report, expected_key_id)
    except BundleError as exc:
        report.fail(report.first_bad_seq or 0, f"the bundle is malformed: {exc}")
    except (KeyError, TypeError, AttributeError):
        report.fail(report.first_bad_seq or 0, "the bundle is malformed")
    return report


def _verify_bundle(bundle: Any, report: Report, expected_key_id: str | None) -> None:
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not a {BUNDLE_FORMAT} document")
    public_raw = _b64(bundle["public_key"])
    key_id = public_key_id(public_raw)
    if expected_key_id is not None and key_id != expected_key_id:
        report.fail(0, f"the bundle is signed by key {key_id}, not {expected_key_id}")
        return
    report.notes.append(f"signing key id {key_id}")
    checkpoints = [_checkpoint(c) for c in bundle["checkpoints"]]
    if not checkpoints:
        report.fail(0, "the bundle has no checkpoint")
        return
    last_good = 0
    previous: Checkpoint | None = None
    proofs = {
        (_int(p["first"]), _int(p["second"])): [_hex(h) for h in p["proof"]]
        for p in bundle["consistency"]
    }
    for cp in checkpoints:
        if not verify_checkpoint(public_raw, cp):
            report.fail(last_good, f"checkpoint at size {cp.size} has a bad signature")
            return
        if previous is not None:
            if cp.size <= previous.size:
                report.fail(last_good, f"checkpoint at size {cp.size} is out of order")
                return
            proof = proofs.get((previous.size, cp.size))
            if proof is None or not verify_consistency(
                previous.size, cp.size, previous.root, cp.root, proof
            ):
                report.fail(
                    last_good,
                    f"checkpoints at sizes {previous.size} and {cp.size} are not consistent",
                )
                return
        report.checkpoints += 1
        last_good = cp.size
        previous = cp
    head = checkpoints[-1]
    if _int(bundle["tree_size"]) != head.size:
        report.fail(head.size, "the bundle's tree size is not its last checkpoint's")
        return
    report.size = head.size
    report.root = head.root.hex()
    for raw in bundle["events"]:
        seq = _int(raw["seq"])
        leaf = leaf_bytes(
            seq,
            _time(raw["at"]),
            _opt(raw["establishment"]),
            str(raw["actor"]),
            str(raw["action"]),
            _opt(raw["subject"]),
            _opt(raw["appointment"]),
            str(raw["key_id"]),
            _b64(raw["details"]),
        )
        digest = _sha256(b"\x00" + leaf).digest()
        proof = [_hex(h) for h in raw["proof"]]
        if not verify_inclusion(digest, seq, head.size, proof, head.root):
            report.fail(seq, f"event {seq} is not in the signed tree as given")
            return
    report.notes.append(f"{len(bundle['events'])} events proven")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify",
        description="Check a Throughcare audit export offline, with nothing but the bundle.",
    )
    parser.add_argument("bundle", help="the JSON file written by `throughcare audit export`")
    parser.add_argument("--key-id", help="the audit signing key id you expect (published)")
    args = parser.parse_args(argv)
    try:
        with open(args.bundle, "rb") as handle:
            bundle = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.bundle}: {type(exc).__name__}", file=sys.stderr)
        return 2
    report = verify_bundle(bundle, expected_key_id=args.key_id)
    for note in report.notes:
        print(note)
    if report.ok:
        print(
            f"OK: {len(bundle.get('events', []))} events proven in a tree of {report.size}, "
            f"{report.checkpoints} checkpoints consistent, root {report.root}"
        )
        return 0
    print(report.summary())
    return 1


if __name__ == "__main__":
    sys.exit(main())
