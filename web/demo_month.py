"""A realistic past month for the demo (issue 15 item 9): every report and screen has figures.

Three clinicians run the demo's services over the last four weeks. Each weekday's
appointments are booked two days ahead on a clock set in the past and then closed the way
the day went: most were seen on video (with the plain per-call summary the hub keeps when
a call ends: arrival, wait, admits, length, mode changes, worst loss, lowest bitrate),
some were missed for a prison-, patient- or clinician-caused reason, some were cancelled
(by cause) and a few were never coded (the close-windows job marks them not recorded).
Devices ran pre-call tests before many consults (some failed, on both wings). Prisoners'
health requests arrived through the month: some triaged late (past the service's target),
some still waiting. The manager's report settings give the escort cost with its source
and a minimum consult length, so the escort journeys avoided are priced.

Everything goes through the services on a demo clock; only the call summaries of past
calls, which the hub writes when a live call ends, are written through the same store
function the hub uses (`record_call_summary`).
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pyotp

from core.clock import FakeClock
from core.identity import IdentityService, Principal, Role
from scheduling import SchedulingService
from scheduling.times import local_instant
from scheduling.types import PrecallResult

TZ = ZoneInfo("Europe/London")
DAYS = 28
# The two clinicians who work alongside the demo clinician (username, name, sex, password).
MORE_CLINICIANS = [
    ("dr.patel", "Dr Priya Patel", "F", "demo-clinician-two"),
    ("nurse.okafor", "Nurse Obi Okafor", "M", "demo-clinician-three"),
]
# Each weekday: (clinician key, local minute, service code).
DAY_PLAN = [
    ("demo", 10 * 60, "gp"),
    ("demo", 10 * 60 + 25, "gp"),
    ("patel", 11 * 60, "gp"),
    ("demo", 14 * 60, "mental_health"),
    ("okafor", 15 * 60, "substance_misuse"),
]
# How a block of 21 appointments went (shuffled per block): every kind appears each block.
BLOCK = [
    *["attended"] * 13,
    "prison",
    "prison",
    "patient",
    "patient",
    "clinician",
    "not_recorded",
    "cancelled_prison",
    "cancelled_patient",
]
EXTRA = ["cancelled_clinician", "attended", "prison", "patient"]
CODES = {
    "prison": ["no_escort", "court", "regime_change", "device_unavailable"],
    "patient": ["declined", "unwell", "competing_activity"],
    "clinician": ["clinician_late", "clinician_unavailable"],
    "cancelled_prison": ["no_escort", "court"],
    "cancelled_patient": ["patient_request"],
    "cancelled_clinician": ["clinician_unavailable", "booking_error"],
}
# (days ago made, days until triaged or None, service code, urgency, text)
REQUESTS = [
    (26, 17, "gp", "routine", "My knee has been swollen for a week."),
    (20, 2, "mental_health", "soon", "I am not sleeping and would like to talk to someone."),
    (12, 1, "substance_misuse", "soon", "I would like help to cut down."),
    (9, 8, "gp", "routine", "Repeat prescription for my inhaler, please."),
    (18, None, None, None, "Can I see the optician about new glasses?"),
    (4, None, None, None, "I have had a cough for three weeks."),
    (2, None, None, None, "Please can I have my medication reviewed?"),
    (1, None, None, None, "I would like to see the dentist about a broken tooth."),
]
ESCORT_COST_PENCE = 42_000
ESCORT_COST_SOURCE = "HMP Demo finance: escort and vehicle cost per hospital trip, 2026-27"
MIN_CONSULT_S = 180


async def seed_month(
    identity: IdentityService,
    scheduling: SchedulingService,
    *,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
    services: dict[str, str],
) -> dict[str, Any]:
    ids = {person["role"]: person["account_id"] for person in staff}
    manager = Principal(ids["manager"], Role.MANAGER, est_id, "demo")
    hca = Principal(ids["healthcare_admin"], Role.HEALTHCARE_ADMIN, est_id, "demo")
    clinicians = {"demo": Principal(ids["clinician"], Role.CLINICIAN, est_id, "demo")}
    sign_ins = []
    for (username, name, sex, password), key in zip(
        MORE_CLINICIANS, ("patel", "okafor"), strict=True
    ):
        secret = pyotp.random_base32()
        account_id, _ = await identity.create_staff(
            role=Role.CLINICIAN,
            establishment_id=est_id,
            username=username,
            display_name=name,
            password=password,
            sex=sex,
            totp_secret=secret,
        )
        clinicians[key] = Principal(account_id, Role.CLINICIAN, est_id, "demo")
        sign_ins.append(
            {
                "role": "clinician",
                "account_id": account_id,
                "username": username,
                "password": password,
                "totp_secret": secret,
            }
        )
    for key, code, start, end in (
        ("patel", "gp", "09:00", "12:00"),
        ("okafor", "substance_misuse", "14:30", "16:30"),
    ):
        for weekday in range(5):
            await scheduling.add_availability(
                clinicians[key],
                clinician_id=clinicians[key].account_id,
                service_id=services[code],
                weekday_value=weekday,
                start=start,
                end=end,
            )
    await scheduling.set_report_settings(
        manager,
        est_id,
        min_consult_s=MIN_CONSULT_S,
        escort_cost_pence=ESCORT_COST_PENCE,
        escort_cost_source=ESCORT_COST_SOURCE,
    )
    patients = [
        Principal(p["account_id"], Role.PRISONER, est_id, "demo", p["device_id"]) for p in prisoners
    ]
    now = scheduling.now()
    counts = await _appointments(scheduling, clinicians, patients, services, now)
    counts["not_recorded"] = await scheduling.close_windows()
    counts.update(await _requests(scheduling, hca, patients, services, now))
    return {"clinicians": sign_ins, "counts": counts}


async def _appointments(
    scheduling: SchedulingService,
    clinicians: dict[str, Principal],
    patients: list[Principal],
    services: dict[str, str],
    now: datetime,
) -> dict[str, int]:
    rng = random.Random(2026)
    today = now.astimezone(TZ).date()
    days = [today - timedelta(days=back) for back in range(DAYS, 0, -1)]
    plan: list[tuple[date, str, int, str]] = [
        (day, who, minute, code)
        for day in days
        if day.weekday() < 5
        for who, minute, code in DAY_PLAN
    ]
    fates: list[str] = []
    while len(fates) < len(plan):
        block = [*BLOCK, EXTRA[len(fates) // len(BLOCK) % len(EXTRA)]]
        rng.shuffle(block)
        fates.extend(block)
    counts: dict[str, int] = {}
    for n, ((day, who, minute, code), fate) in enumerate(zip(plan, fates, strict=False)):
        starts = local_instant(day, minute, TZ)
        patient = patients[n % len(patients)]
        clinician = clinicians[who]
        booked = await scheduling.with_clock(FakeClock(starts - timedelta(days=2))).book(
            clinician,
            prisoner_id=patient.account_id,
            service_id=services[code],
            clinician_id=clinician.account_id,
            starts_at=starts,
        )
        if fate.startswith("cancelled_"):
            await scheduling.with_clock(FakeClock(starts - timedelta(hours=20))).cancel(
                clinician, booked.id, rng.choice(CODES[fate])
            )
            counts[fate] = counts.get(fate, 0) + 1
            continue
        why = rng.choice(CODES[fate]) if fate in CODES else None
        if fate != "not_recorded" and (rng.random() < 0.6 or why == "device_unavailable"):
            await _precall(scheduling, patient, booked.id, starts, why, rng)
        if fate == "not_recorded":
            continue  # the close-windows job marks it at the end
        after = scheduling.with_clock(FakeClock(starts + timedelta(minutes=1)))
        if fate == "attended":
            await after.check_in(patient, booked.id)
            summary = _answered(starts, rng)
            ended = datetime.fromisoformat(summary["ended_at"])
            await scheduling.with_clock(FakeClock(ended)).mark_attended(clinician, booked.id)
            await scheduling.record_call_summary(booked.id, summary)
        else:
            await after.mark_did_not_attend(clinician, booked.id, why)
            missed = _unanswered(starts, fate, rng)
            if missed is not None:
                await scheduling.record_call_summary(booked.id, missed)
        counts[fate] = counts.get(fate, 0) + 1
    return counts


async def _precall(
    scheduling: SchedulingService,
    patient: Principal,
    appointment_id: str,
    starts: datetime,
    why: str | None,
    rng: random.Random,
) -> None:
    """The device's test before the consult, as the test peer reports it."""
    at = starts - timedelta(minutes=rng.randint(8, 30))
    roll = rng.random()
    if why == "device_unavailable" or roll < 0.15:
        result = PrecallResult("failed", "failed", "ok", "failed")
    elif roll < 0.3:
        result = PrecallResult("poor", "ok", "ok", "poor")
    else:
        result = PrecallResult("good", "ok", "ok", "good")
    decision = await scheduling.with_clock(FakeClock(at)).begin_test_call(patient, appointment_id)
    if decision.ticket is None:
        return
    finished = scheduling.with_clock(FakeClock(at + timedelta(seconds=40)))
    await finished.finish_test_call(decision.ticket, result)


def _answered(starts: datetime, rng: random.Random) -> dict[str, Any]:
    """A consult that took place: its wait, length and how the link held up."""
    arrived = starts + timedelta(seconds=rng.randint(-240, 120))
    wait_s = rng.choice([15, 40, 60, 90, 120, 180, 240, 420, 600]) + rng.randint(0, 30)
    admitted = max(arrived, starts) + timedelta(seconds=wait_s)
    short = rng.random() < 0.08
    call_s = rng.randint(50, 170) if short else rng.randint(6 * 60, 28 * 60)
    readmit = rng.random() < 0.12
    rough = rng.random()
    if rough < 0.7:
        loss, kbps, mode, changes = round(rng.uniform(0, 1.5), 1), rng.randint(900, 1800), 0, 0
    elif rough < 0.9:
        loss, kbps, changes = round(rng.uniform(2, 6), 1), rng.randint(350, 900), 0
        mode = 0
    else:
        loss, kbps, changes = round(rng.uniform(8, 20), 1), rng.randint(40, 250), 1
        mode = 1
    ended = admitted + timedelta(seconds=call_s)
    return {
        "attended": ["clinician", "patient"],
        "patient_attended": True,
        "first_arrival_at": arrived.isoformat(),
        "first_admit_at": admitted.isoformat(),
        "wait_s": wait_s,
        "admits": 2 if readmit else 1,
        "readmit_wait_s": rng.randint(20, 90) if readmit else None,
        "call_s": call_s,
        "ended_at": ended.isoformat(),
        "ended_reason": "ended",
        "answer": "answered",
        "mode_changes": changes,
        "final_mode": "audio" if mode else "video",
        "worst_loss_pct": loss,
        "lowest_bitrate_kbps": kbps,
    }


def _unanswered(starts: datetime, fate: str, rng: random.Random) -> dict[str, Any] | None:
    """A call that was opened but no consult happened: the patient waited and no one came
    (clinician-caused), or came and left before being admitted (patient-caused)."""
    if fate == "clinician":
        answer, stayed = "unanswered", 20 * 60
    elif fate == "patient" and rng.random() < 0.6:
        answer, stayed = "abandoned", rng.randint(60, 300)
    else:
        return None
    arrived = starts + timedelta(seconds=rng.randint(-120, 60))
    return {
        "attended": ["patient"],
        "patient_attended": True,
        "first_arrival_at": arrived.isoformat(),
        "first_admit_at": None,
        "wait_s": None,
        "admits": 0,
        "readmit_wait_s": None,
        "call_s": None,
        "ended_at": (arrived + timedelta(seconds=stayed)).isoformat(),
        "ended_reason": "timeout",
        "answer": answer,
        "mode_changes": 0,
        "final_mode": "video",
        "worst_loss_pct": None,
        "lowest_bitrate_kbps": None,
    }


async def _requests(
    scheduling: SchedulingService,
    hca: Principal,
    patients: list[Principal],
    services: dict[str, str],
    now: datetime,
) -> dict[str, int]:
    waiting = triaged = 0
    for n, (ago, after, code, urgency, words) in enumerate(REQUESTS):
        # In the day, between breakfast and tea, as prisoners use their devices.
        day = now.astimezone(TZ).date() - timedelta(days=ago)
        made_at = local_instant(day, 8 * 60 + 40 + 47 * n, TZ)
        made = await scheduling.with_clock(FakeClock(made_at)).make_request(
            patients[n % len(patients)], category="general", text_value=words
        )
        if after is None:
            waiting += 1
            continue
        await scheduling.with_clock(FakeClock(made_at + timedelta(days=after))).triage(
            hca, made.id, urgency=urgency, service_id=services[str(code)]
        )
        triaged += 1
    return {"requests_waiting": waiting, "requests_triaged": triaged}


def describe_month(data: dict[str, Any]) -> list[str]:
    counts = data["counts"]
    lines = ["Two more clinicians (password, then the code from the TOTP secret):"]
    for person in data["clinicians"]:
        code = pyotp.TOTP(person["totp_secret"]).now()
        lines.append(
            f"  {person['role']:<16} {person['username']:<16} {person['password']:<22}"
            f" TOTP secret {person['totp_secret']} (now {code})"
        )
    missed = sum(counts.get(k, 0) for k in ("prison", "patient", "clinician"))
    cancelled = sum(v for k, v in counts.items() if k.startswith("cancelled_"))
    lines.append(
        f"The last {DAYS} days: {counts.get('attended', 0)} consults seen, {missed} missed"
        f" (prison {counts.get('prison', 0)}, patient {counts.get('patient', 0)},"
        f" clinician {counts.get('clinician', 0)}), {counts.get('not_recorded', 0)} not"
        f" recorded, {cancelled} cancelled; {counts.get('requests_waiting', 0)} health"
        " requests waiting for triage."
    )
    return lines
