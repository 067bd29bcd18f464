"""Programmes: enrolment, sessions in order, idempotent answers sealed under the person's key,
who reads them, checks, transfer and lockdown, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
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
from interventions.programme_tables import (
    programme_answer_writes,
    programme_answers,
    programme_completions,
    programme_enrolments,
)
from interventions.programmes import Programmes
from interventions.questionnaires import Questionnaires
from interventions.tables import questionnaire_plans
from tests.world import World, bearer, new_staff, sign_in_prisoner, sign_in_staff
from web.demo_programmes import SUBSTANCE, THINKING, create_programmes, seed_programmes
from web.state import ACCESS, CLOCK, DATABASE, SCHEDULING, SETTINGS, SUBJECT_KEYS

PLAN = {"triggers": ["Pay day"], "avoid": ["Give my card to my sister"], "cope": ["Ring Sam"]}


@dataclass
class P:
    app: Any
    svc: Programmes
    questionnaires: Questionnaires
    world: World
    audit: MemorySink
    clock: FakeClock
    prisoner: Principal
    clinician: Principal
    officer: Principal
    keyworker: Principal
    # substance misuse (staff enrol, 3 sessions), thinking skills (self enrol), violence
    ids: list[str]

    @property
    def actions(self) -> list[str]:
        return [r.action.value for r in self.audit.records]

    async def count(self, table: Any) -> int:
        async with self.app[DATABASE].connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

    async def sessions(self, programme: int = 0) -> list[str]:
        view = await self.svc.my_programme(self.prisoner, self.ids[programme])
        return [s.id for s in view.sessions]


def _staff(world: World, key: str) -> Principal:
    s = world.staff[key]
    return Principal(s.account_id, s.role, s.establishment_id, session_id="test")


def cid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
async def p(client: Any, world: World, clock: FakeClock) -> P:
    app = client.server.app
    keys = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    sink = MemorySink()
    common: dict[str, Any] = {
        "cipher": FieldCipher(keys.field_key),
        "subject_keys": app[SUBJECT_KEYS],
        "clock": clock,
        "audit": sink,
        "require_open": app[SCHEDULING].require_open,
    }
    svc = Programmes(app[DATABASE], **common)
    ids = await create_programmes(svc, None)
    kw = await new_staff(app, Role.KEYWORKER, "kw.prog", world.est)
    keyworker = Principal(kw.account_id, Role.KEYWORKER, world.est, session_id="t")
    officer = _staff(world, "officer")
    pr = world.prisoners[0]
    access: Access = app[ACCESS]
    await access.caseloads.set_caseload(officer, kw.account_id, [pr.account_id])
    return P(
        app,
        svc,
        Questionnaires(app[DATABASE], **common),
        world,
        sink,
        clock,
        Principal(pr.account_id, Role.PRISONER, world.est, session_id="test"),
        _staff(world, "clinician"),
        officer,
        keyworker,
        ids,
    )


async def _do_session(p: P, session_id: str, answers: dict[str, Any]) -> None:
    for key, value in answers.items():
        await p.svc.record_answer(p.prisoner, session_id, key, value, client_id=cid())
    await p.svc.complete_session(p.prisoner, session_id)


async def test_the_keyworker_enrols_and_the_baseline_checks_are_due_at_once(p: P) -> None:
    progress = await p.svc.enrol(p.keyworker, p.prisoner.account_id, p.ids[0])
    assert (progress.programme.title, progress.completed_sessions) == (SUBSTANCE["title"], 0)
    checks = await p.questionnaires.my_checks(p.prisoner)
    assert sorted((c.kind, c.every_days, c.due) for c in checks) == [
        ("audit", 14, True),
        ("phq9", 14, True),
    ]
    assert p.actions == ["programme_enrolled"]
    assert p.audit.records[0].details["by"] == "keyworker"
    with pytest.raises(ServiceError) as caught:
        await p.svc.enrol(p.keyworker, p.prisoner.account_id, p.ids[0])
    assert (caught.value.code.status, caught.value.detail) == (409, "Already on this programme.")
    assert await p.count(programme_enrolments) == 1


async def test_who_may_enrol_whom(p: P) -> None:
    pid = p.prisoner.account_id
    with pytest.raises(ServiceError) as caught:
        await p.svc.enrol(p.officer, pid, p.ids[0])
    assert caught.value.code.status == 403
    # A keyworker whose caseload the person is not on: as if there were nobody.
    other = await new_staff(p.app, Role.KEYWORKER, "kw.other", p.world.est)
    stranger = Principal(other.account_id, Role.KEYWORKER, p.world.est, session_id="t")
    with pytest.raises(ServiceError) as caught:
        await p.svc.enrol(stranger, pid, p.ids[0])
    assert (caught.value.code.status, caught.value.detail) == (404, "No such person.")
    # A prisoner may join a programme that allows it, and not one that does not.
    with pytest.raises(ServiceError) as caught:
        await p.svc.enrol_self(p.prisoner, p.ids[0])
    assert caught.value.code.status == 403
    own, offered = await p.svc.mine(p.prisoner)
    assert own == [] and [x.title for x in offered] == [THINKING["title"]]
    joined = await p.svc.enrol_self(p.prisoner, p.ids[1])
    assert joined.programme.self_enrol
    own, offered = await p.svc.mine(p.prisoner)
    assert [x.programme.title for x in own] == [THINKING["title"]] and offered == []
    assert await p.count(programme_enrolments) == 1


async def test_sessions_are_worked_in_order_and_a_reload_shows_every_saved_answer(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first, second, third = await p.sessions()
    # The second session waits for the first.
    with pytest.raises(ServiceError) as caught:
        await p.svc.record_answer(p.prisoner, second, "plan", PLAN, client_id=cid())
    assert (caught.value.code.status, caught.value.detail) == (
        409,
        "Finish session 1 before this one.",
    )
    saved = await p.svc.record_answer(
        p.prisoner, first, "change", "Stop drinking so I see my kids", client_id=cid()
    )
    assert (saved.version, saved.replayed) == (1, False)
    # Not complete until every exercise has an answer.
    with pytest.raises(ServiceError) as caught:
        await p.svc.complete_session(p.prisoner, first)
    assert caught.value.code.status == 400 and caught.value.extra == {
        "missing": ["ready"],
        "reason": "unanswered",
    }
    await p.svc.record_answer(p.prisoner, first, "ready", "thinking", client_id=cid())
    view = await p.svc.my_programme(p.prisoner, p.ids[0])
    assert [s.state for s in view.sessions] == ["open", "locked", "locked"]
    assert view.sessions[0].answers == {
        "change": "Stop drinking so I see my kids",
        "ready": "thinking",
    }
    done = await p.svc.complete_session(p.prisoner, first)
    assert done.completed_sessions == 1
    # Completing again changes nothing and logs nothing.
    await p.svc.complete_session(p.prisoner, first)
    assert p.actions.count("programme_session_completed") == 1
    await p.svc.record_answer(p.prisoner, second, "plan", PLAN, client_id=cid())
    view = await p.svc.my_programme(p.prisoner, p.ids[0])
    assert [s.state for s in view.sessions] == ["done", "open", "locked"]
    assert view.sessions[1].answers == {"plan": PLAN}
    # Sealed under the prisoner's key: nothing of the text in the row.
    async with p.app[DATABASE].connect() as conn:
        blobs = [r.answer_enc for r in await conn.execute(select(programme_answers))]
    assert len(blobs) == 3 and not any(b"drinking" in b or b"Pay day" in b for b in blobs)
    await p.svc.record_answer(p.prisoner, second, "support", "My sister", client_id=cid())
    await p.svc.complete_session(p.prisoner, second)
    await _do_session(p, third, {"learned": "I can say no", "confident": "some"})
    own, _ = await p.svc.mine(p.prisoner)
    assert own[0].completed_sessions == 3 and own[0].completed_at is not None
    assert p.actions[-2:] == ["programme_session_completed", "programme_completed"]


async def test_an_answer_is_idempotent_by_its_client_id_and_the_later_write_wins(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    a, b = cid(), cid()
    one = await p.svc.record_answer(p.prisoner, first, "change", "first words", client_id=a)
    again = await p.svc.record_answer(p.prisoner, first, "change", "other words", client_id=a)
    assert (again.replayed, again.version, again.id) == (True, 1, one.id)
    two = await p.svc.record_answer(p.prisoner, first, "change", "second words", client_id=b)
    assert (two.version, two.replayed) == (2, False)
    # An old write replayed after a newer one: known, changes nothing.
    late = await p.svc.record_answer(p.prisoner, first, "change", "first words", client_id=a)
    assert late.replayed and late.version == 1
    view = await p.svc.my_programme(p.prisoner, p.ids[0])
    assert view.sessions[0].answers["change"] == "second words"
    assert await p.count(programme_answers) == 1
    assert await p.count(programme_answer_writes) == 2
    # Two devices edit version 2: both land, the later wins, and it is marked conflicted.
    x = await p.svc.record_answer(
        p.prisoner, first, "change", "device x", client_id=cid(), base_version=2
    )
    y = await p.svc.record_answer(
        p.prisoner, first, "change", "device y", client_id=cid(), base_version=2
    )
    assert (x.version, x.conflicted, y.version, y.conflicted) == (3, False, 4, True)
    view = await p.svc.my_programme(p.prisoner, p.ids[0])
    assert view.sessions[0].answers["change"] == "device y"
    # The same write sent twice at once is stored once.
    c = cid()
    got = await asyncio.gather(
        p.svc.record_answer(p.prisoner, first, "ready", "ready", client_id=c),
        p.svc.record_answer(p.prisoner, first, "ready", "ready", client_id=c),
    )
    assert {g.id for g in got} == {got[0].id} and await p.count(programme_answer_writes) == 5


@pytest.mark.parametrize(
    ("exercise", "value", "status", "detail"),
    [
        ("nope", "x", 404, "This session has no such exercise."),
        ("ready", "maybe", 400, "Choose one of the answers shown."),
        ("change", "", 400, "Write something before saving."),
        ("change", 7, 400, "Your answer must be text."),
        ("change", "x" * 100_000, 400, "Your answer must be 4000 characters or fewer."),
        (
            "change",
            "<script>alert(1)</script>",
            400,
            "Your answer must be plain words, without < > tags.",
        ),
        (
            "plan",
            {"triggers": [], "avoid": [], "cope": []},
            404,
            "This session has no such exercise.",
        ),
    ],
)
async def test_bad_answers_are_refused_and_nothing_is_stored(
    p: P, exercise: str, value: Any, status: int, detail: str
) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    with pytest.raises(ServiceError) as caught:
        await p.svc.record_answer(p.prisoner, first, exercise, value, client_id=cid())
    assert (caught.value.code.status, caught.value.detail) == (status, detail)
    assert await p.count(programme_answers) == 0
    assert await p.count(programme_answer_writes) == 0


async def test_a_bad_plan_is_refused(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first, second, _ = await p.sessions()
    await _do_session(p, first, {"change": "x", "ready": "ready"})
    for plan, detail in (
        (
            {"triggers": [], "avoid": [], "cope": []},
            "Write at least one thing in your plan before saving.",
        ),
        (
            {"triggers": ["a"], "hopes": ["b"]},
            "A plan has triggers, ways to avoid them and ways to cope.",
        ),
        ({"triggers": ["x"] * 11}, "Each part of the plan has up to 10 entries."),
        (
            {"cope": ["<b>bold</b>"]},
            "Each entry of the plan must be plain words, without < > tags.",
        ),
        ("just text", "A plan has triggers, ways to avoid them and ways to cope."),
    ):
        with pytest.raises(ServiceError) as caught:
            await p.svc.record_answer(p.prisoner, second, "plan", plan, client_id=cid())
        assert caught.value.detail == detail
    assert await p.count(programme_answers) == 2


async def test_another_persons_session_or_a_made_up_one_answers_as_missing(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    neighbour = p.world.prisoners[1]
    them = Principal(neighbour.account_id, Role.PRISONER, p.world.est, session_id="t")
    for session in (first, str(uuid.uuid4()), "x" * 80):
        with pytest.raises(ServiceError) as caught:
            await p.svc.record_answer(them, session, "change", "mine", client_id=cid())
        assert (caught.value.code.status, caught.value.detail) == (404, "No such session.")
    with pytest.raises(ServiceError) as caught:
        await p.svc.my_programme(them, p.ids[0])
    assert caught.value.code.status == 404
    with pytest.raises(ServiceError) as caught:
        await p.svc.record_answer(p.prisoner, first, "change", "x", client_id="not-a-uuid")
    assert caught.value.code.status == 400
    assert await p.count(programme_answers) == 0


async def test_the_keyworker_and_clinician_read_answers_officers_never_and_each_read_is_logged(
    p: P,
) -> None:
    await p.svc.enrol(p.keyworker, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    await _do_session(p, first, {"change": "Less drink", "ready": "ready"})
    pid = p.prisoner.account_id
    for reader in (p.keyworker, p.clinician):
        view = await p.svc.desk.answers_of(reader, pid, p.ids[0])
        assert view.sessions[0].answers["change"] == "Less drink"
        assert p.actions[-1] == "programme_answers_viewed"
        assert p.audit.records[-1].details == {"programme": p.ids[0], "answers": 2}
    admin = _staff(p.world, "admin")
    for reader in (p.officer, admin):
        with pytest.raises(ServiceError) as caught:
            await p.svc.desk.answers_of(reader, pid, p.ids[0])
        assert caught.value.code.status == 403
    # The caseload view: progress and latest scores, no answers.
    await p.questionnaires.submit(p.prisoner, "phq9", {str(n): 1 for n in range(1, 10)})
    (row,) = await p.svc.desk.caseload(p.keyworker)
    assert (row.prisoner_id, row.programmes[0].completed_sessions) == (pid, 1)
    assert [(s.kind, s.score) for s in row.latest_scores] == [("phq9", 9)]
    assert p.actions[-1] == "answers_viewed" and p.audit.records[-1].subject == pid
    assert [r.prisoner_id for r in await p.svc.desk.caseload(p.clinician)] == [pid]
    with pytest.raises(ServiceError):
        await p.svc.desk.caseload(p.officer)


async def test_progress_checks_come_due_every_n_sessions(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    for kind in ("audit", "phq9"):
        await p.questionnaires.submit(
            p.prisoner, kind, {str(n): 0 for n in range(1, 11 if kind == "audit" else 10)}
        )
    assert not any(c.due for c in await p.questionnaires.my_checks(p.prisoner))
    first, second, _ = await p.sessions()
    p.clock.advance(days=1)
    await _do_session(p, first, {"change": "x", "ready": "ready"})
    assert not any(c.due for c in await p.questionnaires.my_checks(p.prisoner))
    await _do_session(p, second, {"plan": PLAN, "support": "y"})
    assert all(c.due for c in await p.questionnaires.my_checks(p.prisoner))


async def test_a_lockdown_refuses_work_but_past_answers_still_read(p: P) -> None:
    await p.svc.enrol(p.clinician, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    await p.svc.record_answer(p.prisoner, first, "change", "Before", client_id=cid())
    await p.app[SCHEDULING].declare_lockdown(
        p.officer, p.world.est, starts_at=None, ends_at=p.clock.now() + timedelta(hours=2)
    )
    for attempt in (
        p.svc.record_answer(p.prisoner, first, "change", "During", client_id=cid()),
        p.svc.complete_session(p.prisoner, first),
        p.svc.enrol_self(p.prisoner, p.ids[1]),
    ):
        with pytest.raises(ServiceError) as caught:
            await attempt
        assert caught.value.code.status == 423
    view = await p.svc.my_programme(p.prisoner, p.ids[0])
    assert view.sessions[0].answers == {"change": "Before"}
    assert await p.count(programme_answer_writes) == 1
    assert await p.count(programme_completions) == 0


async def test_records_move_with_the_person_on_transfer(p: P) -> None:
    await p.svc.enrol(p.keyworker, p.prisoner.account_id, p.ids[0])
    first = (await p.sessions())[0]
    await _do_session(p, first, {"change": "x", "ready": "ready"})
    pid = p.prisoner.account_id
    officer = p.officer
    await p.app[SCHEDULING].transfer(officer, pid, p.world.other_est)
    # The old establishment's staff see them no more.
    for reader in (p.keyworker, p.clinician):
        with pytest.raises(ServiceError) as caught:
            await p.svc.desk.answers_of(reader, pid, p.ids[0])
        assert caught.value.code.status == 404
    assert await p.svc.desk.caseload(p.clinician) == []
    their = await new_staff(p.app, Role.CLINICIAN, "clin.two", p.world.other_est)
    there = Principal(their.account_id, Role.CLINICIAN, p.world.other_est, session_id="t")
    view = await p.svc.desk.answers_of(there, pid, p.ids[0])
    assert view.progress.completed_sessions == 1 and view.sessions[0].answers["change"] == "x"
    assert [r.prisoner_id for r in await p.svc.desk.caseload(there)] == [pid]
    async with p.app[DATABASE].connect() as conn:
        plans = {r.establishment_id for r in await conn.execute(select(questionnaire_plans))}
    assert plans == {p.world.other_est}
    # The prisoner carries on where they were, in the new place.
    moved = Principal(pid, Role.PRISONER, p.world.other_est, session_id="t")
    own, _ = await p.svc.mine(moved)
    assert own[0].completed_sessions == 1


async def test_the_api_answers_and_refuses_as_the_service_does(client: Any, world: World) -> None:
    app = client.server.app
    ids = await create_programmes(app_programmes(app), None)
    tokens = bearer(await sign_in_prisoner(client, world.prisoners[0]))
    listed = await (await client.get("/api/me/programmes", headers=tokens)).json()
    assert [x["id"] for x in listed["available"]] == [ids[1]]
    resp = await client.post(f"/api/me/programmes/{ids[1]}/enrol", headers=tokens)
    assert resp.status == 201
    view = await (await client.get(f"/api/me/programmes/{ids[1]}", headers=tokens)).json()
    first = view["session_list"][0]
    assert first["state"] == "open" and first["title"]["cy"] == "Stopio a meddwl"
    body = {"value": "I shouted at my cellmate", "client_id": cid()}
    url = f"/api/me/programme-sessions/{first['id']}/answers/last_time"
    resp = await client.put(url, json=body, headers=tokens)
    assert resp.status == 200 and (await resp.json())["replayed"] is False
    resp = await client.put(url, json=body, headers=tokens)
    assert (await resp.json())["replayed"] is True
    resp = await client.put(url, json={"value": "<img src=x>", "client_id": cid()}, headers=tokens)
    assert resp.status == 400 and resp.content_type == "application/problem+json"
    resp = await client.post(f"/api/me/programme-sessions/{first['id']}/complete", headers=tokens)
    assert resp.status == 400
    assert (await resp.json())["detail"] == "Answer every exercise in this session first."
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    pid = world.prisoners[0].account_id
    resp = await client.get(f"/api/prisoners/{pid}/programmes/{ids[1]}/answers", headers=officer)
    assert resp.status == 403
    clinician = bearer(await sign_in_staff(client, world.staff["clinician"]))
    resp = await client.get(f"/api/prisoners/{pid}/programmes/{ids[1]}/answers", headers=clinician)
    seen = await resp.json()
    assert seen["session_list"][0]["answers"] == {"last_time": "I shouted at my cellmate"}
    caseload = await (await client.get("/api/programmes/caseload", headers=clinician)).json()
    assert caseload["people"][0]["programmes"][0]["programme"]["id"] == ids[1]
    # During a lockdown the device's writes answer 423 and change nothing; reading works.
    officer_p = Principal(
        world.staff["officer"].account_id, Role.OFFICER, world.est, session_id="t"
    )
    await app[SCHEDULING].declare_lockdown(
        officer_p, world.est, starts_at=None, ends_at=app[CLOCK].now() + timedelta(hours=2)
    )
    resp = await client.put(url, json={"value": "during", "client_id": cid()}, headers=tokens)
    assert resp.status == 423 and (await resp.json())["code"] == "lockdown"
    view = await (await client.get(f"/api/me/programmes/{ids[1]}", headers=tokens)).json()
    assert view["session_list"][0]["answers"] == {"last_time": "I shouted at my cellmate"}


async def test_the_demo_seeds_programmes_a_session_done_and_three_checks_of_two_scores(
    p: P,
) -> None:
    keys = await asyncio.to_thread(load_service_keys, p.app[SETTINGS].keys_dir)
    pr = p.world.prisoners[1]
    staff = [{"role": "keyworker", "account_id": p.keyworker.account_id}]
    await p.app[ACCESS].caseloads.set_caseload(p.officer, p.keyworker.account_id, [pr.account_id])
    seeded = await seed_programmes(
        p.app[DATABASE],
        cipher=FieldCipher(keys.field_key),
        subject_keys=p.app[SUBJECT_KEYS],
        audit=p.audit,
        clock=p.clock,
        est_id=p.world.est,
        staff=staff,
        prisoners=[{"account_id": pr.account_id, "prison_number": pr.prison_number}],
    )
    assert len(seeded["programmes"]) == 3
    them = Principal(pr.account_id, Role.PRISONER, p.world.est, session_id="t")
    points = await p.questionnaires.scores(them)
    trend = {k: [x.score for x in points if x.kind == k] for k in ("audit", "phq9")}
    assert trend == {"audit": [22, 15, 9], "phq9": [17, 11, 6]}
    assert points[0].submitted_at == p.clock.now() - timedelta(days=28)
    view = await p.svc.my_programme(them, seeded["programmes"][0])
    assert [s.state for s in view.sessions] == ["done", "open", "locked"]
    assert view.sessions[1].answers["plan"]["cope"] == ["Ring my sponsor", "Go to the gym"]


def app_programmes(app: Any) -> Programmes:
    from web.interventions import PROGRAMMES

    service: Programmes = app[PROGRAMMES]
    return service
