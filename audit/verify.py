"""Independent verification: of the live log, and of an exported bundle.

`LogVerifier` re-derives every leaf from the stored columns, rebuilds the tree
and checks each signed checkpoint as the stream passes its size, whether it
comes from the database or from a copy kept outside it; it stops at the first
problem and names the first sequence number that cannot be trusted.
`verify_bundle` checks an export offline with the public key in the bundle and
nothing else:

    python -m audit.verify BUNDLE.json [--key-id ID]

prints a summary and exits 0 when every proof holds, 1 otherwise. It uses only
this module, the hashing, the checkpoint format and the leaf encoding (no
database, no keys).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audit.checkpoints import (
    Checkpoint,
    CheckpointFormatError,
    checkpoint_verifier,
    parse_checkpoint,
    public_key_id,
    timestamp,
)
from audit.merkle import (
    HASH_SIZE,
    frontier_extend,
    frontier_root,
    verify_consistency,
)
from audit.record import LEAF_VERSION, leaf_bytes, micros

BUNDLE_FORMAT = "throughcare-audit-bundle/v2"
_sha256 = hashlib.sha256
_NONE = b"\xff\xff"
# The hashed form of a leaf starts with the RFC 9162 leaf prefix, then the
# leaf's own fixed head (record.leaf_bytes): version, seq, time in µs.
_HASHED_HEAD = struct.Struct(">1s4sQq")
_LENGTH = struct.Struct(">I")
_ROW_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, struct.error)
_UNSEEN = object()


@dataclass
class Report:
    ok: bool = True
    size: int = 0
    checkpoints: int = 0
    first_bad_seq: int | None = None
    problem: str | None = None
    root: str = ""
    unsigned_tail: int = 0
    kept: int = 0
    kept_size: int | None = None
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
            if self.kept_size is not None:
                text += (
                    f"; {self.kept} checkpoints kept outside the database agree "
                    f"(the latest at size {self.kept_size})"
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
            "kept": self.kept,
            "kept_size": self.kept_size,
        }


def _micros_of(at: object) -> int:
    """A stored time (aware or naive-UTC datetime, or SQLite's text form) in µs."""
    if isinstance(at, str):
        moment = datetime.fromisoformat(at)
    elif isinstance(at, datetime):
        moment = at
    else:
        raise TypeError("not a time")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return micros(moment)


def _encoded_text(value: object) -> bytes:
    if value is None:
        return _NONE
    if not isinstance(value, str):
        raise TypeError("not text")
    raw = value.encode()
    if len(raw) >= 0xFFFF:
        raise ValueError("too long")
    return len(raw).to_bytes(2, "big") + raw


_COLUMNS = (
    (0, "its seq is not a number", (int,)),
    (1, "its time is not a time", (str, datetime)),
    (2, "its establishment is not text", (str, type(None))),
    (3, "its actor is not text", (str,)),
    (4, "its action is not text", (str,)),
    (5, "its subject is not text", (str, type(None))),
    (6, "its appointment is not text", (str, type(None))),
    (7, "its key id is not text", (str,)),
    (8, "its details are not bytes", (bytes,)),
    (9, "its leaf hash is not bytes", (bytes,)),
)


def describe_malformed(row: Sequence[Any]) -> str:
    """What is wrong with a row the leaf cannot be built from: a fixed phrase, no values."""
    if len(row) != len(_COLUMNS):
        return "it has the wrong number of columns"
    for index, phrase, types in _COLUMNS:
        value = row[index]
        if not isinstance(value, types) or isinstance(value, bool):
            return phrase
    try:
        _micros_of(row[1])
    except _ROW_ERRORS:
        return "its time cannot be read"
    for index in range(2, 8):
        try:
            _encoded_text(row[index])
        except _ROW_ERRORS:
            return "a text column is too long"
    return "it cannot be encoded"


class LogVerifier:
    """Feed it the events in sequence order, chunk by chunk; then `finish`.

    A row is (seq, at, establishment, actor, action, subject, appointment,
    key_id, ciphertext, recorded_leaf_hash), `at` as stored. Besides every
    hash and signature it checks that times never decrease along the log (a
    checkpoint's time lies between the events either side of it), that a copy
    of a checkpoint kept outside the database matches the events and is still
    in the database, and, given `max_gap`, that no stretch of more than
    `max_gap` events goes without a checkpoint.
    """

    def __init__(
        self,
        public_raw: bytes,
        checkpoints: Sequence[Checkpoint],
        *,
        kept: Sequence[Checkpoint] = (),
        max_gap: int | None = None,
    ) -> None:
        self._verify_signature = checkpoint_verifier(public_raw)
        self.checkpoints = sorted(checkpoints, key=lambda c: c.size)
        self._stored: dict[int, Checkpoint] = {}
        self._kept: dict[int, list[Checkpoint]] = {}
        for cp in kept:
            same_size = self._kept.setdefault(cp.size, [])
            if cp not in same_size:
                same_size.append(cp)
        self.max_gap = max_gap
        self.report = Report()
        self._out_of_order: int | None = None
        for cp in self.checkpoints:
            if cp.size in self._stored and self._out_of_order is None:
                self._out_of_order = cp.size
            self._stored[cp.size] = cp
        self._stops = sorted(set(self._stored) | set(self._kept))
        self._stop_index = 0
        self._frontier: list[bytes] = []
        self._pending: list[bytes] = []
        self._hashed = 0
        self._last_good = 0
        self._last_stored = 0
        self._texts: dict[object, bytes] = {None: _NONE}
        # The last time read (as stored) and its µs, and the earliest time the
        # next event may have: its predecessor's, or a checkpoint's passed since.
        self._last_at: object = _UNSEEN
        self._last_micros = 0
        self._floor = -(1 << 62)
        if self._kept:
            self.report.kept_size = max(self._kept)
        self._check_stop()

    @property
    def size(self) -> int:
        return self.report.size

    # ------------------------------------------------------------ the stream

    def feed(self, rows: Sequence[Sequence[Any]]) -> bool:
        """Check a chunk of rows; False once something has failed."""
        report = self.report
        if not report.ok:
            return False
        size = report.size
        stops, index = self._stops, self._stop_index
        stop = stops[index] if index < len(stops) else -1
        texts = self._texts
        pending = self._pending
        append = pending.append
        head, length, join, sha = _HASHED_HEAD.pack, _LENGTH.pack, b"".join, _sha256
        last_at, last_us, floor = self._last_at, self._last_micros, self._floor
        version = LEAF_VERSION
        for row in rows:
            try:
                seq, at, est, actor, action, subject, appointment, key_id, details, recorded = row
                if seq != size:
                    report.size = size
                    if isinstance(seq, int) and seq > size:
                        report.fail(size, f"event {size} is missing")
                    elif isinstance(seq, int):
                        report.fail(seq, f"event {seq} is out of order")
                    else:
                        report.fail(size, f"event {size} is malformed: its seq is not a number")
                    return False
                if at != last_at:
                    us = _micros_of(at)
                    if us < floor:
                        report.size = size
                        report.fail(seq, f"event {seq} is dated earlier than what comes before it")
                        return False
                    last_at, last_us, floor = at, us, us
                try:
                    leaf = join(
                        (
                            head(b"\x00", version, seq, last_us),
                            texts[est],
                            texts[actor],
                            texts[action],
                            texts[subject],
                            texts[appointment],
                            texts[key_id],
                            length(len(details)),
                            details,
                        )
                    )
                except KeyError:
                    for value in (est, actor, action, subject, appointment, key_id):
                        if value not in texts:
                            if len(texts) > 50_000:
                                texts.clear()
                                texts[None] = _NONE
                            texts[value] = _encoded_text(value)
                    leaf = join(
                        (
                            head(b"\x00", version, seq, last_us),
                            texts[est],
                            texts[actor],
                            texts[action],
                            texts[subject],
                            texts[appointment],
                            texts[key_id],
                            length(len(details)),
                            details,
                        )
                    )
            except _ROW_ERRORS:
                report.size = size
                report.fail(size, f"event {size} is malformed: {describe_malformed(row)}")
                return False
            digest = sha(leaf).digest()
            if digest != recorded:
                report.size = size
                report.fail(seq, f"event {seq} does not match its recorded hash")
                return False
            append(digest)
            size += 1
            if size == stop:
                report.size = size
                self._floor = floor
                if not self._check_stop():
                    return False
                last_at, floor = _UNSEEN, self._floor
                index = self._stop_index
                stop = stops[index] if index < len(stops) else -1
        report.size = size
        self._last_at, self._last_micros, self._floor = last_at, last_us, floor
        return True

    def _flush(self) -> None:
        if self._pending:
            frontier_extend(self._frontier, self._hashed, self._pending)
            self._hashed += len(self._pending)
            self._pending.clear()

    def _check_stop(self) -> bool:
        """Check every checkpoint signed at the current size, stored or kept."""
        report = self.report
        size = report.size
        while self._stop_index < len(self._stops) and self._stops[self._stop_index] == size:
            self._flush()
            self._stop_index += 1
            root = frontier_root(self._frontier)
            before = self._last_good
            stored = self._stored.get(size)
            if stored is not None and not self._check_stored(stored, root):
                return False
            for kept in self._kept.get(size, ()):
                if not self._check_kept(kept, stored, root, before):
                    return False
            if stored is None:
                report.fail(
                    self._last_good,
                    f"checkpoint at size {size}, kept outside the database, "
                    "is missing from the database",
                )
                return False
        return True

    def _check_stored(self, cp: Checkpoint, root: bytes) -> bool:
        report = self.report
        if self._out_of_order is not None and cp.size == self._out_of_order:
            report.fail(self._last_good, f"checkpoint at size {cp.size} is out of order")
            return False
        if not self._verify_signature(cp):
            report.fail(self._last_good, f"checkpoint at size {cp.size} has a bad signature")
            return False
        if root != cp.root:
            report.fail(
                self._last_good,
                f"checkpoint at size {cp.size} does not match the events before it",
            )
            return False
        at = micros(cp.at)
        if at < self._floor:
            report.fail(
                self._last_good,
                f"checkpoint at size {cp.size} is dated earlier than the events before it",
            )
            return False
        if self.max_gap is not None and cp.size - self._last_stored > self.max_gap:
            report.fail(
                self._last_good,
                f"{cp.size - self._last_stored} events between the checkpoints at "
                f"{self._last_stored} and {cp.size}; one is signed at least every "
                f"{self.max_gap}",
            )
            return False
        self._floor = at
        report.checkpoints += 1
        self._last_good = self._last_stored = cp.size
        return True

    def _check_kept(
        self, cp: Checkpoint, stored: Checkpoint | None, root: bytes, before: int
    ) -> bool:
        report = self.report
        if cp != stored:
            if not self._verify_signature(cp):
                report.fail(
                    before,
                    f"the checkpoint at size {cp.size} kept outside the database "
                    "has a bad signature",
                )
                return False
            if root != cp.root:
                report.fail(
                    before,
                    f"the checkpoint at size {cp.size} kept outside the database "
                    "does not match the events before it",
                )
                return False
        report.kept += 1
        return True

    def finish(self, head_size: int | None = None, head_checkpoint: int | None = None) -> Report:
        """The end of the stream; `head_*` are what the head row says."""
        report = self.report
        self._flush()
        if report.ok and self._stop_index < len(self._stops):
            beyond = self._stops[self._stop_index]
            where = "" if beyond in self._stored else " kept outside the database"
            report.fail(
                report.size,
                f"the log ends at {report.size} events but a checkpoint{where} "
                f"was signed at {beyond}",
            )
        if report.ok and head_size is not None and head_size != report.size:
            report.fail(
                min(head_size, report.size),
                f"the log holds {report.size} events but its head says {head_size}",
            )
        if report.ok and head_checkpoint is not None and head_checkpoint != self._last_stored:
            report.fail(
                min(head_checkpoint, self._last_good),
                f"the head names a checkpoint at size {head_checkpoint}, "
                f"but the last one in the database is at {self._last_stored}",
            )
        if (
            report.ok
            and self.max_gap is not None
            and report.size - self._last_stored > self.max_gap
        ):
            report.fail(
                self._last_good,
                f"the last {report.size - self._last_stored} events are in no checkpoint; "
                f"one is signed at least every {self.max_gap}",
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


def _hash(value: Any) -> bytes:
    if not isinstance(value, str):
        raise BundleError("expected a hex hash")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise BundleError("expected a hex hash") from None
    if len(raw) != HASH_SIZE:
        raise BundleError("expected a hex hash")
    return raw


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


def _opt_time(value: Any) -> datetime | None:
    return None if value is None else _time(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise BundleError("expected a string")
    return value


def _opt(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BundleError("expected a string or null")
    return value


def _checkpoint(raw: Any) -> Checkpoint:
    try:
        return parse_checkpoint(raw)
    except CheckpointFormatError as exc:
        raise BundleError(str(exc)) from None


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BundleError(f"{what} is not an object")
    return value


@dataclass
class _Range:
    start: datetime | None
    end: datetime | None
    establishment: str | None


def verify_bundle(bundle: Any, *, expected_key_id: str | None = None) -> Report:
    report = Report()
    try:
        _verify_bundle(bundle, report, expected_key_id)
    except BundleError as exc:
        report.fail(report.first_bad_seq or 0, f"the bundle is malformed: {exc}")
    except (KeyError, TypeError, AttributeError, ValueError):
        report.fail(report.first_bad_seq or 0, "the bundle is malformed")
    return report


def _verify_bundle(bundle: Any, report: Report, expected_key_id: str | None) -> None:
    """Every event of the range is in the bundle, and the bundle is in the signed tree.

    The bundle holds a contiguous stretch of sequence numbers [start, end), every
    one of them either as a whole event or (another establishment's) as its leaf
    hash only. `start` and `end` are sizes of signed checkpoints, and times never
    decrease along the log (a checkpoint's time lies between the events either
    side of it), so the checkpoint at `start`, dated before the range, shows
    that every earlier event is too, and the one at `end`, dated at or after the
    range's end, shows that every later event is too. The compact frontier at
    `start` folds to the start checkpoint's root; the stretch's leaves appended
    to it must give the end checkpoint's root; a consistency proof ties that to
    the latest checkpoint.
    """
    if not isinstance(bundle, dict) or bundle.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"not a {BUNDLE_FORMAT} document")
    public_raw = _b64(bundle["public_key"])
    key_id = public_key_id(public_raw)
    if expected_key_id is not None and key_id != expected_key_id:
        report.fail(0, f"the bundle is signed by key {key_id}, not {expected_key_id}")
        return
    report.notes.append(f"signing key id {key_id}")
    verify_signature = checkpoint_verifier(public_raw)
    raw_range = _dict(bundle["range"], "the range")
    wanted = _Range(
        _opt_time(raw_range["from"]), _opt_time(raw_range["to"]), _opt(raw_range["establishment"])
    )
    segment = _dict(bundle["segment"], "the segment")
    first, end = _int(segment["start"]), _int(segment["end"])
    found = _dict(bundle["checkpoints"], "the checkpoints")
    start_cp = None if found["start"] is None else _checkpoint(found["start"])
    end_cp, latest = _checkpoint(found["end"]), _checkpoint(found["latest"])

    for cp in (start_cp, end_cp, latest):
        if cp is not None and not verify_signature(cp):
            report.fail(
                start_cp.size if start_cp else 0,
                f"checkpoint at size {cp.size} has a bad signature",
            )
            return
    if not _brackets(report, wanted, first, end, start_cp, end_cp, latest):
        return
    frontier = [_hash(h) for h in bundle["frontier"]]
    if len(frontier) != first.bit_count() or (
        start_cp is not None and frontier_root(frontier) != start_cp.root
    ):
        report.fail(first, f"the frontier does not give the checkpoint at size {first}")
        return
    shown, in_range = _replay(report, bundle["events"], wanted, first, end, frontier, end_cp)
    if not report.ok:
        return
    if frontier_root(frontier) != end_cp.root:
        report.fail(first, f"the events of the bundle do not give the checkpoint at size {end}")
        return
    proof = [_hash(h) for h in bundle["consistency"]]
    if not verify_consistency(end_cp.size, latest.size, end_cp.root, latest.root, proof):
        report.fail(end, f"checkpoints at sizes {end} and {latest.size} are not consistent")
        return
    if _int(bundle["tree_size"]) != latest.size:
        report.fail(latest.size, "the bundle's tree size is not its last checkpoint's")
        return
    report.size = latest.size
    report.root = latest.root.hex()
    report.checkpoints = len({cp.size for cp in (start_cp, end_cp, latest) if cp is not None})
    since = timestamp(wanted.start) if wanted.start else "the first event"
    until = (
        timestamp(wanted.end)
        if wanted.end is not None and end_cp.at >= wanted.end
        else f"{timestamp(end_cp.at)} (the latest checkpoint)"
    )
    report.notes.append(
        f"{in_range} events of the range, complete from {since} to {until}: sequences "
        f"{first} to {end - 1}, {shown} shown, {end - first - shown} of other "
        "establishments as leaf hashes"
    )


def _brackets(
    report: Report,
    wanted: _Range,
    first: int,
    end: int,
    start_cp: Checkpoint | None,
    end_cp: Checkpoint,
    latest: Checkpoint,
) -> bool:
    """The checkpoints either side of the stretch are where the range says they are."""
    if start_cp is None:
        if first != 0:
            report.fail(first, "the bundle does not start at a checkpoint")
            return False
    elif start_cp.size != first or wanted.start is None or not start_cp.at < wanted.start:
        report.fail(first, f"the checkpoint at size {start_cp.size} does not precede the range")
        return False
    if end_cp.size != end or end < first:
        report.fail(first, "the bundle does not end at its checkpoint")
        return False
    reaches_end = wanted.end is not None and end_cp.at >= wanted.end
    if not reaches_end and end_cp != latest:
        report.fail(end, f"the checkpoint at size {end} does not follow the range")
        return False
    if latest.size < end or latest.at < end_cp.at:
        report.fail(end, "the latest checkpoint is older than the bundle's end")
        return False
    return True


def _replay(
    report: Report,
    entries: Any,
    wanted: _Range,
    first: int,
    end: int,
    frontier: list[bytes],
    end_cp: Checkpoint,
) -> tuple[int, int]:
    """Hash every entry into the frontier, checking contiguity, scope and time order."""
    if not isinstance(entries, list):
        raise BundleError("the events are not a list")
    shown = in_range = 0
    expected = first
    last_at: datetime | None = None
    leaves: list[bytes] = []
    for raw in entries:
        entry = _dict(raw, "an event")
        seq = _int(entry["seq"])
        if seq != expected:
            bad = min(seq, expected)
            what = "is missing from the bundle" if seq > expected else "is out of order"
            report.fail(bad, f"event {bad} {what}")
            return shown, in_range
        if seq >= end:
            report.fail(seq, f"event {seq} lies beyond the bundle's end")
            return shown, in_range
        if "leaf_hash" in entry:
            if wanted.establishment is None:
                report.fail(seq, f"event {seq} is withheld from a bundle of every establishment")
                return shown, in_range
            leaves.append(_hash(entry["leaf_hash"]))
        else:
            at = _time(entry["at"])
            establishment = _opt(entry["establishment"])
            if wanted.establishment is not None and establishment != wanted.establishment:
                report.fail(seq, f"event {seq} is of another establishment")
                return shown, in_range
            if (last_at is not None and at < last_at) or at > end_cp.at:
                report.fail(seq, f"event {seq} is dated out of order")
                return shown, in_range
            last_at = at
            leaf = leaf_bytes(
                seq,
                at,
                establishment,
                _text(entry["actor"]),
                _text(entry["action"]),
                _opt(entry["subject"]),
                _opt(entry["appointment"]),
                _text(entry["key_id"]),
                _b64(entry["details"]),
            )
            leaves.append(_sha256(b"\x00" + leaf).digest())
            shown += 1
            if (wanted.start is None or at >= wanted.start) and (
                wanted.end is None or at < wanted.end
            ):
                in_range += 1
        expected += 1
    if expected != end:
        report.fail(expected, f"event {expected} is missing from the bundle")
        return shown, in_range
    frontier_extend(frontier, first, leaves)
    return shown, in_range


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
            f"OK: the bundle holds every event of its range, in a tree of {report.size}, "
            f"{report.checkpoints} checkpoints verified, root {report.root}"
        )
        return 0
    print(report.summary())
    return 1


if __name__ == "__main__":
    sys.exit(main())
