"""Every route, called as every role, against `core.permissions`' table.

A route declares its permission twice: in its handler (`require(request,
Permission.X)`) and in its OpenAPI operation (`x-permission`, with `x-roles`
generated from the table). This walk calls each route with a signed-in person
of each role and checks that exactly the roles the table names get past the
route's check: the others get 403 naming the permission they lack. A handler
that checked another permission than it documents, or a role name, fails here.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from core.identity import Role
from core.permissions import ROLE_PERMISSIONS, Permission, roles_with
from tests.world import (
    bearer,
    community_account,
    sign_in_prisoner,
    sign_in_staff,
    signed_in_staff,
)

# Routes that no signed-in role uses: sign-in itself, a device's own, a link's.
UNGUARDED = {
    ("POST", "/api/auth/staff"),
    ("POST", "/api/auth/prisoner"),
    ("POST", "/api/auth/refresh"),
    ("POST", "/api/devices/enrol"),
    ("GET", "/api/devices/me"),
    ("POST", "/api/email/verify"),
    ("GET", "/api/openapi.json"),
    ("GET", "/calendar/{token}"),
    # Community accounts: the claim (its code is the credential) and their sign-in.
    ("POST", "/api/community/claim/start"),
    ("POST", "/api/community/claim"),
    ("POST", "/api/auth/community"),
    # An interpreter's emailed invitation: its code is the credential (signed in, the
    # service itself refuses anyone but an interpreter of the establishment).
    ("POST", "/api/interpreter-invitations/start"),
    ("POST", "/api/interpreter-invitations/accept"),
}


async def _tokens_by_role(client: Any, world: Any) -> dict[Role, dict[str, Any]]:
    tokens: dict[Role, dict[str, Any]] = {
        Role.PRISONER: await sign_in_prisoner(client, world.prisoners[0])
    }
    for role in (Role.CLINICIAN, Role.MANAGER, Role.OFFICER, Role.ADMIN):
        tokens[role] = await sign_in_staff(client, world.staff[role.value])
    # A former prisoner: the second prisoner released and their community account claimed.
    tokens[Role.COMMUNITY], _ = await community_account(
        client, world.prisoners[1], tokens[Role.OFFICER], "walk@example.org"
    )
    for role in Role:
        if role in tokens:
            continue
        username = f"{role.value.replace('_', '-')}.walk"
        _, tokens[role] = await signed_in_staff(client, role, username, world.est)
    return tokens


def _operations(client: Any, doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for route in client.server.app.router.routes():
        info = route.resource.canonical if route.resource else ""
        if route.method == "HEAD" or not info.startswith(("/api/", "/fhir/", "/calendar/")):
            continue
        if (route.method, info) in UNGUARDED:
            continue
        operation = doc["paths"].get(info, {}).get(route.method.lower())
        assert operation is not None, f"{route.method} {info} is not in the OpenAPI document"
        found.append((route.method, info, operation))
    return found


async def test_every_guarded_operation_declares_its_permission_and_roles(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    for method, path, operation in _operations(client, doc):
        assert "x-permission" in operation, f"{method} {path} declares no permission"
        permission = Permission(operation["x-permission"])
        assert operation["x-roles"] == roles_with(permission), (method, path)


@pytest.mark.timeout(300)
async def test_every_route_as_every_role_matches_the_table(client: Any, world: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    tokens = await _tokens_by_role(client, world)
    checked = 0
    for method, path, operation in _operations(client, doc):
        permission = Permission(operation["x-permission"])
        url = path
        for name in ("{appointment_id}", "{account_id}", "{department_id}", "{keyworker_id}"):
            url = url.replace(name, str(uuid.uuid4()))
        url = url.replace("{establishment_id}", world.est)
        for placeholder in ("{consent_id}", "{request_id}", "{prisoner_id}", "{service_id}"):
            url = url.replace(placeholder, str(uuid.uuid4()))
        for placeholder in (
            "{rule_id}",
            "{window_id}",
            "{lockdown_id}",
            "{device_id}",
            "{task_id}",
            "{job_id}",
            "{notice_id}",
            "{offer_id}",
            "{wing_id}",
            "{cell_id}",
            "{handover_id}",
            "{exception_id}",
            "{application_id}",
            "{allocation_id}",
            "{alert_id}",
            "{kind}",
            "{entry_id}",
            "{order_id}",
            "{booking_id}",
            "{visitor_id}",
            "{programme_id}",
            "{session_id}",
            "{exercise}",
            "{course_id}",
            "{lesson_id}",
            "{file_id}",
            "{learner_id}",
            "{goal_id}",
            "{recording_id}",
            "{item_id}",
        ):
            url = url.replace(placeholder, str(uuid.uuid4()))
        url = url.replace("{clinician_id}", str(uuid.uuid4())).replace("{token_id}", "x")
        assert "{" not in url, url
        for role, held in ROLE_PERMISSIONS.items():
            if path == "/api/auth/sign-out":
                continue  # walked last, below: it ends the session
            kwargs: dict[str, Any] = {"headers": bearer(tokens[role])}
            if method in ("POST", "PUT", "DELETE"):
                kwargs["json"] = {}
            resp = await client.request(method, url, **kwargs)
            body = await resp.read()
            refused_here = resp.status == 403 and (
                path.startswith("/fhir/") or f'"permission": "{permission.value}"' in body.decode()
            )
            if permission in held:
                assert not refused_here, f"{role.value} holds {permission} but {method} {path}: 403"
            else:
                assert refused_here, (
                    f"{role.value} lacks {permission} but {method} {path}: {resp.status} {body!r}"
                )
            checked += 1
    for role in Role:
        resp = await client.post("/api/auth/sign-out", headers=bearer(tokens[role]))
        assert resp.status == 204, role
    assert checked > 400


async def test_a_refusal_names_the_missing_permission(client: Any, world: Any) -> None:
    tokens = await sign_in_staff(client, world.staff["officer"])
    resp = await client.get("/api/audit/events", headers=bearer(tokens))
    assert resp.status == 403
    body = await resp.json()
    assert body["code"] == "forbidden"
    assert body["permission"] == "audit.read"


async def test_roles_lists_the_table_and_refuses_a_permission_that_does_not_exist(
    client: Any, world: Any
) -> None:
    admin = bearer(await sign_in_staff(client, world.staff["admin"]))
    table = await (await client.get("/api/roles", headers=admin)).json()
    assert set(table["roles"]) == {r.value for r in Role}
    assert "health_requests.triage" in table["roles"]["healthcare_admin"]
    one = await (
        await client.get("/api/roles", params={"permission": "security.confirm"}, headers=admin)
    ).json()
    assert one["roles"] == ["governor"]
    resp = await client.get("/api/roles", params={"permission": "root.everything"}, headers=admin)
    assert resp.status == 400
    assert (await resp.json())["detail"] == "No such permission."
