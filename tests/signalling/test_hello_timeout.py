"""The hello timeout (4002) closes a connection that never says hello, and only that.

A hello whose token is still being checked when the timeout passes (a slow
identity store under load) is not cut off mid-check: the client did say hello.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

from core.clock import FakeClock
from core.identity import Principal, Role
from signalling.hub import Hub
from tests.signalling.conftest import FakePolicy, HubClient, Tokens

HELLO_TIMEOUT_S = 0.2


class SlowTokens(Tokens):
    async def authenticate(self, token: object) -> Principal:
        await asyncio.sleep(HELLO_TIMEOUT_S * 3)
        return await super().authenticate(token)


async def test_silence_is_closed_but_a_slow_hello_is_not(
    clock: FakeClock, make_hub: Callable[..., Hub]
) -> None:
    tokens = SlowTokens()
    hub = make_hub(tokens, FakePolicy(clock), tick_s=0.02, hello_timeout_s=HELLO_TIMEOUT_S)
    await hub.start()
    silent, slow = HubClient(hub), HubClient(hub)
    token = tokens.issue(Principal(uuid.uuid4().hex, Role.CLINICIAN, "est", "s1"))
    await slow.say({"type": "hello", "token": token})  # returns after the slow check
    assert slow.closed is None
    assert (await slow.expect("welcome"))["type"] == "welcome"
    assert silent.closed == 4002
