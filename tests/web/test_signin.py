"""Sign-in as people do it, over HTTP, against both stores."""

from __future__ import annotations

from typing import Any

from tests.world import PASSWORD, bearer, sign_in_prisoner, sign_in_staff


async def test_prisoner_signs_in_on_enrolled_device_and_sees_self(client: Any, world: Any) -> None:
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.get("/api/me", headers=bearer(tokens))
    assert resp.status == 200
    me = await resp.json()
    assert me["role"] == "prisoner"
    assert me["display_name"] == "Prisoner A1234BC"
    assert me["device_id"] == world.prisoners[0].device_id


async def test_wrong_pin_says_so_and_counts_down(client: Any, world: Any) -> None:
    p = world.prisoners[0]
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": p.prison_number,
            "pin": "9999",
            "device_credential": p.device_credential,
        },
    )
    assert resp.status == 401
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["code"] == "invalid_credentials"
    assert body["attempts_left"] == 4


async def test_five_wrong_pins_lock_for_fifteen_minutes(
    client: Any, world: Any, clock: Any
) -> None:
    p = world.prisoners[0]
    wrong = {
        "prison_number": p.prison_number,
        "pin": "0000",
        "device_credential": p.device_credential,
    }
    for _ in range(4):
        assert (await client.post("/api/auth/prisoner", json=wrong)).status == 401
    fifth = await client.post("/api/auth/prisoner", json=wrong)
    assert fifth.status == 423
    assert (await fifth.json())["code"] == "locked_out"
    # Even the right PIN is refused while locked.
    right = dict(wrong, pin=p.pin)
    resp = await client.post("/api/auth/prisoner", json=right)
    assert resp.status == 423
    clock.advance(minutes=14)
    assert (await client.post("/api/auth/prisoner", json=right)).status == 423
    clock.advance(minutes=1, seconds=1)
    assert (await client.post("/api/auth/prisoner", json=right)).status == 200


async def test_device_of_another_establishment_is_refused_without_counting(
    client: Any, world: Any
) -> None:
    p = world.prisoners[0]
    for _ in range(6):
        resp = await client.post(
            "/api/auth/prisoner",
            json={
                "prison_number": p.prison_number,
                "pin": p.pin,
                "device_credential": world.other_device_credential,
            },
        )
        assert resp.status == 403
        assert (await resp.json())["code"] == "device_not_allowed"
    # Nothing was counted against the prisoner: the right device still works.
    await sign_in_prisoner(client, p)


async def test_unenrolled_device_is_refused(client: Any, world: Any) -> None:
    p = world.prisoners[0]
    for credential in ("tcd_" + "x" * 43, None, 12, ""):
        resp = await client.post(
            "/api/auth/prisoner",
            json={"prison_number": p.prison_number, "pin": p.pin, "device_credential": credential},
        )
        assert resp.status == 401
        assert (await resp.json())["code"] == "device_not_enrolled"


async def test_staff_sign_in_needs_password_and_current_code(client: Any, world: Any) -> None:
    staff = world.staff["clinician"]
    app = client.server.app
    resp = await client.post(
        "/api/auth/staff",
        json={"username": staff.username, "password": PASSWORD + "x", "totp": staff.code(app)},
    )
    assert resp.status == 401
    resp = await client.post(
        "/api/auth/staff", json={"username": staff.username, "password": PASSWORD, "totp": "000000"}
    )
    assert resp.status == 401
    tokens = await sign_in_staff(client, staff)
    assert tokens["role"] == "clinician"


async def test_totp_code_cannot_be_used_twice(client: Any, world: Any) -> None:
    staff = world.staff["manager"]
    await sign_in_staff(client, staff)
    resp = await client.post(
        "/api/auth/staff",
        json={
            "username": staff.username,
            "password": PASSWORD,
            "totp": staff.code(client.server.app),
        },
    )
    assert resp.status == 401


async def test_enrolment_code_works_once(client: Any, world: Any) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    resp = await client.post("/api/devices", json={"cell": "W0-01"}, headers=bearer(officer))
    assert resp.status == 201
    code = (await resp.json())["enrolment_code"]
    first = await client.post("/api/devices/enrol", json={"code": code.lower()})
    assert first.status == 201
    credential = (await first.json())["device_credential"]
    again = await client.post("/api/devices/enrol", json={"code": code})
    assert again.status == 400
    assert (await again.json())["code"] == "enrolment_code_invalid"
    me = await client.get("/api/devices/me", headers={"Authorization": f"Device {credential}"})
    assert (await me.json())["cell"] == "W0-01"


async def test_expired_enrolment_code_is_refused(client: Any, world: Any, clock: Any) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    resp = await client.post("/api/devices", json={"cell": "W1-02"}, headers=bearer(officer))
    code = (await resp.json())["enrolment_code"]
    clock.advance(hours=24, seconds=1)
    resp = await client.post("/api/devices/enrol", json={"code": code})
    assert resp.status == 400


async def test_officer_cannot_enrol_for_another_establishment(client: Any, world: Any) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    resp = await client.post(
        "/api/devices",
        json={"cell": "X1", "establishment_id": world.other_est},
        headers=bearer(officer),
    )
    assert resp.status == 403


async def test_prisoner_and_clinician_cannot_enrol_devices(client: Any, world: Any) -> None:
    for tokens in (
        await sign_in_prisoner(client, world.prisoners[0]),
        await sign_in_staff(client, world.staff["clinician"]),
    ):
        resp = await client.post("/api/devices", json={"cell": "X1"}, headers=bearer(tokens))
        assert resp.status == 403


async def test_refresh_rotates_and_reuse_revokes_the_family(client: Any, world: Any) -> None:
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    first = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status == 200
    rotated = await first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # The old one again: a thief or a replay. The whole session ends.
    replay = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert replay.status == 401
    assert (await replay.json())["code"] == "refresh_token_reused"
    resp = await client.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert resp.status == 401
    resp = await client.get("/api/me", headers=bearer(rotated))
    assert resp.status == 401
    assert (await resp.json())["code"] == "session_revoked"


async def test_sign_out_revokes_access_and_refresh(client: Any, world: Any) -> None:
    tokens = await sign_in_staff(client, world.staff["officer"])
    resp = await client.post("/api/auth/sign-out", headers=bearer(tokens))
    assert resp.status == 204
    assert (await client.get("/api/me", headers=bearer(tokens))).status == 401
    resp = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert resp.status == 401


async def test_revoking_a_device_ends_its_sessions(client: Any, world: Any) -> None:
    prisoner = await sign_in_prisoner(client, world.prisoners[1])
    officer = await sign_in_staff(client, world.staff["officer"])
    resp = await client.delete(
        f"/api/devices/{world.prisoners[1].device_id}", headers=bearer(officer)
    )
    assert resp.status == 204
    assert (await client.get("/api/me", headers=bearer(prisoner))).status == 401
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": "B2345CD",
            "pin": "2345",
            "device_credential": world.prisoners[1].device_credential,
        },
    )
    assert resp.status == 401


async def test_token_claiming_another_role_than_its_account_is_refused(
    client: Any, world: Any
) -> None:
    """Issue 12 item 3: a token was trusted for its role and establishment once its
    signature held. One signed with the service's key (leaked, or issued before a
    change) that names a real session but says `admin` was an admin's token."""
    from core.identity import Principal, Role
    from web.state import IDENTITY

    tokens = await sign_in_staff(client, world.staff["officer"])
    me = await (await client.get("/api/me", headers=bearer(tokens))).json()
    signer = client.server.app[IDENTITY].signer
    real = signer.verify(tokens["access_token"])
    for forged in (
        Principal(real.account_id, Role.ADMIN, None, real.session_id),
        Principal(real.account_id, Role.OFFICER, world.other_est, real.session_id),
        Principal(real.account_id, Role.OFFICER, real.establishment_id, real.session_id, "dev-x"),
    ):
        token = signer.issue(forged).token
        resp = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 401, forged
        assert (await resp.json())["code"] == "invalid_token"
    assert me["role"] == "officer"
    assert (await client.get("/api/me", headers=bearer(tokens))).status == 200
