"""Data keys in the database: created on first use, cached unwrapped, rotated, shredded.

A scope has at most one *active* key (not shredded). Keys are created only
under the head-row lock, after `sync` has compared the head's `keys_version`
with the one this node last saw and, if it moved, re-read the keys folder. So
two nodes can never create two keys for one scope, a key shredded by another
node is never used again, and no node wraps a new key under a KEK that another
node has already retired: every rotation bumps `keys_version` in the same
transaction as its re-wrap (audit/shredding.py). Only unwrapping is cached.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.envelope import KeyRing, KeyUnavailable, new_data_key
from audit.tables import audit_data_keys

_KEY_COLUMNS = (
    audit_data_keys.c.id,
    audit_data_keys.c.scope,
    audit_data_keys.c.kek_id,
    audit_data_keys.c.wrapped,
)


class DataKeys:
    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._aeads: dict[str, AESGCM] = {}
        self._active: dict[str, str] = {}
        self._version = -1

    def _unwrap(self, key_id: str, scope: str, kek_id: str, wrapped: bytes) -> AESGCM:
        aead = self._aeads.get(key_id)
        if aead is None:
            aead = AESGCM(self.ring.unwrap(kek_id, wrapped, key_id, scope))
            self._aeads[key_id] = aead
        return aead

    async def _unwrap_or_reload(
        self, key_id: str, scope: str, kek_id: str, wrapped: bytes
    ) -> AESGCM:
        try:
            return self._unwrap(key_id, scope, kek_id, wrapped)
        except KeyUnavailable:
            # Another node may have rotated: look at the folder again, once.
            await asyncio.to_thread(self.ring.reload)
            return self._unwrap(key_id, scope, kek_id, wrapped)

    async def sync(self, version: int) -> None:
        """Catch up with the head row's keys_version. Call under the head lock.

        While the version is unchanged no key has been shredded and no KEK
        rotated anywhere, so the cached scope-to-key map still holds and the
        ring is current. When it moved, both are refreshed before any key is
        looked up or wrapped.
        """
        if version == self._version:
            return
        await asyncio.to_thread(self.ring.reload)
        self._active.clear()
        self._version = version

    async def for_scopes(
        self, conn: AsyncConnection, scopes: Iterable[str], now: datetime, version: int
    ) -> dict[str, tuple[str, AESGCM]]:
        """The active key of each scope, creating the missing ones. Call under the head lock.

        `version` is the head row's keys_version (see `sync`): only scopes not
        seen since it last moved are looked up.
        """
        await self.sync(version)
        found: dict[str, tuple[str, AESGCM]] = {}
        wanted = []
        for scope in set(scopes):
            key_id = self._active.get(scope)
            if key_id is not None and key_id in self._aeads:
                found[scope] = (key_id, self._aeads[key_id])
            else:
                wanted.append(scope)
        if not wanted:
            return found
        wanted.sort()
        rows = (
            await conn.execute(
                select(*_KEY_COLUMNS).where(
                    audit_data_keys.c.scope.in_(wanted),
                    audit_data_keys.c.wrapped.is_not(None),
                )
            )
        ).all()
        for key_id, scope, kek_id, wrapped in rows:
            found[scope] = (key_id, await self._unwrap_or_reload(key_id, scope, kek_id, wrapped))
        created = []
        for scope in wanted:
            if scope in found:
                continue
            row, aead = self._new_key(scope, now)
            created.append(row)
            found[scope] = (row["id"], aead)
        if created:
            await conn.execute(insert(audit_data_keys), created)
        for scope in wanted:
            self._active[scope] = found[scope][0]
        return found

    def _new_key(self, scope: str, now: datetime) -> tuple[dict[str, Any], AESGCM]:
        key_id = str(uuid.uuid4())
        dek = new_data_key()
        kek_id, wrapped = self.ring.wrap(dek, key_id, scope)
        aead = AESGCM(dek)
        self._aeads[key_id] = aead
        row = {
            "id": key_id,
            "scope": scope,
            "kek_id": kek_id,
            "wrapped": wrapped,
            "created_at": now,
            "shredded_at": None,
        }
        return row, aead

    def cached(self, scopes: Iterable[str], version: int) -> dict[str, tuple[str, AESGCM]] | None:
        """Every scope's key from the cache, or None if any is missing or may be stale."""
        if version != self._version:
            return None
        found: dict[str, tuple[str, AESGCM]] = {}
        for scope in scopes:
            key_id = self._active.get(scope)
            if key_id is None or key_id not in self._aeads:
                return None
            found[scope] = (key_id, self._aeads[key_id])
        return found

    def forget_active(self) -> None:
        """After a failed transaction: keys created in it were never stored."""
        self._active.clear()
        self._version = -1

    # ------------------------------------------------ one scope, no cache

    async def live_key(self, conn: AsyncConnection, scope: str) -> tuple[str, AESGCM] | None:
        """The scope's live key, read in the caller's transaction (no lock), if it has one."""
        row = (
            await conn.execute(
                select(*_KEY_COLUMNS)
                .where(audit_data_keys.c.scope == scope, audit_data_keys.c.wrapped.is_not(None))
                .order_by(audit_data_keys.c.created_at.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return None
        key_id, _, kek_id, wrapped = row
        return key_id, await self._unwrap_or_reload(key_id, scope, kek_id, wrapped)

    async def live_keys(
        self, conn: AsyncConnection, scopes: Iterable[str]
    ) -> dict[str, tuple[str, AESGCM]]:
        """`live_key` for several scopes with one query; a scope without a key is left out."""
        wanted = sorted(set(scopes))
        if not wanted:
            return {}
        rows = await conn.execute(
            select(*_KEY_COLUMNS)
            .where(audit_data_keys.c.scope.in_(wanted), audit_data_keys.c.wrapped.is_not(None))
            .order_by(audit_data_keys.c.created_at)
        )
        newest = {row[1]: row for row in rows}
        return {
            scope: (key_id, await self._unwrap_or_reload(key_id, scope, kek_id, wrapped))
            for key_id, scope, kek_id, wrapped in newest.values()
        }

    async def create(
        self, conn: AsyncConnection, scope: str, now: datetime, version: int
    ) -> tuple[str, AESGCM]:
        """The scope's live key, created if it has none. Call under the head lock.

        Unlike `for_scopes` the scope-to-key map is not updated: the caller's
        transaction may still roll back, and the appender must never take a
        key that was not stored.
        """
        await self.sync(version)
        found = await self.live_key(conn, scope)
        if found is not None:
            return found
        row, aead = self._new_key(scope, now)
        await conn.execute(insert(audit_data_keys).values(**row))
        return row["id"], aead

    async def by_ids(self, conn: AsyncConnection, key_ids: Iterable[str]) -> dict[str, AESGCM]:
        """Keys that can still decrypt; shredded or unknown ones are simply absent.

        A key whose KEK this node does not have, even after re-reading the
        folder, is absent too: that is a database restored from before a
        shred, whose KEKs were destroyed.
        """
        wanted = sorted(set(key_ids) - set(self._aeads))
        if wanted:
            rows = (
                await conn.execute(
                    select(*_KEY_COLUMNS).where(
                        audit_data_keys.c.id.in_(wanted),
                        audit_data_keys.c.wrapped.is_not(None),
                    )
                )
            ).all()
            reloaded = False
            for key_id, scope, kek_id, wrapped in rows:
                if kek_id not in self.ring.keks and not reloaded:
                    await asyncio.to_thread(self.ring.reload)
                    reloaded = True
                try:
                    self._unwrap(key_id, scope, kek_id, wrapped)
                except KeyUnavailable:
                    continue
        # A key shredded since it was cached must not decrypt any more.
        live = (
            await conn.execute(
                select(audit_data_keys.c.id, audit_data_keys.c.kek_id).where(
                    audit_data_keys.c.id.in_(sorted(set(key_ids))),
                    audit_data_keys.c.wrapped.is_not(None),
                )
            )
        ).all()
        return {k: self._aeads[k] for k, _ in live if k in self._aeads}

    # ------------------------------------------------ shredding and rotation

    async def shred(self, conn: AsyncConnection, scopes: Iterable[str], now: datetime) -> int:
        """Destroy the wrapped keys of these scopes. Call under the head lock."""
        wanted = sorted(set(scopes))
        ids = (
            (
                await conn.execute(
                    select(audit_data_keys.c.id).where(
                        audit_data_keys.c.scope.in_(wanted),
                        audit_data_keys.c.wrapped.is_not(None),
                    )
                )
            )
            .scalars()
            .all()
        )
        if ids:
            await conn.execute(
                update(audit_data_keys)
                .where(audit_data_keys.c.id.in_(ids))
                .values(wrapped=None, shredded_at=now)
            )
        for key_id in ids:
            self._aeads.pop(key_id, None)
        for scope in wanted:
            self._active.pop(scope, None)
        return len(ids)

    async def rewrap_all(self, conn: AsyncConnection) -> int:
        """Re-wrap every live key not under the current KEK. Call under the head lock.

        The unwrapping and wrapping (one AES-GCM each per key) run in a
        worker thread; the rows go back in one executemany.
        """
        rows = (
            await conn.execute(
                select(*_KEY_COLUMNS).where(
                    audit_data_keys.c.wrapped.is_not(None),
                    audit_data_keys.c.kek_id != self.ring.current,
                )
            )
        ).all()
        if not rows:
            return 0

        def rewrap() -> list[dict[str, Any]]:
            out = []
            for key_id, scope, kek_id, wrapped in rows:
                dek = self.ring.unwrap(kek_id, wrapped, key_id, scope)
                new_kek, new_wrapped = self.ring.wrap(dek, key_id, scope)
                out.append({"key_id": key_id, "new_kek": new_kek, "new_wrapped": new_wrapped})
            return out

        values = await asyncio.to_thread(rewrap)
        await conn.execute(
            update(audit_data_keys)
            .where(audit_data_keys.c.id == bindparam("key_id"))
            .values(kek_id=bindparam("new_kek"), wrapped=bindparam("new_wrapped")),
            values,
        )
        return len(values)

    async def retire_lost(self, conn: AsyncConnection, now: datetime) -> int:
        """Mark destroyed every live key that no KEK in the folder unwraps. Under the head lock.

        That is every key of a database restored from before a shred (its KEKs
        were destroyed): until they are retired, the appender cannot use them
        and so refuses every event about their subjects.
        """
        await asyncio.to_thread(self.ring.reload)
        rows = (
            await conn.execute(select(*_KEY_COLUMNS).where(audit_data_keys.c.wrapped.is_not(None)))
        ).all()

        def lost() -> list[str]:
            out = []
            for key_id, scope, kek_id, wrapped in rows:
                try:
                    self.ring.unwrap(kek_id, wrapped, key_id, scope)
                except KeyUnavailable:
                    out.append(key_id)
            return out

        ids = await asyncio.to_thread(lost)
        if ids:
            await conn.execute(
                update(audit_data_keys)
                .where(audit_data_keys.c.id.in_(ids))
                .values(wrapped=None, shredded_at=now)
            )
        for key_id in ids:
            self._aeads.pop(key_id, None)
        self._active.clear()
        return len(ids)

    async def live_kek_ids(self, conn: AsyncConnection) -> set[str]:
        """The KEKs that some live data key is still wrapped under."""
        return set(
            (
                await conn.execute(
                    select(audit_data_keys.c.kek_id)
                    .where(audit_data_keys.c.wrapped.is_not(None))
                    .distinct()
                )
            ).scalars()
        )
