"""The hello timeout (4002) closes a connection that never says hello, and only that.

A hello whose token is still being checked when the timeout passes (a slow
identity store under load) is not cut off mid-check: the client did say hello.
"""

from __future__ import annotations

import asyncio
import uuid

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from signalling.bus.memory import MemoryBus
from signalling.hub import Hub, HubConfig
from signalling.store.memory import MemoryRoomStore
from tests.signalling.conftest import FakePolicy, Tokens
from tests.signalling.test_relay_load import Peer

HELLO_TIMEOUT_S = 0.2


class SlowTokens(Tokens):
    async def authenticate(self, token: object) -> Principal:
        await asyncio.sleep(HELLO_TIMEOUT_S * 3)
        return await super().authenticate(token)


async def test_silence_is_closed_but_a_slow_hello_is_not(clock: FakeClock) -> None:
    tokens = SlowTokens()
    bus = MemoryBus()
    hub = Hub(
        identity=tokens,
        policy=FakePolicy(clock),
        store=MemoryRoomStore(),
        bus=bus,
        audit=MemorySink(),
        clock=clock,
        config=HubConfig(tick_s=0.02, hello_timeout_s=HELLO_TIMEOUT_S),
    )
    await hub.start()
    try:
        silent, slow = Peer(hub), Peer(hub)
        token = tokens.issue(Principal(uuid.uuid4().hex, Role.CLINICIAN, "est", "s1"))
        await slow.say({"type": "hello", "token": token})  # returns after the slow check
        assert slow.closed is None
        assert (await slow.expect("welcome"))["type"] == "welcome"
        assert silent.closed == 4002
    finally:
        await hub.close()
        await bus.close()
