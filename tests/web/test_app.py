"""The HTTP edge: errors as problem+json, headers, limits, CSRF, health and metrics."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.world import PASSWORD, bearer, sign_in_staff

PROBLEM = "application/problem+json"


async def _problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code
    assert body["status"] == status
    assert "Traceback" not in json.dumps(body)
    return body


async def test_unknown_route_is_problem_json_not_html(client: Any) -> None:
    await _problem(await client.get("/no/such/page"), 404, "not_found")
    await _problem(await client.post("/api/nothing", json={}), 404, "not_found")


async def test_wrong_method(client: Any) -> None:
    await _problem(await client.get("/api/auth/staff"), 405, "method_not_allowed")


async def test_security_headers_on_every_response(client: Any) -> None:
    for path in ("/healthz", "/nope", "/api/openapi.json"):
        resp = await client.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert resp.headers["X-Request-Id"]


async def test_malformed_json(client: Any, world: Any) -> None:
    resp = await client.post(
        "/api/auth/staff", data=b'{"username": ', headers={"Content-Type": "application/json"}
    )
    await _problem(resp, 400, "malformed_json")


async def test_oversized_body(client: Any, world: Any) -> None:
    big = json.dumps({"username": "x" * (70 * 1024)}).encode()
    resp = await client.post(
        "/api/auth/staff", data=big, headers={"Content-Type": "application/json"}
    )
    await _problem(resp, 413, "body_too_large")


async def test_deeply_nested_json(client: Any, world: Any) -> None:
    deep = "[" * 5000 + "]" * 5000
    resp = await client.post(
        "/api/auth/staff",
        data=f'{{"username": {deep}}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert resp.status == 400
    assert resp.content_type == PROBLEM


async def test_not_json_content_type(client: Any, world: Any) -> None:
    resp = await client.post("/api/auth/staff", data=b"username=x")
    await _problem(resp, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [[1, 2], "text", {"username": 5, "password": "x", "totp": "1"}, {"username": "ok.name"}],
)
async def test_wrong_shapes_are_invalid_requests(client: Any, world: Any, body: Any) -> None:
    resp = await client.post("/api/auth/staff", json=body)
    await _problem(resp, 400, "invalid_request")


async def test_failed_request_changes_nothing(client: Any, world: Any) -> None:
    """A malformed sign-in does not count as a wrong password."""
    staff = world.staff["clinician"]
    for _ in range(6):
        await client.post("/api/auth/staff", json={"username": staff.username, "password": 7})
    await sign_in_staff(client, staff)


async def test_healthz_and_readyz(client: Any) -> None:
    assert (await (await client.get("/healthz")).json())["status"] == "ok"
    ready = await (await client.get("/readyz")).json()
    assert ready == {"status": "ready", "checks": {"store": "ok", "bus": "ok"}}


async def test_readyz_fails_when_the_store_is_gone(client: Any) -> None:
    from web.state import DATABASE

    await client.server.app[DATABASE].engine.dispose()
    # Break the engine's connection target so new connections fail.
    client.server.app[DATABASE].engine.sync_engine.pool._creator = _refuse
    resp = await client.get("/readyz")
    body = await _problem(resp, 503, "unavailable")
    assert body["checks"]["store"] == "failed"
    assert body["checks"]["bus"] == "ok"


def _refuse(*_: Any) -> Any:
    raise ConnectionRefusedError("store down for the test")


async def test_metrics_count_requests_by_route(client: Any) -> None:
    await client.get("/healthz")
    text = await (await client.get("/metrics")).text()
    assert 'throughcare_http_requests_total{method="GET",route="/healthz",status="200"}' in text


async def test_openapi_lists_every_api_route(client: Any) -> None:
    doc = await (await client.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for route in client.server.app.router.routes():
        info = route.resource.canonical if route.resource else ""
        api = info.startswith(("/api/", "/fhir/")) or info == "/ws"
        if api and route.method != "HEAD" and info != "/api/openapi.json":
            served.add((info, route.method))
    assert served <= documented, served - documented
    assert documented <= served, documented - served


async def test_cookie_session_needs_csrf_token(client: Any, world: Any) -> None:
    staff = world.staff["officer"]
    resp = await client.post(
        "/api/auth/staff",
        json={
            "username": staff.username,
            "password": PASSWORD,
            "totp": staff.code(client.server.app),
            "session": "cookie",
        },
    )
    assert resp.status == 200
    csrf = resp.headers["X-CSRF-Token"]
    assert "access_token" not in await resp.json()
    cookie = resp.cookies["tc_access"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    # A cookie-authenticated read works.
    assert (await client.get("/api/me")).status == 200
    # An unsafe request riding on the cookie without the token is refused and does nothing.
    resp = await client.post("/api/devices", json={"cell": "W0-01"})
    await _problem(resp, 403, "csrf_failed")
    resp = await client.post(
        "/api/devices", json={"cell": "W0-01"}, headers={"X-CSRF-Token": "nope"}
    )
    await _problem(resp, 403, "csrf_failed")
    resp = await client.post(
        "/api/devices",
        json={"cell": "W0-01"},
        headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
    )
    await _problem(resp, 403, "csrf_failed")
    resp = await client.post("/api/devices", json={"cell": "W0-01"}, headers={"X-CSRF-Token": csrf})
    assert resp.status == 201


async def test_bearer_requests_need_no_csrf(client: Any, world: Any) -> None:
    tokens = await sign_in_staff(client, world.staff["officer"])
    resp = await client.post("/api/devices", json={"cell": "W1-02"}, headers=bearer(tokens))
    assert resp.status == 201


async def test_malformed_authorization_header(client: Any) -> None:
    for header in ("Basic abc", "Bearer", "Bearer not.a.jwt", "Token x"):
        resp = await client.get("/api/me", headers={"Authorization": header})
        assert resp.status == 401
        assert resp.content_type == PROBLEM


async def test_a_browser_navigating_to_a_missing_page_gets_words(client: Any) -> None:
    resp = await client.get("/device/nothing-here", headers={"Accept": "text/html"})
    assert resp.status == 404
    assert resp.content_type == "text/html"
    text = await resp.text()
    assert "This page does not exist." in text
    assert "not_found" not in text and "Traceback" not in text
    # The API stays machine-readable whatever the Accept header says.
    resp = await client.get("/api/nothing", headers={"Accept": "text/html"})
    assert resp.content_type == PROBLEM
