"""KEK rotation re-wraps data keys only; shredding a subject leaves the log verifiable."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from audit import AuditLog, open_audit_log
from audit.integrity import verify_database
from audit.review import decrypt_details
from audit.store import EVENT_COLUMNS, to_event
from audit.tables import audit_data_keys, audit_events
from core.clock import FakeClock
from core.db import Database
from core.events import Action, AuditRecord


async def events(db: Database) -> list[object]:
    async with db.connect() as conn:
        result = await conn.execute(select(*EVENT_COLUMNS).order_by(audit_events.c.seq))
        return [to_event(r) for r in result]


def consent(subject: str) -> AuditRecord:
    return AuditRecord(
        Action.CONSENT_GIVEN,
        actor=subject,
        establishment="est-1",
        subject=subject,
        details={"recording": True, "note": f"consent of {subject}"},
    )


async def test_rotation_rewraps_keys_and_leaves_events_untouched(
    audit_log: AuditLog, db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    await audit_log.append(consent("p-1"))
    await audit_log.append(consent("p-2"))
    before = await events(db)
    kek, count = await audit_log.rotate_kek("admin-1")
    assert (kek, count) == ("v2", 2)
    after = await events(db)
    assert after[:2] == before
    assert after[2].action == "key_rotated"  # type: ignore[attr-defined]
    async with db.connect() as conn:
        keks = set((await conn.execute(select(audit_data_keys.c.kek_id))).scalars())
    assert keks == {"v2"}
    # A fresh process, with only the new KEK's wrapping in the store, still reads the old details.
    await audit_log.close()
    fresh = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        shown = await decrypt_details(fresh, before)  # type: ignore[arg-type]
        assert [d for d, _ in shown] == [
            {"recording": True, "note": "consent of p-1"},
            {"recording": True, "note": "consent of p-2"},
        ]
    finally:
        await fresh.close()


async def test_shredding_a_subject_hides_only_their_details_and_the_log_still_verifies(
    audit_log: AuditLog, db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    await audit_log.append(consent("p-1"))
    await audit_log.append(consent("p-2"))
    assert await audit_log.shred("p-1", "admin-1") == 1
    stored = await events(db)
    shown = await decrypt_details(audit_log, stored[:2])  # type: ignore[arg-type]
    assert shown == [
        (None, "shredded"),
        ({"recording": True, "note": "consent of p-2"}, "shown"),
    ]
    assert stored[2].action == "subject_shredded"  # type: ignore[attr-defined]
    # New events for that subject get a new key; the old one stays gone.
    await audit_log.append(consent("p-1"))
    latest = (await events(db))[-1]
    assert (await decrypt_details(audit_log, [latest]))[0][1] == "shown"  # type: ignore[list-item]
    assert (await decrypt_details(audit_log, stored[:1]))[0][1] == "shredded"  # type: ignore[arg-type]
    await audit_log.close()
    report = await verify_database(db, audit_log.signer.public_raw)
    assert report.ok, report.summary()
    fresh = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    try:
        assert (await decrypt_details(fresh, stored[:1]))[0] == (None, "shredded")  # type: ignore[arg-type]
    finally:
        await fresh.close()
