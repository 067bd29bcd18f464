"""The per-subject key service under shreds, rotations and several nodes (issue 12, item 10).

The attacks and failures: a node that missed a rotation wraps a new data key
under a KEK that is about to be destroyed (the key is then lost, or a copy of
that KEK is kept "because it is still needed"); a rotation leaves the old KEK
file behind, so every backup stays readable; a sealed field is moved to
another row, column or subject; a key created in a transaction that rolled
back is used by the log anyway.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func, select

from audit import AuditLog, SubjectKeys, open_audit_log
from audit.review import decrypt_details
from audit.shredding import shred
from audit.store import EVENT_COLUMNS, to_event
from audit.tables import audit_data_keys, audit_events
from core.clock import FakeClock
from core.db import Database
from core.errors import ServiceError
from core.events import Action, AuditRecord
from core.fields import SealedField, Unreadable


def kek_files(keys_dir: Path) -> list[str]:
    return sorted(p.name for p in keys_dir.iterdir() if p.name.startswith("audit-kek-"))


def about(subject: str, note: str) -> AuditRecord:
    return AuditRecord(
        Action.CONSENT_GIVEN,
        actor="clinician-1",
        establishment="est-1",
        subject=subject,
        details={"note": note},
    )


async def kek_of(db: Database, subject: str) -> str:
    async with db.connect() as conn:
        kek: str = (
            await conn.execute(
                select(audit_data_keys.c.kek_id).where(
                    audit_data_keys.c.scope == f"subject:{subject}",
                    audit_data_keys.c.wrapped.is_not(None),
                )
            )
        ).scalar_one()
    return kek


async def test_a_node_that_missed_the_rotation_wraps_new_keys_under_the_new_kek(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    one = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    two = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        await two.append(about("p-0", "seen by node two"))
        assert two.keys.ring.current == "v1"
        await one.shred("p-1", "admin-1")
        assert await asyncio.to_thread(kek_files, keys_dir) == ["audit-kek-v2.key"]
        # Node two still holds v1 in memory; its next new keys must not be wrapped under it.
        await two.append(about("p-2", "written by node two after the rotation"))
        two_keys = SubjectKeys(two.keys, clock)
        async with db.begin() as conn:
            blob = await two_keys.seal(conn, "p-3", column="t.c", row="r-1", text="new text")
        assert await kek_of(db, "p-2") == "v2"
        assert await kek_of(db, "p-3") == "v2"
    finally:
        await one.close()
        await two.close()
    # A node started now, with only the keys folder, reads both.
    fresh = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        async with db.connect() as conn:
            rows = await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.subject == "p-2"))
            events = [to_event(r) for r in rows]
            [text] = await SubjectKeys(fresh.keys, clock).open_many(
                conn, [SealedField(blob, "p-3", "t.c", "r-1")]
            )
        assert text == "new text"
        shown = await decrypt_details(fresh, events)
        assert shown == [({"note": "written by node two after the rotation"}, "shown")]
    finally:
        await fresh.close()


async def test_rotating_the_kek_destroys_every_older_kek_file(
    audit_log: AuditLog, db: Database, keys_dir: Path
) -> None:
    await audit_log.append(about("p-1", "one"))
    assert await asyncio.to_thread(kek_files, keys_dir) == ["audit-kek-v1.key"]
    assert await audit_log.rotate_kek("admin-1") == ("v2", 1)
    # The first rotation's own event has the system's key: two to re-wrap now.
    assert await audit_log.rotate_kek("admin-1") == ("v3", 2)
    assert await asyncio.to_thread(kek_files, keys_dir) == ["audit-kek-v3.key"]
    async with db.connect() as conn:
        rows = await conn.execute(select(*EVENT_COLUMNS).order_by(audit_events.c.seq))
        events = [to_event(r) for r in rows]
    assert (await decrypt_details(audit_log, events[:1]))[0] == ({"note": "one"}, "shown")


async def test_shreds_run_as_a_batch_with_one_rotation(
    audit_log: AuditLog, db: Database, keys_dir: Path
) -> None:
    for subject in ("p-1", "p-2", "p-3"):
        await audit_log.append(about(subject, f"about {subject}"))
    destroyed = await shred(audit_log, ["p-1", "p-2"], "admin-1")
    assert destroyed == {"p-1": 1, "p-2": 1}
    assert await asyncio.to_thread(kek_files, keys_dir) == ["audit-kek-v2.key"]
    async with db.connect() as conn:
        rows = await conn.execute(select(*EVENT_COLUMNS).order_by(audit_events.c.seq))
        events = [to_event(r) for r in rows]
    shown = await decrypt_details(audit_log, events)
    assert [s for _, s in shown[:3]] == ["shredded", "shredded", "shown"]
    logged = [d for d, _ in shown[3:]]
    assert [d["subject"] for d in logged if d] == ["p-1", "p-2"]
    with pytest.raises(ServiceError):
        await shred(audit_log, [], "admin-1")
    with pytest.raises(ServiceError):
        await shred(audit_log, ["x" * 37], "admin-1")


async def test_a_sealed_field_moved_to_another_row_column_or_subject_does_not_open(
    audit_log: AuditLog, db: Database, clock: FakeClock
) -> None:
    keys = SubjectKeys(audit_log.keys, clock)
    async with db.begin() as conn:
        blob = await keys.seal(conn, "p-1", column="appointments.reason", row="a-1", text="Low")
        await keys.seal(conn, "p-2", column="appointments.reason", row="a-2", text="Other")
    async with db.connect() as conn:
        opened = await keys.open_many(
            conn,
            [
                SealedField(blob, "p-1", "appointments.reason", "a-1"),
                SealedField(blob, "p-1", "appointments.reason", "a-2"),
                SealedField(blob, "p-1", "appointments.notes", "a-1"),
                SealedField(blob, "p-2", "appointments.reason", "a-1"),
                SealedField(blob[:-1] + bytes([blob[-1] ^ 1]), "p-1", "appointments.reason", "a-1"),
                SealedField(b"\x01legacy", "p-1", "appointments.reason", "a-1"),
            ],
        )
    assert opened == ["Low", *[Unreadable.DAMAGED] * 5]
    assert b"Low" not in blob


async def test_a_field_sealed_before_a_shred_stays_unreadable_after_the_subject_gets_a_new_key(
    audit_log: AuditLog, db: Database, clock: FakeClock
) -> None:
    keys = SubjectKeys(audit_log.keys, clock)
    async with db.begin() as conn:
        old = await keys.seal(conn, "p-1", column="t.c", row="r-1", text="before")
    await audit_log.shred("p-1", "admin-1")
    async with db.begin() as conn:
        new = await keys.seal(conn, "p-1", column="t.c", row="r-2", text="after")
    async with db.connect() as conn:
        opened = await keys.open_many(
            conn, [SealedField(old, "p-1", "t.c", "r-1"), SealedField(new, "p-1", "t.c", "r-2")]
        )
    assert opened == [Unreadable.SHREDDED, "after"]


async def test_a_key_made_in_a_transaction_that_rolled_back_is_never_used(
    audit_log: AuditLog, db: Database, clock: FakeClock
) -> None:
    """The first seal for a subject creates its key inside the caller's transaction."""
    keys = SubjectKeys(audit_log.keys, clock)
    with pytest.raises(RuntimeError):
        async with db.begin() as conn:
            await keys.seal(conn, "p-1", column="t.c", row="r-1", text="lost")
            raise RuntimeError("the booking failed")
    async with db.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(audit_data_keys))
    assert count == 0
    await audit_log.append(about("p-1", "after the rollback"))
    async with db.begin() as conn:
        blob = await keys.seal(conn, "p-1", column="t.c", row="r-2", text="kept")
    async with db.connect() as conn:
        rows = await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.subject == "p-1"))
        events = [to_event(r) for r in rows]
        [text] = await keys.open_many(conn, [SealedField(blob, "p-1", "t.c", "r-2")])
        live = await conn.scalar(
            select(func.count())
            .select_from(audit_data_keys)
            .where(audit_data_keys.c.wrapped.is_not(None))
        )
    assert text == "kept"
    assert await decrypt_details(audit_log, events) == [({"note": "after the rollback"}, "shown")]
    # One key for the subject, shared by its audit details and its health text.
    assert live == 1


async def test_several_subjects_sealed_with_one_look_up_each_under_their_own_live_key(
    audit_log: AuditLog, db: Database, clock: FakeClock
) -> None:
    """`seal_subjects`, as a shared offline-sync transaction uses it: a subject with a key,
    one whose key was shredded (the new key, never the old), one without a key yet."""
    keys = SubjectKeys(audit_log.keys, clock)
    async with db.begin() as conn:
        await keys.seal(conn, "p-1", column="t.c", row="r-0", text="first")
        await keys.seal(conn, "p-2", column="t.c", row="r-0", text="first")
    await audit_log.shred("p-2", "admin-1")
    async with db.begin() as conn:
        blobs = await keys.seal_subjects(
            conn,
            [
                ("p-1", "t.c", "r-1", "one"),
                ("p-2", "t.c", "r-2", "two"),
                ("p-3", "t.c", "r-3", "three"),
                ("p-1", "t.d", "r-1", "one again"),
            ],
        )
    async with db.connect() as conn:
        opened = await keys.open_many(
            conn,
            [
                SealedField(blobs[0], "p-1", "t.c", "r-1"),
                SealedField(blobs[1], "p-2", "t.c", "r-2"),
                SealedField(blobs[2], "p-3", "t.c", "r-3"),
                SealedField(blobs[3], "p-1", "t.d", "r-1"),
                # Bound to its subject: p-1's blob does not open as p-3's.
                SealedField(blobs[0], "p-3", "t.c", "r-1"),
            ],
        )
        live = await conn.scalar(
            select(func.count())
            .select_from(audit_data_keys)
            .where(
                audit_data_keys.c.wrapped.is_not(None),
                audit_data_keys.c.scope.in_(["subject:p-1", "subject:p-2", "subject:p-3"]),
            )
        )
    assert opened == ["one", "two", "three", "one again", Unreadable.DAMAGED]
    assert live == 3
    await audit_log.shred("p-1", "admin-1")
    async with db.connect() as conn:
        gone = await keys.open_many(conn, [SealedField(blobs[3], "p-1", "t.d", "r-1")])
    assert gone == [Unreadable.SHREDDED]
