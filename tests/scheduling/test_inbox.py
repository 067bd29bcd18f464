"""Notices reach their person's inbox through delivery jobs, live over the signalling
socket, and rebooking offers can be taken. Before this, scheduling wrote a
`notifications` table that nothing read, and an offer's times could not be chosen."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

# Importing the app imports aiortc, whose import runs ldconfig: done here, not
# on the event loop inside the first test's fixture (blockbuster refuses it).
import web.app  # noqa: F401
from core.clock import FakeClock
from core.config import Settings
from core.db.schema import jobs
from core.errors import ServiceError
from core.identity.passwords import SecretHasher
from scheduling.tables import notifications, rebooking_offers
from tests.scheduling.conftest import Sched, at, staff
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.state import DATABASE, JOBS


async def _lockdown_offer(sched: Sched) -> Any:
    """An escorted appointment cancelled by a lockdown (in-cell video consults go ahead),
    and the offer its prisoner was sent."""
    dental = await sched.escorted_service()
    booked = await sched.book(at(4, 10), service_id=dental.id, in_person=True)
    await sched.svc.declare_lockdown(
        sched.officer, sched.world.est, starts_at=at(4, 9), ends_at=at(4, 13)
    )
    await sched.app[JOBS].run_due()
    _, notices = await sched.svc.inbox(sched.patient)
    [offer_notice] = [n for n in notices if n.kind == "rebook_offer"]
    return booked, offer_notice.fields["offer"]


async def test_every_notice_is_delivered_once_by_its_job_even_when_run_again(
    sched: Sched,
) -> None:
    booked = await sched.book(at(4, 10))
    unread, notices = await sched.svc.inbox(sched.patient)
    assert (unread, notices) == (0, [])  # queued, not yet delivered
    await sched.app[JOBS].run_due()
    unread, notices = await sched.svc.inbox(sched.patient)
    assert unread == 1
    [notice] = notices
    assert (notice.kind, notice.read) == ("booked", False)
    assert notice.fields == {"starts_at": booked.starts_at.isoformat()}
    async with sched.app[DATABASE].begin() as conn:
        # A retried job (the first attempt's commit lost to a crash) changes nothing.
        assert await sched.svc.deliver_notice(conn, notice.id) is None
        queued = (
            await conn.execute(
                select(func.count()).select_from(jobs).where(jobs.c.kind == "notifications.deliver")
            )
        ).scalar_one()
    assert queued == 2  # one per person told: prisoner and clinician
    assert (await sched.svc.inbox(sched.patient))[0] == 1


async def test_a_cancellation_tells_the_prisoner_the_prison_caused_reason_in_codes(
    sched: Sched,
) -> None:
    await _lockdown_offer(sched)
    _, notices = await sched.svc.inbox(sched.patient)
    [cancelled] = [n for n in notices if n.kind == "cancelled"]
    assert cancelled.fields["reason"] == "lockdown"
    assert cancelled.fields["cause"] == "prison"
    async with sched.app[DATABASE].connect() as conn:
        payloads = [
            json.loads(p) for p in (await conn.execute(select(notifications.c.payload))).scalars()
        ]
    # Codes, times and ids only: no words in the inbox.
    allowed = {"starts_at", "cancelled_starts_at", "cause", "reason", "offers", "offer", "request"}
    allowed |= {"wing", "cell"}
    assert all(set(p) <= allowed for p in payloads)


async def test_reading_is_recorded_and_only_ones_own_notice_can_be_read(sched: Sched) -> None:
    await sched.book(at(4, 10))
    await sched.app[JOBS].run_due()
    _, [notice] = await sched.svc.inbox(sched.patient)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.mark_read(sched.patient2, notice.id)
    assert caught.value.detail == "No such notice."
    await sched.svc.mark_read(sched.patient, notice.id)
    await sched.svc.mark_read(sched.patient, notice.id)
    unread, [again] = await sched.svc.inbox(sched.patient)
    assert (unread, again.read) == (0, True)


async def test_an_officer_is_given_times_only(sched: Sched) -> None:
    """Whatever a notice holds, an officer is given its times and place only."""
    from core.identity import Role
    from scheduling.inbox import _visible

    fields = {"starts_at": "t", "cause": "patient", "reason": "lockdown", "cell": "1-01"}
    assert _visible(Role.OFFICER, fields) == {"starts_at": "t", "cell": "1-01"}


async def test_the_prisoner_takes_one_offered_time_and_the_offer_closes(sched: Sched) -> None:
    booked, offer_id = await _lockdown_offer(sched)
    offer = await sched.svc.rebooking_offer(sched.patient, offer_id)
    # Three times on the service's grid, after the lockdown ends at 13:00.
    first, second, _ = offer.times
    assert first >= at(4, 13) and first < second
    taken = await sched.svc.take_offer(sched.patient, offer_id, second.isoformat())
    assert (taken.starts_at, taken.rebook_of) == (second, booked.id)
    offer = await sched.svc.rebooking_offer(sched.patient, offer_id)
    assert (offer.taken, offer.booked_appointment_id) == (True, taken.id)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.take_offer(sched.patient, offer_id, first.isoformat())
    assert caught.value.detail == "This offer has already been taken."
    # The other offered times were released: someone else can book them.
    other = await sched.book(
        first, prisoner_id=sched.patient2.account_id, service_id=booked.service_id, in_person=True
    )
    assert other.starts_at == first


async def test_bad_takes_are_refused_and_change_nothing(sched: Sched) -> None:
    _, offer_id = await _lockdown_offer(sched)
    first, second, _ = (await sched.svc.rebooking_offer(sched.patient, offer_id)).times
    cases = [
        (sched.patient2, offer_id, first, 404, "No such offer."),
        (sched.clinician, offer_id, first, 404, "No such offer."),
        (sched.patient, "nope", first, 404, "No such offer."),
        (sched.patient, offer_id, at(4, 14, 7), 400, "That time was not offered."),
    ]
    for who, oid, when, status, detail in cases:
        with pytest.raises(ServiceError) as caught:
            await sched.svc.take_offer(who, oid, when.isoformat())
        assert (caught.value.code.status, caught.value.detail) == (status, detail)
    sched.clock.set(first + timedelta(minutes=1))  # an offer ends at its first time
    with pytest.raises(ServiceError) as caught:
        await sched.svc.take_offer(sched.patient, offer_id, second.isoformat())
    assert (caught.value.code.status, caught.value.detail) == (409, "This offer has expired.")
    async with sched.app[DATABASE].connect() as conn:
        taken = (await conn.execute(select(rebooking_offers.c.taken_at))).scalars().all()
    assert taken == [None]


async def test_two_takes_at_once_one_wins(sched: Sched) -> None:
    _, offer_id = await _lockdown_offer(sched)
    first, second, _ = (await sched.svc.rebooking_offer(sched.patient, offer_id)).times
    results = await asyncio.gather(
        sched.svc.take_offer(sched.patient, offer_id, first.isoformat()),
        sched.svc.take_offer(sched.patient, offer_id, second.isoformat()),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, ServiceError)]
    assert len(wins) == 1 and len(losses) == 1
    assert losses[0].detail == "This offer has already been taken."


async def test_the_inbox_over_http_and_a_live_push_on_the_socket(sched: Sched, client: Any) -> None:
    p1 = sched.world.prisoners[0]
    tokens = await sign_in_prisoner(client, p1)
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "hello", "v": 1, "token": tokens["access_token"]})
    assert (await ws.receive_json(timeout=5))["type"] == "welcome"
    booked = await sched.book(at(4, 10))
    await sched.app[JOBS].run_due()
    push = await ws.receive_json(timeout=5)
    assert push["type"] == "inbox" and push["kind"] == "booked"
    resp = await client.get("/api/inbox", headers=bearer(tokens))
    body = await resp.json()
    assert body["unread"] == 1
    assert body["notices"][0]["id"] == push["notice"]
    assert body["notices"][0]["fields"] == {"starts_at": booked.starts_at.isoformat()}
    resp = await client.post(f"/api/inbox/{push['notice']}/read", headers=bearer(tokens))
    assert resp.status == 200
    assert (await (await client.get("/api/inbox", headers=bearer(tokens))).json())["unread"] == 0
    officer = await sign_in_staff(client, sched.world.staff["officer"])
    resp = await client.post(f"/api/inbox/{push['notice']}/read", headers=bearer(officer))
    assert resp.status == 404
    await ws.close()


async def test_taking_an_offer_over_http(sched: Sched, client: Any) -> None:
    _, offer_id = await _lockdown_offer(sched)
    tokens = await sign_in_prisoner(client, sched.world.prisoners[0])
    other = await sign_in_prisoner(client, sched.world.prisoners[1])
    resp = await client.get(f"/api/rebooking-offers/{offer_id}", headers=bearer(other))
    assert resp.status == 404
    resp = await client.get(f"/api/rebooking-offers/{offer_id}", headers=bearer(tokens))
    assert len((await resp.json())["times"]) == 3
    url = f"/api/rebooking-offers/{offer_id}/take"
    resp = await client.post(url, json={"starts_at": "soon"}, headers=bearer(tokens))
    assert resp.status == 400
    first = (await sched.svc.rebooking_offer(sched.patient, offer_id)).times[0].isoformat()
    resp = await client.post(url, json={"starts_at": first}, headers=bearer(tokens))
    assert resp.status == 201, await resp.text()
    resp = await client.post(url, json={"starts_at": first}, headers=bearer(tokens))
    assert resp.status == 409
    assert (await resp.json())["detail"] == "This offer has already been taken."


async def test_a_call_back_tells_the_wings_officers_when_and_where_only(sched: Sched) -> None:
    booked = await sched.book(at(4, 10), reason_text="Chest pain")
    await sched.svc.request_call_back(
        booked.id, sched.clinician.account_id, sched.patient.device_id
    )
    await sched.app[JOBS].run_due()
    unread, [notice] = await sched.svc.inbox(sched.officer)
    assert (unread, notice.kind) == (1, "call_back")
    assert set(notice.fields) == {"starts_at", "wing", "cell"}
    assert notice.fields["starts_at"] == at(4, 10).isoformat()
    # Another establishment's officer is not told.
    other = staff(sched.world, "officer2")
    assert await sched.svc.inbox(other) == (0, [])


async def test_a_notice_queued_on_a_node_that_stops_is_delivered_by_the_next(
    sched: Sched, aiohttp_client: Any, settings: Settings, clock: FakeClock, hasher: SecretHasher
) -> None:
    """Nothing is lost: the notice and its delivery job are rows, not a task in a process."""
    from web.app import create_app

    await sched.book(at(4, 10))  # this node runs no jobs (workers 0): it only queues
    assert await sched.svc.inbox(sched.patient) == (0, [])
    other = create_app(replace(settings, job_workers=2, job_poll_ms=20), clock=clock, hasher=hasher)
    await aiohttp_client(other)
    for _ in range(200):
        unread, notices = await sched.svc.inbox(sched.patient)
        if unread:
            break
        await asyncio.sleep(0.05)
    assert [n.kind for n in notices] == ["booked"]
