"""The demo: a new user can try a consult within minutes, and managers see history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from core.identity import Principal, Role
from web.demo import seed
from web.state import IDENTITY, PEOPLE, PLACES, SCHEDULING


async def test_demo_seeds_a_consult_in_minutes_and_realistic_history(
    client: Any, tmp_path: Path, clock: Any
) -> None:
    app = client.server.app
    svc = app[SCHEDULING]
    data = await seed(
        app[IDENTITY], tmp_path / "demo.json", svc, places=app[PLACES], people=app[PEOPLE]
    )
    consult = data["scheduling"]["consult"]
    history = data["scheduling"]["history"]
    assert {"attended", "prison", "patient"} <= set(history)
    assert sum(history.values()) >= 30
    first = data["prisoners"][0]
    patient = Principal(
        first["account_id"], Role.PRISONER, data["establishment"]["id"], "s", first["device_id"]
    )
    view = await svc.appointment_view(consult["appointment_id"])
    assert view is not None
    assert timedelta(minutes=5) <= view.starts_at - clock.now() <= timedelta(minutes=10)
    clock.set(view.starts_at - timedelta(minutes=5))
    decision = await svc.join_decision(patient, consult["appointment_id"])
    assert decision.allowed, decision.refusal
