"""The pages as a browser receives them: headers, types, language, no leaks."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.world import sign_in_prisoner

FACES = [
    "/",
    "/device",
    "/clinician",
    "/manager",
    "/staff",
    "/governor",
    "/triage",
    "/booking",
    "/availability",
    "/staff/applications",
    "/staff/timetable",
    "/staff/visits",
    "/device/programmes",
    "/healthcare/risk-alerts",
    "/scores",
    "/device/programme-work",
    "/programmes/caseload",
    "/community",
    "/community/claim",
    "/interpreter/accept",
    "/community/programmes",
    "/admin",
    "/admin/jobs",
    "/attend",
    "/device/learning",
    "/finance",
    "/operations",
    "/recordings",
    "/shop-desk",
    "/shop-restrictions",
    "/staff/campus",
    "/verify-email",
]


async def test_no_get_without_parameters_answers_a_stranger_with_a_server_error(
    client: Any,
) -> None:
    """Every page and API a browser can open without an id renders or refuses cleanly."""
    paths = sorted(
        {
            info["path"]
            for route in client.app.router.routes()
            if route.method == "GET"
            and "path" in (info := route.resource.get_info() if route.resource else {})
        }
    )
    assert "/admin" in paths
    failing = [p for p in paths if (await client.get(p)).status >= 500]
    assert failing == []


@pytest.mark.parametrize("path", FACES)
async def test_each_face_is_html_with_a_strict_policy(client: Any, path: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    html = await resp.text()
    assert '<html lang="en">' in html
    # No inline script may run and no inline style may apply under the policy.
    assert " style=" not in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'type="application/json"' in tag or "src=" in tag


@pytest.mark.parametrize("path", FACES)
async def test_each_faces_script_exists(client: Any, path: str) -> None:
    html = await (await client.get(path)).text()
    src = re.search(r'<script type="module" src="([^"]+)"', html)
    assert src is not None
    assert (await client.get(src.group(1))).status == 200


async def test_static_files_have_their_type_and_the_security_headers(client: Any) -> None:
    js = await client.get("/static/js/common.js")
    assert js.status == 200
    assert js.content_type in ("text/javascript", "application/javascript")
    assert js.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in js.headers
    css = await client.get("/static/css/throughcare.css")
    assert css.content_type == "text/css"
    missing = await client.get("/static/js/nothing.js")
    assert missing.status == 404
    escape = await client.get("/static/../pages.py")
    assert escape.status in (403, 404)


async def test_welsh_is_chosen_by_cookie_before_sign_in(client: Any) -> None:
    client.session.cookie_jar.update_cookies({"tc_lang": "cy"})
    html = await (await client.get("/device")).text()
    assert '<html lang="cy">' in html
    assert "Mewngofnodi" in html


async def test_a_prisoners_language_is_remembered_on_the_account(client: Any, world: Any) -> None:
    prisoner = world.prisoners[0]
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
            "session": "cookie",
        },
    )
    assert resp.status == 200
    csrf = resp.headers["X-CSRF-Token"]
    changed = await client.post(
        "/api/me/locale", json={"locale": "cy"}, headers={"X-CSRF-Token": csrf}
    )
    assert changed.status == 200
    client.session.cookie_jar.update_cookies({"tc_lang": "en"})
    html = await (await client.get("/device")).text()
    assert '<html lang="cy">' in html
    me = await (await client.get("/api/me")).json()
    assert me["locale"] == "cy"


async def test_locale_must_be_english_or_welsh(client: Any, world: Any) -> None:
    tokens = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.post(
        "/api/me/locale",
        json={"locale": "fr"},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert resp.status == 400


async def test_locale_change_without_the_csrf_header_is_refused(client: Any, world: Any) -> None:
    prisoner = world.prisoners[0]
    await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
            "session": "cookie",
        },
    )
    resp = await client.post("/api/me/locale", json={"locale": "cy"})
    assert resp.status == 403


async def test_socket_token_is_the_cookie_sessions_own(client: Any, world: Any) -> None:
    prisoner = world.prisoners[0]
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
            "session": "cookie",
        },
    )
    csrf = resp.headers["X-CSRF-Token"]
    token = await client.post("/api/auth/socket-token", headers={"X-CSRF-Token": csrf})
    assert token.status == 200
    body = await token.json()
    assert body["account_id"] == prisoner.account_id
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await me.json())["account_id"] == prisoner.account_id
    anonymous = await client.post("/api/auth/socket-token", headers={"X-CSRF-Token": "x"})
    assert anonymous.status in (401, 403)


def test_english_and_welsh_have_the_same_keys() -> None:
    from web.pages import I18N_DIR

    en = json.loads((I18N_DIR / "en.json").read_text("utf-8"))
    cy = json.loads((I18N_DIR / "cy.json").read_text("utf-8"))
    assert set(en) == set(cy)
    assert all(v.strip() for v in [*en.values(), *cy.values()])
    # Role names are looked up by value (the admin page, the permissions table).
    from core.identity import Role

    assert {f"role.{r.value}" for r in Role} <= set(en)


async def test_only_the_appointments_clinician_sees_who_the_patient_is(
    client: Any, world: Any
) -> None:
    from tests.browser.seed import consult_world
    from tests.world import sign_in_staff

    app = client.server.app
    consult = await consult_world(app, relay_only=True)
    path = f"/api/appointments/{consult.appointment_id}/patient"
    mine = await sign_in_staff(client, consult.clinician)
    resp = await client.get(path, headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert resp.status == 200
    body = await resp.json()
    assert body["prison_number"] == consult.prisoner.prison_number
    other = await sign_in_staff(client, world.staff["clinician"])
    resp = await client.get(path, headers={"Authorization": f"Bearer {other['access_token']}"})
    assert resp.status in (403, 404)
    officer = await sign_in_staff(client, consult.officer)
    resp = await client.get(path, headers={"Authorization": f"Bearer {officer['access_token']}"})
    assert resp.status == 403
    prisoner = await sign_in_prisoner(client, consult.prisoner)
    resp = await client.get(path, headers={"Authorization": f"Bearer {prisoner['access_token']}"})
    assert resp.status == 403
