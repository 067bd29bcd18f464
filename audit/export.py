"""Export bundles: events in a time range, with everything needed to check them offline.

A bundle holds the events (details as ciphertext), each with its inclusion
proof against the latest signed checkpoint, every checkpoint up to it with a
consistency proof between each neighbouring pair, and the audit public key.
`python -m audit.verify` checks it with nothing else.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime
from typing import Any

from sqlalchemy import select

from audit import store
from audit.checkpoints import Checkpoint, timestamp
from audit.log import AuditLog
from audit.merkle import MerkleTree
from audit.record import StoredEvent
from audit.tables import audit_events
from audit.verify import BUNDLE_FORMAT
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord

MAX_EXPORT_EVENTS = 100_000


def _checkpoint_json(cp: Checkpoint) -> dict[str, Any]:
    return {
        "size": cp.size,
        "root": cp.root.hex(),
        "at": timestamp(cp.at),
        "key_id": cp.key_id,
        "signature": base64.b64encode(cp.signature).decode(),
    }


def _event_json(event: StoredEvent, proof: list[bytes]) -> dict[str, Any]:
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
        "proof": [h.hex() for h in proof],
    }


def _assemble(
    leaf_hashes: list[bytes], events: list[StoredEvent], checkpoints: list[Checkpoint]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tree = MerkleTree(leaf_hashes)
    size = tree.size
    entries = [_event_json(e, tree.inclusion_proof(e.seq, size)) for e in events]
    consistency = [
        {
            "first": a.size,
            "second": b.size,
            "proof": [h.hex() for h in tree.consistency_proof(a.size, b.size)],
        }
        for a, b in zip(checkpoints, checkpoints[1:], strict=False)
    ]
    return entries, consistency


async def export_bundle(
    log: AuditLog,
    *,
    actor: str,
    start: datetime | None = None,
    end: datetime | None = None,
    establishment: str | None = None,
) -> dict[str, Any]:
    """Build a bundle of the events with start <= time < end (optionally one establishment)."""
    await log.checkpoint()
    async with log.db.connect() as conn:
        latest = await store.latest_checkpoint(conn)
        if latest is None:
            raise ServiceError(Code.CONFLICT, "The audit log has nothing to export yet.")
        checkpoints = await store.checkpoints(conn, up_to=latest.size)
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
            .where(audit_events.c.seq < latest.size)
            .order_by(audit_events.c.seq)
            .limit(MAX_EXPORT_EVENTS + 1)
        )
        if start is not None:
            query = query.where(audit_events.c.at >= start)
        if end is not None:
            query = query.where(audit_events.c.at < end)
        if establishment is not None:
            query = query.where(audit_events.c.establishment_id == establishment)
        events = [store.to_event(r) for r in (await conn.execute(query)).all()]
    if len(events) > MAX_EXPORT_EVENTS:
        raise ServiceError(
            Code.INVALID_REQUEST, "The range holds too many events; export a shorter one."
        )
    if len(leaf_hashes) != latest.size:
        raise ServiceError(Code.CONFLICT, "The audit log does not verify; run a check first.")
    entries, consistency = await asyncio.to_thread(_assemble, leaf_hashes, events, checkpoints)
    await log.append(
        AuditRecord(
            action=Action.LOG_EXPORTED,
            actor=actor,
            establishment=establishment,
            details={
                "from": timestamp(start) if start else None,
                "to": timestamp(end) if end else None,
                "events": len(entries),
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
        "tree_size": latest.size,
        "checkpoints": [_checkpoint_json(c) for c in checkpoints],
        "consistency": consistency,
        "events": entries,
    }
