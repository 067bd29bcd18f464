"""A small, known population for tests: who exists and how they sign in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyotp
from aiohttp import web

from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR
from web.state import CLOCK, IDENTITY, PLACES

PASSWORD = "correct horse battery"


@dataclass
class Staff:
    account_id: str
    username: str
    totp_secret: str
    role: Role
    establishment_id: str | None

    def code(self, app: web.Application) -> str:
        return str(pyotp.TOTP(self.totp_secret).at(app[CLOCK].now()))


@dataclass
class Prisoner:
    account_id: str
    prison_number: str
    pin: str
    establishment_id: str
    device_id: str
    device_credential: str


@dataclass
class World:
    est: str
    other_est: str
    staff: dict[str, Staff] = field(default_factory=dict)
    prisoners: list[Prisoner] = field(default_factory=list)
    other_prisoner: Prisoner | None = None
    other_device_credential: str = ""


SYSTEM = Principal(account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id="")


async def place(app: web.Application, establishment_id: str, cell: str) -> str:
    """The establishment's cell of that name, added (on the wing its leading letters name,
    "W0-01" on W) if it is not there: enrolment now needs a cell that exists."""
    places = app[PLACES]
    found = [c for c in await places.cells(establishment_id) if c.name == cell]
    if found:
        return found[0].id
    wing = "".join(ch for ch in cell.split("-")[0] if ch.isalpha()).upper() or "X"
    if wing not in [w.name for w in await places.wings(establishment_id)]:
        await places.add_wing(SYSTEM, establishment_id, wing)
    return (await places.add_cell(SYSTEM, establishment_id, wing, cell)).id


async def build_world(app: web.Application) -> World:
    identity = app[IDENTITY]
    est = await identity.create_establishment("HMP-ONE", "HMP One")
    other = await identity.create_establishment("HMP-TWO", "HMP Two")
    world = World(est=est, other_est=other)
    for role in (Role.CLINICIAN, Role.MANAGER, Role.OFFICER, Role.ADMIN):
        username = f"{role.value}.one"
        account_id, secret = await identity.create_staff(
            role=role,
            establishment_id=None if role == Role.ADMIN else est,
            username=username,
            display_name=f"{role.value.title()} One",
            password=PASSWORD,
            sex="F",
        )
        world.staff[role.value] = Staff(account_id, username, secret, role, est)
    officer2, secret2 = await identity.create_staff(
        role=Role.OFFICER,
        establishment_id=other,
        username="officer.two",
        display_name="Officer Two",
        password=PASSWORD,
    )
    world.staff["officer2"] = Staff(officer2, "officer.two", secret2, Role.OFFICER, other)
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    for number, pin, where in (
        ("A1234BC", "1234", est),
        ("B2345CD", "2345", est),
        ("C3456DE", "3456", other),
    ):
        account_id = await identity.create_prisoner(
            establishment_id=where, prison_number=number, display_name=f"Prisoner {number}", pin=pin
        )
        cell = f"W{len(world.prisoners)}-0{pin[0]}"
        await place(app, where, cell)
        enrolment = await identity.devices.start_enrolment(system, where, cell)
        device, credential = await identity.devices.complete_enrolment(enrolment.code)
        prisoner = Prisoner(account_id, number, pin, where, device.id, credential)
        if where == est:
            world.prisoners.append(prisoner)
        else:
            world.other_prisoner = prisoner
            world.other_device_credential = credential
    return world


async def sign_in_staff(client: Any, staff: Staff, **extra: Any) -> dict[str, Any]:
    app = client.server.app
    resp = await client.post(
        "/api/auth/staff",
        json={"username": staff.username, "password": PASSWORD, "totp": staff.code(app), **extra},
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def new_staff(
    app: web.Application, role: Role, username: str, establishment_id: str | None
) -> Staff:
    """A member of staff of any role, with the tests' password, as an admin would create them."""
    account_id, secret = await app[IDENTITY].create_staff(
        role=role,
        establishment_id=establishment_id,
        username=username,
        display_name=username,
        password=PASSWORD,
    )
    return Staff(account_id, username, secret, role, establishment_id)


async def signed_in_staff(
    client: Any, role: Role, username: str, establishment_id: str | None
) -> tuple[Staff, dict[str, Any]]:
    """`new_staff`, signed in: the staff member and their tokens."""
    staff = await new_staff(client.server.app, role, username, establishment_id)
    return staff, await sign_in_staff(client, staff)


async def sign_in_prisoner(client: Any, prisoner: Prisoner, **extra: Any) -> dict[str, Any]:
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": prisoner.prison_number,
            "pin": prisoner.pin,
            "device_credential": prisoner.device_credential,
            **extra,
        },
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


COMMUNITY_PASSWORD = "a long walk by the sea"


async def community_account(
    client: Any, prisoner: Prisoner, officer: dict[str, Any], email: str
) -> tuple[dict[str, Any], str]:
    """An officer (their tokens) releases the prisoner, who claims their community account
    with the letter's code as they would at home: their tokens and their app's TOTP secret."""
    app = client.server.app
    resp = await client.post(
        f"/api/prisoners/{prisoner.account_id}/release", headers=bearer(officer)
    )
    assert resp.status == 200, await resp.text()
    code = (await resp.json())["handout"]["community"]["code"]
    resp = await client.post("/api/community/claim/start", json={"code": code})
    assert resp.status == 200, await resp.text()
    secret = (await resp.json())["totp_secret"]
    resp = await client.post(
        "/api/community/claim",
        json={
            "code": code,
            "email": email,
            "password": COMMUNITY_PASSWORD,
            "totp": pyotp.TOTP(secret).at(app[CLOCK].now()),
        },
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body, secret
