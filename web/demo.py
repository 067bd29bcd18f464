"""Demo data for a new user: one establishment and one of everyone.

Running it twice changes nothing: the sign-in details from the first run are
kept (owner-only) in `var/demo.json` and printed again.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pyotp

from core.identity import IdentityService, Principal, Role
from core.identity.service import SYSTEM_ACTOR
from core.keys import write_secret_file

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
]
PRISONERS = [
    {
        "prison_number": "A1234BC",
        "name": "Alex Example",
        "pin": "1234",
        "sex": "M",
        "cell": "A1-01",
    },
    {"prison_number": "B2345CD", "name": "Sam Sample", "pin": "2345", "sex": "F", "cell": "A1-02"},
]


async def seed(identity: IdentityService, demo_file: Path) -> dict[str, Any]:
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
    prisoners = []
    for person in PRISONERS:
        account_id = await identity.create_prisoner(
            establishment_id=est_id,
            prison_number=person["prison_number"],
            display_name=person["name"],
            pin=person["pin"],
            sex=person["sex"],
        )
        enrolment = await identity.start_enrolment(system, est_id, person["cell"])
        device, credential = await identity.complete_enrolment(enrolment.code)
        prisoners.append(
            {
                "account_id": account_id,
                "prison_number": person["prison_number"],
                "name": person["name"],
                "pin": person["pin"],
                "cell": person["cell"],
                "device_id": device.id,
                "device_credential": credential,
            }
        )
    data = {
        "establishment": {"id": est_id, **ESTABLISHMENT},
        "staff": staff,
        "prisoners": prisoners,
    }
    await asyncio.to_thread(_write, demo_file, data)
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_secret_file(path, json.dumps(data, indent=2).encode())


def describe(data: dict[str, Any], url: str) -> str:
    lines = [f"Throughcare demo at {url}", "", f"Establishment: {data['establishment']['name']}"]
    lines.append("Staff (password, then the 6-digit code from the TOTP secret):")
    for person in data["staff"]:
        code = pyotp.TOTP(person["totp_secret"]).now()
        lines.append(
            f"  {person['role']:<10} {person['username']:<14} {person['password']:<22}"
            f" TOTP secret {person['totp_secret']} (now {code})"
        )
    lines.append("Prisoners (sign in on their enrolled device):")
    for person in data["prisoners"]:
        lines.append(
            f"  {person['prison_number']}  PIN {person['pin']}  cell {person['cell']}"
            f"  device credential {person['device_credential']}"
        )
    return "\n".join(lines)
