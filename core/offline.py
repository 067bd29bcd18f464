"""Offline queues: what a device queued while its link was down, received once, in batches.

A device queues a person's answers in IndexedDB, each sealed (AES-GCM) under a
key the server derives for that person on that device (`queue_key`) and hands
only to their signed-in session; the page holds it as a non-extractable
WebCrypto key. The device sends the sealed items as they are: the server opens
each with the key of the person *now signed in*, with the item's client id as
associated data. So an item another person queued, or an id changed on the
way (forged), does not open, and the whole batch is refused with nothing
changed. The device never needs to decrypt what it queued.

Each kind of item (questionnaire answers; later exercise answers, lesson
progress) registers a `SyncKind` that checks an item and stores a batch of
them in the batch's transaction. Batches that arrive together share one
transaction (group commit, `_write_group`): a batch that cannot go with the
others is taken out and gets its own answer, so it never fails them. What
`sync` adds around the kinds:

- idempotence: every client id gets a receipt (`sync_receipts`, unique id);
  a replay answers from the receipt and changes nothing, in any order;
- ownership: an id already received from another person refuses the batch;
- conflicts: items of one kind with the same `slot` are the same answer; the
  first the server receives holds it, a later one is kept sealed in
  `sync_conflicts` and its owner is told (the stated rule, docs/offline.md);
- lockdown: a kind's module is checked before anything; a suspended module
  refuses the whole batch (423) and the device keeps its queue.

Lives in `core` so that every module (campus too) can register a kind.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import and_, insert, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.fields import SubjectCipher
from core.identity import Principal
from core.offline_tables import sync_conflicts, sync_receipts
from core.permissions import Permission, require_permission

MAX_BATCH = 100
MAX_ITEM_BYTES = 16_384
KEY_VERSION = b"tc-offline-queue-v1"
CONFLICT_BODY = "sync_conflicts.body"

Gate = Callable[[Principal, str], Awaitable[None]]


@dataclass(frozen=True)
class QueueKey:
    """The person's key for their queue on one device, and the tag their items carry.

    The tag lets a page count its owner's items without opening them; it says
    nothing about who the owner is.
    """

    key: bytes = field(repr=False)
    tag: str


def queue_key(secret: bytes, account_id: str, device_id: str | None) -> QueueKey:
    """Derived, never stored: the same person on the same device always gets the same key,
    so a queue left when they signed out is theirs to send when they sign in again."""
    message = KEY_VERSION + b"\0" + account_id.encode() + b"\0" + (device_id or "").encode()
    key = hmac.new(secret, message, hashlib.sha256).digest()
    tag = hmac.new(key, b"owner-tag", hashlib.sha256).hexdigest()[:32]
    return QueueKey(key, tag)


def _aad(client_id: str) -> bytes:
    return b"tc-offline-v1:" + client_id.encode()


def seal_item(key: QueueKey, client_id: str, item: Mapping[str, Any], nonce: bytes) -> bytes:
    """What a device does (tests and the bench use it): AES-GCM over the item's JSON."""
    return AESGCM(key.key).encrypt(nonce, json.dumps(item).encode(), _aad(client_id))


@dataclass(frozen=True)
class Item:
    """One opened item: `body` is the kind's; `slot` names "the same answer" (or None)."""

    client_id: str
    kind: str
    slot: str | None
    body: Mapping[str, Any]


@dataclass(frozen=True)
class Outcome:
    """`stored`, `replayed` (received before: nothing changed), `conflict` (the slot was
    held by an earlier item: kept aside), or `refused` (the kind refused the content:
    nothing stored; `summary` has the code)."""

    client_id: str
    status: str
    summary: Mapping[str, Any]


class SyncKind(Protocol):
    """A kind of queued item, registered with `OfflineSync.register`.

    A kind may also define `async store_many(conn, parts, now)`, `parts` being
    (person, items as for `store`) for everyone in a shared transaction: then it is
    called once per group instead of `store` once per person."""

    module: str
    """The module whose lockdown suspension stops this kind (`require_open`)."""

    def check(self, actor: Principal, item: Item) -> Any:
        """Validate the item's body (no I/O); the prepared value goes to `store`.
        Raises ServiceError for content the kind refuses."""
        ...

    def summary(self, prepared: Any) -> dict[str, Any]:
        """What the device is told about a stored item, now and on every replay: nothing
        clinical beyond what the person sees (a score and its band, say)."""
        ...

    async def store(
        self,
        conn: AsyncConnection,
        actor: Principal,
        items: Sequence[tuple[Item, Any, str]],
        now: datetime,
    ) -> None:
        """Store the batch's new items (item, prepared, the id its record takes) in the
        caller's transaction, batched."""
        ...

    async def after(
        self, actor: Principal, stored: Sequence[tuple[Item, str, dict[str, Any]]]
    ) -> None:
        """After the commit: audit events and the like."""
        ...


class _Raced(Exception):
    """Another request claimed one of the batch's ids or slots between our read and write."""


class _Refused(Exception):
    """Batches of a group that the store showed are refused (an id another person sent)."""

    def __init__(self, errors: list[tuple[_Batch, ServiceError]]) -> None:
        super().__init__("refused")
        self.errors = errors


@dataclass
class _Batch:
    """One request's batch, opened and checked, waiting for a writer."""

    actor: Principal
    items: list[Item]
    candidates: list[Item]
    checked: dict[str, Any]
    refused: dict[str, dict[str, Any]]
    summaries: dict[str, dict[str, Any]]
    done: asyncio.Future[list[Outcome]]


def _refuse(detail: str) -> ServiceError:
    return ServiceError(Code.INVALID_REQUEST, detail)


def _not_yours() -> ServiceError:
    return ServiceError(
        Code.CONFLICT,
        "Something in this batch was not queued by you on this device. Nothing was stored.",
    )


def _b64(value: Any) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_ITEM_BYTES * 2:
        raise _refuse("Each queued item is an id, a nonce and sealed data.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("Each queued item is an id, a nonce and sealed data.") from None


def _client_id(value: Any) -> str:
    if not isinstance(value, str):
        raise _refuse("Each queued item's id must be a UUID.")
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise _refuse("Each queued item's id must be a UUID.") from None
    if parsed.version != 4 or str(parsed) != value.lower():
        raise _refuse("Each queued item's id must be a UUID.")
    return str(parsed)


class OfflineSync:
    def __init__(
        self,
        db: Database,
        *,
        secret: bytes,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
        require_open: Gate,
        writers: int = 4,
        group_items: int = 2_000,
        window: float = 0.0,
    ) -> None:
        """`writers` transactions at most at once; each writes every batch waiting when
        it starts, up to `group_items` items (a batch is never split). `window` is how
        long a writer that found nothing running waits for others to join it."""
        self._db = db
        self._secret = secret
        self._subject_keys = subject_keys
        self._clock = clock
        self._audit = audit
        self._require_open = require_open
        self._kinds: dict[str, SyncKind] = {}
        self._writers = writers
        self._group_items = group_items
        self._window = window
        self._pending: deque[_Batch] = deque()
        self._writing = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, kind: str, handler: SyncKind) -> None:
        """At start-up only; a kind name is at most 32 characters."""
        if kind in self._kinds or not 0 < len(kind) <= 32:
            raise ValueError(f"sync kind {kind!r} is taken or too long")
        self._kinds[kind] = handler

    def key_for(self, actor: Principal) -> QueueKey:
        """The signed-in person's queue key on this device (handed to their session only)."""
        require_permission(actor, Permission.OFFLINE_SYNC)
        return queue_key(self._secret, actor.account_id, actor.device_id)

    def _open(self, aead: AESGCM, raw: Any) -> Item:
        if not isinstance(raw, Mapping):
            raise _refuse("Each queued item is an id, a nonce and sealed data.")
        client_id = _client_id(raw.get("id"))
        nonce, data = _b64(raw.get("nonce")), _b64(raw.get("data"))
        if len(nonce) != 12 or len(data) > MAX_ITEM_BYTES:
            raise _refuse("Each queued item is an id, a nonce and sealed data.")
        try:
            plain = aead.decrypt(nonce, data, _aad(client_id))
            opened = json.loads(plain)
        except (InvalidTag, ValueError):
            raise _not_yours() from None
        kind, slot, body = opened.get("kind"), opened.get("slot"), opened.get("body")
        if not isinstance(kind, str) or kind not in self._kinds:
            raise _refuse("This device queued something the service does not take.")
        if slot is not None and (not isinstance(slot, str) or not 0 < len(slot) <= 80):
            raise _refuse("A queued item's slot is text of 80 characters or fewer.")
        if not isinstance(body, Mapping):
            raise _refuse("A queued item's body must be an object.")
        return Item(client_id, kind, slot, body)

    async def sync(self, actor: Principal, raw_items: Any) -> list[Outcome]:
        """Receive a batch from the signed-in person's queue; one outcome per item, in order.

        Refused whole, with nothing changed: a malformed batch (400), an item that
        does not open with this person's key or an id another person sent (409), a
        suspended module (423).

        Opening and checking happen here, in the request; the writing joins whatever
        other batches are waiting at that moment, in one transaction (`_Writer`).
        """
        key = self.key_for(actor)
        if not isinstance(raw_items, list) or not 0 < len(raw_items) <= MAX_BATCH:
            raise _refuse(f"A batch is a list of 1 to {MAX_BATCH} queued items.")
        items: list[Item] = []
        seen: set[str] = set()
        aead = AESGCM(key.key)
        for raw in raw_items:
            item = self._open(aead, raw)
            if item.client_id in seen:
                continue
            seen.add(item.client_id)
            items.append(item)
        for module in sorted({self._kinds[i.kind].module for i in items}):
            await self._require_open(actor, module)
        checked: dict[str, Any] = {}
        refused: dict[str, dict[str, Any]] = {}
        for item in items:
            try:
                checked[item.client_id] = self._kinds[item.kind].check(actor, item)
            except ServiceError as error:
                refused[item.client_id] = {"code": error.code.slug, "detail": error.detail or ""}
        candidates = [i for i in items if i.client_id not in refused]
        batch = _Batch(
            actor=actor,
            items=items,
            candidates=candidates,
            checked=checked,
            refused=refused,
            summaries={
                i.client_id: self._kinds[i.kind].summary(checked[i.client_id]) for i in candidates
            },
            done=asyncio.get_running_loop().create_future(),
        )
        self._pending.append(batch)
        if self._writing < self._writers:
            self._writing += 1
            task = asyncio.create_task(self._write())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Shielded: a request that goes away does not take the group's result with it.
        return await asyncio.shield(batch.done)

    async def _write(self) -> None:
        """One writer: takes every batch waiting (up to `group_items` items) and writes
        them together, until none waits. At most `writers` of these run at once."""
        try:
            if self._window:
                await asyncio.sleep(self._window)
            while self._pending:
                group: list[_Batch] = []
                size = 0
                while self._pending and (
                    not group or size + len(self._pending[0].candidates) <= self._group_items
                ):
                    batch = self._pending.popleft()
                    group.append(batch)
                    size += len(batch.candidates)
                try:
                    await self._write_group(group)
                except BaseException as error:  # pragma: no cover - a bug, not bad input
                    for batch in group:
                        if not batch.done.done():
                            batch.done.set_exception(error)
                    if not isinstance(error, Exception):
                        raise
        finally:
            self._writing -= 1

    async def _write_group(self, group: list[_Batch]) -> None:
        """Write the group in one transaction; a batch that cannot go with the others
        (another person's id, a slot raced, anything its kind's store raised) is taken
        out and written alone, so that it gets its own answer and the others land.

        A batch refused for a reason the database showed (an id another person sent)
        gets that refusal at once and the rest are tried again without it; any other
        failure of a shared transaction sends every batch of it on alone, where a race
        is tried three times, as before, and an error reaches only its own request."""
        attempts = 0
        while group:
            attempts += 1
            try:
                await self._apply(group)
                return
            except _Refused as refused:
                for batch, error in refused.errors:
                    batch.done.set_exception(error)
                group = [b for b in group if not b.done.done()]
                if attempts < 3:
                    continue
            except _Raced:
                if len(group) == 1 and attempts < 3:
                    continue
                if len(group) == 1:
                    group[0].done.set_exception(ServiceError(Code.CONFLICT, "Try again."))
                    return
            except Exception as error:
                if len(group) == 1:
                    group[0].done.set_exception(error)
                    return
            for batch in group:
                await self._write_group([batch])
            return

    async def _apply(self, group: list[_Batch]) -> None:
        """Claim first, look later: the group's receipts go in with one insert ... on
        conflict do nothing, and only ids that were not claimed (a replay, another
        person's id, a slot already held) cost a look-up. Each kind stores the group's
        new items (`store_many`, or `store` per person), then after the commit each
        batch's audit events follow and its request gets its outcomes."""
        now = self._clock.now()
        r = sync_receipts.c
        refs = {i.client_id: str(uuid.uuid4()) for b in group for i in b.candidates}
        outcomes: list[dict[str, Outcome]] = [{} for _ in group]
        conflicts: list[list[tuple[Item, str]]] = [[] for _ in group]
        stored: list[dict[str, list[tuple[Item, str, dict[str, Any]]]]] = [{} for _ in group]
        try:
            async with self._db.begin() as conn:
                claimed = await self._claim(
                    conn,
                    [
                        self._receipt(
                            b.actor.account_id,
                            i,
                            "stored",
                            refs[i.client_id],
                            b.summaries[i.client_id],
                            now,
                        )
                        for b in group
                        for i in b.candidates
                    ],
                )
                lost = [[i for i in b.candidates if i.client_id not in claimed] for b in group]
                if any(lost):
                    earlier = {
                        row.client_id: row
                        for row in await conn.execute(
                            select(r.client_id, r.owner_id, r.status, r.summary).where(
                                r.client_id.in_([i.client_id for mine in lost for i in mine])
                            )
                        )
                    }
                    refused = [
                        (b, _not_yours())
                        for b, mine in zip(group, lost, strict=True)
                        if any(
                            i.client_id in earlier
                            and earlier[i.client_id].owner_id != b.actor.account_id
                            for i in mine
                        )
                    ]
                    if refused:
                        raise _Refused(refused)
                    held = await self._held_slots(
                        conn,
                        [
                            (b.actor.account_id, i)
                            for b, mine in zip(group, lost, strict=True)
                            for i in mine
                            if i.client_id not in earlier
                        ],
                    )
                    for n, (b, mine) in enumerate(zip(group, lost, strict=True)):
                        owner = b.actor.account_id
                        for item in mine:
                            cid = item.client_id
                            row = earlier.get(cid)
                            if row is not None:
                                status = "conflict" if row.status == "conflict" else "replayed"
                                outcomes[n][cid] = Outcome(cid, status, json.loads(row.summary))
                                continue
                            kept = held.get((owner, item.kind, item.slot or ""))
                            if kept is None or kept == cid:
                                raise _Raced()
                            conflicts[n].append((item, kept))
                            outcomes[n][cid] = Outcome(cid, "conflict", {"kept": kept})
                        await self._set_aside(conn, owner, conflicts[n], now)
                winners = [[i for i in b.candidates if i.client_id in claimed] for b in group]
                for kind in sorted({i.kind for mine in winners for i in mine}):
                    handler = self._kinds[kind]
                    parts = [
                        (
                            b.actor,
                            [(i, b.checked[i.client_id], refs[i.client_id]) for i in mine],
                        )
                        for b, mine in zip(
                            group, ([i for i in m if i.kind == kind] for m in winners), strict=True
                        )
                        if mine
                    ]
                    store_many = getattr(handler, "store_many", None)
                    if store_many is not None:
                        await store_many(conn, parts, now)
                    else:
                        for actor, part in parts:
                            await handler.store(conn, actor, part, now)
                for n, (b, mine) in enumerate(zip(group, winners, strict=True)):
                    for item in mine:
                        cid = item.client_id
                        summary = b.summaries[cid]
                        stored[n].setdefault(item.kind, []).append((item, refs[cid], summary))
                        outcomes[n][cid] = Outcome(cid, "stored", summary)
        except IntegrityError:
            raise _Raced() from None
        for n, b in enumerate(group):
            try:
                await self._announce(b.actor, stored[n], conflicts[n])
            except Exception as error:
                b.done.set_exception(error)
                continue
            for cid, summary in b.refused.items():
                outcomes[n][cid] = Outcome(cid, "refused", summary)
            b.done.set_result([outcomes[n][i.client_id] for i in b.items])

    async def _announce(
        self,
        actor: Principal,
        stored: dict[str, list[tuple[Item, str, dict[str, Any]]]],
        conflicts: list[tuple[Item, str]],
    ) -> None:
        """After the commit: the kinds' own events, and one per conflict."""
        for kind, done in stored.items():
            await self._kinds[kind].after(actor, done)
        for item, kept in conflicts:
            await self._audit.append(
                AuditRecord(
                    action=Action.SYNC_CONFLICT,
                    actor=actor.account_id,
                    establishment=actor.establishment_id,
                    subject=actor.account_id,
                    details={"kind": item.kind, "client_id": item.client_id, "kept": kept},
                )
            )

    @staticmethod
    def _receipt(
        owner: str,
        item: Item,
        status: str,
        ref: str | None,
        summary: Mapping[str, Any],
        now: datetime,
    ) -> dict[str, Any]:
        return {
            "client_id": item.client_id,
            "owner_id": owner,
            "kind": item.kind,
            # Only a stored item holds its slot: a conflict's receipt must not collide.
            "slot": item.slot if status == "stored" else None,
            "status": status,
            "ref": ref,
            "summary": json.dumps(summary, sort_keys=True),
            "received_at": now,
        }

    async def _set_aside(
        self, conn: AsyncConnection, owner: str, conflicts: list[tuple[Item, str]], now: datetime
    ) -> None:
        """A later answer for a held slot: its receipt (so a replay says conflict again)
        and the answer itself, sealed under the person's key, for them to be shown."""
        if not conflicts:
            return
        receipts = [
            self._receipt(owner, item, "conflict", None, {"kept": kept}, now)
            for item, kept in conflicts
        ]
        if len(await self._claim(conn, receipts)) != len(receipts):
            raise _Raced()
        for item, kept in conflicts:
            conflict_id = str(uuid.uuid4())
            await conn.execute(
                insert(sync_conflicts).values(
                    id=conflict_id,
                    owner_id=owner,
                    client_id=item.client_id,
                    kind=item.kind,
                    slot=item.slot,
                    kept_client_id=kept,
                    body_enc=await self._subject_keys.seal(
                        conn,
                        owner,
                        column=CONFLICT_BODY,
                        row=conflict_id,
                        text=json.dumps(item.body, sort_keys=True),
                    ),
                    received_at=now,
                )
            )

    async def _held_slots(
        self, conn: AsyncConnection, items: list[tuple[str, Item]]
    ) -> dict[tuple[str, str, str], str]:
        """Who holds each (owner, item)'s slot now (the group's own winners included:
        they are claimed in this transaction)."""
        wanted = {(owner, i.kind, i.slot) for owner, i in items if i.slot is not None}
        if not wanted:
            return {}
        r = sync_receipts.c
        rows = await conn.execute(
            select(r.owner_id, r.kind, r.slot, r.client_id).where(
                tuple_(r.owner_id, r.kind, r.slot).in_(sorted(wanted))
            )
        )
        return {(row.owner_id, row.kind, row.slot): row.client_id for row in rows}

    async def _claim(self, conn: AsyncConnection, receipts: list[dict[str, Any]]) -> set[str]:
        """The receipts in one executemany (sent by the driver as multi-row inserts); the
        ids it claimed. One already there, or whose slot is held, is skipped."""
        if not receipts:
            return set()
        dialect = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        claimed = await conn.execute(
            dialect(sync_receipts).on_conflict_do_nothing().returning(sync_receipts.c.client_id),
            receipts,
        )
        return {row.client_id for row in claimed}

    async def conflicts(self, actor: Principal) -> list[dict[str, Any]]:
        """The person's answers that lost to an earlier one, not yet marked seen."""
        require_permission(actor, Permission.OFFLINE_SYNC)
        c = sync_conflicts.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(c.id, c.kind, c.client_id, c.kept_client_id, c.received_at)
                .where(and_(c.owner_id == actor.account_id, c.seen_at.is_(None)))
                .order_by(c.received_at)
            )
            return [
                {
                    "id": row.id,
                    "kind": row.kind,
                    "client_id": row.client_id,
                    "kept_client_id": row.kept_client_id,
                    "received_at": row.received_at,
                }
                for row in rows
            ]
