"""Edits made straight to the database are refused; edits made past the refusal (by someone
who can drop triggers) are found, and the first bad sequence named."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from audit import AuditLog, open_audit_log
from audit.integrity import verify_database, verify_log
from audit.record import leaf_bytes
from audit.store import EVENT_COLUMNS, to_event
from audit.store import checkpoints as store_checkpoints
from audit.tables import audit_checkpoints, audit_events, audit_head
from core.clock import FakeClock
from core.db import Database
from core.events import Action, AuditRecord
from tests.audit.guards import triggers_dropped


@pytest.fixture
async def filled(audit_log: AuditLog) -> AuditLog:
    """Twelve events with checkpoints at 4, 8 and 12."""
    for i in range(12):
        await audit_log.append(
            AuditRecord(
                Action.JOINED,
                actor=f"clinician-{i % 2}",
                establishment="est-1",
                subject=f"p-{i % 3}",
                appointment=f"appt-{i}",
                details={"n": i},
            )
        )
    return audit_log


async def check(log: AuditLog) -> tuple[int | None, str | None]:
    report = await verify_database(log.db, log.signer.public_raw)
    assert not report.ok
    return report.first_bad_seq, report.problem


async def row(db: Database, seq: int) -> dict[str, Any]:
    async with db.connect() as conn:
        found = (await conn.execute(select(audit_events).where(audit_events.c.seq == seq))).one()
    return dict(found._mapping)


async def test_untouched_log_verifies(filled: AuditLog) -> None:
    report = await verify_database(filled.db, filled.signer.public_raw)
    assert report.ok and report.size == 12 and report.checkpoints == 3


async def test_one_changed_byte_of_ciphertext_is_pinned_to_its_event(filled: AuditLog) -> None:
    original = (await row(filled.db, 5))["details"]
    changed = original[:-1] + bytes([original[-1] ^ 1])
    async with filled.db.begin() as conn, triggers_dropped(conn):
        await conn.execute(
            update(audit_events).where(audit_events.c.seq == 5).values(details=changed)
        )
    assert await check(filled) == (5, "event 5 does not match its recorded hash")


async def test_an_edit_that_also_rewrites_the_hash_fails_its_checkpoint(filled: AuditLog) -> None:
    """The attacker recomputes the leaf hash too: the signed root still catches it."""
    async with filled.db.begin() as conn, triggers_dropped(conn):
        (r,) = (await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.seq == 5))).all()
        event = to_event(r)
        forged_actor = "someone-else"
        digest = hashlib.sha256(
            b"\x00"
            + leaf_bytes(
                5,
                event.at,
                event.establishment,
                forged_actor,
                event.action,
                event.subject,
                event.appointment,
                event.key_id,
                event.ciphertext,
            )
        ).digest()
        await conn.execute(
            update(audit_events)
            .where(audit_events.c.seq == 5)
            .values(actor=forged_actor, leaf_hash=digest)
        )
    assert await check(filled) == (4, "checkpoint at size 8 does not match the events before it")


async def test_a_deleted_row_is_reported_missing(filled: AuditLog) -> None:
    async with filled.db.begin() as conn, triggers_dropped(conn):
        await conn.execute(delete(audit_events).where(audit_events.c.seq == 6))
    assert await check(filled) == (6, "event 6 is missing")


async def test_two_reordered_rows_are_found_at_the_first(filled: AuditLog) -> None:
    a, b = await row(filled.db, 3), await row(filled.db, 9)
    async with filled.db.begin() as conn, triggers_dropped(conn):
        for target, source in ((3, b), (9, a)):
            values = {k: v for k, v in source.items() if k != "seq"}
            await conn.execute(
                update(audit_events).where(audit_events.c.seq == target).values(**values)
            )
    assert await check(filled) == (3, "event 3 does not match its recorded hash")


async def test_a_truncated_tail_is_found_where_it_was_cut(filled: AuditLog) -> None:
    async with filled.db.begin() as conn, triggers_dropped(conn):
        await conn.execute(delete(audit_events).where(audit_events.c.seq >= 9))
    first_bad, problem = await check(filled)
    assert first_bad == 9
    assert problem == "the log ends at 9 events but a checkpoint was signed at 12"


async def test_a_swapped_checkpoint_is_found(filled: AuditLog) -> None:
    async with filled.db.begin() as conn, triggers_dropped(conn):
        eight = (
            await conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == 8))
        ).one()
        twelve = (
            await conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == 12))
        ).one()
        await conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.size == 8)
            .values(root=twelve.root, signature=twelve.signature, at=twelve.at)
        )
        await conn.execute(
            update(audit_checkpoints)
            .where(audit_checkpoints.c.size == 12)
            .values(root=eight.root, signature=eight.signature, at=eight.at)
        )
    assert await check(filled) == (4, "checkpoint at size 8 has a bad signature")


# ---------------------------------------------------------------- the store refuses edits

REFUSED_EDITS = {
    "update an event": update(audit_events).where(audit_events.c.seq == 5).values(actor="x"),
    "delete an event": delete(audit_events).where(audit_events.c.seq == 11),
    "delete every event": delete(audit_events),
    "update a checkpoint": update(audit_checkpoints).values(root=b"\0" * 32),
    "delete a checkpoint": delete(audit_checkpoints).where(audit_checkpoints.c.size == 12),
    "delete the head": delete(audit_head),
}


@pytest.mark.parametrize("edit", list(REFUSED_EDITS))
async def test_the_store_refuses_to_change_or_delete_the_logs_rows(
    filled: AuditLog, edit: str
) -> None:
    """Regression: both engines used to accept UPDATE and DELETE on the log's tables."""
    with pytest.raises(DBAPIError, match="append-only"):
        async with filled.db.begin() as conn:
            await conn.execute(REFUSED_EDITS[edit])
    report = await verify_log(filled)
    assert report.ok and report.size == 12 and report.checkpoints == 3, report.summary()


@pytest.mark.parametrize("store_kind", ["postgres"])
@pytest.mark.parametrize("table", ["audit_events", "audit_checkpoints", "audit_head"])
async def test_postgres_refuses_to_truncate_the_log(filled: AuditLog, table: str) -> None:
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"):
        async with filled.db.begin() as conn:
            await conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert (await verify_log(filled)).ok


# ---------------------------------------------------------------- fewer checkpoints than signed


async def _delete_checkpoints(db: Database, *sizes: int) -> None:
    query = delete(audit_checkpoints)
    if sizes:
        query = query.where(audit_checkpoints.c.size.in_(sizes))
    async with db.begin() as conn, triggers_dropped(conn):
        await conn.execute(query)


async def _forge_actor(db: Database, seq: int) -> None:
    """Rewrite an event's actor and recompute its leaf hash, so the row looks whole."""
    async with db.begin() as conn, triggers_dropped(conn):
        (r,) = (await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.seq == seq))).all()
        e = to_event(r)
        leaf = leaf_bytes(
            seq,
            e.at,
            e.establishment,
            "forged",
            e.action,
            e.subject,
            e.appointment,
            e.key_id,
            e.ciphertext,
        )
        await conn.execute(
            update(audit_events)
            .where(audit_events.c.seq == seq)
            .values(actor="forged", leaf_hash=hashlib.sha256(b"\x00" + leaf).digest())
        )


async def _move_head_back(db: Database, size: int) -> None:
    async with db.begin() as conn:
        await conn.execute(update(audit_head).values(checkpoint_size=size))


async def test_deleting_every_checkpoint_fails_verification(filled: AuditLog) -> None:
    """Regression: with no checkpoint left, `audit verify` said OK ("checkpoints: 0")."""
    await _delete_checkpoints(filled.db)
    assert await check(filled) == (
        0,
        "the head names a checkpoint at size 12, but the last one in the database is at 0",
    )


async def test_deleting_every_checkpoint_and_rewriting_an_event_fails_verification(
    filled: AuditLog,
) -> None:
    await _delete_checkpoints(filled.db)
    await _forge_actor(filled.db, 5)
    first_bad, problem = await check(filled)
    assert first_bad == 0
    assert problem is not None and problem.startswith("the head names a checkpoint at size 12")


async def test_deleting_the_newest_checkpoints_and_moving_the_head_back_is_found_by_the_files(
    filled: AuditLog,
) -> None:
    """Everything in the database agrees after this rewrite; the copy outside it does not."""
    await _delete_checkpoints(filled.db, 8, 12)
    await _forge_actor(filled.db, 5)
    await _move_head_back(filled.db, 4)
    inside_only = await verify_database(filled.db, filled.signer.public_raw, max_gap=filled.max_gap)
    assert inside_only.ok, "the attack should get past the database's own evidence"
    report = await verify_log(filled)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        4,
        "the checkpoint at size 8 kept outside the database does not match the events before it",
    )


async def test_deleting_every_checkpoint_and_the_head_with_them_is_found_by_the_files(
    filled: AuditLog,
) -> None:
    await _delete_checkpoints(filled.db)
    await _move_head_back(filled.db, 0)
    report = await verify_log(filled)
    assert (report.ok, report.first_bad_seq, report.problem) == (
        False,
        0,
        "checkpoint at size 4, kept outside the database, is missing from the database",
    )


async def test_a_checkpoint_file_that_was_deleted_too_is_only_a_note(
    filled: AuditLog, checkpoints_dir: Path
) -> None:
    """Without any copy outside the database, verify can only say that none was found."""
    await filled.kept()
    await asyncio.to_thread(shutil.rmtree, checkpoints_dir)
    report = await verify_log(filled)
    assert report.ok, report.summary()
    assert report.notes == [
        f"no checkpoint is kept outside the database yet (in {checkpoints_dir})"
    ]


async def test_a_stretch_longer_than_the_checkpoint_policy_allows_fails(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    """Checkpoints taken out of the middle, where no file was kept: the policy still shows it."""
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock, checkpoint_every=4, max_batch=1)
    try:
        for i in range(24):
            await log.append(AuditRecord(Action.JOINED, actor="c-1", details={"i": i}))
        assert log.max_gap == 4
        await _delete_checkpoints(db, 8, 12)
        report = await verify_log(log)
        assert (report.ok, report.first_bad_seq, report.problem) == (
            False,
            4,
            "12 events between the checkpoints at 4 and 16; one is signed at least every 4",
        )
    finally:
        await log.close()


async def test_an_unsigned_tail_longer_than_the_policy_allows_fails(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock, checkpoint_every=4, max_batch=1)
    try:
        for i in range(14):
            await log.append(AuditRecord(Action.JOINED, actor="c-1", details={"i": i}))
        await _delete_checkpoints(db, 8, 12)
        await _move_head_back(db, 4)
        report = await verify_log(log)
        assert (report.ok, report.first_bad_seq, report.problem) == (
            False,
            4,
            "the last 10 events are in no checkpoint; one is signed at least every 4",
        )
    finally:
        await log.close()


# ---------------------------------------------------------------- times and malformed rows


async def test_an_event_rewritten_to_an_earlier_time_is_found_at_that_event(
    filled: AuditLog,
) -> None:
    """Times never decrease along the log: that is what makes a time range a seq range."""
    async with filled.db.begin() as conn, triggers_dropped(conn):
        (r,) = (await conn.execute(select(*EVENT_COLUMNS).where(audit_events.c.seq == 6))).all()
        e = to_event(r)
        earlier = e.at - timedelta(hours=1)
        leaf = leaf_bytes(
            6,
            earlier,
            e.establishment,
            e.actor,
            e.action,
            e.subject,
            e.appointment,
            e.key_id,
            e.ciphertext,
        )
        await conn.execute(
            update(audit_events)
            .where(audit_events.c.seq == 6)
            .values(at=earlier, leaf_hash=hashlib.sha256(b"\x00" + leaf).digest())
        )
    assert await check(filled) == (6, "event 6 is dated earlier than what comes before it")


@pytest.mark.parametrize("store_kind", ["sqlite"])
@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        (
            "details",
            '\'{"reason": "plain text"}\'',
            "event 5 is malformed: its details are not bytes",
        ),
        ("actor", "x'00ff'", "event 5 is malformed: its actor is not text"),
        ("details", "42", "event 5 is malformed: its details are not bytes"),
        ("key_id", "x'01'", "event 5 is malformed: its key id is not text"),
        ("at", "'yesterday'", "event 5 is malformed: its time cannot be read"),
        ("leaf_hash", "'abc'", "event 5 does not match its recorded hash"),
    ],
)
async def test_a_malformed_row_is_reported_at_its_sequence_not_a_traceback(
    filled: AuditLog, column: str, value: str, problem: str
) -> None:
    """Regression: a `details` value stored as text crashed verification with a TypeError.

    Only SQLite lets a column hold another type; PostgreSQL refuses such a write.
    """
    async with filled.db.begin() as conn, triggers_dropped(conn):
        # The column and value are the test's own literals.
        await conn.execute(text(f"UPDATE audit_events SET {column} = {value} WHERE seq = 5"))  # noqa: S608
    assert await check(filled) == (5, problem)


async def test_the_log_will_not_sign_over_a_head_moved_back_behind_what_it_signed(
    filled: AuditLog,
) -> None:
    """Otherwise the next checkpoint would sign the rewrite, and the database agree again."""
    await _delete_checkpoints(filled.db)
    await _forge_actor(filled.db, 5)
    await _move_head_back(filled.db, 0)
    for i in range(8):
        await filled.append(AuditRecord(Action.LEFT, actor="c-1", details={"i": i}))
    assert await filled.checkpoint() is None
    async with filled.db.connect() as conn:
        assert await store_checkpoints(conn) == []
    report = await verify_log(filled)
    assert not report.ok and report.first_bad_seq == 0
