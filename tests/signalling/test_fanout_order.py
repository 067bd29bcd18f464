"""On one node, a client that reads slowly delays its room's messages but never reorders them.

Regression guard: the hub drops a message whose seq is not above the last one
a connection got (a replay must not deliver twice). If a message for several
recipients waits on a slow one while a later message reaches another
recipient first, that recipient's earlier message is then dropped: lost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core.clock import FakeClock
from core.identity import Principal, Role
from scheduling.types import JoinDecision
from signalling.hub import Hub
from tests.signalling.conftest import SDP, FakePolicy, HubClient, Tokens


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


async def test_a_slow_reader_does_not_let_a_later_message_overtake(
    clock: FakeClock, make_hub: Callable[..., Hub]
) -> None:
    policy = TwoClinicians(clock)
    policy.book("appt", prisoner="pat", clinician="doc", establishment="est")
    tokens = Tokens()
    hub = make_hub(tokens, policy)
    doc = HubClient(hub, tokens, Principal("doc", Role.CLINICIAN, "est", "s1"))
    # The supervisor's socket could take a write at once: the fast path must still wait.
    sup = HubClient(
        hub, tokens, Principal("supervisor", Role.CLINICIAN, "est", "s2"), writable=True
    )
    pat = HubClient(hub, tokens, Principal("pat", Role.PRISONER, "est", "s3", device_id="d"))
    for client in (doc, sup, pat):
        await client.say({"type": "hello", "token": client.token})
        await client.say({"type": "join", "appointment": "appt"})
    assert "error" not in doc.kinds() + sup.kinds() + pat.kinds()
    before = {c: len(c.got) for c in (doc, sup, pat)}

    # The doctor stops reading; `joined` (to the doctor, then the supervisor) waits on them.
    doc.held = asyncio.Event()
    admit = asyncio.create_task(doc.say({"type": "admit", "participant": "pat"}))
    await asyncio.wait_for(doc.stuck.wait(), 3)
    offer = {"type": "offer", "to": "supervisor", "sdp": SDP}
    assert not hub.relay_now(pat.conn, pat.frame(offer))  # a delivery for the room is under way
    await pat.say(offer)
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
