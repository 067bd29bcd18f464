"""Signed checkpoints kept outside the database, in append-only files.

Someone who can rewrite the database can delete the checkpoints in it, rewrite
events, and move the head row back to match. What they cannot do, if this copy
lives somewhere they cannot write, is unsign the checkpoints already copied
out: `throughcare audit verify` checks the log against every checkpoint found
here, and against a file a manager kept (`--checkpoint FILE`).

Each node appends the checkpoints *it* signs to `<directory>/<node>.jsonl`, one
JSON object a line (the form of `checkpoint_json`), after the transaction that
stored the checkpoint has committed, so a line never names a checkpoint that
the database does not hold. One file per node means no two hosts append to one
file, which shared volumes do not make atomic. The functions here block; call
them from a thread.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audit.checkpoints import Checkpoint, CheckpointFormatError, checkpoint_json, parse_checkpoint
from core.keys import ensure_dir

SUFFIX = ".jsonl"
# Enough for a few lines: a checkpoint line is about 250 bytes.
_TAIL_BYTES = 4096
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class CheckpointFileError(Exception):
    """A checkpoint file named on the command line cannot be read."""


class CheckpointFile:
    """One node's append-only file of the checkpoints it signed."""

    def __init__(self, directory: Path, node: str) -> None:
        self.directory = directory
        self.path = directory / f"{_UNSAFE.sub('_', node) or 'node'}{SUFFIX}"

    def __repr__(self) -> str:
        return f"CheckpointFile({str(self.path)!r})"

    def append(self, checkpoint: Checkpoint) -> None:
        """Append one line and fsync it. A torn last line (a crash mid-write) is ended first."""
        created = not self.path.exists()
        if created:
            ensure_dir(self.directory)
        line = json.dumps(checkpoint_json(checkpoint), separators=(",", ":")) + "\n"
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            end = os.fstat(fd).st_size
            if end and os.pread(fd, 1, end - 1) != b"\n":
                line = "\n" + line
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _fsync_directory(self.directory)

    def last(self) -> Checkpoint | None:
        """The newest checkpoint in this node's file, read from its end (None if none)."""
        try:
            with self.path.open("rb") as handle:
                end = handle.seek(0, os.SEEK_END)
                handle.seek(max(0, end - _TAIL_BYTES))
                tail = handle.read()
        except FileNotFoundError:
            return None
        for line in reversed(tail.splitlines()):
            try:
                return parse_checkpoint(json.loads(line))
            except (ValueError, CheckpointFormatError):
                continue
        return None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Kept:
    """Checkpoints read from outside the database, and what could not be read."""

    checkpoints: list[Checkpoint] = field(default_factory=list)
    files: int = 0
    damaged: list[str] = field(default_factory=list)

    def add(self, other: Kept) -> None:
        self.checkpoints.extend(other.checkpoints)
        self.files += other.files
        self.damaged.extend(other.damaged)


def _parse_lines(name: str, text: str) -> Kept:
    kept = Kept(files=1)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            kept.checkpoints.append(parse_checkpoint(json.loads(line)))
        except (ValueError, CheckpointFormatError):
            kept.damaged.append(f"{name} line {number}")
    return kept


def read_directory(directory: Path) -> Kept:
    """Every node's file in the directory; a missing directory holds nothing.

    A line that does not parse is listed in `damaged` and skipped (a crash can
    tear the last line of a file); it does not fail verification by itself.
    """
    kept = Kept()
    if not directory.is_dir():
        return kept
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        kept.add(_parse_lines(path.name, path.read_text(errors="replace")))
    return kept


def read_kept_file(path: Path) -> Kept:
    """A checkpoint a manager kept: one checkpoint (JSON), JSON lines, or an export bundle.

    Unlike the directory, a file named on purpose must read cleanly: anything
    that does not parse raises `CheckpointFileError`.
    """
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointFileError(f"cannot read {path}: {type(exc).__name__}") from None
    try:
        whole: Any = json.loads(text)
    except ValueError:
        whole = None
    try:
        if isinstance(whole, dict) and "checkpoints" in whole:
            found = whole["checkpoints"]
            raws = (
                [c for c in found.values() if c is not None] if isinstance(found, dict) else found
            )
            kept = Kept([parse_checkpoint(c) for c in raws], files=1)
        elif isinstance(whole, dict):
            kept = Kept([parse_checkpoint(whole)], files=1)
        else:
            kept = _parse_lines(path.name, text)
    except (CheckpointFormatError, TypeError) as exc:
        raise CheckpointFileError(f"{path}: {exc}") from None
    if kept.damaged or not kept.checkpoints:
        raise CheckpointFileError(f"{path}: not a checkpoint, a file of them, or a bundle")
    return kept
