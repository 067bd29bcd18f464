"""Demo data for a new user: one establishment and one of everyone.

Running it twice changes nothing: the sign-in details from the first run are
kept (owner-only) in `var/demo.json` and printed again.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp

from campus.catalogue import Catalogue
from campus.learning import Learning
from core.access.service import Access
from core.identity import IdentityService, Principal, Role
from core.identity.service import SYSTEM_ACTOR
from core.keys import write_secret_file
from core.people.service import People
from core.places.service import Places
from kiosk.visits import Visits
from scheduling import SchedulingService
from web.demo_campus import seed_campus
from web.demo_kiosk import KioskDemoDeps, describe_kiosk, seed_kiosk
from web.demo_month import describe_month, seed_month
from web.demo_operations import describe_operations, seed_operations
from web.demo_visits import describe_visits, seed_visits

ProgrammesSeed = Callable[
    [str, list[dict[str, Any]], list[dict[str, Any]]], Awaitable[dict[str, Any]]
]
"""`web.demo_programmes.seed_programmes` with its services bound: (establishment, staff,
prisoners) -> what it seeded."""

# code, name, minutes, buffer, target days, sensitive, escort if in person (seen in the
# healthcare centre, the patient is escorted there: a video consult saves that journey)
DEMO_SERVICES = [
    ("gp", "GP", 20, 5, 14, False, False),
    ("mental_health", "Mental health", 45, 10, 28, True, True),
    ("substance_misuse", "Substance misuse", 30, 5, 21, True, True),
]
# weekday, service, local start, local end (the demo clinician)
DEMO_AVAILABILITY = [
    *((d, "gp", "09:00", "12:00") for d in range(5)),
    *((d, "mental_health", "13:30", "16:30") for d in range(5)),
    *((d, "substance_misuse", "16:30", "17:30") for d in (0, 2, 4)),
]
DEMO_REGIME = [
    ("Morning roll check", "08:00", "08:30"),
    ("Lunch and roll check", "12:00", "13:15"),
    ("Tea", "17:00", "17:45"),
    ("Evening roll check", "19:45", "20:15"),
]

ESTABLISHMENT = {"code": "DEMO", "name": "HMP Demo"}
STAFF = [
    {
        "role": Role.CLINICIAN,
        "username": "dr.demo",
        "name": "Dr Dana Demo",
        "sex": "F",
        "password": "demo-clinician-pass",
    },
    {
        "role": Role.MANAGER,
        "username": "manager.demo",
        "name": "Morgan Manager",
        "sex": "M",
        "password": "demo-manager-pass",
    },
    {
        "role": Role.OFFICER,
        "username": "officer.demo",
        "name": "Olly Officer",
        "sex": "M",
        "password": "demo-officer-pass",
    },
    {
        "role": Role.ADMIN,
        "username": "admin.demo",
        "name": "Ash Admin",
        "sex": "X",
        "password": "demo-admin-password",
    },
    {
        "role": Role.HEALTHCARE_ADMIN,
        "username": "hca.demo",
        "name": "Harper Healthcare",
        "sex": "F",
        "password": "demo-healthcare-admin",
    },
    {
        "role": Role.GOVERNOR,
        "username": "governor.demo",
        "name": "Gale Governor",
        "sex": "M",
        "password": "demo-governor-pass",
    },
    {
        "role": Role.KEYWORKER,
        "username": "keyworker.demo",
        "name": "Kit Keyworker",
        "sex": "F",
        "password": "demo-keyworker-pass",
    },
    {
        "role": Role.INTERPRETER,
        "username": "interpreter.demo",
        "name": "Ines Interpreter",
        "sex": "F",
        "password": "demo-interpreter-pass",
    },
]
# A second establishment the demo clinician and keyworker also serve (chosen on the desk).
SECOND_ESTABLISHMENT = {"code": "DEMO-EAST", "name": "HMP Demo East"}
# Department code -> the demo staff (by role) who belong to it.
DEMO_DEPARTMENTS = {
    "wing-office": ["officer"],
    "visits": ["officer"],
    "education": ["keyworker"],
}
# Wings and their cells; each prisoner is in a cell with a device of its own.
DEMO_PLACES = {
    "A": [f"A1-{n:02d}" for n in range(1, 7)],
    "B": [f"B1-{n:02d}" for n in range(1, 7)],
}
# One prisoner at each incentive level (Standard is where everyone starts), each with a
# date of birth and a photo for the clinician's identity check.
PRISONERS: list[dict[str, Any]] = [
    {
        "prison_number": "A1234BC",
        "name": "Alex Example",
        "pin": "1234",
        "sex": "M",
        "cell": "A1-01",
        "date_of_birth": "1988-04-12",
        "level": "enhanced",
        "reason": "Steady work in the kitchens and a clean record for six months.",
        "colour": (70, 110, 160),
    },
    {
        "prison_number": "B2345CD",
        "name": "Sam Sample",
        "pin": "2345",
        "sex": "F",
        "cell": "A1-02",
        "date_of_birth": "1995-09-30",
        "level": "standard",
        "reason": "",
        "colour": (150, 90, 70),
    },
    {
        "prison_number": "C3456DE",
        "name": "Jo Jones",
        "pin": "3456",
        "sex": "M",
        "cell": "B1-01",
        "date_of_birth": "2001-01-17",
        "level": "basic",
        "reason": "Two refusals to lock up at the evening roll check this week.",
        "colour": (90, 130, 80),
    },
]


async def seed(
    identity: IdentityService,
    demo_file: Path,
    scheduling: SchedulingService | None = None,
    *,
    places: Places,
    people: People,
    access: Access | None = None,
    visits: Visits | None = None,
    programmes: ProgrammesSeed | None = None,
    campus: tuple[Catalogue, Learning] | None = None,
    kiosk: KioskDemoDeps | None = None,
) -> dict[str, Any]:
    existing = await identity.establishment_by_code(ESTABLISHMENT["code"])
    if existing is not None:
        if await asyncio.to_thread(demo_file.exists):
            data: dict[str, Any] = json.loads(await asyncio.to_thread(demo_file.read_text))
            return data
        raise SystemExit(
            f"the demo establishment exists but {demo_file} is gone; start from an empty database"
        )
    est_id = await identity.create_establishment(
        ESTABLISHMENT["code"], ESTABLISHMENT["name"], relay_only=False
    )
    staff = []
    for person in STAFF:
        role = person["role"]
        assert isinstance(role, Role)
        secret = pyotp.random_base32()
        account_id, _ = await identity.create_staff(
            role=role,
            establishment_id=None if role == Role.ADMIN else est_id,
            username=str(person["username"]),
            display_name=str(person["name"]),
            password=str(person["password"]),
            sex=str(person["sex"]),
            totp_secret=secret,
        )
        staff.append(
            {
                "role": role.value,
                "account_id": account_id,
                "username": person["username"],
                "password": person["password"],
                "totp_secret": secret,
            }
        )
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    for wing, names in DEMO_PLACES.items():
        await places.add_wing(system, est_id, wing)
        for name in names:
            await places.add_cell(system, est_id, wing, name)
    officer = next(
        Principal(p["account_id"], Role.OFFICER, est_id, "demo")
        for p in staff
        if p["role"] == Role.OFFICER.value
    )
    prisoners = []
    for who in PRISONERS:
        account_id = await identity.create_prisoner(
            establishment_id=est_id,
            prison_number=str(who["prison_number"]),
            display_name=str(who["name"]),
            pin=str(who["pin"]),
            sex=str(who["sex"]),
            date_of_birth=who["date_of_birth"],
        )
        await seed_person(people, officer, account_id, who)
        enrolment = await identity.devices.start_enrolment(system, est_id, who["cell"])
        device, credential = await identity.devices.complete_enrolment(enrolment.code)
        prisoners.append(
            {
                "account_id": account_id,
                "prison_number": who["prison_number"],
                "name": who["name"],
                "pin": who["pin"],
                "cell": who["cell"],
                "incentive_level": who["level"],
                "device_id": device.id,
                "device_credential": credential,
            }
        )
    data = {
        "establishment": {"id": est_id, **ESTABLISHMENT},
        "staff": staff,
        "prisoners": prisoners,
        "places": {wing: list(names) for wing, names in DEMO_PLACES.items()},
    }
    if access is not None:
        data["access"] = await seed_access(identity, access, est_id, staff, prisoners)
    if scheduling is not None:
        data["scheduling"] = await seed_scheduling(scheduling, est_id, staff, prisoners)
        data["month"] = await seed_month(
            identity,
            scheduling,
            est_id=est_id,
            staff=staff,
            prisoners=prisoners,
            services=data["scheduling"]["services"],
        )
        data["scheduling"]["history"] = data["month"]["counts"]
    if scheduling is not None and access is not None:
        data["operations"] = await seed_operations(
            identity,
            scheduling,
            places,
            est_id=est_id,
            east_id=data["access"]["second_establishment"]["id"],
            staff=staff,
            services=data["scheduling"]["services"],
        )
    if visits is not None:
        data["visits"] = await seed_visits(
            visits, est_id=est_id, staff=staff, prisoners=prisoners, now=visits.clock.now()
        )
    if programmes is not None and access is not None:
        data["programmes"] = await programmes(est_id, staff, prisoners)
    if kiosk is not None and access is not None:
        data["kiosk"] = await seed_kiosk(
            kiosk,
            est_id=est_id,
            staff=staff,
            prisoners=prisoners,
            departments=access.departments,
        )
        staff.append(data["kiosk"]["shop_staff"])
    if campus is not None and access is not None:
        data["campus"] = await seed_campus(
            identity, access, *campus, est_id=est_id, prisoners=prisoners
        )
        data["staff"] = [*data["staff"], *data["campus"]["staff"]]
    await asyncio.to_thread(_write, demo_file, data)
    return data


async def seed_access(
    identity: IdentityService,
    access: Access,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
) -> dict[str, Any]:
    """Departments' members, the keyworker's caseload, and a second establishment
    that the clinician and the keyworker also serve."""
    ids = {person["role"]: person["account_id"] for person in staff}
    system = Principal(SYSTEM_ACTOR, Role.ADMIN, None, "")
    here = Principal(SYSTEM_ACTOR, Role.ADMIN, est_id, "")
    east = await identity.create_establishment(
        SECOND_ESTABLISHMENT["code"], SECOND_ESTABLISHMENT["name"], relay_only=False
    )
    for role in ("clinician", "keyworker"):
        await access.staff.set_served(system, ids[role], [east])
    departments = {d.code: d for d in await access.departments.of_establishment(system, est_id)}
    for code, roles in DEMO_DEPARTMENTS.items():
        await access.departments.set_members(
            system, departments[code].id, [ids[role] for role in roles]
        )
    caseload = await access.caseloads.set_caseload(
        here, ids["keyworker"], [p["account_id"] for p in prisoners]
    )
    return {
        "second_establishment": {"id": east, **SECOND_ESTABLISHMENT},
        "departments": sorted(departments),
        "caseload": [entry.prison_number for entry in caseload],
    }


async def seed_person(
    people: People, officer: Principal, prisoner_id: str, person: dict[str, Any]
) -> None:
    """Reception's work for one demo prisoner: their cell, level and identity photo."""
    await people.locations.move(officer, prisoner_id, person["cell"])
    if person["level"] != "standard":
        await people.incentives.set_level(officer, prisoner_id, person["level"], person["reason"])
    photo = await asyncio.to_thread(demo_photo, str(person["name"]), person["colour"])
    await people.details.record_photo(officer, prisoner_id, photo, "image/png")


def demo_photo(name: str, colour: tuple[int, int, int]) -> bytes:
    """A drawn head-and-shoulders likeness with the person's initials: no real face."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 300), (225, 228, 232))
    draw = ImageDraw.Draw(image)
    draw.ellipse((30, 190, 210, 400), fill=colour)
    draw.ellipse((70, 50, 170, 170), fill=(224, 188, 160), outline=(120, 90, 70), width=3)
    initials = "".join(part[0] for part in name.split()[:2]).upper()
    draw.text((104, 240), initials, fill=(255, 255, 255), font_size=36)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def seed_scheduling(
    scheduling: SchedulingService,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
) -> dict[str, Any]:
    """Services, availability, regime and a consult in minutes (the past month is
    `web.demo_month`).

    The first prisoner's
    consult is booked (and consent given) before the regime windows exist, so it
    starts a few minutes from now whatever the time of day.
    """
    ids = {person["role"]: person["account_id"] for person in staff}
    manager = Principal(ids["manager"], Role.MANAGER, est_id, "demo")
    clinician = Principal(ids["clinician"], Role.CLINICIAN, est_id, "demo")
    officer = Principal(ids["officer"], Role.OFFICER, est_id, "demo")
    patients = [
        Principal(p["account_id"], Role.PRISONER, est_id, "demo", p["device_id"]) for p in prisoners
    ]
    services = {
        code: await scheduling.create_service(
            manager,
            est_id,
            code=code,
            name=name,
            minutes=minutes,
            buffer_minutes=buffer,
            target_days=target,
            sensitive=sensitive,
            escort_if_in_person=escort,
        )
        for code, name, minutes, buffer, target, sensitive, escort in DEMO_SERVICES
    }
    for weekday, code, start, end in DEMO_AVAILABILITY:
        await scheduling.add_availability(
            clinician,
            clinician_id=clinician.account_id,
            service_id=services[code].id,
            weekday_value=weekday,
            start=start,
            end=end,
        )
    for patient in patients:
        await scheduling.record_consent(
            patient,
            prisoner_id=patient.account_id,
            scope_value="telehealth",
            version=1,
            decision="given",
        )

    now = scheduling.now()
    soon = now.replace(second=0, microsecond=0) + timedelta(minutes=5 + (-now.minute) % 5)
    await scheduling.add_exception(
        clinician,
        clinician_id=clinician.account_id,
        establishment_id=est_id,
        kind="extra",
        service_id=services["gp"].id,
        starts_at=soon,
        ends_at=soon + timedelta(hours=1),
    )
    consult = await scheduling.book(
        clinician,
        prisoner_id=patients[0].account_id,
        service_id=services["gp"].id,
        clinician_id=clinician.account_id,
        starts_at=soon,
        reason_text="Medication review",
    )
    for weekday in range(7):
        for label, start, end in DEMO_REGIME:
            await scheduling.add_regime_window(
                officer, est_id, label=label, weekday_value=weekday, start=start, end=end
            )
    return {
        "services": {code: s.id for code, s in services.items()},
        "consult": {"appointment_id": consult.id, "starts_at": consult.starts_at.isoformat()},
    }


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, json.dumps(data, indent=2).encode())


def describe(data: dict[str, Any], url: str) -> str:
    lines = [f"Throughcare demo at {url}", "", f"Establishment: {data['establishment']['name']}"]
    lines.append("Staff (password, then the 6-digit code from the TOTP secret):")
    for person in data["staff"]:
        code = pyotp.TOTP(person["totp_secret"]).now()
        lines.append(
            f"  {person['role']:<16} {person['username']:<16} {person['password']:<22}"
            f" TOTP secret {person['totp_secret']} (now {code})"
        )
    if data.get("places"):
        wings = ", ".join(f"{w} ({len(c)} cells)" for w, c in data["places"].items())
        lines.append(f"Wings: {wings}")
    if "access" in data:
        second = data["access"]["second_establishment"]["name"]
        lines.append(
            f"The clinician and the keyworker also serve {second} (choose it on the desk)."
        )
        lines.append(f"Departments: {', '.join(data['access']['departments'])}")
        lines.append(f"Keyworker's caseload: {', '.join(data['access']['caseload'])}")
    lines.append("Prisoners (sign in on their enrolled device):")
    for person in data["prisoners"]:
        lines.append(
            f"  {person['prison_number']}  PIN {person['pin']}  cell {person['cell']}"
            f"  {person.get('incentive_level', 'standard')}"
            f"  device credential {person['device_credential']}"
        )
    if "scheduling" in data:
        consult = data["scheduling"]["consult"]
        lines.append(
            f"First prisoner's video consult (consent given) starts at {consult['starts_at']}"
        )
    if "month" in data:
        lines.extend(describe_month(data["month"]))
    if "operations" in data:
        lines.extend(describe_operations(data["operations"]))
    if "visits" in data:
        lines.extend(describe_visits(data["visits"]))
    if "programmes" in data:
        lines.append(
            f"Programmes: {len(data['programmes']['programmes'])}; prisoner "
            f"{data['programmes']['enrolled']} is on one with three checks of AUDIT and PHQ-9"
        )
    if "kiosk" in data:
        lines.extend(describe_kiosk(data["kiosk"]))
    return "\n".join(lines)
