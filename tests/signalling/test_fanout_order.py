"""On one node, a client that reads slowly delays its room's messages but never reorders them.

Regression guard: the hub drops a message whose seq is not above the last one
a connection got (a replay must not deliver twice). If a message for several
recipients waits on a slow one while a later message reaches another
recipient first, that recipient's earlier message is then dropped: lost.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from core.clock import FakeClock
from core.events import MemorySink
from core.identity import Principal, Role
from scheduling.types import JoinDecision
from signalling.bus.memory import MemoryBus
from signalling.hub import Hub
from signalling.store.memory import MemoryRoomStore
from tests.signalling.conftest import FakePolicy, Tokens

SDP = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


class TwoClinicians(FakePolicy):
    """Lets a second clinician (a supervisor) into the consult.

    With two people a room's only message for several is `ended`, after which
    nothing follows; a third member makes `joined` go to two recipients.
    """

    supervisor = "supervisor"

    async def join_decision(self, principal: Principal, appointment_id: str) -> JoinDecision:
        view = self.views[appointment_id]
        if principal.account_id == self.supervisor:
            return JoinDecision(True, None, "clinician", view)
        return await super().join_decision(principal, appointment_id)


class Client:
    """A transport whose `send` can be held, as a client that stops reading would."""

    def __init__(self, hub: Hub, tokens: Tokens, principal: Principal) -> None:
        self.hub, self.token = hub, tokens.issue(principal)
        self.got: list[dict[str, Any]] = []
        self.held: asyncio.Event | None = None
        self.stuck = asyncio.Event()
        self.conn = hub.connect(self)

    async def send(self, text: str) -> None:
        if self.held is not None:
            self.stuck.set()
            await self.held.wait()
        self.got.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        return None

    def writable(self) -> bool:
        return False  # every delivery goes by `send` (`Hub.relay_now` never writes here)

    def write(self, text: str) -> None:
        raise AssertionError("not writable")

    async def say(self, body: dict[str, Any]) -> None:
        await self.hub.receive(self.conn, json.dumps({"v": 1, **body}))

    def kinds(self) -> list[str]:
        return [body["type"] for body in self.got]


async def test_a_slow_reader_does_not_let_a_later_message_overtake(clock: FakeClock) -> None:
    policy = TwoClinicians(clock)
    policy.book("appt", prisoner="pat", clinician="doc", establishment="est")
    tokens = Tokens()
    hub = Hub(
        identity=tokens,
        policy=policy,
        store=MemoryRoomStore(),
        bus=MemoryBus(),
        audit=MemorySink(),
        clock=clock,
    )
    doc = Client(hub, tokens, Principal("doc", Role.CLINICIAN, "est", "s1"))
    sup = Client(hub, tokens, Principal("supervisor", Role.CLINICIAN, "est", "s2"))
    pat = Client(hub, tokens, Principal("pat", Role.PRISONER, "est", "s3", device_id="d"))
    for client in (doc, sup, pat):
        await client.say({"type": "hello", "token": client.token})
        await client.say({"type": "join", "appointment": "appt"})
    assert "error" not in doc.kinds() + sup.kinds() + pat.kinds()
    before = {c: len(c.got) for c in (doc, sup, pat)}

    # The doctor stops reading; `joined` (to the doctor, then the supervisor) waits on them.
    doc.held = asyncio.Event()
    admit = asyncio.create_task(doc.say({"type": "admit", "participant": "pat"}))
    await asyncio.wait_for(doc.stuck.wait(), 3)
    await pat.say({"type": "offer", "to": "supervisor", "sdp": SDP})
    doc.held.set()
    await asyncio.wait_for(admit, 3)

    new = {c: c.got[before[c] :] for c in (doc, sup, pat)}
    assert [b["type"] for b in new[pat]] == ["admitted"]
    assert [b["type"] for b in new[doc]] == ["joined"]
    assert [b["type"] for b in new[sup]] == ["joined", "offer"]
    assert new[sup][1]["from"] == "pat"
    for client, bodies in new.items():
        seqs = [client.got[before[client] - 1]["seq"]] + [b["seq"] for b in bodies]
        assert seqs == sorted(set(seqs)), seqs
    await hub.close()
