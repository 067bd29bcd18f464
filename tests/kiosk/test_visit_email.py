"""A visitor with an email address gets the booking and its cancellation by email, through
a real SMTP server (aiosmtpd) and the `kiosk.visit_email` job: the establishment, the time
and the reference, never the prisoner's name or number."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from core.config import Settings
from tests.kiosk.conftest import make_kiosk
from tests.scheduling.conftest import at
from tests.smtp import Inbox, smtp_server
from tests.world import bearer, sign_in_prisoner, sign_in_staff
from web.state import JOBS

JANE = "jane@example.org"


@pytest.fixture
async def smtp() -> Any:
    async with smtp_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, smtp: Inbox) -> Settings:
    return replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_from="visits@hmp.example",
    )


def _text(message: Any) -> str:
    """The subject and every text part, decoded."""
    parts = [str(message["Subject"])]
    for part in message.walk():
        body = part.get_payload(decode=True)
        if isinstance(body, bytes) and part.get_content_type().startswith("text/"):
            parts.append(body.decode())
    return "\n".join(parts)


async def test_the_visitor_is_emailed_the_booking_and_its_cancellation_once_each(
    client: Any, clock: Any, smtp: Inbox
) -> None:
    k = await make_kiosk(client, clock)
    prisoner = bearer(await sign_in_prisoner(client, k.world.prisoners[0]))
    officer = bearer(await sign_in_staff(client, k.world.staff["officer"]))
    asked = await client.post(
        "/api/kiosk/visitors",
        json={"name": "Jane Smith", "relationship": "Sister", "email": JANE},
        headers=prisoner,
    )
    assert asked.status == 201, await asked.text()
    visitor = await asked.json()
    decided = await client.post(
        f"/api/kiosk/staff/visitors/{visitor['id']}/decision",
        json={"approve": True},
        headers=officer,
    )
    assert decided.status == 200, await decided.text()
    start = at(5, 14)
    made = await client.post(
        "/api/kiosk/staff/visit-sessions",
        json={
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "capacity": 5,
        },
        headers=officer,
    )
    assert made.status == 201, await made.text()
    booked = await client.post(
        "/api/kiosk/visits",
        json={"session_id": (await made.json())["id"], "visitor_ids": [visitor["id"]]},
        headers=prisoner,
    )
    assert booked.status == 201, await booked.text()
    booking = await booked.json()
    jobs = client.server.app[JOBS]
    await jobs.run_due()
    await jobs.run_due()  # again: nothing more is sent
    assert [m["To"] for m in smtp.messages] == [JANE]
    text = _text(smtp.messages[0])
    assert booking["reference"] in text
    prisoner_row = k.world.prisoners[0]
    assert prisoner_row.prison_number not in text
    assert prisoner_row.prison_number not in str(smtp.messages[0]["Subject"])

    cancelled = await client.post(f"/api/kiosk/visits/{booking['id']}/cancel", headers=prisoner)
    assert cancelled.status == 200, await cancelled.text()
    await jobs.run_due()
    assert [m["To"] for m in smtp.messages] == [JANE, JANE]
    assert booking["reference"] in _text(smtp.messages[1])
