"""Shredding subjects and rotating the KEK, so that a shred also defeats backups.

Destroying a subject's wrapped data key is not enough on its own: a database
backup taken before the shred still holds the wrapped key, and the KEK that
unwraps it is still in the keys folder. So every shred is also a rotation:

1. write KEK v(N+1) to the keys folder (it becomes current);
2. in ONE transaction under the head lock: destroy the subjects' wrapped data
   keys, re-wrap every remaining data key under v(N+1), bump the head row's
   `keys_version`;
3. destroy every older KEK file (overwrite, sync, unlink).

A backup taken before step 2 holds data keys wrapped only under KEKs that no
longer exist: it can be verified (leaves commit to ciphertext) but nothing in
it can be decrypted, for any subject. Hence the operating rule in
docs/audit.md: shreds run as a batch at a set time, a fresh backup follows
each batch, and the keys folder is never backed up with the database.

Other nodes see the new `keys_version` under the head lock before they next
create a key, re-read the folder (`DataKeys.sync`) and so never wrap a new key
under a retired KEK; keys they already hold unwrapped stay usable, and a
shredded one is refused by the liveness check of every read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from audit import store
from audit.envelope import KeyRing
from audit.record import key_scope
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord
from core.keys import KeyFileError

if TYPE_CHECKING:
    from audit.log import AuditLog

log = logging.getLogger("throughcare.audit")


@dataclass(frozen=True)
class Rekeyed:
    kek: str
    destroyed: dict[str, int]
    rewrapped: int
    retired: list[str]


async def rekey(audit: AuditLog, subjects: Sequence[str] = ()) -> Rekeyed:
    """Shred these subjects (possibly none) and rotate the KEK, as described above."""
    keys = audit.keys
    new_kek = await asyncio.to_thread(keys.ring.create_next)
    destroyed: dict[str, int] = {}
    async with audit.db.begin() as conn:
        head = await store.read_head(conn, lock=True)
        # Another node may have rotated since our KEK was written: re-read the folder, so
        # the re-wrap goes under the newest KEK and can unwrap what that rotation wrapped.
        await keys.sync(head.keys_version)
        now = audit.clock.now()
        for subject in subjects:
            destroyed[subject] = await keys.shred(conn, [key_scope(subject, None)], now)
        rewrapped = await keys.rewrap_all(conn)
        new_kek = keys.ring.current
        head.keys_version += 1
        await store.write_head(conn, head)
    async with audit.db.connect() as conn:
        live = await keys.live_kek_ids(conn)
    try:
        retired = await asyncio.to_thread(_retire, keys.ring, live)
    except OSError as exc:
        log.error("could not destroy a retired KEK file: %s", type(exc).__name__)
        raise KeyFileError(
            f"{keys.ring.keys_dir}: a retired key-encryption key could not be destroyed "
            f"({exc.strerror}); backups stay readable until every audit-kek file but "
            f"{new_kek} is removed"
        ) from None
    return Rekeyed(new_kek, destroyed, rewrapped, retired)


def _retire(ring: KeyRing, live: set[str]) -> list[str]:
    ring.reload()
    stale = live - {ring.current}
    if stale:
        # Should not happen (every wrap checks keys_version first); keep them rather than lose data.
        log.error("data keys are still wrapped under retired KEKs %s", sorted(stale))
    return ring.destroy_older(keep=stale)


def _valid(subject: object) -> bool:
    return isinstance(subject, str) and 0 < len(subject) <= 36


async def shred(audit: AuditLog, subjects: Sequence[str], actor: str) -> dict[str, int]:
    """Destroy the subjects' data keys and rotate the KEK; returns keys destroyed per subject.

    Each subject's shred is logged as `subject_shredded` under the system key
    (the subject's id in the encrypted details, never in the subject column:
    that would make the subject a new key at once).
    """
    if not subjects or not all(_valid(s) for s in subjects):
        raise ServiceError(Code.INVALID_REQUEST, "An audit event id is not valid.")
    done = await rekey(audit, list(dict.fromkeys(subjects)))
    for subject, count in done.destroyed.items():
        await audit.append(
            AuditRecord(
                action=Action.SUBJECT_SHREDDED,
                actor=actor,
                details={
                    "subject": subject,
                    "data_keys_destroyed": count,
                    "kek": done.kek,
                    "data_keys_rewrapped": done.rewrapped,
                    "keks_destroyed": done.retired,
                },
            )
        )
    return done.destroyed


async def retire_lost_keys(audit: AuditLog, actor: str) -> int:
    """After restoring a backup older than the last shred: let the store be written again.

    Every data key in such a backup is wrapped under a destroyed KEK, so
    nothing in it can be decrypted and no event about its subjects can be
    appended (the appender refuses to wrap with a key it cannot unwrap). This
    marks those keys destroyed, as a shred would; new events and fields get
    new keys. An operator runs it on purpose (`throughcare audit
    retire-lost-keys --yes`), never the service by itself: a node pointed at
    the wrong keys folder must fail loudly, not destroy every key.
    """
    async with audit.db.begin() as conn:
        head = await store.read_head(conn, lock=True)
        count = await audit.keys.retire_lost(conn, audit.clock.now())
        head.keys_version += 1
        await store.write_head(conn, head)
    await audit.append(
        AuditRecord(
            action=Action.KEY_ROTATED,
            actor=actor,
            details={"kek": audit.keys.ring.current, "lost_data_keys_retired": count},
        )
    )
    return count


async def rotate_kek(audit: AuditLog, actor: str) -> tuple[str, int]:
    """Re-wrap every data key under a new KEK and destroy the old ones; events are untouched."""
    done = await rekey(audit)
    await audit.append(
        AuditRecord(
            action=Action.KEY_ROTATED,
            actor=actor,
            details={
                "kek": done.kek,
                "data_keys_rewrapped": done.rewrapped,
                "keks_destroyed": done.retired,
            },
        )
    )
    return done.kek, done.rewrapped
