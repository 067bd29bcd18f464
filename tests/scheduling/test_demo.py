"""The demo: a new user can try a consult within minutes, and managers see history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core.identity import Principal, Role
from scheduling.tables import lockdowns
from web.demo import describe, seed
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


async def test_after_the_demo_each_kiosk_screen_has_something_to_show(
    client: Any, tmp_path: Path, clock: Any
) -> None:
    """Issue 16 item 9 (visits aside): what the Money, Shop, Applications and Timetable
    tiles and the finance, shop desk and application queue pages read, for the demo's
    first prisoner and staff. Run on a Thursday, after the week's cut-off: this week's
    orders were still placed before it."""
    from kiosk.money_csv import EntryKind, MoneyAccount
    from web.demo_kiosk import deps_of
    from web.kiosk.applications import APPLICATIONS
    from web.kiosk.money import MONEY
    from web.kiosk.shop import SHOP
    from web.kiosk.timetable import TIMETABLE

    app = client.server.app
    clock.set(datetime(2026, 3, 5, 15, 0, tzinfo=UTC))
    data = await seed(
        app[IDENTITY],
        tmp_path / "demo.json",
        app[SCHEDULING],
        places=app[PLACES],
        people=app[PEOPLE],
        access=app[ACCESS],
        kiosk=deps_of(app),
    )
    est = data["establishment"]["id"]
    first = data["prisoners"][0]
    alex = Principal(first["account_id"], Role.PRISONER, est, "s", first["device_id"])
    staff = {p["role"]: p["account_id"] for p in data["staff"]}

    # Money: both accounts in credit, and wages, money sent in, orders and refunds.
    statement = await app[MONEY].statement(alex, alex.account_id)
    assert all(v > 0 for v in statement.balances.values()), statement.balances
    assert {EntryKind.WAGES, EntryKind.SENT_IN, EntryKind.ORDER, EntryKind.REFUND} <= {
        e.kind for e in statement.entries
    }
    assert (
        sum(e.amount_pence for e in statement.entries if e.account == MoneyAccount.SPENDS)
        == (statement.balances[MoneyAccount.SPENDS])
    )

    # Shop: categories, an item for Enhanced only, one healthcare restricted, orders in
    # each state with a line refunded out of stock, and this week still open.
    catalogue = await app[SHOP].catalogue(alex)
    assert len({i.category for i in catalogue.items}) >= 4
    assert any(i.min_level for i in catalogue.items)
    assert [i.name for i in catalogue.items if i.unavailable] == ["Energy drink"]
    assert not catalogue.open and 0 < catalogue.spent_pence < catalogue.limit_pence
    history = await app[SHOP].history(alex)
    assert {o.status.value for o in history} == {"placed", "picked", "delivered"}
    assert any(line.out_of_stock for o in history for line in o.lines)
    shop_staff = Principal(staff["department_staff"], Role.DEPARTMENT_STAFF, est, "s")
    picking = await app[SHOP].pick_list(shop_staff, est, None)
    assert {o.status.value for o in picking} == {"placed", "picked"}
    assert len({o.prisoner_id for o in picking}) == 2

    # Applications: received, replied, a complaint, an appeal, a confidential complaint.
    mine = await app[APPLICATIONS].mine(alex)
    states = {(a.stage, a.status, a.confidential) for a in mine}
    assert {
        ("application", "open", False),
        ("application", "answered", False),
        ("complaint", "open", False),
        ("complaint", "answered", False),
        ("appeal", "open", False),
        ("complaint", "open", True),
    } <= states
    assert all(a.reply for a in mine if a.status == "answered")
    governor = Principal(staff["governor"], Role.GOVERNOR, est, "s")
    [secret] = await app[APPLICATIONS].queue(governor, "confidential")
    assert secret.stage == "complaint" and secret.prisoner_id == alex.account_id
    officer = Principal(staff["officer"], Role.OFFICER, est, "s")
    wing = next(d for d in await app[APPLICATIONS].my_queues(officer) if d.code == "wing-office")
    queued = await app[APPLICATIONS].queue(officer, wing.id)
    assert {a.stage for a in queued} == {"complaint", "appeal"}
    assert not any(a.confidential for a in queued)

    # Timetable: the regime and work, education and gym in the prisoner's week.
    week = await app[TIMETABLE].week(alex)
    assert {"regime", "work", "education", "gym"} <= {e.kind for e in week.entries}
    assert "kiosk" in data and "Kiosk:" in describe(data, "http://x")
