"""Answering questionnaires and the risk alerts they raise, on SQLite and PostgreSQL.

The service under test writes to a `MemorySink` so each test can read what was
logged; the escalation job is also run through the app's own runner with the
test clock, to show it is wired and waits its 15 minutes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from core.access.service import Access
from core.clock import FakeClock
from core.errors import ServiceError
from core.events import MemorySink
from core.fields import FieldCipher
from core.identity import Principal, Role
from core.keys import load_service_keys
from interventions.questionnaires import Questionnaires
from interventions.tables import questionnaire_responses, risk_alerts
from tests.world import World, bearer, new_staff, sign_in_prisoner, sign_in_staff
from web.interventions import INTERVENTIONS
from web.state import ACCESS, DATABASE, JOBS, SCHEDULING, SETTINGS, SUBJECT_KEYS

CALM = {str(n): 0 for n in range(1, 10)}
RISK = {**CALM, "1": 2, "2": 2, "9": 1}


@dataclass
class Q:
    app: Any
    svc: Questionnaires
    world: World
    audit: MemorySink
    clock: FakeClock
    prisoner: Principal
    clinician: Principal
    manager: Principal
    officer: Principal

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]

    async def count(self, table: Any) -> int:
        async with self.app[DATABASE].connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


def _staff(world: World, key: str) -> Principal:
    s = world.staff[key]
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


@pytest.fixture
async def q(client: Any, world: World, clock: FakeClock) -> Q:
    app = client.server.app
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    svc = Questionnaires(
        app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=clock,
        audit=sink,
        require_open=app[SCHEDULING].require_open,
    )
    p = world.prisoners[0]
    return Q(
        app,
        svc,
        world,
        sink,
        clock,
        Principal(p.account_id, Role.PRISONER, world.est, session_id="test"),
        _staff(world, "clinician"),
        _staff(world, "manager"),
        _staff(world, "officer"),
    )


async def test_a_risk_answer_is_stored_scored_and_queued_for_the_duty_clinician(q: Q) -> None:
    done = await q.svc.submit(q.prisoner, "phq9", RISK, comment="I can't sleep since the move")
    assert (done.score, done.band, done.risk) == (5, "mild", True)
    queue = await q.svc.risk_queue(q.clinician)
    assert [(a.prisoner_id, a.acknowledged_at) for a in queue] == [(q.prisoner.account_id, None)]
    assert q.actions == ["questionnaire_submitted", "risk_alert_raised"]
    assert q.audit.records[0].details["score"] == 5
    async with q.app[DATABASE].connect() as conn:
        row = (await conn.execute(select(questionnaire_responses))).one()
    # Answers and free text are sealed under the prisoner's key, never stored in plain.
    assert b"sleep" not in row.comment_enc and b'"9"' not in row.answers_enc


async def test_a_calm_answer_raises_no_alert(q: Q) -> None:
    done = await q.svc.submit(q.prisoner, "gad7", {str(n): 1 for n in range(1, 8)})
    assert (done.score, done.band, done.risk) == (7, "mild", False)
    assert await q.svc.risk_queue(q.clinician) == []
    assert await q.count(risk_alerts) == 0


@pytest.mark.parametrize(
    ("kind", "answers"),
    [
        ("phq9", {**CALM, "9": 4}),
        ("phq9", {**CALM, "10": 0}),
        ("phq9", {"1": 0}),
        ("audit", {str(n): 1 for n in range(1, 11)}),
        ("nope", CALM),
    ],
)
async def test_bad_answers_are_refused_and_nothing_is_stored(
    q: Q, kind: str, answers: dict[str, Any]
) -> None:
    with pytest.raises(ServiceError):
        await q.svc.submit(q.prisoner, kind, answers)
    assert await q.count(questionnaire_responses) == 0
    assert await q.count(risk_alerts) == 0
    assert q.actions == []


async def test_a_replayed_submission_changes_nothing(q: Q) -> None:
    cid = "3f1c2d1e-0000-4000-8000-000000000001"
    first = await q.svc.submit(q.prisoner, "phq9", RISK, client_id=cid)
    again = await q.svc.submit(q.prisoner, "phq9", RISK, client_id=cid)
    assert again.id == first.id and again.risk
    assert await q.count(questionnaire_responses) == 1
    assert await q.count(risk_alerts) == 1


async def test_unacknowledged_after_15_minutes_the_job_tells_the_managers(
    client: Any, q: Q, clock: FakeClock
) -> None:
    # Through the app's own service and runner: the job kind is wired and waits.
    svc = q.app[INTERVENTIONS]
    await svc.submit(q.prisoner, "phq9", RISK)
    runner = q.app[JOBS]
    clock.advance(minutes=14)
    await runner.run_due()
    assert [a.escalated_at for a in await svc.risk_queue(q.clinician)] == [None]
    clock.advance(minutes=1, seconds=1)
    await runner.run_due()
    await runner.run_due()  # the notice's own delivery job
    (alert,) = await svc.risk_queue(q.clinician)
    assert alert.escalated_at is not None
    _, notices = await q.app[SCHEDULING].inbox(q.manager)
    assert [n.kind for n in notices] == ["risk_alert"]
    _, clinician_notices = await q.app[SCHEDULING].inbox(q.clinician)
    assert clinician_notices == []


async def test_an_alert_acknowledged_in_time_is_not_escalated(q: Q, clock: FakeClock) -> None:
    done = await q.svc.submit(q.prisoner, "phq9", RISK)
    assert done.alert_id is not None
    clock.advance(minutes=3)
    await q.svc.acknowledge(q.clinician, done.alert_id)
    clock.advance(minutes=20)
    assert await q.svc.escalate(done.alert_id) == 0
    with pytest.raises(ServiceError) as caught:
        await q.svc.acknowledge(q.clinician, done.alert_id)
    assert caught.value.detail == "This alert was already acknowledged."
    assert q.actions == ["questionnaire_submitted", "risk_alert_raised", "risk_alert_acknowledged"]
    assert q.audit.records[-1].details["minutes"] == 3


async def test_escalation_is_logged_and_happens_once(q: Q, clock: FakeClock) -> None:
    done = await q.svc.submit(q.prisoner, "phq9", RISK)
    assert done.alert_id is not None
    clock.advance(minutes=16)
    assert await q.svc.escalate(done.alert_id) == 1
    assert await q.svc.escalate(done.alert_id) == 0
    assert q.actions[-1] == "risk_alert_escalated"
    assert q.actions.count("risk_alert_escalated") == 1


async def test_another_establishments_clinician_cannot_see_or_acknowledge(q: Q) -> None:
    done = await q.svc.submit(q.prisoner, "phq9", RISK)
    other = await new_staff(q.app, Role.CLINICIAN, "clin.two", q.world.other_est)
    them = Principal(other.account_id, Role.CLINICIAN, q.world.other_est, session_id="t")
    assert await q.svc.risk_queue(them) == []
    with pytest.raises(ServiceError) as caught:
        await q.svc.acknowledge(them, done.alert_id)
    assert caught.value.code.status == 404


async def test_who_sees_the_scores_and_the_free_text(q: Q) -> None:
    await q.svc.submit(q.prisoner, "phq9", RISK, comment="worried about my kids")
    pid = q.prisoner.account_id
    # The clinician: score and free text, and the read is logged.
    (seen,) = await q.svc.scores(q.clinician, pid)
    assert (seen.score, seen.comment) == (5, "worried about my kids")
    assert q.actions[-1] == "answers_viewed"
    # An officer: nothing.
    with pytest.raises(ServiceError) as caught:
        await q.svc.scores(q.officer, pid)
    assert caught.value.code.status == 403
    # A keyworker: only their caseload, and never the free text.
    kw = await new_staff(q.app, Role.KEYWORKER, "kw.one", q.world.est)
    keyworker = Principal(kw.account_id, Role.KEYWORKER, q.world.est, session_id="t")
    with pytest.raises(ServiceError) as caught:
        await q.svc.scores(keyworker, pid)
    assert caught.value.code.status == 404
    access: Access = q.app[ACCESS]
    await access.caseloads.set_caseload(q.officer, kw.account_id, [pid])
    (seen,) = await q.svc.scores(keyworker, pid)
    assert (seen.score, seen.comment) == (5, None)


async def test_a_lockdown_suspends_answering(q: Q) -> None:
    await q.app[SCHEDULING].declare_lockdown(
        q.officer, q.world.est, starts_at=None, ends_at=q.clock.now() + timedelta(hours=2)
    )
    with pytest.raises(ServiceError) as caught:
        await q.svc.submit(q.prisoner, "phq9", RISK)
    assert caught.value.code.status == 423
    assert await q.count(questionnaire_responses) == 0
    # Reading one's own past scores still works.
    assert await q.svc.scores(q.prisoner) == []


async def test_the_api_refuses_an_out_of_range_answer_with_problem_json(
    client: Any, world: World
) -> None:
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.post(
        "/api/questionnaires/phq9/responses",
        json={"answers": {**CALM, "9": 7}},
        headers=bearer(tokens),
    )
    assert resp.status == 400
    body = await resp.json()
    assert body["detail"] == "An answer is not one of the question's choices."
    assert resp.content_type == "application/problem+json"
    resp = await client.post(
        "/api/questionnaires/phq9/responses", json={"answers": RISK}, headers=bearer(tokens)
    )
    assert resp.status == 201
    assert (await resp.json())["risk"] is True
    clinician = await sign_in_staff(client, world.staff["clinician"])
    alerts = (await (await client.get("/api/risk-alerts", headers=bearer(clinician))).json())[
        "alerts"
    ]
    assert len(alerts) == 1
    officer = await sign_in_staff(client, world.staff["officer"])
    assert (await client.get("/api/risk-alerts", headers=bearer(officer))).status == 403


async def test_the_same_submission_sent_twice_at_once_is_stored_once(q: Q) -> None:
    cid = "3f1c2d1e-0000-4000-8000-000000000002"
    first, second = await asyncio.gather(
        q.svc.submit(q.prisoner, "phq9", RISK, client_id=cid),
        q.svc.submit(q.prisoner, "phq9", RISK, client_id=cid),
    )
    assert first.id == second.id
    assert await q.count(questionnaire_responses) == 1
    assert await q.count(risk_alerts) == 1
    assert q.actions.count("questionnaire_submitted") == 1


async def test_a_baseline_is_due_now_and_each_answer_sets_the_next_progress_check(
    q: Q, clock: FakeClock
) -> None:
    pid = q.prisoner.account_id
    plan = await q.svc.schedule_checks(q.clinician, pid, "phq9", 14)
    assert plan.due
    runner = q.app[JOBS]
    await runner.run_due()  # the baseline's "due" notice
    await runner.run_due()  # and its delivery
    _, notices = await q.app[SCHEDULING].inbox(q.prisoner)
    assert [n.kind for n in notices] == ["check_due"]
    await q.svc.submit(q.prisoner, "phq9", CALM)
    (after,) = await q.svc.my_checks(q.prisoner)
    assert not after.due and after.next_due_at == clock.now() + timedelta(days=14)
    clock.advance(days=14)
    (later,) = await q.svc.my_checks(q.prisoner)
    assert later.due
    await runner.run_due()
    await runner.run_due()
    _, notices = await q.app[SCHEDULING].inbox(q.prisoner)
    assert [n.kind for n in notices].count("check_due") == 2
    assert "checks_scheduled" in q.actions


async def test_checks_are_planned_only_by_those_who_follow_the_person(q: Q) -> None:
    pid = q.prisoner.account_id
    with pytest.raises(ServiceError) as caught:
        await q.svc.schedule_checks(q.officer, pid, "phq9", 14)
    assert caught.value.code.status == 403
    kw = await new_staff(q.app, Role.KEYWORKER, "kw.plan", q.world.est)
    keyworker = Principal(kw.account_id, Role.KEYWORKER, q.world.est, session_id="t")
    with pytest.raises(ServiceError) as caught:
        await q.svc.schedule_checks(keyworker, pid, "phq9", 14)
    assert caught.value.code.status == 404
    for kind, days in (("phq9", 3), ("phq9", 400), ("bdi", 14), ("gad7", "14")):
        with pytest.raises(ServiceError) as caught:
            await q.svc.schedule_checks(q.clinician, pid, kind, days)
        assert caught.value.code.status == 400
    assert await q.svc.my_checks(q.prisoner) == []
