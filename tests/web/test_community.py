"""Community accounts (issue 17 item 4): release gives a one-time claim code; outside
custody the person claims their account with it (email, password, TOTP), signs in, carries
on their programme and downloads their learning record. On SQLite and PostgreSQL, through
the app's HTTP API. Before: release closed the account and the records stayed behind."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select, update

from audit.review import ReviewQuery, search
from core.clock import FakeClock
from core.db.schema import accounts, community_claims, community_emails
from core.errors import ServiceError
from core.identity import Principal, Role
from core.identity.community import CLAIM_DAYS
from core.identity.guesses import MAX_FAILURES
from tests.world import World, bearer, community_account, sign_in_prisoner, sign_in_staff
from web.demo_programmes import THINKING, create_programmes_of
from web.interventions import PROGRAMMES
from web.state import AUDIT, DATABASE, IDENTITY

EMAIL = "sam.jones@example.org"
NEW_PASSWORD = "a long walk by the sea"


async def _problem(resp: Any, status: int, reason: str | None = None) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    if reason is not None:
        assert body.get("reason") == reason, body
    return body


async def _release(
    client: Any, world: World, n: int = 0, officer: dict[str, Any] | None = None
) -> dict[str, Any]:
    officer = officer or await sign_in_staff(client, world.staff["officer"])
    prisoner = world.prisoners[n].account_id
    resp = await client.post(f"/api/prisoners/{prisoner}/release", headers=bearer(officer))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _state(client: Any, account_id: str) -> tuple[Any, ...]:
    async with client.server.app[DATABASE].connect() as conn:
        row = (
            await conn.execute(
                select(accounts.c.role, accounts.c.active, accounts.c.password_hash).where(
                    accounts.c.id == account_id
                )
            )
        ).one()
        emails = await conn.scalar(select(func.count()).select_from(community_emails))
        spent = await conn.scalar(
            select(func.count())
            .select_from(community_claims)
            .where(community_claims.c.claimed_at.is_not(None))
        )
    return (row.role, row.active, row.password_hash is not None, emails, spent)


async def _claim(client: Any, code: str, clock: FakeClock, **extra: Any) -> Any:
    start = await client.post("/api/community/claim/start", json={"code": code})
    assert start.status == 200, await start.text()
    secret = (await start.json())["totp_secret"]
    body = {
        "code": code,
        "email": EMAIL,
        "password": NEW_PASSWORD,
        "totp": pyotp.TOTP(secret).at(clock.now()),
        **extra,
    }
    return secret, await client.post("/api/community/claim", json=body)


@pytest.fixture
async def on_programme(client: Any, world: World) -> dict[str, Any]:
    """The first prisoner on the thinking-skills programme, its first session answered."""
    app = client.server.app
    [programme] = await create_programmes_of(app[PROGRAMMES], None, THINKING)
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.post(f"/api/me/programmes/{programme}/enrol", headers=bearer(tokens))
    assert resp.status == 201, await resp.text()
    view = await (
        await client.get(f"/api/me/programmes/{programme}", headers=bearer(tokens))
    ).json()
    first = view["session_list"][0]["id"]
    for key, value in (("last_time", "I shouted at my brother"), ("often", "sometimes")):
        resp = await client.put(
            f"/api/me/programme-sessions/{first}/answers/{key}",
            json={"value": value, "client_id": str(uuid.uuid4())},
            headers=bearer(tokens),
        )
        assert resp.status == 200, await resp.text()
    resp = await client.post(f"/api/me/programme-sessions/{first}/complete", headers=bearer(tokens))
    assert resp.status == 200, await resp.text()
    return {"programme": programme, "sessions": [s["id"] for s in view["session_list"]]}


async def test_release_gives_a_code_that_claims_an_account_that_carries_on(
    client: Any, world: World, clock: FakeClock, on_programme: dict[str, Any]
) -> None:
    prisoner = world.prisoners[0]
    released = await _release(client, world)
    handout = released["handout"]["community"]
    code = handout["code"]
    assert len(code) == 19 and code.count("-") == 3
    assert handout["claim_path"] == "/community/claim"
    assert handout["expires_at"].startswith(
        (clock.now() + timedelta(days=CLAIM_DAYS)).date().isoformat()
    )
    # The step's summary (audited) names the claim, never the code.
    assert set(released["steps"]["community"]) == {"claim_id", "expires_at"}
    assert code not in str(released["steps"])
    async with client.server.app[DATABASE].connect() as conn:
        stored = (await conn.execute(select(community_claims))).one()
    assert code not in str(tuple(stored)) and code.replace("-", "") not in str(tuple(stored))

    # Before claiming: nothing of the account is usable.
    assert await _state(client, prisoner.account_id) == ("prisoner", False, False, 0, 0)

    secret, resp = await _claim(client, code, clock, session="token")
    claimed = await resp.json()
    assert resp.status == 200, claimed
    assert (claimed["role"], claimed["establishment_id"]) == ("community", None)
    assert await _state(client, prisoner.account_id) == ("community", True, True, 1, 1)
    me = await (await client.get("/api/me", headers=bearer(claimed))).json()
    assert (me["account_id"], me["role"]) == (prisoner.account_id, "community")
    assert sorted(me["permissions"]) == sorted(
        ["self", "reference.read", "programmes.take", "learning_record.own", "offline.sync"]
    )

    # Sign in again later with email, password and the app's next code.
    clock.advance(30)
    resp = await client.post(
        "/api/auth/community",
        json={
            "email": EMAIL.upper(),
            "password": NEW_PASSWORD,
            "totp": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    tokens = await resp.json()
    assert resp.status == 200, tokens
    # The same code twice is refused, as for staff.
    again = await client.post(
        "/api/auth/community",
        json={"email": EMAIL, "password": NEW_PASSWORD, "totp": pyotp.TOTP(secret).at(clock.now())},
    )
    await _problem(again, 401)

    # The programme carries on: the second session opens where they left off.
    mine = await (await client.get("/api/me/programmes", headers=bearer(tokens))).json()
    assert [p["completed_sessions"] for p in mine["enrolled"]] == [1]
    assert mine["available"] == []
    second = on_programme["sessions"][1]
    view = await (
        await client.get(f"/api/me/programmes/{on_programme['programme']}", headers=bearer(tokens))
    ).json()
    assert view["session_list"][0]["answers"]["last_time"] == "I shouted at my brother"
    for ex in view["session_list"][1]["exercises"]:
        value: Any = "They were tired" if ex["kind"] == "text" else ex["options"][0]["value"]
        resp = await client.put(
            f"/api/me/programme-sessions/{second}/answers/{ex['key']}",
            json={"value": value, "client_id": str(uuid.uuid4())},
            headers=bearer(tokens),
        )
        assert resp.status == 200, await resp.text()
    done = await client.post(
        f"/api/me/programme-sessions/{second}/complete", headers=bearer(tokens)
    )
    assert (await done.json())["completed_sessions"] == 2

    # The learning record, as JSON and PDF.
    record = await (await client.get("/api/campus/record", headers=bearer(tokens))).json()
    assert record["format"] == "throughcare.learning-record/1"
    assert record["learner"]["id"] == prisoner.account_id
    pdf = await client.get("/api/campus/record.pdf", headers=bearer(tokens))
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")

    # No kiosk, no consults, no campus enrolment, no joining new programmes, no device.
    for method, path in (
        ("GET", "/api/campus/courses"),
        ("GET", "/api/me/appointments"),
        ("GET", "/api/me/money"),
        ("POST", f"/api/me/programmes/{on_programme['programme']}/enrol"),
    ):
        resp = await client.request(method, path, headers=bearer(tokens))
        assert resp.status in (403, 404, 409), (path, resp.status)
        assert resp.status != 200
    device = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
        },
    )
    await _problem(device, 401)

    # The code is spent: a second claim changes nothing.
    resp = await client.post("/api/community/claim/start", json={"code": code})
    await _problem(resp, 409, "used")
    assert await _state(client, prisoner.account_id) == ("community", True, True, 1, 1)

    # Audited: the code issued (with the release), claimed, each sign-in; never the code.
    admin = world.staff["admin"]
    events = await search(
        client.server.app[AUDIT],
        Principal(admin.account_id, Role.ADMIN, None, "test"),
        ReviewQuery(any_of=frozenset({prisoner.account_id}), limit=500),
    )
    actions = [e["action"] for e in sorted(events, key=lambda e: e["seq"])]
    for wanted in ("released", "community_code_issued", "community_claimed", "sign_in"):
        assert wanted in actions, actions
    assert actions.count("sign_in") >= 3  # the prisoner's, the claim's, the later one
    assert "community_claim_failed" in actions  # the second claim above
    assert code not in str(events) and code.replace("-", "") not in str(events)


async def test_a_wrong_or_expired_code_or_totp_is_refused_and_changes_nothing(
    client: Any, world: World, clock: FakeClock
) -> None:
    prisoner = world.prisoners[0]
    code = (await _release(client, world))["handout"]["community"]["code"]
    before = await _state(client, prisoner.account_id)

    wrong = "ACDE-FGHJ-KLMN-PQRT" if code != "ACDE-FGHJ-KLMN-PQRT" else "TRQP-NMLK-JHGF-EDCA"
    await _problem(
        await client.post("/api/community/claim/start", json={"code": wrong}), 400, "wrong_code"
    )
    await _problem(
        await client.post("/api/community/claim/start", json={"code": "not a code"}),
        400,
        "wrong_code",
    )
    # The right code typed in lower case with spaces is the same code.
    start = await client.post(
        "/api/community/claim/start", json={"code": code.lower().replace("-", " ")}
    )
    secret = (await start.json())["totp_secret"]
    wrong_totp = str((int(pyotp.TOTP(secret).at(clock.now())) + 1) % 1_000_000).zfill(6)
    resp = await client.post(
        "/api/community/claim",
        json={"code": code, "email": EMAIL, "password": NEW_PASSWORD, "totp": wrong_totp},
    )
    await _problem(resp, 400, "wrong_totp")
    resp = await client.post(
        "/api/community/claim",
        json={
            "code": code,
            "email": "not an email",
            "password": NEW_PASSWORD,
            "totp": pyotp.TOTP(secret).at(clock.now()),
        },
    )
    await _problem(resp, 400)
    assert await _state(client, prisoner.account_id) == before

    clock.advance(days=CLAIM_DAYS, seconds=1)
    resp = await client.post("/api/community/claim/start", json={"code": code})
    await _problem(resp, 409, "expired")
    assert await _state(client, prisoner.account_id) == before


async def test_guessing_codes_is_slowed_and_an_email_is_one_account(
    client: Any, world: World, clock: FakeClock
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    first = (await _release(client, world, 0, officer))["handout"]["community"]["code"]
    second = (await _release(client, world, 1, officer))["handout"]["community"]["code"]
    _, resp = await _claim(client, first, clock)
    assert resp.status == 200, await resp.text()
    # Another person cannot take the same email: their code stays unspent.
    _, resp = await _claim(client, second, clock)
    await _problem(resp, 409, "email_taken")
    assert (await _state(client, world.prisoners[1].account_id))[:3] == ("prisoner", False, False)

    for _ in range(MAX_FAILURES):
        await _problem(
            await client.post("/api/community/claim/start", json={"code": "AAAA-AAAA-AAAA-AAAA"}),
            400,
            "wrong_code",
        )
    # Now even the right code waits.
    await _problem(
        await client.post("/api/community/claim/start", json={"code": second}),
        429,
        "too_many_tries",
    )
    clock.advance(minutes=16)
    start = await client.post("/api/community/claim/start", json={"code": second})
    assert start.status == 200, await start.text()


async def test_a_code_for_someone_not_released_is_refused(
    client: Any, world: World, clock: FakeClock
) -> None:
    """A code whose account is in custody again (not a released prisoner's) claims nothing."""
    prisoner = world.prisoners[0]
    code = (await _release(client, world))["handout"]["community"]["code"]
    async with client.server.app[DATABASE].begin() as conn:
        await conn.execute(
            update(accounts).where(accounts.c.id == prisoner.account_id).values(active=True)
        )
    await _problem(
        await client.post("/api/community/claim/start", json={"code": code}), 409, "not_released"
    )
    assert (await _state(client, prisoner.account_id))[:2] == ("prisoner", True)


async def test_two_claims_at_once_make_one_account(
    client: Any, world: World, clock: FakeClock
) -> None:
    """The service itself: the same code claimed twice at once (two tabs, a double click)."""
    identity = client.server.app[IDENTITY]
    code = (await _release(client, world))["handout"]["community"]["code"]
    enrolment = await identity.start_claim(code, source="test")
    totp = pyotp.TOTP(enrolment.secret).at(clock.now())
    results = await asyncio.gather(
        identity.claim(code, EMAIL, NEW_PASSWORD, totp, source="test"),
        identity.claim(code, "other@example.org", NEW_PASSWORD, totp, source="test"),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, ServiceError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].extra.get("reason") in ("used", "not_released")
    assert await _state(client, world.prisoners[0].account_id) == ("community", True, True, 1, 1)


async def test_a_community_account_is_nobody_staff_can_manage(
    client: Any, world: World, clock: FakeClock
) -> None:
    """An admin cannot find a community account among staff, nor give it a staff role."""
    admin = await sign_in_staff(client, world.staff["admin"])
    tokens, _ = await community_account(
        client, world.prisoners[0], await sign_in_staff(client, world.staff["officer"]), EMAIL
    )
    resp = await client.put(
        f"/api/staff/{tokens['account_id']}/role", json={"role": "admin"}, headers=bearer(admin)
    )
    await _problem(resp, 404)
    assert (await _state(client, world.prisoners[0].account_id))[0] == "community"


async def test_community_sign_in_locks_after_five_wrong_tries_as_staff_does(
    client: Any, world: World, clock: FakeClock
) -> None:
    _, secret = await community_account(
        client, world.prisoners[0], await sign_in_staff(client, world.staff["officer"]), EMAIL
    )
    for n in range(5):
        clock.advance(30)
        resp = await client.post(
            "/api/auth/community",
            json={
                "email": EMAIL,
                "password": "not the password at all",
                "totp": pyotp.TOTP(secret).at(clock.now()),
            },
        )
        await _problem(resp, 423 if n == 4 else 401)
    clock.advance(30)
    right = {"email": EMAIL, "password": NEW_PASSWORD, "totp": pyotp.TOTP(secret).at(clock.now())}
    await _problem(await client.post("/api/auth/community", json=right), 423)
    # An unknown email is refused exactly as a wrong password is.
    unknown = {**right, "email": "nobody@example.org"}
    await _problem(await client.post("/api/auth/community", json=unknown), 401)
    clock.advance(minutes=16)
    right["totp"] = pyotp.TOTP(secret).at(clock.now())
    resp = await client.post("/api/auth/community", json=right)
    assert resp.status == 200, await resp.text()
