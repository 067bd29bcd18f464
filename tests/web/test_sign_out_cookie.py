"""A page signs out with a body-less POST under its session cookie and CSRF header:
the session ends on the server, not only in the page (a shared in-cell device)."""

from __future__ import annotations

from typing import Any

from tests.world import World


async def test_a_cookie_session_signs_out_with_no_body_and_the_cookie_stops_working(
    client: Any, world: World
) -> None:
    prisoner = world.prisoners[0]
    signed_in = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
            "session": "cookie",
        },
    )
    assert signed_in.status == 200, await signed_in.text()
    assert (await client.get("/api/me")).status == 200
    csrf = client.session.cookie_jar.filter_cookies(client.make_url("/"))["tc_csrf"].value
    kept = {c.key: c.value for c in client.session.cookie_jar}
    out = await client.post("/api/auth/sign-out", headers={"X-CSRF-Token": csrf})
    assert out.status == 204, await out.text()
    # The old cookies, sent again as a copy kept by someone else would be, are refused.
    again = await client.get("/api/me", cookies=kept)
    assert again.status == 401
