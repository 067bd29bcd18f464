"""Roles, staff at several establishments, departments, caseloads and verified email,
over HTTP against both stores, with bad input refused and nothing changed (issue 13)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

import pytest

from core.config import Secret, Settings
from core.identity import Role
from tests.smtp import Inbox, smtp_server
from tests.world import (
    PASSWORD,
    World,
    bearer,
    build_world,
    new_staff,
    sign_in_staff,
    signed_in_staff,
)
from web.state import IDENTITY


async def _json(resp: Any, status: int) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


# ------------------------------------------------------- serving and choosing


async def test_clinician_serving_two_establishments_chooses_one_and_sees_only_it(
    client: Any, world: World
) -> None:
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    clinician = world.staff["clinician"]
    served = await _json(
        await client.put(
            f"/api/staff/{clinician.account_id}/establishments",
            json={"establishment_ids": [world.other_est]},
            headers=admin,
        ),
        200,
    )
    assert served["serves"] == [world.est, world.other_est]
    officer2 = bearer(await sign_in_staff(client, world.staff["officer2"]))
    await _json(
        await client.post(
            "/api/regime-windows",
            json={"label": "Roll check", "weekday": 2, "start": "12:00", "end": "13:00"},
            headers=officer2,
        ),
        201,
    )
    me = bearer(await sign_in_staff(client, clinician))
    choices = await _json(await client.get("/api/me/establishments", headers=me), 200)
    assert choices["current"] == world.est
    assert [e["code"] for e in choices["establishments"]] == ["HMP-ONE", "HMP-TWO"]
    assert await _json(await client.get("/api/regime-windows", headers=me), 200) == []
    # Naming the other establishment while acting in this one: as if it did not exist.
    resp = await client.get(
        "/api/regime-windows", params={"establishment_id": world.other_est}, headers=me
    )
    assert resp.status == 404

    await _json(
        await client.post(
            "/api/me/establishment", json={"establishment_id": world.other_est}, headers=me
        ),
        200,
    )
    assert (await _json(await client.get("/api/me", headers=me), 200))["establishment_id"] == (
        world.other_est
    )
    windows = await _json(await client.get("/api/regime-windows", headers=me), 200)
    assert [w["label"] for w in windows] == ["Roll check"]
    resp = await client.get(
        "/api/regime-windows", params={"establishment_id": world.est}, headers=me
    )
    assert resp.status == 404

    # Withdrawn by the admin: the very next request acts at home again.
    await _json(
        await client.put(
            f"/api/staff/{clinician.account_id}/establishments",
            json={"establishment_ids": []},
            headers=admin,
        ),
        200,
    )
    assert (await _json(await client.get("/api/me", headers=me), 200))["establishment_id"] == (
        world.est
    )
    assert await _json(await client.get("/api/regime-windows", headers=me), 200) == []


async def test_choosing_an_establishment_one_does_not_serve_answers_as_a_missing_one(
    client: Any, world: World
) -> None:
    me = bearer(await sign_in_staff(client, world.staff["clinician"]))
    theirs = await client.post(
        "/api/me/establishment", json={"establishment_id": world.other_est}, headers=me
    )
    missing = await client.post(
        "/api/me/establishment", json={"establishment_id": str(uuid.uuid4())}, headers=me
    )
    assert theirs.status == missing.status == 404
    a, b = await theirs.json(), await missing.json()
    a.pop("request_id"), b.pop("request_id")
    assert a == b
    assert (await _json(await client.get("/api/me", headers=me), 200))["establishment_id"] == (
        world.est
    )
    bad = await client.post("/api/me/establishment", json={"establishment_id": 7}, headers=me)
    assert bad.status == 400


async def test_only_clinicians_and_keyworkers_serve_several_establishments(
    client: Any, world: World
) -> None:
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    officer = world.staff["officer"]
    resp = await client.put(
        f"/api/staff/{officer.account_id}/establishments",
        json={"establishment_ids": [world.other_est]},
        headers=admin,
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == (
        "Only clinicians and keyworkers serve several establishments."
    )
    resp = await client.put(
        f"/api/staff/{world.staff['clinician'].account_id}/establishments",
        json={"establishment_ids": [str(uuid.uuid4())]},
        headers=admin,
    )
    assert resp.status == 404
    listed = await _json(await client.get("/api/staff", headers=admin), 200)
    assert all(len(m["serves"]) <= 1 for m in listed)


# ------------------------------------------------------- roles


async def test_a_role_that_does_not_exist_is_refused_and_a_real_change_counts_from_the_next_token(
    client: Any, world: World
) -> None:
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    keyworker, kw_tokens = await signed_in_staff(client, Role.KEYWORKER, "key.worker", world.est)
    kw = bearer(kw_tokens)
    assert (await client.get("/api/health-requests", headers=kw)).status == 403
    resp = await client.put(
        f"/api/staff/{keyworker.account_id}/role", json={"role": "superuser"}, headers=admin
    )
    assert resp.status == 400
    assert (await resp.json())["detail"].startswith("No such role.")
    changed = await _json(
        await client.put(
            f"/api/staff/{keyworker.account_id}/role",
            json={"role": "healthcare_admin"},
            headers=admin,
        ),
        200,
    )
    assert changed["role"] == "healthcare_admin"
    # The token still says keyworker: it no longer agrees with the account, so it is
    # refused (issue 12 item 3), and the refreshed one carries the store's role.
    stale = await client.get("/api/health-requests", headers=kw)
    assert stale.status == 401
    assert (await stale.json())["code"] == "invalid_token"
    refreshed = await client.post(
        "/api/auth/refresh", json={"refresh_token": kw_tokens["refresh_token"]}
    )
    kw = bearer(await _json(refreshed, 200))
    assert (await client.get("/api/health-requests", headers=kw)).status == 200
    me = await _json(await client.get("/api/me", headers=kw), 200)
    assert "health_requests.triage" in me["permissions"]


async def test_account_creation_names_the_roles_when_one_does_not_exist(
    client: Any, world: World
) -> None:
    from core.errors import ServiceError

    with pytest.raises(ServiceError) as refused:
        await client.server.app[IDENTITY].create_staff(
            role="wizard",
            establishment_id=world.est,
            username="merlin",
            display_name="Merlin",
            password=PASSWORD,
        )
    assert refused.value.detail is not None
    assert "healthcare_admin" in refused.value.detail


# ------------------------------------------------------- departments


async def test_departments_start_built_in_and_the_establishment_adds_its_own(
    client: Any, world: World
) -> None:
    governor, gov_tokens = await signed_in_staff(client, Role.GOVERNOR, "gov.one", world.est)
    gov = bearer(gov_tokens)
    url = f"/api/establishments/{world.est}/departments"
    found = await _json(await client.get(url, headers=gov), 200)
    assert sorted(d["code"] for d in found) == sorted(
        ["wing-office", "property", "chaplaincy", "education", "finance", "shop", "visits"]
    )
    added = await _json(
        await client.post(url, json={"code": "gym", "name": "Gym"}, headers=gov), 201
    )
    assert added["built_in"] is False
    again = await client.post(url, json={"code": "gym", "name": "Gym two"}, headers=gov)
    assert again.status == 409
    bad = await client.post(url, json={"code": "G Y M!", "name": "Gym"}, headers=gov)
    assert bad.status == 400
    # Staff belong to one or more; a prisoner is never a member.
    dept = {d["code"]: d for d in found}
    education, shop = dept["education"]["id"], dept["shop"]["id"]
    officer = world.staff["officer"].account_id
    for dept_id in (education, shop):
        await _json(
            await client.put(
                f"/api/departments/{dept_id}/members",
                json={"account_ids": [officer]},
                headers=gov,
            ),
            200,
        )
    resp = await client.put(
        f"/api/departments/{education}/members",
        json={"account_ids": [officer, world.prisoners[0].account_id]},
        headers=gov,
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == "Members are staff accounts."
    resp = await client.put(
        f"/api/departments/{education}/members",
        json={"account_ids": [world.staff["officer2"].account_id]},
        headers=gov,
    )
    assert resp.status == 400
    after = {d["code"]: d for d in await _json(await client.get(url, headers=gov), 200)}
    assert after["education"]["members"] == [officer]
    assert after["shop"]["members"] == [officer]
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    listed = {m["id"]: m for m in await _json(await client.get("/api/staff", headers=admin), 200)}
    assert sorted(listed[officer]["departments"]) == sorted([education, shop])


# ------------------------------------------------------- caseloads


async def test_a_keyworker_sees_their_caseload_and_only_prisoners_of_the_establishment_join_it(
    client: Any, world: World
) -> None:
    keyworker = await new_staff(client.server.app, Role.KEYWORKER, "key.one", world.est)
    officer = bearer(await sign_in_staff(client, world.staff["officer"]))
    url = f"/api/keyworkers/{keyworker.account_id}/caseload"
    mine = [p.account_id for p in world.prisoners]
    set_to = await _json(await client.put(url, json={"prisoner_ids": mine}, headers=officer), 200)
    assert {e["prison_number"] for e in set_to} == {"A1234BC", "B2345CD"}
    assert world.other_prisoner is not None
    resp = await client.put(
        url, json={"prisoner_ids": [mine[0], world.other_prisoner.account_id]}, headers=officer
    )
    assert resp.status == 404
    resp = await client.put(
        url, json={"prisoner_ids": [world.staff["officer"].account_id]}, headers=officer
    )
    assert resp.status == 404
    resp = await client.put(url, json={"prisoner_ids": "everyone"}, headers=officer)
    assert resp.status == 400
    kw = bearer(await sign_in_staff(client, keyworker))
    seen = await _json(await client.get("/api/caseload", headers=kw), 200)
    assert [e["display_name"] for e in seen] == ["Prisoner A1234BC", "Prisoner B2345CD"]
    assert (await client.get(url, headers=kw)).status == 403


# ------------------------------------------------------- email


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
        smtp_user="mailer",
        smtp_password=Secret("smtp-secret-pw"),
        smtp_from="throughcare@hmp.example",
    )
    return await aiohttp_client(create_app(with_mail, clock=clock, hasher=hasher))


async def _email_of(client: Any, admin: dict[str, str], account_id: str) -> str | None:
    listed = await _json(await client.get("/api/staff", headers=admin), 200)
    found: str | None = next(m for m in listed if m["id"] == account_id)["email"]
    return found


async def test_a_staff_address_counts_once_its_link_is_opened_and_the_link_works_once(
    mail_client: Any, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    client = mail_client
    caplog.set_level(logging.DEBUG)
    world = await build_world(client.server.app)
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    nurse = world.staff["clinician"].account_id
    resp = await client.post(
        f"/api/staff/{nurse}/email", json={"email": "Nurse.One@NHS.example"}, headers=admin
    )
    assert resp.status == 202, await resp.text()
    assert len(inbox.messages) == 1
    sent = inbox.messages[0]
    assert sent["To"] == "Nurse.One@nhs.example"
    assert sent["From"] == "throughcare@hmp.example"
    assert inbox.logins == [("mailer", "smtp-secret-pw")]
    link = inbox.link_in()
    assert link.startswith("http://")
    # Until it is opened, the account has no address.
    assert await _email_of(client, admin, nurse) is None
    token = link.split("#token=", 1)[1]
    done = await _json(await client.post("/api/email/verify", json={"token": token}), 200)
    assert done["email"] == "Nurse.One@nhs.example"
    assert await _email_of(client, admin, nurse) == "Nurse.One@nhs.example"
    again = await client.post("/api/email/verify", json={"token": token})
    assert again.status == 400
    assert (await again.json())["code"] == "email_link_invalid"
    assert "smtp-secret-pw" not in caplog.text
    assert token not in caplog.text


async def test_an_expired_link_is_refused(mail_client: Any, inbox: Inbox, clock: Any) -> None:
    client = mail_client
    world = await build_world(client.server.app)
    me = bearer(await sign_in_staff(client, world.staff["officer"]))
    resp = await client.post("/api/me/email", json={"email": "officer@hmp.example"}, headers=me)
    assert resp.status == 202
    token = inbox.link_in().split("#token=", 1)[1]
    clock.advance(24 * 3600 + 1)
    resp = await client.post("/api/email/verify", json={"token": token})
    assert resp.status == 400
    assert (await resp.json())["title"] == (
        "This link is not valid, has expired or was already used."
    )
    for bad in ("", "tce_" + "x" * 200, 12, "not-a-token"):
        assert (await client.post("/api/email/verify", json={"token": bad})).status == 400


async def test_a_refusing_mail_server_leaves_the_account_unchanged_with_a_clear_error(
    mail_client: Any, inbox: Inbox
) -> None:
    client = mail_client
    world = await build_world(client.server.app)
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    nurse = world.staff["clinician"].account_id
    await client.post(f"/api/staff/{nurse}/email", json={"email": "a@nhs.example"}, headers=admin)
    first = inbox.link_in().split("#token=", 1)[1]
    await _json(await client.post("/api/email/verify", json={"token": first}), 200)

    inbox.refuse = True
    resp = await client.post(
        f"/api/staff/{nurse}/email", json={"email": "b@nhs.example"}, headers=admin
    )
    assert resp.status == 502
    body = await resp.json()
    assert body["code"] == "email_not_sent"
    assert body["detail"] == "The mail server refused the message; the address was not changed."
    assert await _email_of(client, admin, nurse) == "a@nhs.example"
    assert len(inbox.messages) == 1


async def test_bad_addresses_and_prisoners_are_refused_before_anything_is_sent(
    mail_client: Any, inbox: Inbox
) -> None:
    client = mail_client
    world = await build_world(client.server.app)
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    nurse = world.staff["clinician"].account_id
    for bad in ("not an address", "a@b\nBcc: evil@example.org", "<a@b.example>", "", 5):
        resp = await client.post(f"/api/staff/{nurse}/email", json={"email": bad}, headers=admin)
        assert resp.status == 400, bad
    resp = await client.post(
        f"/api/staff/{world.prisoners[0].account_id}/email",
        json={"email": "p@example.org"},
        headers=admin,
    )
    assert resp.status == 400
    assert inbox.messages == []


async def test_no_mail_server_configured_says_so(client: Any, world: World) -> None:
    me = bearer(await sign_in_staff(client, world.staff["officer"]))
    resp = await client.post("/api/me/email", json={"email": "o@hmp.example"}, headers=me)
    assert resp.status == 502
    assert "THROUGHCARE_SMTP_HOST" in (await resp.json())["detail"]


def test_smtp_settings_are_read_and_the_password_is_masked() -> None:
    settings = Settings.from_env(
        {
            "THROUGHCARE_SMTP_HOST": "smtp.example.org",
            "THROUGHCARE_SMTP_PORT": "465",
            "THROUGHCARE_SMTP_TLS": "tls",
            "THROUGHCARE_SMTP_USER": "throughcare",
            "THROUGHCARE_SMTP_PASSWORD": "hunter2-smtp",
            "THROUGHCARE_SMTP_FROM": "noreply@example.org",
        }
    )
    assert (settings.smtp_host, settings.smtp_port, settings.smtp_tls) == (
        "smtp.example.org",
        465,
        "tls",
    )
    assert settings.smtp_password is not None
    assert settings.smtp_password.reveal() == "hunter2-smtp"
    assert "hunter2-smtp" not in repr(settings)
    from core.config import ConfigError

    with pytest.raises(ConfigError, match="THROUGHCARE_SMTP_TLS"):
        Settings.from_env({"THROUGHCARE_SMTP_TLS": "maybe"})
    with pytest.raises(ConfigError, match="THROUGHCARE_SMTP_FROM"):
        Settings.from_env({"THROUGHCARE_SMTP_FROM": "me"})
