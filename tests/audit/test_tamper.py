"""Edits made straight to the database are found, and the first bad sequence named."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from audit import AuditLog
from audit.integrity import verify_database
from audit.record import leaf_bytes
from audit.store import EVENT_COLUMNS, to_event
from audit.tables import audit_checkpoints, audit_events
from core.db import Database
from core.events import Action, AuditRecord


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
    async with filled.db.begin() as conn:
        await conn.execute(
            update(audit_events).where(audit_events.c.seq == 5).values(details=changed)
        )
    assert await check(filled) == (5, "event 5 does not match its recorded hash")


async def test_an_edit_that_also_rewrites_the_hash_fails_its_checkpoint(filled: AuditLog) -> None:
    """The attacker recomputes the leaf hash too: the signed root still catches it."""
    async with filled.db.begin() as conn:
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
    async with filled.db.begin() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.seq == 6))
    assert await check(filled) == (6, "event 6 is missing")


async def test_two_reordered_rows_are_found_at_the_first(filled: AuditLog) -> None:
    a, b = await row(filled.db, 3), await row(filled.db, 9)
    async with filled.db.begin() as conn:
        for target, source in ((3, b), (9, a)):
            values = {k: v for k, v in source.items() if k != "seq"}
            await conn.execute(
                update(audit_events).where(audit_events.c.seq == target).values(**values)
            )
    assert await check(filled) == (3, "event 3 does not match its recorded hash")


async def test_a_truncated_tail_is_found_where_it_was_cut(filled: AuditLog) -> None:
    async with filled.db.begin() as conn:
        await conn.execute(delete(audit_events).where(audit_events.c.seq >= 9))
    first_bad, problem = await check(filled)
    assert first_bad == 9
    assert problem == "the log ends at 9 events but a checkpoint was signed at 12"


async def test_a_swapped_checkpoint_is_found(filled: AuditLog) -> None:
    async with filled.db.begin() as conn:
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
