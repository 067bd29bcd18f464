"""Argon2id hashing of passwords and PINs, kept off the event loop."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError


class SecretHasher:
    def __init__(self, *, time_cost: int = 2, memory_cost: int = 19 * 1024) -> None:
        # OWASP's minimum Argon2id profile: m=19 MiB, t=2, p=1.
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=1)
        self._dummy = self._hasher.hash("not-a-real-secret")

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, secret)

    async def verify(self, hashed: str | None, secret: str) -> bool:
        """True if it matches. A missing hash still costs a verification, so
        timing does not reveal whether an account exists."""
        target = hashed or self._dummy
        try:
            ok = await asyncio.to_thread(self._hasher.verify, target, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        return bool(ok) and hashed is not None
