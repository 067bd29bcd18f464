"""Interpreters linked to the patient and the language (issue 18 item 1): invited by
account, or by an emailed one-time invitation that makes an interpreter's account with
TOTP. On SQLite and PostgreSQL, through the app's HTTP API and a real SMTP server. Before:
only existing accounts could be invited, with no language."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from audit.review import ReviewQuery, search
from core.config import Settings
from core.db.schema import accounts, staff_emails
from core.identity import Principal, Role
from core.identity.guesses import MAX_FAILURES
from scheduling.tables import interpreter_invitations
from tests.scheduling.conftest import Sched, make_sched
from tests.smtp import Inbox, smtp_server
from tests.world import bearer, new_staff, sign_in_staff
from web.middleware import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from web.state import AUDIT, DATABASE

EMAIL = "Ines.Interp@Example.org"
NEW_PASSWORD = "signs and words all day"


@pytest.fixture
async def inbox() -> Any:
    async with smtp_server() as server:
        yield server


@pytest.fixture
async def mail_client(
    aiohttp_client: Any, settings: Settings, clock: Any, hasher: Any, inbox: Inbox
) -> Any:
    from web.app import create_app

    with_mail = replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=inbox.port,
        smtp_tls="none",
        smtp_from="throughcare@hmp.example",
        public_origins=("https://care.example",),
    )
    return await aiohttp_client(create_app(with_mail, clock=clock, hasher=hasher))


@pytest.fixture
async def sched(mail_client: Any, clock: Any) -> Sched:
    return await make_sched(mail_client, clock)


async def _problem(resp: Any, status: int, reason: str | None = None) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body: dict[str, Any] = await resp.json()
    if reason is not None:
        assert body.get("reason") == reason, body
    return body


def _code_in(inbox: Inbox, index: int = -1) -> str:
    body = inbox.messages[index].get_payload(decode=True)
    assert isinstance(body, bytes)
    found = re.search(r"/interpreter/accept#code=([A-Z0-9-]+)", body.decode())
    assert found is not None, body
    return found.group(1)


async def _counts(client: Any) -> tuple[int, int, int]:
    """Interpreter accounts, staff emails, spent invitations."""
    async with client.server.app[DATABASE].connect() as conn:
        made = await conn.scalar(
            select(func.count()).select_from(accounts).where(accounts.c.role == "interpreter")
        )
        emails = await conn.scalar(select(func.count()).select_from(staff_emails))
        spent = await conn.scalar(
            select(func.count())
            .select_from(interpreter_invitations)
            .where(interpreter_invitations.c.accepted_at.is_not(None))
        )
    return int(made or 0), int(emails or 0), int(spent or 0)


async def _invite(client: Any, sched: Sched, **body: Any) -> Any:
    booked = await sched.book(reason_text="Chest pain")
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    resp = await client.post(
        f"/api/appointments/{booked.id}/interpreters",
        json={"language": "bfi", "email": EMAIL, **body},
        headers=clinician,
    )
    return booked, clinician, resp


async def _start(client: Any, code: str) -> dict[str, Any]:
    resp = await client.post("/api/interpreter-invitations/start", json={"code": code})
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def _accept_body(code: str, secret: str, sched: Sched, **extra: Any) -> dict[str, Any]:
    return {
        "code": code,
        "display_name": "Ines Interpreter",
        "username": "ines.bsl",
        "password": NEW_PASSWORD,
        "totp": pyotp.TOTP(secret).at(sched.clock.now()),
        **extra,
    }


async def test_an_emailed_invitation_makes_an_interpreter_who_sees_only_that_appointment(
    mail_client: Any, sched: Sched, inbox: Inbox
) -> None:
    client = mail_client
    other = await sched.book(sched.clock.now().replace(day=5, hour=11), reason_text="Rash")
    booked, _, resp = await _invite(client, sched)
    invited = await _problem(resp, 201)
    assert invited["invited"] == "email" and invited["language"] == "bfi"
    # The email carries the code in the link's fragment, and no clinical text or patient.
    [message] = inbox.messages
    assert message["To"] == EMAIL.replace("Example.org", "example.org")
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    text = payload.decode()
    assert "https://care.example/interpreter/accept#code=" in text
    assert "Chest pain" not in text and "A1234BC" not in text
    code = _code_in(inbox)
    # The store keeps neither the code nor the address in the clear.
    async with client.server.app[DATABASE].connect() as conn:
        stored = (await conn.execute(select(interpreter_invitations))).one()
    assert code not in str(tuple(stored)) and code.replace("-", "") not in str(tuple(stored))
    assert "example.org" not in str(tuple(stored)).lower()

    started = await _start(client, code)
    assert started["language"] == "bfi" and started["appointment_id"] == booked.id
    secret = started["totp_secret"]
    # The computer still holds someone's ended session: it counts as nobody, not a refusal.
    # (A page sends the CSRF cookie's value back in a header, as here.)
    client.session.cookie_jar.update_cookies(
        {SESSION_COOKIE: "an-ended-session", CSRF_COOKIE: "page-token"}
    )
    resp = await client.post(
        "/api/interpreter-invitations/accept",
        json=_accept_body(code, secret, sched, session="cookie"),
        headers={CSRF_HEADER: "page-token"},
    )
    signed = await _problem(resp, 200)
    assert signed["role"] == "interpreter" and signed["establishment_id"] == sched.world.est

    # Signed in by the page's cookie: the one appointment, its language, no reason.
    seen = await (await client.get("/api/attending")).json()
    assert [(a["appointment_id"], a["language"]) for a in seen] == [(booked.id, "bfi")]
    assert "Chest pain" not in str(seen)
    for path in ("/api/appointments", f"/api/appointments/{other.id}"):
        assert (await client.get(path)).status == 403, path

    # Later, they sign in as staff do: username, password, the app's next code.
    client.session.cookie_jar.clear()
    sched.clock.advance(seconds=30)
    resp = await client.post(
        "/api/auth/staff",
        json={
            "username": "ines.bsl",
            "password": NEW_PASSWORD,
            "totp": pyotp.TOTP(secret).at(sched.clock.now()),
        },
    )
    assert (await _problem(resp, 200))["role"] == "interpreter"

    # Spent: a second acceptance changes nothing.
    await _problem(
        await client.post("/api/interpreter-invitations/start", json={"code": code}), 409, "used"
    )
    assert await _counts(client) == (1, 1, 1)

    # Audited: issued and accepted, naming the invitation; never the code nor the address.
    admin = sched.world.staff["admin"]
    events = await search(
        client.server.app[AUDIT],
        Principal(admin.account_id, Role.ADMIN, None, "test"),
        ReviewQuery(any_of=frozenset({sched.patient.account_id}), limit=500),
    )
    actions = [e["action"] for e in events]
    assert "interpreter_invitation_issued" in actions
    assert "interpreter_invitation_accepted" in actions
    assert code not in str(events) and code.replace("-", "") not in str(events)
    assert "example.org" not in str(events).lower()


async def test_refusals_are_clear_and_change_nothing(
    mail_client: Any, sched: Sched, inbox: Inbox
) -> None:
    client = mail_client
    booked, clinician, resp = await _invite(client, sched)
    await _problem(resp, 201)
    code = _code_in(inbox)
    url = f"/api/appointments/{booked.id}/interpreters"

    # An appointment that is not yours: another clinician (403), another establishment (404).
    other_clinician = await new_staff(
        client.server.app, Role.CLINICIAN, "dr.other", sched.world.est
    )
    other = bearer(await sign_in_staff(client, other_clinician))
    await _problem(
        await client.post(url, json={"language": "bfi", "email": EMAIL}, headers=other), 403
    )
    away = await new_staff(client.server.app, Role.CLINICIAN, "dr.away", sched.world.other_est)
    away_tokens = bearer(await sign_in_staff(client, away))
    await _problem(
        await client.post(url, json={"language": "bfi", "email": EMAIL}, headers=away_tokens), 404
    )
    # A language that is not on the list (free text could carry health detail).
    await _problem(
        await client.post(url, json={"language": "chest pain", "email": EMAIL}, headers=clinician),
        400,
        "bad_language",
    )
    # An address that is another kind of account's already.
    async with client.server.app[DATABASE].begin() as conn:
        await conn.execute(
            staff_emails.insert().values(
                account_id=sched.world.staff["officer"].account_id,
                email="otto@example.org",
                verified_at=sched.clock.now(),
            )
        )
    await _problem(
        await client.post(
            url, json={"language": "pol", "email": "otto@example.org"}, headers=clinician
        ),
        409,
        "email_taken",
    )
    assert len(inbox.messages) == 1

    # Accepting: a wrong code, a wrong TOTP, a taken username; nothing made.
    await _problem(
        await client.post(
            "/api/interpreter-invitations/start", json={"code": "AAAA-AAAA-AAAA-AAAA"}
        ),
        400,
        "wrong_code",
    )
    secret = (await _start(client, code))["totp_secret"]
    wrong = _accept_body(code, secret, sched, totp="000000")
    if wrong["totp"] == pyotp.TOTP(secret).at(sched.clock.now()):
        wrong["totp"] = "111111"
    await _problem(
        await client.post("/api/interpreter-invitations/accept", json=wrong), 400, "wrong_totp"
    )
    taken = _accept_body(code, secret, sched, username=sched.world.staff["clinician"].username)
    await _problem(
        await client.post("/api/interpreter-invitations/accept", json=taken), 409, "username_taken"
    )
    # Signed in as someone who is not an interpreter: refused, the code unspent.
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    await _problem(
        await client.post(
            "/api/interpreter-invitations/accept", json={"code": code}, headers=officer
        ),
        403,
        "not_interpreter",
    )
    assert await _counts(client) == (0, 1, 0)

    # Expired: past the appointment's end (at most 7 days).
    sched.clock.advance(days=2)
    await _problem(
        await client.post("/api/interpreter-invitations/start", json={"code": code}),
        409,
        "expired",
    )
    assert await _counts(client) == (0, 1, 0)

    # Guessing is slowed, with the community claim's limiter: then even a right code waits.
    for _ in range(MAX_FAILURES):
        await client.post(
            "/api/interpreter-invitations/start", json={"code": "AAAA-AAAA-AAAA-AAAA"}
        )
    await _problem(
        await client.post("/api/interpreter-invitations/start", json={"code": code}),
        429,
        "too_many_tries",
    )


async def test_an_interpreter_with_an_account_is_invited_directly_for_a_language(
    mail_client: Any, sched: Sched, inbox: Inbox
) -> None:
    client = mail_client
    app = client.server.app
    ines = await new_staff(app, Role.INTERPRETER, "ines.pl", sched.world.est)
    chris = await new_staff(app, Role.CHAPERONE, "chris.c", sched.world.est)
    booked = await sched.book(reason_text="Chest pain")
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    url = f"/api/appointments/{booked.id}/interpreters"
    resp = await client.post(
        url, json={"language": "pol", "account_id": ines.account_id}, headers=clinician
    )
    assert (await _problem(resp, 201))["invited"] == "account"
    # A chaperone is not an interpreter; neither both nor none of account and email.
    await _problem(
        await client.post(
            url, json={"language": "pol", "account_id": chris.account_id}, headers=clinician
        ),
        400,
        "not_interpreter",
    )
    await _problem(await client.post(url, json={"language": "pol"}, headers=clinician), 400, "who")

    # Re-inviting the same address, now the interpreter's verified one: invited directly.
    async with app[DATABASE].begin() as conn:
        await conn.execute(
            staff_emails.insert().values(
                account_id=ines.account_id, email="ines@example.org", verified_at=sched.clock.now()
            )
        )
    resp = await client.post(
        url, json={"language": "cym", "email": "ines@example.org"}, headers=clinician
    )
    assert (await _problem(resp, 201))["invited"] == "account"
    assert inbox.messages == []

    # The attendee list, replaced with the chaperone added, keeps her language.
    resp = await client.put(
        f"/api/appointments/{booked.id}/attendees",
        json={"account_ids": [ines.account_id, chris.account_id]},
        headers=clinician,
    )
    assert resp.status == 200, await resp.text()
    seen = await (
        await client.get("/api/attending", headers=bearer(await sign_in_staff(client, ines)))
    ).json()
    assert [(a["appointment_id"], a["language"]) for a in seen] == [(booked.id, "cym")]

    # An emailed invitation accepted by an interpreter signed in already: for their account.
    resp = await client.post(
        f"/api/appointments/{(await sched.book(sched.clock.now().replace(day=5))).id}/interpreters",
        json={"language": "bfi", "email": "someone.else@example.org"},
        headers=clinician,
    )
    await _problem(resp, 201)
    sched.clock.advance(seconds=30)
    tokens = bearer(await sign_in_staff(client, ines))
    resp = await client.post(
        "/api/interpreter-invitations/accept", json={"code": _code_in(inbox)}, headers=tokens
    )
    await _problem(resp, 200)
    seen = await (await client.get("/api/attending", headers=tokens)).json()
    assert sorted(a["language"] for a in seen) == ["bfi", "cym"]
    assert await _counts(client) == (1, 1, 1)
