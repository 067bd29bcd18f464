"""No token, PIN, password or personal detail ever reaches a log line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.world import PASSWORD, bearer, build_world, sign_in_prisoner, sign_in_staff
from web.logs import AccessLogger, JsonFormatter, quiet_drivers


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet_drivers()
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


async def test_sign_in_flow_logs_no_secrets(
    aiohttp_client: Any, app: Any, captured: io.StringIO
) -> None:
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    client = await aiohttp_client(server)
    world = await build_world(client.server.app)
    secrets: list[str] = [PASSWORD]
    officer = world.staff["officer"]
    secrets.append(officer.code(client.server.app))
    staff_tokens = await sign_in_staff(client, officer)
    secrets += [staff_tokens["access_token"], staff_tokens["refresh_token"]]
    resp = await client.post("/api/devices", json={"cell": "W0-01"}, headers=bearer(staff_tokens))
    code = (await resp.json())["enrolment_code"]
    secrets += [code, code.replace("-", "")]
    resp = await client.post("/api/devices/enrol", json={"code": code})
    secrets.append((await resp.json())["device_credential"])
    prisoner = world.prisoners[0]
    secrets += [
        prisoner.pin,
        prisoner.device_credential,
        prisoner.prison_number,
        f"Prisoner {prisoner.prison_number}",
    ]
    await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": "8765",
            "device_credential": prisoner.device_credential,
        },
    )
    secrets.append("8765")
    tokens = await sign_in_prisoner(client, prisoner)
    secrets += [tokens["access_token"], tokens["refresh_token"]]
    resp = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    rotated = await resp.json()
    secrets += [rotated["access_token"], rotated["refresh_token"]]
    await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    await client.get("/api/me", headers=bearer(rotated))
    await client.post("/api/auth/sign-out", headers=bearer(staff_tokens))
    await client.get("/api/me", headers={"Authorization": "Bearer " + tokens["access_token"]})

    text = captured.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    assert any('"route": "/api/auth/prisoner"' in line for line in lines), "access log missing"
    assert not any('"logger": "sqlalchemy' in line for line in lines), "SQL echoed into the log"
    for line in lines:
        entry = json.loads(line)
        assert "request_id" in entry
    # Random ids (uuids, request ids) can contain any 4 digits by chance; take
    # them out before looking for the short secrets, so the test only fails on a leak.
    without_ids = re.sub(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}|[0-9a-f]{16,}", "#", text)
    for secret in secrets:
        haystack = text if len(secret) > 8 else without_ids
        assert secret not in haystack, f"a secret of length {len(secret)} reached the logs"
