"""A test playing the device's offline queue: it fetches the signed-in person's queue key
and seals items of any kind as offline_queue.js does (AES-GCM, the client id as
associated data), then sends them to POST /api/sync."""

from __future__ import annotations

import base64
import os
import uuid
from typing import Any

from sqlalchemy import func, select

from core.offline import QueueKey, seal_item
from tests.world import Prisoner, bearer, sign_in_prisoner
from web.state import DATABASE


class Device:
    """One person signed in on one device, with their queue key."""

    def __init__(self, client: Any, tokens: dict[str, Any], key: QueueKey) -> None:
        self.client, self.tokens, self.key = client, tokens, key

    @classmethod
    async def sign_in(cls, client: Any, prisoner: Prisoner) -> Device:
        tokens = await sign_in_prisoner(client, prisoner)
        resp = await client.get("/api/me/offline-key", headers=bearer(tokens))
        assert resp.status == 200
        body = await resp.json()
        return cls(client, tokens, QueueKey(base64.b64decode(body["key"]), body["tag"]))

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens)

    def seal(self, kind: str, body: dict[str, Any], *, slot: str | None = None) -> Any:
        cid = str(uuid.uuid4())
        nonce = os.urandom(12)
        data = seal_item(self.key, cid, {"kind": kind, "slot": slot, "body": body}, nonce)
        return {
            "id": cid,
            "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(data).decode(),
        }

    async def sync(self, items: list[Any], status: int = 200) -> Any:
        resp = await self.client.post("/api/sync", json={"items": items}, headers=self.headers)
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def get(self, path: str) -> Any:
        resp = await self.client.get(path, headers=self.headers)
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def count(app: Any, table: Any) -> int:
    async with app[DATABASE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def statuses(answer: Any) -> list[str]:
    return [r["status"] for r in answer["results"]]
