"""Export bundles: every event of a time range, with what proves that none is missing.

A time range is a range of sequence numbers, because the appender never dates
an event (or a checkpoint) earlier than what the log already holds. The bundle
covers the sequence numbers between two signed checkpoints: the last one dated
before the range and the first one dated at or after its end (or the latest).
Every event in between is in it: whole (details as ciphertext) if the reader
may see its establishment, its leaf hash only otherwise. With the compact
frontier at the first checkpoint, the events rebuild the second checkpoint's
root; a consistency proof ties that to the latest. `python -m audit.verify`
checks it with nothing else (see `audit.verify._verify_bundle`).
"""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from typing import Any

from sqlalchemy import select

from audit import store
from audit.checkpoints import Checkpoint, checkpoint_json, timestamp
from audit.log import AuditLog
from audit.merkle import MerkleTree
from audit.record import StoredEvent
from audit.tables import audit_events
from audit.verify import BUNDLE_FORMAT
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord

MAX_EXPORT_EVENTS = 100_000


def _event_json(event: StoredEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": timestamp(event.at),
        "establishment": event.establishment,
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "appointment": event.appointment,
        "key_id": event.key_id,
        "details": base64.b64encode(event.ciphertext).decode(),
    }


def _in_range(event: StoredEvent, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or event.at >= start) and (end is None or event.at < end)


def _assemble(
    leaf_hashes: list[bytes],
    rows: list[tuple[StoredEvent, bytes]],
    establishment: str | None,
    first: int,
    end: Checkpoint,
    latest: Checkpoint,
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """The entries, the frontier at `first`, and the consistency proof from `end` to `latest`."""
    tree = MerkleTree(leaf_hashes)
    entries = [
        _event_json(event)
        if establishment is None or event.establishment == establishment
        else {"seq": event.seq, "leaf_hash": leaf.hex()}
        for event, leaf in rows
    ]
    frontier = [h.hex() for h in tree.frontier(first)]
    consistency = [h.hex() for h in tree.consistency_proof(end.size, latest.size)]
    return entries, frontier, consistency


async def export_bundle(
    log: AuditLog,
    *,
    actor: str,
    start: datetime | None = None,
    end: datetime | None = None,
    establishment: str | None = None,
) -> dict[str, Any]:
    """A bundle of the events with start <= time < end (optionally of one establishment)."""
    if start is not None and end is not None and end <= start:
        raise ServiceError(Code.INVALID_REQUEST, "The range ends before it starts.")
    await log.checkpoint()
    async with log.db.connect() as conn:
        latest = await store.latest_checkpoint(conn)
        if latest is None:
            raise ServiceError(Code.CONFLICT, "The audit log has nothing to export yet.")
        before = await store.checkpoint_before(conn, start) if start is not None else None
        after = await store.checkpoint_from(conn, end, latest.size) if end is not None else None
        closing = after or latest
        first = before.size if before is not None else 0
        if closing.size - first > MAX_EXPORT_EVENTS:
            raise ServiceError(
                Code.INVALID_REQUEST, "The range holds too many events; export a shorter one."
            )
        leaf_hashes = list(
            (
                await conn.execute(
                    select(audit_events.c.leaf_hash)
                    .where(audit_events.c.seq < latest.size)
                    .order_by(audit_events.c.seq)
                )
            ).scalars()
        )
        query = (
            select(*store.EVENT_COLUMNS)
            .where(audit_events.c.seq >= first, audit_events.c.seq < closing.size)
            .order_by(audit_events.c.seq)
        )
        rows = [(store.to_event(r), r.leaf_hash) for r in (await conn.execute(query)).all()]
    if len(leaf_hashes) != latest.size or len(rows) != closing.size - first:
        raise ServiceError(Code.CONFLICT, "The audit log does not verify; run a check first.")
    entries, frontier, consistency = await asyncio.to_thread(
        _assemble, leaf_hashes, rows, establishment, first, closing, latest
    )
    in_range = sum(
        1
        for event, _leaf in rows
        if _in_range(event, start, end)
        and (establishment is None or event.establishment == establishment)
    )
    await log.append(
        AuditRecord(
            action=Action.LOG_EXPORTED,
            actor=actor,
            establishment=establishment,
            details={
                "from": timestamp(start) if start else None,
                "to": timestamp(end) if end else None,
                "events": in_range,
                "first_seq": first,
                "end_seq": closing.size,
                "tree_size": latest.size,
            },
        )
    )
    return {
        "format": BUNDLE_FORMAT,
        "public_key": log.signer.public_b64,
        "key_id": log.signer.key_id,
        "range": {
            "from": timestamp(start) if start else None,
            "to": timestamp(end) if end else None,
            "establishment": establishment,
        },
        "segment": {"start": first, "end": closing.size},
        "tree_size": latest.size,
        "checkpoints": {
            "start": checkpoint_json(before) if before is not None else None,
            "end": checkpoint_json(closing),
            "latest": checkpoint_json(latest),
        },
        "frontier": frontier,
        "consistency": consistency,
        "events": entries,
    }
