"""Data keys in the database: created on first use, cached unwrapped, rotated, shredded.

A scope has at most one *active* key (not shredded). Writers look keys up
under the head-row lock, so two nodes can never create two keys for one scope,
and a key shredded by another node is never used again: the lookup happens in
every batch, only the unwrapping is cached.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from datetime import datetime

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from audit.envelope import KeyRing, KeyUnavailable, new_data_key
from audit.tables import audit_data_keys


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

    async def for_scopes(
        self, conn: AsyncConnection, scopes: Iterable[str], now: datetime, version: int
    ) -> dict[str, tuple[str, AESGCM]]:
        """The active key of each scope, creating the missing ones. Call under the head lock.

        `version` is the head row's keys_version: while it is unchanged no key
        has been shredded anywhere, so the cached scope-to-key map still holds
        and only scopes never seen before are looked up.
        """
        if version != self._version:
            self._active.clear()
            self._version = version
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
                select(
                    audit_data_keys.c.id,
                    audit_data_keys.c.scope,
                    audit_data_keys.c.kek_id,
                    audit_data_keys.c.wrapped,
                ).where(
                    audit_data_keys.c.scope.in_(wanted),
                    audit_data_keys.c.shredded_at.is_(None),
                )
            )
        ).all()
        for key_id, scope, kek_id, wrapped in rows:
            try:
                found[scope] = (key_id, self._unwrap(key_id, scope, kek_id, wrapped))
            except KeyUnavailable:
                # Another node may have rotated: look at the folder again, once.
                await asyncio.to_thread(self.ring.reload)
                found[scope] = (key_id, self._unwrap(key_id, scope, kek_id, wrapped))
        created = []
        for scope in wanted:
            if scope in found:
                continue
            key_id = str(uuid.uuid4())
            dek = new_data_key()
            kek_id, wrapped = self.ring.wrap(dek, key_id, scope)
            created.append(
                {
                    "id": key_id,
                    "scope": scope,
                    "kek_id": kek_id,
                    "wrapped": wrapped,
                    "created_at": now,
                    "shredded_at": None,
                }
            )
            aead = AESGCM(dek)
            self._aeads[key_id] = aead
            found[scope] = (key_id, aead)
        if created:
            await conn.execute(insert(audit_data_keys), created)
        for scope in wanted:
            self._active[scope] = found[scope][0]
        return found

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

    async def by_ids(self, conn: AsyncConnection, key_ids: Iterable[str]) -> dict[str, AESGCM]:
        """Keys that can still decrypt; shredded or unknown ones are simply absent."""
        wanted = sorted(set(key_ids) - set(self._aeads))
        if wanted:
            rows = (
                await conn.execute(
                    select(
                        audit_data_keys.c.id,
                        audit_data_keys.c.scope,
                        audit_data_keys.c.kek_id,
                        audit_data_keys.c.wrapped,
                    ).where(
                        audit_data_keys.c.id.in_(wanted),
                        audit_data_keys.c.wrapped.is_not(None),
                    )
                )
            ).all()
            for key_id, scope, kek_id, wrapped in rows:
                try:
                    self._unwrap(key_id, scope, kek_id, wrapped)
                except KeyUnavailable:
                    continue
        # A key shredded since it was cached must not decrypt any more.
        live = (
            await conn.execute(
                select(audit_data_keys.c.id).where(
                    audit_data_keys.c.id.in_(sorted(set(key_ids))),
                    audit_data_keys.c.wrapped.is_not(None),
                )
            )
        ).scalars()
        return {k: self._aeads[k] for k in live if k in self._aeads}

    async def shred(self, conn: AsyncConnection, scope: str, now: datetime) -> int:
        ids = (
            (
                await conn.execute(
                    select(audit_data_keys.c.id).where(
                        audit_data_keys.c.scope == scope, audit_data_keys.c.wrapped.is_not(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        if not ids:
            return 0
        await conn.execute(
            update(audit_data_keys)
            .where(audit_data_keys.c.id.in_(ids))
            .values(wrapped=None, shredded_at=now)
        )
        for key_id in ids:
            self._aeads.pop(key_id, None)
        self._active.pop(scope, None)
        return len(ids)

    async def rewrap_all(self, conn: AsyncConnection) -> int:
        """Re-wrap every live key not under the current KEK. Call under the head lock."""
        rows = (
            await conn.execute(
                select(
                    audit_data_keys.c.id,
                    audit_data_keys.c.scope,
                    audit_data_keys.c.kek_id,
                    audit_data_keys.c.wrapped,
                ).where(
                    audit_data_keys.c.wrapped.is_not(None),
                    audit_data_keys.c.kek_id != self.ring.current,
                )
            )
        ).all()
        for key_id, scope, kek_id, wrapped in rows:
            dek = self.ring.unwrap(kek_id, wrapped, key_id, scope)
            new_kek, new_wrapped = self.ring.wrap(dek, key_id, scope)
            await conn.execute(
                update(audit_data_keys)
                .where(audit_data_keys.c.id == key_id)
                .values(kek_id=new_kek, wrapped=new_wrapped)
            )
        return len(rows)
