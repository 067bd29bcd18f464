"""Cookie lifetimes agree: a browser restart keeps a session that can still be used."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

from tests.world import PASSWORD


def _persistent(resp: Any) -> dict[str, str]:
    """The cookies a browser keeps over a restart: those with a lifetime."""
    kept: dict[str, str] = {}
    for header in resp.headers.getall("Set-Cookie", []):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            if morsel["max-age"] or morsel["expires"]:
                kept[name] = morsel.value
    return kept


async def test_after_a_browser_restart_the_session_can_still_refresh(
    client: Any, world: Any
) -> None:
    """Regression: the CSRF cookie was a session cookie while the refresh cookie persisted,
    so after a restart every POST, the refresh among them, was refused `csrf_failed`."""
    staff = world.staff["clinician"]
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
    kept = _persistent(resp)
    assert set(kept) == {"tc_access", "tc_refresh", "tc_csrf"}
    client.session.cookie_jar.clear()
    restarted = {"tc_refresh": kept["tc_refresh"], "tc_csrf": kept["tc_csrf"]}
    resp = await client.post(
        "/api/auth/refresh", cookies=restarted, headers={"X-CSRF-Token": kept["tc_csrf"]}
    )
    assert resp.status == 200, await resp.text()
    assert "tc_access" in _persistent(resp)


async def test_a_page_load_gives_a_browser_without_one_a_csrf_cookie(client: Any) -> None:
    client.session.cookie_jar.clear()
    resp = await client.get("/clinician", headers={"Accept": "text/html"})
    assert resp.status == 200
    issued = _persistent(resp)
    assert issued.get("tc_csrf")
    # One the browser already has is kept, not replaced under a page that uses it.
    resp = await client.get(
        "/clinician", headers={"Accept": "text/html"}, cookies={"tc_csrf": issued["tc_csrf"]}
    )
    assert "tc_csrf" not in _persistent(resp)
