"""Reports over appointments and call summaries, on SQLite and PostgreSQL: each figure is
one a manager reads off the dashboard, computed in the store for one establishment and a
period of local dates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from core.db.schema import cells, devices
from core.errors import Code, ServiceError
from scheduling.reports import Period, _percentile
from scheduling.tables import appointments, health_requests, test_calls
from tests.scheduling.conftest import Sched
from tests.world import place

MARCH_3 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


async def _appointment(
    sched: Sched,
    *,
    status: str,
    cause: str | None = None,
    starts_at: datetime = MARCH_3,
    service_id: str | None = None,
    establishment: str | None = None,
    in_person: bool = False,
) -> str:
    appointment_id = str(uuid.uuid4())
    async with sched.svc._db.begin() as conn:
        await conn.execute(
            insert(appointments).values(
                id=appointment_id,
                establishment_id=establishment or sched.world.est,
                prisoner_id=sched.patient.account_id,
                clinician_id=sched.clinician.account_id,
                service_id=service_id or sched.gp.id,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=20),
                buffer_minutes=5,
                status=status,
                outcome_category=cause,
                same_sex=False,
                chaperone=False,
                in_person=in_person,
                created_by=sched.clinician.account_id,
                created_at=MARCH_3,
                updated_at=MARCH_3,
            )
        )
    return appointment_id


def _summary(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "attended": ["clinician", "patient"],
        "patient_attended": True,
        "first_arrival_at": MARCH_3.isoformat(),
        "first_admit_at": (MARCH_3 + timedelta(minutes=2)).isoformat(),
        "wait_s": 120,
        "admits": 1,
        "readmit_wait_s": None,
        "call_s": 900,
        "ended_at": (MARCH_3 + timedelta(minutes=20)).isoformat(),
        "ended_reason": "clinician_ended",
        "answer": "answered",
        "mode_changes": 0,
        "final_mode": "video",
        "worst_loss_pct": 0.5,
        "lowest_bitrate_kbps": 800.0,
    }
    return {**base, **values}


async def _march(sched: Sched, **extra: Any) -> Period:
    return await sched.svc.report_period(
        sched.manager, sched.world.est, "2026-03-01", "2026-03-31", **extra
    )


async def test_misses_are_split_by_cause_with_not_recorded_apart(sched: Sched) -> None:
    for status, cause in (
        ("completed", None),
        ("completed", None),
        ("did_not_attend", "prison"),
        ("did_not_attend", "prison"),
        ("did_not_attend", "patient"),
        ("did_not_attend", "clinician"),
        ("not_recorded", None),
        ("cancelled", "prison"),
        ("cancelled", "clinician"),
        ("cancelled", "clinician"),
        ("booked", None),
    ):
        await _appointment(sched, status=status, cause=cause)
    # Another establishment's and another month's do not count.
    await _appointment(
        sched, status="did_not_attend", cause="patient", establishment=sched.world.other_est
    )
    await _appointment(
        sched, status="did_not_attend", cause="patient", starts_at=MARCH_3 + timedelta(days=40)
    )
    report = await sched.svc.report(await _march(sched), "misses")
    assert report["booked"] == 11
    assert report["completed"] == 2
    assert report["did_not_attend"] == {
        "prison": 2,
        "patient": 1,
        "clinician": 1,
        "not_recorded": 1,
    }
    assert report["cancelled"] == {"prison": 1, "patient": 0, "clinician": 2, "none": 0}


async def test_the_period_is_local_dates_in_the_zone_asked_for(sched: Sched) -> None:
    # 23:30 UTC on 31 March is 1 April in London (BST from 29 March).
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    await _appointment(sched, status="completed", starts_at=late)
    london = await sched.svc.report(await _march(sched, zone="Europe/London"), "misses")
    utc = await sched.svc.report(await _march(sched, zone="UTC"), "misses")
    assert (london["completed"], utc["completed"]) == (0, 1)
    assert london["period"]["tz"] == "Europe/London"


async def test_waits_median_and_p90_with_readmits_counted_apart(sched: Sched) -> None:
    waits = [60, 120, 180, 240, 300, 360, 420, 480, 540, 600]
    for n, wait in enumerate(waits):
        appointment = await _appointment(sched, status="completed")
        readmit = {"admits": 2, "readmit_wait_s": 30} if n < 2 else {}
        await sched.svc.record_call_summary(appointment, _summary(wait_s=wait, **readmit))
    # A patient who never got in has no wait to the first admit.
    unanswered = await _appointment(sched, status="not_recorded")
    await sched.svc.record_call_summary(
        unanswered, _summary(wait_s=None, admits=0, answer="unanswered", call_s=None)
    )
    report = await sched.svc.report(await _march(sched), "waits")
    assert report["admitted"] == 10
    assert report["median_s"] == pytest.approx(_percentile(waits, 0.5)) == 330
    assert report["p90_s"] == pytest.approx(546.0)
    assert report["readmits"] == {"count": 2, "calls": 2, "median_s": 30, "p90_s": 30}


async def test_a_call_shorter_than_the_establishments_minimum_is_not_a_consult(
    sched: Sched,
) -> None:
    for length in (30, 90, 400, 1200):
        appointment = await _appointment(sched, status="completed")
        await sched.svc.record_call_summary(appointment, _summary(call_s=length))
    for answer in ("unanswered", "abandoned", "abandoned"):
        appointment = await _appointment(sched, status="not_recorded")
        await sched.svc.record_call_summary(
            appointment, _summary(answer=answer, admits=0, wait_s=None, call_s=None)
        )
    calls = await sched.svc.report(await _march(sched), "calls")
    assert (calls["calls"], calls["answered"], calls["unanswered"], calls["abandoned"]) == (
        7,
        4,
        1,
        2,
    )
    assert (calls["min_consult_s"], calls["consults"], calls["too_short"]) == (120, 2, 2)
    assert calls["median_length_s"] == 800
    await sched.svc.set_report_settings(
        sched.manager,
        sched.world.est,
        min_consult_s=60,
        escort_cost_pence=None,
        escort_cost_source=None,
    )
    calls = await sched.svc.report(await _march(sched), "calls")
    assert (calls["min_consult_s"], calls["consults"], calls["too_short"]) == (60, 3, 1)


async def test_quality_is_per_call_worst_first(sched: Sched) -> None:
    figures = [(0.2, 900.0), (12.5, 150.0), (3.0, 400.0), (None, None)]
    ids = []
    for loss, bitrate in figures:
        appointment = await _appointment(sched, status="completed")
        ids.append(appointment)
        await sched.svc.record_call_summary(
            appointment, _summary(worst_loss_pct=loss, lowest_bitrate_kbps=bitrate)
        )
    report = await sched.svc.report(await _march(sched), "quality")
    assert [c["appointment_id"] for c in report["calls"]] == [ids[1], ids[2], ids[0], ids[3]]
    assert report["calls"][0]["worst_loss_pct"] == 12.5
    assert report["calls"][0]["lowest_bitrate_kbps"] == 150.0
    assert report["loss_bands"] == {"lt1": 1, "1to5": 1, "5to10": 0, "gt10": 1}
    assert report["no_reports"] == 1


async def test_escorts_avoided_are_priced_from_the_setting_and_its_source(sched: Sched) -> None:
    dental = await sched.escorted_service()
    for _ in range(3):
        await _appointment(sched, status="completed", service_id=dental.id)
    await _appointment(sched, status="completed", service_id=dental.id, in_person=True)
    await _appointment(sched, status="did_not_attend", cause="patient", service_id=dental.id)
    await _appointment(sched, status="completed")  # GP: no escort needed in person
    report = await sched.svc.report(await _march(sched), "escorts")
    assert report["avoided"] == 3
    assert report["saved_pence"] is None  # no cost configured: no made-up figure
    with pytest.raises(ServiceError) as refused:
        await sched.svc.set_report_settings(
            sched.manager,
            sched.world.est,
            min_consult_s=120,
            escort_cost_pence=45000,
            escort_cost_source="",
        )
    assert "escort_cost_source" in (refused.value.detail or "")
    await sched.svc.set_report_settings(
        sched.manager,
        sched.world.est,
        min_consult_s=120,
        escort_cost_pence=45000,
        escort_cost_source="Regional escort contract 2026",
    )
    report = await sched.svc.report(await _march(sched), "escorts")
    assert (report["saved_pence"], report["cost_source"]) == (
        135000,
        "Regional escort contract 2026",
    )


async def test_precall_failures_are_counted_by_wing(sched: Sched) -> None:
    app = sched.app
    cell_a = await place(app, sched.world.est, "A1-01")
    cell_b = await place(app, sched.world.est, "B1-01")
    async with sched.svc._db.begin() as conn:
        wing_of = {
            r.id: r.wing_id
            for r in await conn.execute(
                select(cells.c.id, cells.c.wing_id).where(cells.c.id.in_([cell_a, cell_b]))
            )
        }
        device = (
            await conn.execute(
                select(devices.c.id).where(devices.c.establishment_id == sched.world.est).limit(1)
            )
        ).scalar_one()
    appointment = await _appointment(sched, status="completed")
    outcomes = [(cell_a, "failed"), (cell_a, "good"), (cell_a, "failed"), (cell_b, "poor")]
    async with sched.svc._db.begin() as conn:
        for n, (cell, outcome) in enumerate(outcomes):
            await conn.execute(
                insert(test_calls).values(
                    id=str(uuid.uuid4()),
                    establishment_id=sched.world.est,
                    device_id=device,
                    prisoner_id=sched.patient.account_id,
                    appointment_id=appointment,
                    wing_id=wing_of[cell],
                    cell_id=cell,
                    started_at=MARCH_3 + timedelta(minutes=n),
                    finished_at=MARCH_3 + timedelta(minutes=n, seconds=30),
                    outcome=outcome,
                )
            )
    report = await sched.svc.report(await _march(sched), "precall")
    assert (report["tests"], report["failed"]) == (4, 2)
    assert [(w["wing"], w["tests"], w["failed"], w["poor"]) for w in report["by_wing"]] == [
        ("A", 3, 2, 0),
        ("B", 1, 0, 1),
    ]
    # The call summary keeps the device's last pre-call result for its appointment.
    await sched.svc.record_call_summary(appointment, _summary())
    quality = await sched.svc.report(await _march(sched), "quality")
    assert quality["calls"][0]["appointment_id"] == appointment


async def test_request_waits_are_measured_against_the_services_target(sched: Sched) -> None:
    sched.clock.set(datetime(2026, 3, 30, 9, 0, tzinfo=UTC))
    rows = [
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 5, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 25, 9, 0, tzinfo=UTC)),
        (datetime(2026, 3, 10, 9, 0, tzinfo=UTC), None),  # still waiting: 20 days so far
    ]
    async with sched.svc._db.begin() as conn:
        for created, triaged in rows:
            await conn.execute(
                insert(health_requests).values(
                    id=str(uuid.uuid4()),
                    prisoner_id=sched.patient.account_id,
                    establishment_id=sched.world.est,
                    category="gp",
                    text_enc=b"sealed",
                    status="received" if triaged is None else "triaged",
                    service_id=sched.gp.id,
                    created_at=created,
                    triaged_at=triaged,
                )
            )
    report = await sched.svc.report(await _march(sched), "requests")
    assert (report["requests"], report["waiting"], report["over_target"]) == (3, 1, 2)
    (gp,) = report["by_service"]
    assert (gp["service"], gp["target_days"], gp["over_target"]) == ("GP", 14, 2)
    assert gp["longest_wait_s"] == 23 * 86400
    assert report["median_wait_s"] == 20 * 86400


@pytest.mark.parametrize(
    ("first", "last", "zone", "detail"),
    [
        ("2026-01-01", "2027-01-02", None, "The period is at most a year."),
        ("2026-03-31", "2026-03-01", None, "The period ends before it starts."),
        ("2026-03-01", "next week", None, "to is a date (YYYY-MM-DD)."),
        ("2026-03-01", "2026-03-31", "Mars/Olympus", "tz is not a known time zone."),
    ],
)
async def test_a_bad_period_is_refused_with_a_clear_answer(
    sched: Sched, first: str, last: str, zone: str | None, detail: str
) -> None:
    with pytest.raises(ServiceError) as refused:
        await sched.svc.report_period(sched.manager, sched.world.est, first, last, zone)
    assert (refused.value.code, refused.value.detail) == (Code.INVALID_REQUEST, detail)


async def test_officers_prisoners_and_other_establishments_get_no_report(sched: Sched) -> None:
    for who in (sched.officer, sched.patient, sched.clinician):
        with pytest.raises(ServiceError) as refused:
            await sched.svc.report_period(who, sched.world.est, "2026-03-01", "2026-03-31")
        assert refused.value.code is Code.FORBIDDEN
    with pytest.raises(ServiceError) as refused:
        await sched.svc.report_period(
            sched.manager, sched.world.other_est, "2026-03-01", "2026-03-31"
        )
    assert refused.value.code is Code.FORBIDDEN
