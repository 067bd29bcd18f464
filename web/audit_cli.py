"""`throughcare audit verify | checkpoint | export | rotate-kek | shred | retire-lost-keys`.

`add_audit_commands` adds the subparsers; `run_audit` runs one against the
`Core` that `web.cli` opens. Verification prints a progress bar when standard
error is a terminal, then a summary, and exits 1 if the log does not verify.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from audit import shredding, store
from audit.checkpoint_files import CheckpointFileError
from audit.checkpoints import checkpoint_json
from audit.export import export_bundle
from audit.integrity import verify_log
from core.config import ConfigError

if TYPE_CHECKING:
    from web.cli import Core

CLI_ACTOR = "cli"
BAR_WIDTH = 30


def add_audit_commands(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify, export and manage the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify",
        help="check the whole log against its signed checkpoints",
        description="Re-derives every leaf, rebuilds the tree and checks every checkpoint's "
        "signature and root, including the copies kept outside the database "
        "(THROUGHCARE_AUDIT_CHECKPOINTS_DIR). Exits 1 and names the first bad sequence "
        "number on failure.",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="also check against a checkpoint you kept: the output of `audit checkpoint`, "
        "a file of them (one a line), or an export bundle",
    )
    checkpoint = audit_sub.add_parser(
        "checkpoint",
        help="sign the log's current head and print the checkpoint, for you to keep",
        description="Prints the latest signed checkpoint as JSON. Keep it somewhere the "
        "database's administrators cannot write; `audit verify --checkpoint FILE` later "
        "proves the log still holds what it held then.",
    )
    checkpoint.add_argument("--out", help="write it to this file (must not exist)")
    export = audit_sub.add_parser(
        "export",
        help="write an evidence bundle that `python -m audit.verify FILE` checks offline",
    )
    export.add_argument("--from", dest="start", help="first time included (ISO 8601, UTC)")
    export.add_argument("--to", dest="end", help="first time excluded (ISO 8601, UTC)")
    export.add_argument("--establishment", help="only this establishment (its code)")
    export.add_argument("--out", required=True, help="file to write (must not exist)")
    audit_sub.add_parser(
        "rotate-kek",
        help="create a new key-encryption key, re-wrap every data key, destroy the old KEKs",
        description="Events and fields are not touched. The other nodes pick up the new KEK "
        "by themselves (the head row's keys_version). Every older audit-kek file is destroyed, "
        "so database backups taken before the rotation can no longer be decrypted: take a "
        "fresh backup after it.",
    )
    shred = audit_sub.add_parser(
        "shred",
        help="destroy subjects' data keys: their details and health text become unreadable",
        description="For the end of retention or a lawful erasure; give every subject of the "
        "batch at once. Their audit details and health text become unreadable for good, in "
        "this database and in every backup taken before (the KEK is rotated and the old ones "
        "destroyed, so those backups can no longer be decrypted for ANY subject: take a fresh "
        "backup after each batch). The events, their metadata and the log's verification are "
        "unaffected. This cannot be undone.",
    )
    shred.add_argument("subjects", nargs="+", metavar="SUBJECT", help="a prisoner's account id")
    shred.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    lost = audit_sub.add_parser(
        "retire-lost-keys",
        help="after restoring a backup older than the last shred: retire its unreadable keys",
        description="Such a backup's data keys are wrapped under destroyed KEKs: nothing in it "
        "can be decrypted, and no event about its subjects can be recorded until they are "
        "retired. This marks every data key that no KEK in the keys folder unwraps as "
        "destroyed (new events and fields get new keys). Check THROUGHCARE_KEYS_DIR first: "
        "pointed at the wrong folder, this destroys every key.",
    )
    lost.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")


def _when(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an ISO 8601 date or time, e.g. 2026-03-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ProgressBar:
    """A plain-text bar on a terminal; silent elsewhere (logs, pipes, CI)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        fraction = done / total if total else 1.0
        filled = int(BAR_WIDTH * min(fraction, 1.0))
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {fraction:6.1%} {done}/{total}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


async def run_audit(core: Core, args: argparse.Namespace) -> int:
    command = args.audit_command
    log = core.audit
    if command == "verify":
        bar = ProgressBar(sys.stderr)
        kept_file = Path(args.checkpoint) if args.checkpoint else None
        try:
            report = await verify_log(log, kept_file=kept_file, progress=bar)
        except CheckpointFileError as exc:
            raise ConfigError(str(exc)) from None
        finally:
            bar.close()
        if args.json:
            print(json.dumps({**report.as_dict(), "key_id": log.signer.key_id}))
        else:
            for note in report.notes:
                print(note)
            print(report.summary())
            print(f"audit signing key id {log.signer.key_id}")
        return 0 if report.ok else 1
    if command == "checkpoint":
        await log.checkpoint()
        async with log.db.connect() as conn:
            latest = await store.latest_checkpoint(conn)
        if latest is None:
            raise ConfigError("the audit log is empty: there is no checkpoint yet")
        text = json.dumps(checkpoint_json(latest))
        if args.out:
            out = Path(args.out)
            if await asyncio.to_thread(out.exists):
                raise ConfigError(f"{out} already exists; choose another file")
            await asyncio.to_thread(out.write_text, text + "\n")
            print(f"wrote the checkpoint at size {latest.size} to {out}")
        else:
            print(text)
        return 0
    if command == "export":
        out = Path(args.out)
        if await asyncio.to_thread(out.exists):
            raise ConfigError(f"{out} already exists; choose another file")
        establishment = None
        if args.establishment:
            est = await core.identity.establishment_by_code(args.establishment)
            if est is None:
                raise ConfigError(f"no establishment with code {args.establishment!r}")
            establishment = est.id
        bundle = await export_bundle(
            log,
            actor=CLI_ACTOR,
            start=_when(args.start, "--from"),
            end=_when(args.end, "--to"),
            establishment=establishment,
        )
        await asyncio.to_thread(out.write_text, json.dumps(bundle, indent=1))
        segment = bundle["segment"]
        print(
            f"wrote sequences {segment['start']} to {segment['end'] - 1} "
            f"(tree size {bundle['tree_size']}) to {out}; "
            f"check it with: python -m audit.verify {out}"
        )
        return 0
    if command == "rotate-kek":
        kek, count = await log.rotate_kek(CLI_ACTOR)
        print(f"KEK {kek} is current; {count} data keys re-wrapped; older KEKs destroyed")
        return 0
    if command == "retire-lost-keys":
        if not args.yes:
            raise ConfigError("retiring keys cannot be undone; add --yes to confirm")
        count = await shredding.retire_lost_keys(log, CLI_ACTOR)
        print(f"{count} data key(s) no KEK unwraps were retired; new events get new keys")
        return 0
    if command == "shred":
        if not args.yes:
            raise ConfigError("shredding cannot be undone; add --yes to confirm")
        destroyed = await shredding.shred(log, args.subjects, CLI_ACTOR)
        print(
            f"{sum(destroyed.values())} data key(s) destroyed for {len(destroyed)} subject(s); "
            "their details and health text can no longer be read; the KEK was rotated and "
            "older backups can no longer be decrypted: take a fresh backup now"
        )
        return 0
    return 2
