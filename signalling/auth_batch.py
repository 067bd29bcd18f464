"""Hellos that arrive together are checked together: one store round trip for a batch.

Every `hello` (and `reauth`) asks the identity service whether its token's session
is still open, its account active and its device enrolled: a database query. When a
node dies its clients all come back at once, to the others; a query each is then a
connection checkout, a round trip and a rollback each, and the pool's few
connections make them queue. Here a token that arrives while a batch is being
checked waits for the next batch, and a batch is one query
(`IdentityService.authenticate_many`), so a storm of hellos costs a handful of
round trips. Nothing is cached: every answer is the store's at the time of its
batch, as fresh as a query of its own would be (a revoked session is refused from
the next batch on). A lone hello is checked at once, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from core.errors import ServiceError
from core.identity import Principal
from signalling.policy import Authenticator

MAX_BATCH = 256


class ManyAuthenticator(Protocol):
    async def authenticate(self, token: object) -> Principal: ...

    async def authenticate_many(
        self, tokens: Sequence[object]
    ) -> list[Principal | ServiceError]: ...


class BatchedAuthenticator:
    """`Authenticator`, with the tokens that arrive together checked in one query."""

    def __init__(self, identity: Authenticator) -> None:
        self._identity = identity
        many = getattr(identity, "authenticate_many", None)
        self._many = many if callable(many) else None
        self._waiting: list[tuple[object, asyncio.Future[Principal]]] = []
        self._running: asyncio.Task[None] | None = None

    async def authenticate(self, token: object) -> Principal:
        if self._many is None:
            return await self._identity.authenticate(token)
        future: asyncio.Future[Principal] = asyncio.get_running_loop().create_future()
        self._waiting.append((token, future))
        if self._running is None:
            self._running = asyncio.create_task(self._drain(), name="signalling-auth-batch")
        return await future

    async def _drain(self) -> None:
        """Check batches until nobody waits; what arrives meanwhile makes the next batch."""
        assert self._many is not None
        batch: list[tuple[object, asyncio.Future[Principal]]] = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                try:
                    answers = await self._many([token for token, _ in batch])
                except Exception as exc:  # the store's fault: every hello of the batch is told
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if future.done():
                        continue
                    if isinstance(answer, ServiceError):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
        except BaseException:  # cancelled (the hub closing): nobody is left waiting
            for _, future in batch + self._waiting:
                future.cancel()
            self._waiting = []
            raise
        finally:
            self._running = None
