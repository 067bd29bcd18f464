"""Questionnaire answers from a device's offline queue, through POST /api/sync, on both stores.

The test plays the device: it fetches the signed-in person's queue key and seals
items as programmes.js does (AES-GCM, the client id as associated data).
"""

from __future__ import annotations

import asyncio
import base64
import os
import uuid
from collections import deque
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from core.clock import FakeClock
from core.identity import Principal, Role
from core.offline import QueueKey, seal_item
from core.offline_tables import sync_conflicts, sync_receipts
from interventions.sync import QueuedAnswers
from interventions.tables import questionnaire_responses, risk_alerts
from tests.world import World, bearer, sign_in_prisoner, sign_in_staff
from web.interventions.sync import OFFLINE
from web.state import AUDIT, DATABASE, SCHEDULING, SUBJECT_KEYS

CALM = {str(n): 0 for n in range(1, 10)}
RISK = {**CALM, "1": 2, "2": 2, "9": 1}


class Device:
    """One person signed in on one device, with their queue key."""

    def __init__(self, client: Any, tokens: dict[str, Any], key: QueueKey) -> None:
        self.client, self.tokens, self.key = client, tokens, key

    @classmethod
    async def sign_in(cls, client: Any, prisoner: Any, credential: str | None = None) -> Device:
        extra = {} if credential is None else {"device_credential": credential}
        tokens = await sign_in_prisoner(client, prisoner, **extra)
        resp = await client.get("/api/me/offline-key", headers=bearer(tokens))
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        body = await resp.json()
        return cls(client, tokens, QueueKey(base64.b64decode(body["key"]), body["tag"]))

    def seal(
        self,
        body: dict[str, Any],
        *,
        slot: str | None = None,
        cid: str = "",
        kind: str = "questionnaire",
    ) -> Any:
        cid = cid or str(uuid.uuid4())
        nonce = os.urandom(12)
        item = {"kind": kind, "slot": slot, "body": body}
        data = seal_item(self.key, cid, item, nonce)
        return {
            "id": cid,
            "nonce": base64.b64encode(nonce).decode(),
            "data": base64.b64encode(data).decode(),
        }

    async def sync(self, items: list[Any], status: int = 200) -> Any:
        resp = await self.client.post(
            "/api/sync", json={"items": items}, headers=bearer(self.tokens)
        )
        assert resp.status == status, await resp.text()
        return await resp.json()

    async def scores(self) -> list[int]:
        resp = await self.client.get("/api/me/scores", headers=bearer(self.tokens))
        return sorted(s["score"] for s in (await resp.json())["scores"])


async def _count(client: Any, table: Any) -> int:
    async with client.server.app[DATABASE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def _phq9(answers: dict[str, int]) -> dict[str, Any]:
    return {"kind": "phq9", "answers": answers}


async def test_a_queue_syncs_once_and_a_replay_in_any_order_changes_nothing(
    client: Any, world: World
) -> None:
    device = await Device.sign_in(client, world.prisoners[0])
    items = [
        device.seal(_phq9(RISK)),
        device.seal({"kind": "gad7", "answers": {str(n): 1 for n in range(1, 8)}}),
        device.seal(_phq9(CALM)),
    ]
    first = await device.sync(items)
    assert [(r["status"], r["score"], r["band"], r["risk"]) for r in first["results"]] == [
        ("stored", 5, "mild", True),
        ("stored", 7, "mild", False),
        ("stored", 0, "minimal", False),
    ]
    assert await _count(client, questionnaire_responses) == 3
    assert await _count(client, risk_alerts) == 1
    again = await device.sync(list(reversed(items)))
    assert [r["status"] for r in again["results"]] == ["replayed"] * 3
    assert [r["score"] for r in again["results"]] == [0, 7, 5]
    assert await _count(client, questionnaire_responses) == 3
    assert await _count(client, risk_alerts) == 1
    scores = await (await client.get("/api/me/scores", headers=bearer(device.tokens))).json()
    assert sorted(s["score"] for s in scores["scores"]) == [0, 5, 7]


async def test_another_persons_items_and_forged_ids_are_refused_and_change_nothing(
    client: Any, world: World
) -> None:
    a = await Device.sign_in(client, world.prisoners[0])
    b = await Device.sign_in(client, world.prisoners[1])
    assert a.key.tag != b.key.tag
    mine = b.seal(_phq9(CALM))
    # A's item, sent by B (it does not open with B's key): the whole batch is refused.
    refused = await b.sync([mine, a.seal(_phq9(RISK))], status=409)
    assert refused["code"] == "conflict"
    # An id changed on the way does not open either.
    forged = {**a.seal(_phq9(CALM)), "id": str(uuid.uuid4())}
    await a.sync([forged], status=409)
    await a.sync([{**forged, "id": "not-a-uuid"}], status=400)
    await a.sync([{**forged, "id": str(uuid.uuid1())}], status=400)
    assert await _count(client, questionnaire_responses) == 0
    # An id A sent first cannot be claimed by B, even sealed under B's own key.
    sent = a.seal(_phq9(CALM))
    await a.sync([sent])
    await b.sync([mine, b.seal(_phq9(RISK), cid=sent["id"])], status=409)
    assert await _count(client, questionnaire_responses) == 1
    assert await _count(client, risk_alerts) == 0


async def test_the_same_person_on_another_device_has_another_key(client: Any, world: World) -> None:
    here = await Device.sign_in(client, world.prisoners[0])
    again = await Device.sign_in(client, world.prisoners[0])
    assert here.key.key == again.key.key
    elsewhere = await Device.sign_in(
        client, world.prisoners[1], credential=world.prisoners[0].device_credential
    )
    assert elsewhere.key.tag != here.key.tag


async def test_the_same_check_answered_on_two_devices_keeps_the_first_and_shows_the_other(
    client: Any, world: World
) -> None:
    device = await Device.sign_in(client, world.prisoners[0])
    slot = "phq9@2026-03-02T09:00:00+00:00"
    first, second = device.seal(_phq9(RISK), slot=slot), device.seal(_phq9(CALM), slot=slot)
    done = await device.sync([first])
    assert done["results"][0]["status"] == "stored"
    later = await device.sync([second])
    assert later["results"][0] == {"id": second["id"], "status": "conflict", "kept": first["id"]}
    # Replaying both: the rule still holds, and nothing more is stored.
    replay = await device.sync([second, first])
    assert [r["status"] for r in replay["results"]] == ["conflict", "replayed"]
    assert await _count(client, questionnaire_responses) == 1
    assert await _count(client, sync_conflicts) == 1
    shown = await (await client.get("/api/me/sync/conflicts", headers=bearer(device.tokens))).json()
    assert [(c["client_id"], c["kept_client_id"]) for c in shown["conflicts"]] == [
        (second["id"], first["id"])
    ]
    async with client.server.app[DATABASE].connect() as conn:
        sealed = await conn.scalar(select(sync_conflicts.c.body_enc))
    assert b"phq9" not in sealed


async def test_a_bad_answer_is_refused_alone_and_stores_nothing(client: Any, world: World) -> None:
    device = await Device.sign_in(client, world.prisoners[0])
    bad, good = device.seal(_phq9({**CALM, "9": 7})), device.seal(_phq9(CALM))
    done = await device.sync([bad, good])
    assert done["results"][0] == {
        "id": bad["id"],
        "status": "refused",
        "code": "invalid_request",
        "detail": "An answer is not one of the question's choices.",
    }
    assert done["results"][1]["status"] == "stored"
    assert await _count(client, questionnaire_responses) == 1
    await device.sync([], status=400)
    await device.sync([device.seal(_phq9(CALM))] * 101, status=400)


async def test_a_lockdown_refuses_the_sync_and_the_queue_goes_when_it_lifts(
    client: Any, world: World, clock: FakeClock
) -> None:
    device = await Device.sign_in(client, world.prisoners[0])
    s = world.staff["officer"]
    officer = Principal(s.account_id, Role.OFFICER, world.est, session_id="test")
    scheduling = client.server.app[SCHEDULING]
    lockdown = await scheduling.declare_lockdown(
        officer, world.est, starts_at=None, ends_at=clock.now() + timedelta(hours=2)
    )
    items = [device.seal(_phq9(RISK))]
    refused = await device.sync(items, status=423)
    assert refused["code"] == "lockdown"
    assert await _count(client, questionnaire_responses) == 0
    await scheduling.lift_lockdown(officer, lockdown.id)
    done = await device.sync(items)
    assert done["results"][0]["status"] == "stored"
    assert await _count(client, risk_alerts) == 1


async def test_staff_have_no_queue(client: Any, world: World) -> None:
    tokens = await sign_in_staff(client, world.staff["clinician"])
    resp = await client.get("/api/me/offline-key", headers=bearer(tokens))
    assert resp.status == 403


class Together:
    """Holds the sync service's writer until `n` batches wait, so that they go in one
    transaction as when many devices reconnect at once; records each transaction's size."""

    def __init__(self, client: Any, monkeypatch: Any) -> None:
        self.service = service = client.server.app[OFFLINE]
        self.groups: list[int] = []
        self.n = 1
        self.arrived = asyncio.Event()
        arrived = self.arrived

        class Watched(deque[Any]):
            def append(self, batch: Any) -> None:
                super().append(batch)
                arrived.set()

        monkeypatch.setattr(service, "_pending", Watched())
        monkeypatch.setattr(service, "_writers", 1)
        write, apply = service._write, service._apply

        async def gathered() -> None:
            while len(service._pending) < self.n:
                arrived.clear()
                await arrived.wait()
            self.n = 1
            await write()

        async def counted(group: list[Any]) -> None:
            self.groups.append(len(group))
            await apply(group)

        monkeypatch.setattr(service, "_write", gathered)
        monkeypatch.setattr(service, "_apply", counted)

    async def send(self, *syncs: Any) -> list[Any]:
        self.n = len(syncs)
        return list(await asyncio.gather(*syncs))


async def _receipts_of(client: Any, owner: str) -> int:
    async with client.server.app[DATABASE].connect() as conn:
        found = await conn.scalar(
            select(func.count()).select_from(sync_receipts).where(sync_receipts.c.owner_id == owner)
        )
    return int(found or 0)


async def test_devices_reconnecting_at_once_share_a_transaction_and_each_answer_lands_once(
    client: Any, world: World, monkeypatch: Any
) -> None:
    a = await Device.sign_in(client, world.prisoners[0])
    b = await Device.sign_in(client, world.prisoners[1])
    c = await Device.sign_in(client, world.other_prisoner)  # another establishment
    together = Together(client, monkeypatch)
    queues = [
        [
            a.seal(_phq9(RISK)),
            a.seal({"kind": "gad7", "answers": {str(n): 1 for n in range(1, 8)}}),
        ],
        [b.seal(_phq9(CALM))],
        [c.seal(_phq9({**CALM, "1": 3}))],
    ]
    sent = await together.send(*(d.sync(q) for d, q in zip((a, b, c), queues, strict=True)))
    assert together.groups == [3]
    assert [[r["status"] for r in s["results"]] for s in sent] == [
        ["stored", "stored"],
        ["stored"],
        ["stored"],
    ]
    assert [r["score"] for r in sent[0]["results"]] == [5, 7]
    assert await _count(client, questionnaire_responses) == 4
    assert await _count(client, risk_alerts) == 1
    # Each person sees their own answers, stored under their own id.
    assert [await a.scores(), await b.scores(), await c.scores()] == [[5, 7], [0], [3]]
    # All three replayed at once, in reverse: nothing changes.
    again = await together.send(
        *(d.sync(list(reversed(q))) for d, q in zip((a, b, c), queues, strict=True))
    )
    assert together.groups == [3, 3]
    assert [[r["status"] for r in s["results"]] for s in again] == [
        ["replayed", "replayed"],
        ["replayed"],
        ["replayed"],
    ]
    assert await _count(client, questionnaire_responses) == 4
    assert await _count(client, risk_alerts) == 1


async def test_a_batch_with_another_persons_id_is_refused_alone_and_the_others_with_it_land(
    client: Any, world: World, monkeypatch: Any
) -> None:
    a = await Device.sign_in(client, world.prisoners[0])
    b = await Device.sign_in(client, world.prisoners[1])
    c = await Device.sign_in(client, world.other_prisoner)
    together = Together(client, monkeypatch)
    earlier = a.seal(_phq9(CALM))
    await a.sync([earlier])
    b_own = b.seal(_phq9(RISK))
    a_new, c_new = a.seal(_phq9({**CALM, "2": 1})), c.seal(_phq9(CALM))
    done_a, refused_b, done_c = await together.send(
        a.sync([a_new]),
        # B's own answer and, sealed under B's key, the id A sent first.
        b.sync([b_own, b.seal(_phq9(CALM), cid=earlier["id"])], status=409),
        c.sync([c_new]),
    )
    # Shared, then without B's batch: A's and C's land once, B gets its clear refusal.
    assert together.groups == [1, 3, 2]
    assert refused_b["code"] == "conflict"
    assert "not queued by you" in refused_b["detail"]
    assert done_a["results"][0]["status"] == "stored"
    assert done_c["results"][0]["status"] == "stored"
    assert [await a.scores(), await b.scores(), await c.scores()] == [[0, 1], [], [0]]
    assert await _receipts_of(client, world.prisoners[1].account_id) == 0
    assert await _count(client, risk_alerts) == 0
    # Nothing of B's was lost: its own answer goes when sent without the other's id.
    alone = await b.sync([b_own])
    assert alone["results"][0]["status"] == "stored"
    assert await b.scores() == [5]
    assert await _count(client, risk_alerts) == 1


class Brittle(QueuedAnswers):
    """A kind whose store fails while `broken` (a fault in the store, not in the answer)."""

    broken = True

    async def store_many(self, conn: Any, parts: Any, now: Any) -> None:
        if self.broken:
            raise RuntimeError("the store failed")
        await super().store_many(conn, parts, now)


async def test_a_batch_whose_store_fails_fails_alone_and_the_others_in_its_transaction_land(
    client: Any, world: World, monkeypatch: Any
) -> None:
    app = client.server.app
    brittle = Brittle(subject_keys=app[SUBJECT_KEYS], audit=app[AUDIT])
    app[OFFLINE].register("brittle", brittle)
    a = await Device.sign_in(client, world.prisoners[0])
    b = await Device.sign_in(client, world.prisoners[1])
    c = await Device.sign_in(client, world.other_prisoner)
    together = Together(client, monkeypatch)
    b_queue = [b.seal(_phq9(CALM)), b.seal(_phq9(RISK), kind="brittle")]
    done_a, failed_b, done_c = await together.send(
        a.sync([a.seal(_phq9(CALM))]), b.sync(b_queue, status=500), c.sync([c.seal(_phq9(CALM))])
    )
    # The shared transaction rolled back; each batch went again alone.
    assert together.groups == [3, 1, 1, 1]
    assert failed_b["code"] == "internal_error"
    assert done_a["results"][0]["status"] == "stored"
    assert done_c["results"][0]["status"] == "stored"
    assert await _count(client, questionnaire_responses) == 2
    # B's batch left nothing behind, so the device still has it and sends it later.
    assert await _receipts_of(client, world.prisoners[1].account_id) == 0
    brittle.broken = False
    later = await b.sync(b_queue)
    assert [r["status"] for r in later["results"]] == ["stored", "stored"]
    assert await b.scores() == [0, 5]
    assert await _count(client, risk_alerts) == 1
