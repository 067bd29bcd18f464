"""Appending: numbering, encryption, checkpoints, bad input, two writers on one store."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, update

from audit import AuditLog, open_audit_log
from audit.checkpoint_files import read_directory
from audit.envelope import open_sealed
from audit.integrity import verify_database, verify_log
from audit.record import details_aad, key_scope
from audit.review import decrypt_details
from audit.store import EVENT_COLUMNS, to_event
from audit.store import checkpoints as store_checkpoints
from audit.tables import audit_checkpoints, audit_data_keys, audit_events
from core.clock import FakeClock
from core.db import Database
from core.errors import ServiceError
from core.events import Action, AuditRecord
from core.keys import KeyFileError
from tests.audit.guards import triggers_dropped


def booked(n: int, subject: str = "p-1") -> AuditRecord:
    return AuditRecord(
        action=Action.BOOKED,
        actor="clinician-1",
        establishment="est-1",
        subject=subject,
        appointment=f"appt-{n}",
        details={"reason": f"review of medication {n}"},
    )


async def rows(db: Database) -> list[object]:
    async with db.connect() as conn:
        return [
            to_event(r)
            for r in (await conn.execute(select(*EVENT_COLUMNS).order_by(audit_events.c.seq)))
        ]


async def test_append_returns_contiguous_sequence_numbers(audit_log: AuditLog) -> None:
    seqs = await asyncio.gather(*(audit_log.append(booked(i)) for i in range(50)))
    assert sorted(seqs) == list(range(50))
    report = await verify_database(audit_log.db, audit_log.signer.public_raw)
    assert report.ok, report.summary()
    assert report.size == 50


async def test_concurrent_appends_are_batched_into_few_transactions(audit_log: AuditLog) -> None:
    await asyncio.gather(*(audit_log.append(booked(i)) for i in range(200)))
    assert audit_log.events == 200
    assert audit_log.batches < 20


async def test_details_are_stored_encrypted_and_decrypt_for_their_row(
    audit_log: AuditLog, db: Database
) -> None:
    await audit_log.append(booked(1))
    (event,) = await rows(db)
    assert b"medication" not in event.ciphertext  # type: ignore[attr-defined]
    [(details, status)] = await decrypt_details(audit_log, [event])  # type: ignore[list-item]
    assert status == "shown"
    assert details == {"reason": "review of medication 1"}


async def test_a_ciphertext_moved_to_another_row_fails_to_decrypt(
    audit_log: AuditLog, db: Database
) -> None:
    await audit_log.append(booked(1))
    await audit_log.append(booked(2))
    first, second = await rows(db)
    async with db.connect() as conn:
        keys = await audit_log.keys.by_ids(conn, {first.key_id})  # type: ignore[attr-defined]
    aead = keys[first.key_id]  # type: ignore[attr-defined]
    scope = key_scope("p-1", "est-1")
    assert open_sealed(aead, first.ciphertext, details_aad(0, scope, "booked"))  # type: ignore[attr-defined]
    with pytest.raises(InvalidTag):
        open_sealed(aead, first.ciphertext, details_aad(1, scope, "booked"))  # type: ignore[attr-defined]
    with pytest.raises(InvalidTag):
        open_sealed(aead, first.ciphertext, details_aad(0, scope, "cancelled"))  # type: ignore[attr-defined]
    with pytest.raises(InvalidTag):
        open_sealed(aead, first.ciphertext, details_aad(0, key_scope("p-2", "est-1"), "booked"))  # type: ignore[attr-defined]
    # And through the store: swap the two ciphertexts and neither reads any more.
    async with db.begin() as conn, triggers_dropped(conn):
        await conn.execute(
            update(audit_events).where(audit_events.c.seq == 0).values(details=second.ciphertext)  # type: ignore[attr-defined]
        )
    moved = (await rows(db))[0]
    [(details, status)] = await decrypt_details(audit_log, [moved])  # type: ignore[list-item]
    assert (details, status) == (None, "unreadable")


async def test_each_subject_has_its_own_key_and_subjectless_events_use_the_establishment_key(
    audit_log: AuditLog, db: Database
) -> None:
    await audit_log.append(booked(1, subject="p-1"))
    await audit_log.append(booked(2, subject="p-2"))
    await audit_log.append(booked(3, subject="p-1"))
    await audit_log.append(AuditRecord(Action.LOCKOUT, actor="system", establishment="est-1"))
    await audit_log.append(AuditRecord(Action.SIGN_IN_FAILED, actor="anonymous"))
    events = await rows(db)
    key_ids = [e.key_id for e in events]  # type: ignore[attr-defined]
    assert key_ids[0] == key_ids[2]
    assert len(set(key_ids)) == 4
    async with db.connect() as conn:
        scopes = set((await conn.execute(select(audit_data_keys.c.scope))).scalars())
    assert scopes == {"subject:p-1", "subject:p-2", "establishment:est-1", "system"}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (AuditRecord(action="teleported", actor="x"), "The audit action is not in the vocabulary."),  # type: ignore[arg-type]
        (AuditRecord(action=Action.BOOKED, actor=""), "An audit event needs an actor."),
        (AuditRecord(action=Action.BOOKED, actor=None), "An audit event needs an actor."),  # type: ignore[arg-type]
        (
            AuditRecord(action=Action.BOOKED, actor="c", details={"note": "x" * 17_000}),
            "The audit details are larger than 16 KiB.",
        ),
        (
            AuditRecord(action=Action.BOOKED, actor="c", details={"when": object()}),
            "The audit details must be a JSON object.",
        ),
        (
            AuditRecord(action=Action.BOOKED, actor="c", subject="s" * 37),
            "An audit event id is not valid.",
        ),
    ],
)
async def test_bad_events_are_refused_and_nothing_is_written(
    audit_log: AuditLog, db: Database, record: AuditRecord, message: str
) -> None:
    with pytest.raises(ServiceError) as caught:
        await audit_log.append(record)
    assert caught.value.detail == message
    async with db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(audit_events))).scalar() == 0


async def test_checkpoints_are_signed_every_n_events_and_after_t_seconds(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    log = await open_audit_log(
        db, keys_dir=keys_dir, clock=clock, checkpoint_every=10, checkpoint_seconds=30
    )
    try:
        for i in range(10):
            await log.append(booked(i))
        await log.append(booked(10))
        clock.advance(31)
        await log.append(booked(11))
        async with db.connect() as conn:
            sizes = list(
                (await conn.execute(select(audit_checkpoints.c.size).order_by("size"))).scalars()
            )
        assert sizes == [10, 12]
    finally:
        await log.close()


async def test_close_signs_the_last_events(db: Database, keys_dir: Path, clock: FakeClock) -> None:
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock, checkpoint_every=100)
    await log.append(booked(1))
    await log.close()
    report = await verify_database(db, log.signer.public_raw)
    assert report.ok and report.checkpoints == 1 and report.unsigned_tail == 0
    with pytest.raises(ServiceError):
        await log.append(booked(2))


async def test_two_logs_on_one_store_keep_one_contiguous_tree(
    db: Database, database_url: str, keys_dir: Path, clock: FakeClock
) -> None:
    from core.db import create_database

    other_db = await asyncio.to_thread(create_database, database_url)
    one = await open_audit_log(db, keys_dir=keys_dir, clock=clock, checkpoint_every=7)
    two = await open_audit_log(other_db, keys_dir=keys_dir, clock=clock, checkpoint_every=7)
    try:

        async def burst(log: AuditLog, tag: str) -> list[int]:
            out = []
            for round_ in range(8):
                out += await asyncio.gather(
                    *(
                        log.append(booked(round_ * 10 + i, subject=f"{tag}-{i % 3}"))
                        for i in range(10)
                    )
                )
            return out

        a, b = await asyncio.gather(burst(one, "a"), burst(two, "b"))
        assert sorted(a + b) == list(range(160))
        assert not set(a) & set(b)
    finally:
        await one.close()
        await two.close()
        await other_db.dispose()
    report = await verify_database(db, one.signer.public_raw)
    assert report.ok, report.summary()
    assert report.size == 160 and report.unsigned_tail == 0
    async with db.connect() as conn:
        scopes = list((await conn.execute(select(audit_data_keys.c.scope))).scalars())
    assert len(scopes) == len(set(scopes)) == 6


async def test_a_node_whose_clock_is_behind_never_dates_an_event_before_the_log(
    db: Database, database_url: str, keys_dir: Path, clock: FakeClock
) -> None:
    """Nodes' clocks differ; the log's times must not go backwards, or a time range would
    not be a range of sequence numbers and an export could not prove it holds all of one."""
    from core.db import create_database

    behind = FakeClock(clock.now() - timedelta(minutes=10))
    other_db = await asyncio.to_thread(create_database, database_url)
    ahead = await open_audit_log(db, keys_dir=keys_dir, clock=clock, checkpoint_every=3)
    late = await open_audit_log(other_db, keys_dir=keys_dir, clock=behind, checkpoint_every=3)
    try:
        for i in range(4):
            await ahead.append(booked(i))
            clock.advance(1)
            await late.append(booked(10 + i))
            behind.advance(1)
    finally:
        await ahead.close()
        await late.close()
        await other_db.dispose()
    times = [e.at for e in await rows(db)]  # type: ignore[attr-defined]
    assert times == sorted(times)
    assert times[1] == times[0] and times[-1] == clock.now() - timedelta(seconds=1)
    report = await verify_database(db, ahead.signer.public_raw, max_gap=ahead.max_gap)
    assert report.ok, report.summary()
    async with db.connect() as conn:
        signed = list((await conn.execute(select(audit_checkpoints.c.at))).scalars())
    assert signed == sorted(signed) and signed[0] >= times[2]


async def test_every_checkpoint_is_kept_in_the_nodes_file_outside_the_database(
    audit_log: AuditLog, checkpoints_dir: Path
) -> None:
    for i in range(10):
        await audit_log.append(booked(i))
    await audit_log.close()
    async with audit_log.db.connect() as conn:
        stored = await store_checkpoints(conn)
    kept = await asyncio.to_thread(read_directory, checkpoints_dir)
    assert [c.size for c in stored] == [4, 8, 10]
    assert kept.checkpoints == stored and kept.files == 1 and kept.damaged == []
    path = checkpoints_dir / "node-1.jsonl"
    modes = await asyncio.to_thread(
        lambda: (path.stat().st_mode & 0o777, checkpoints_dir.stat().st_mode & 0o777)
    )
    assert modes == (0o600, 0o700)


async def test_a_line_torn_by_a_crash_is_ended_and_the_next_checkpoint_still_kept(
    audit_log: AuditLog, checkpoints_dir: Path
) -> None:
    for i in range(4):
        await audit_log.append(booked(i))
    await audit_log.kept()
    path = checkpoints_dir / "node-1.jsonl"

    def tear() -> None:
        with path.open("a") as handle:
            handle.write('{"size": 8, "ro')

    await asyncio.to_thread(tear)
    for i in range(4):
        await audit_log.append(booked(4 + i))
    await audit_log.kept()
    kept = await asyncio.to_thread(read_directory, checkpoints_dir)
    assert [c.size for c in kept.checkpoints] == [4, 8]
    assert kept.damaged == ["node-1.jsonl line 2"]
    report = await verify_log(audit_log)
    assert report.ok and report.kept == 2, report.summary()
    assert report.notes == ["ignored a damaged checkpoint line: node-1.jsonl line 2"]


@pytest.mark.allow_blocking
async def test_a_kek_file_others_can_read_stops_start_up(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    await log.close()
    kek = keys_dir / "audit-kek-v1.key"
    os.chmod(kek, 0o644)
    with pytest.raises(KeyFileError, match=str(kek)) as caught:
        await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    assert "chmod 600" in str(caught.value)


@pytest.mark.allow_blocking
async def test_a_kek_file_of_the_wrong_length_stops_start_up(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    log = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    await log.close()
    kek = keys_dir / "audit-kek-v1.key"
    kek.write_bytes(b"short")
    with pytest.raises(KeyFileError) as caught:
        await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    assert str(caught.value) == f"{kek}: must be 32 bytes, found 5"


async def test_an_idle_log_signs_its_tail_after_t_seconds(
    db: Database, keys_dir: Path, clock: FakeClock
) -> None:
    log = await open_audit_log(
        db, keys_dir=keys_dir, clock=clock, checkpoint_every=100, checkpoint_seconds=0.05
    )
    try:
        await log.append(booked(1))
        async with db.connect() as conn:
            before = (
                await conn.execute(select(func.count()).select_from(audit_checkpoints))
            ).scalar()
        clock.advance(1)
        await asyncio.sleep(0.3)
        async with db.connect() as conn:
            after = (
                await conn.execute(select(func.count()).select_from(audit_checkpoints))
            ).scalar()
        assert (before, after) == (0, 1)
    finally:
        await log.close()


async def test_a_key_shredded_by_another_node_is_not_used_again(
    db: Database, database_url: str, keys_dir: Path, clock: FakeClock
) -> None:
    from core.db import create_database

    other_db = await asyncio.to_thread(create_database, database_url)
    one = await open_audit_log(db, keys_dir=keys_dir, clock=clock)
    two = await open_audit_log(other_db, keys_dir=keys_dir, clock=clock)
    try:
        await one.append(booked(1))
        await two.shred("p-1", "admin-1")
        await one.append(booked(2))
        events = await rows(db)
        first, _shred_event, third = events
        assert first.key_id != third.key_id  # type: ignore[attr-defined]
        shown = await decrypt_details(one, [first, third])  # type: ignore[list-item]
        assert shown == [(None, "shredded"), ({"reason": "review of medication 2"}, "shown")]
    finally:
        await one.close()
        await two.close()
        await other_db.dispose()


async def test_a_checkpoint_whose_batch_was_rolled_back_does_not_stop_later_ones(
    audit_log: AuditLog, db: Database, checkpoints_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node remembers the newest checkpoint it signed, to refuse signing over a rewrite;
    one signed in a transaction that then failed was never there, and must not count."""
    from audit import store

    for i in range(3):
        await audit_log.append(booked(i))
    real_write_head = store.write_head

    async def fail(conn: object, head: object) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(store, "write_head", fail)
    with pytest.raises(ServiceError):
        await audit_log.append(booked(3))
    monkeypatch.setattr(store, "write_head", real_write_head)
    for i in range(4, 9):
        await audit_log.append(booked(i))
    await audit_log.kept()
    async with db.connect() as conn:
        assert [c.size for c in await store_checkpoints(conn)] == [4, 8]
    report = await verify_log(audit_log)
    assert report.ok and report.kept == 2, report.summary()
