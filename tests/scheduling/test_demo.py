"""The demo: a new user can try a consult within minutes, and managers see history."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.identity import Principal, Role
from scheduling.tables import lockdowns
from web.demo import seed
from web.state import ACCESS, CLOCK, DATABASE, IDENTITY, JOBS, PEOPLE, PLACES, SCHEDULING


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


async def test_demo_seeds_a_past_lockdown_a_transfer_and_a_release_with_their_notices(
    client: Any, tmp_path: Path
) -> None:
    """Issue 14 item 7: each screen of clinic operations has something to show."""
    app = client.server.app
    svc = app[SCHEDULING]
    data = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        svc,
        places=app[PLACES],
        people=app[PEOPLE],
        access=app[ACCESS],
    )
    ops = data["operations"]
    assert (ops["transferred"]["moved"], ops["transferred"]["requested"]) == (1, 1)
    est = data["establishment"]["id"]
    manager_id = next(p["account_id"] for p in data["staff"] if p["role"] == "manager")
    manager = Principal(manager_id, Role.MANAGER, est, "s")
    [handover] = await svc.handover_list(manager, est)
    assert handover.prison_number == "E5678FG" and handover.community_sharing
    async with app[DATABASE].connect() as conn:
        ended = list(await conn.execute(select(lockdowns.c.ends_at)))
    assert len(ended) == 1 and ended[0].ends_at < app[CLOCK].now()
    await app[JOBS].run_due()
    moved = ops["transferred"]
    east = data["access"]["second_establishment"]["id"]
    account = moved["account_id"]
    _, notices = await svc.inbox(Principal(account, Role.PRISONER, east, "s", moved["device_id"]))
    assert {"transferred", "transfer_moved", "cancelled"} <= {n.kind for n in notices}
    [cancelled] = [n for n in notices if n.kind == "cancelled"]
    assert cancelled.fields["reason"] == "transfer"
    # The released prisoner's hand-over cannot go anywhere yet: the manager is told why.
    [handover] = await svc.handover_list(manager, est)
    assert (handover.status, handover.last_error) == ("failing", "no_endpoint")


async def test_after_the_demo_every_section_of_the_past_months_dashboard_has_figures(
    client: Any, tmp_path: Path
) -> None:
    """Issue 15 item 9: the manager's dashboard for the past month shows something in each
    section: misses three ways, not recorded and cancellations, waits, calls, quality,
    escorts priced from the configured cost, pre-call failures on each wing, requests."""
    app = client.server.app
    svc = app[SCHEDULING]
    data = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        svc,
        places=app[PLACES],
        people=app[PEOPLE],
        access=app[ACCESS],
    )
    est = data["establishment"]["id"]
    manager_id = next(p["account_id"] for p in data["staff"] if p["role"] == "manager")
    manager = Principal(manager_id, Role.MANAGER, est, "s")
    today = app[CLOCK].now().date()
    period = await svc.report_period(
        manager, est, (today - timedelta(days=30)).isoformat(), today.isoformat()
    )
    report = await svc.dashboard(period)
    misses = report["misses"]
    assert misses["completed"] > 0
    assert all(misses["did_not_attend"][k] > 0 for k in ("prison", "patient", "clinician"))
    assert misses["did_not_attend"]["not_recorded"] > 0
    assert all(misses["cancelled"][k] > 0 for k in ("prison", "patient", "clinician"))
    waits = report["waits"]
    assert waits["admitted"] > 0 and waits["median_s"] and waits["readmits"]["count"] > 0
    calls = report["calls"]
    assert calls["min_consult_s"] == 180
    assert all(calls[k] > 0 for k in ("consults", "too_short", "unanswered", "abandoned"))
    assert calls["with_mode_change"] > 0 and calls["median_length_s"]
    quality = report["quality"]
    assert quality["calls"] and sum(1 for v in quality["loss_bands"].values() if v) >= 2
    escorts = report["escorts"]
    assert escorts["avoided"] > 0 and escorts["cost_source"]
    assert escorts["saved_pence"] == escorts["avoided"] * escorts["cost_per_escort_pence"]
    precall = report["precall"]
    assert {w["wing"] for w in precall["by_wing"] if w["failed"]} == {"A", "B"}
    requests = report["requests"]
    assert requests["waiting"] > 0 and requests["over_target"] > 0
    # Two more clinicians can sign in, and the month counts came back to the caller.
    assert [c["username"] for c in data["month"]["clinicians"]] == ["dr.patel", "nurse.okafor"]
