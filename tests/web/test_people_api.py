"""Places and people over HTTP: officers keep wings and cells, move devices and prisoners,
set incentive levels and record identity details; clinicians see the details for the check;
every bad input gets a clear answer and changes nothing."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

from PIL import Image
from sqlalchemy import select

from audit.tables import audit_events
from core.events import Action
from core.identity import Role
from tests.media.consults import book_consult
from tests.people_photos import (
    gif,
    jpeg,
    jpeg_with_comment,
    png,
    png_with_text,
    zip_file,
)
from tests.world import PASSWORD, Staff, World, bearer, sign_in_prisoner, sign_in_staff
from web.state import AUDIT, DATABASE, IDENTITY, SCHEDULING


async def _problem(resp: Any, status: int, code: str, detail: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = await resp.json()
    assert (resp.status, body["code"]) == (status, code), body
    if detail is not None:
        assert body["detail"] == detail
    return body


async def _actions(client: Any, subject: str) -> list[str]:
    """The audit actions written about a subject, from the real log's table."""
    async with client.server.app[DATABASE].connect() as conn:
        rows = await conn.execute(
            select(audit_events.c.action)
            .where(audit_events.c.subject == subject)
            .order_by(audit_events.c.seq)
        )
        return [r.action for r in rows]


async def _places(client: Any, tokens: dict[str, Any], est: str | None = None) -> dict[str, Any]:
    path = "/api/places" + (f"?establishment_id={est}" if est else "")
    resp = await client.get(path, headers=bearer(tokens))
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


def _cells(places: dict[str, Any]) -> dict[str, list[str]]:
    return {w["name"]: [c["name"] for c in w["cells"]] for w in places["wings"]}


async def test_officers_keep_wings_and_cells_of_their_own_establishment(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    other = await sign_in_staff(client, world.staff["officer2"])
    resp = await client.post("/api/wings", json={"name": "C"}, headers=bearer(officer))
    assert resp.status == 201
    resp = await client.post(
        "/api/cells", json={"wing": "C", "name": "C1-01"}, headers=bearer(officer)
    )
    assert resp.status == 201
    assert (await resp.json())["wing"] == "C"
    theirs = await (
        await client.post("/api/wings", json={"name": "Z"}, headers=bearer(other))
    ).json()
    before = await _places(client, officer)
    assert before["wings"][0]["cells"][0] == {
        **before["wings"][0]["cells"][0],
        "name": "C1-01",
        "prisoners": 0,
        "devices": 0,
    }

    # A cell on another establishment's wing, by its id or its name.
    for wing in (theirs["id"], "Z"):
        resp = await client.post(
            "/api/cells", json={"wing": wing, "name": "Z1-01"}, headers=bearer(officer)
        )
        await _problem(resp, 404, "not_found", "No such wing in this establishment.")
    refusals = [
        ({"wing": "C", "name": "C1-01"}, 409, "conflict"),
        ({"wing": "C", "name": "<b>"}, 400, "invalid_request"),
        ({"wing": "C"}, 400, "invalid_request"),
        ({"name": "C1-02"}, 400, "invalid_request"),
        ({"wing": "C", "name": "C1-02", "establishment_id": world.other_est}, 403, "forbidden"),
    ]
    for body, status, code in refusals:
        resp = await client.post("/api/cells", json=body, headers=bearer(officer))
        await _problem(resp, status, code)
    resp = await client.post("/api/wings", json={"name": "C"}, headers=bearer(officer))
    await _problem(resp, 409, "conflict", "That wing exists already.")
    assert await _places(client, officer) == before
    assert _cells(await _places(client, other)) == {"W": ["W2-03"], "Z": []}

    for who in ("clinician", "manager"):
        tokens = await sign_in_staff(client, world.staff[who])
        resp = await client.post("/api/wings", json={"name": "Q"}, headers=bearer(tokens))
        await _problem(resp, 403, "forbidden")
        resp = await client.get("/api/places", headers=bearer(tokens))
        await _problem(resp, 403, "forbidden")
    prisoner = await sign_in_prisoner(client, world.prisoners[0])
    resp = await client.get("/api/places", headers=bearer(prisoner))
    await _problem(resp, 403, "forbidden")
    # An admin keeps any establishment's, naming it.
    admin = await sign_in_staff(client, world.staff["admin"])
    resp = await client.post(
        "/api/wings", json={"name": "Y", "establishment_id": world.other_est}, headers=bearer(admin)
    )
    assert resp.status == 201
    assert "Y" in _cells(await _places(client, admin, world.other_est))


async def test_enrolling_to_a_cell_the_establishment_does_not_list_changes_nothing(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    before = await (await client.get("/api/devices", headers=bearer(officer))).json()
    for cell in ("Q9-99", "W2-03"):  # unknown here; and another establishment's cell
        resp = await client.post("/api/devices", json={"cell": cell}, headers=bearer(officer))
        await _problem(resp, 404, "not_found", "No such cell in this establishment.")
    after = await (await client.get("/api/devices", headers=bearer(officer))).json()
    assert after == before
    assert [(d["cell"], d["wing"], d["enrolled"]) for d in after] == [
        ("W0-01", "W", True),
        ("W1-02", "W", True),
    ]


async def test_moving_a_device_enrols_it_again_in_its_new_cell(client: Any, world: World) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    device = world.prisoners[0]
    resp = await client.post(
        f"/api/devices/{device.device_id}/move", json={"cell": "W1-02"}, headers=bearer(officer)
    )
    assert resp.status == 201
    moved = await resp.json()
    assert (moved["device_id"], moved["cell"], moved["wing"]) == (device.device_id, "W1-02", "W")
    # The old credential is dead: the prisoner cannot sign in on it until it is enrolled again.
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": device.prison_number,
            "pin": device.pin,
            "device_credential": device.device_credential,
        },
    )
    await _problem(resp, 401, "device_not_enrolled")
    listed = await (await client.get("/api/devices", headers=bearer(officer))).json()
    assert {d["device_id"]: d["enrolled"] for d in listed}[device.device_id] is False
    resp = await client.post("/api/devices/enrol", json={"code": moved["enrolment_code"]})
    assert (await resp.json())["cell"] == "W1-02"
    # Another establishment's device answers as missing; a wrong cell is refused.
    other = await sign_in_staff(client, world.staff["officer2"])
    resp = await client.post(
        f"/api/devices/{device.device_id}/move", json={"cell": "W2-03"}, headers=bearer(other)
    )
    await _problem(resp, 404, "not_found")
    resp = await client.post(
        f"/api/devices/{device.device_id}/move", json={"cell": "W1-02"}, headers=bearer(officer)
    )
    await _problem(resp, 409, "conflict", "The device is in that cell already.")


async def test_officers_move_prisoners_between_cells_with_history_and_audit(
    client: Any, world: World, clock: Any
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    other = await sign_in_staff(client, world.staff["officer2"])
    prisoner = world.prisoners[0].account_id
    for cell in ("W0-01", "W1-02"):
        clock.advance(minutes=5)
        resp = await client.post(
            f"/api/prisoners/{prisoner}/cell", json={"cell": cell}, headers=bearer(officer)
        )
        assert resp.status == 200
        assert (await resp.json())["cell"] == cell
    resp = await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(officer))
    where = await resp.json()
    assert (where["cell"], where["wing"]) == ("W1-02", "W")
    assert [(m["kind"], m["from_cell"], m["to_cell"]) for m in where["history"]] == [
        ("move", "W0-01", "W1-02"),
        ("move", None, "W0-01"),
    ]
    assert (await _actions(client, prisoner)).count(Action.PRISONER_MOVED) == 2
    roll = await (await client.get("/api/prisoners", headers=bearer(officer))).json()
    assert {r["prison_number"]: r["cell"] for r in roll} == {"A1234BC": "W1-02", "B2345CD": None}

    # Into a cell of another establishment, without a transfer: refused, nothing changes.
    others = await _places(client, other)
    their_cell = others["wings"][0]["cells"][0]["id"]
    resp = await client.post(
        f"/api/prisoners/{prisoner}/cell", json={"cell": their_cell}, headers=bearer(officer)
    )
    await _problem(
        resp,
        409,
        "conflict",
        "That cell is in another establishment: transfer the prisoner instead.",
    )
    for body, status in (({"cell": "Q1"}, 404), ({"cell": "W1-02"}, 409), ({}, 400)):
        resp = await client.post(
            f"/api/prisoners/{prisoner}/cell", json=body, headers=bearer(officer)
        )
        assert resp.status == status
    after = await (
        await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(officer))
    ).json()
    assert after == where
    # An officer of another establishment, and a clinician, cannot move them.
    resp = await client.post(
        f"/api/prisoners/{prisoner}/cell",
        json={"cell": "W2-03"},
        headers=bearer(other),
    )
    await _problem(resp, 404, "not_found")
    resp = await client.post(
        f"/api/prisoners/{prisoner}/cell",
        json={"cell": "W0-01"},
        headers=bearer(await sign_in_staff(client, world.staff["clinician"])),
    )
    await _problem(resp, 403, "forbidden")


async def test_a_transfer_moves_the_prisoner_into_a_cell_of_the_new_establishment(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    admin = await sign_in_staff(client, world.staff["admin"])
    prisoner = world.prisoners[1].account_id
    await client.post(
        f"/api/prisoners/{prisoner}/cell", json={"cell": "W1-02"}, headers=bearer(officer)
    )
    # A cell of the establishment they are leaving is not where they are going.
    resp = await client.post(
        f"/api/prisoners/{prisoner}/transfer",
        json={"to_establishment_id": world.other_est, "to_cell": "W1-02"},
        headers=bearer(officer),
    )
    await _problem(resp, 404, "not_found", "No such cell in this establishment.")
    cells = await _places(client, officer)
    mine = cells["wings"][0]["cells"][0]["id"]
    resp = await client.post(
        f"/api/prisoners/{prisoner}/transfer",
        json={"to_establishment_id": world.other_est, "to_cell": mine},
        headers=bearer(officer),
    )
    await _problem(
        resp,
        409,
        "conflict",
        "That cell is in another establishment: transfer the prisoner instead.",
    )
    still = await (
        await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(officer))
    ).json()
    assert (still["establishment_id"], still["cell"]) == (world.est, "W1-02")

    # Where an officer may send a prisoner: every establishment but their own.
    where = await (await client.get("/api/transfer-destinations", headers=bearer(officer))).json()
    assert world.other_est in {e["id"] for e in where} and world.est not in {e["id"] for e in where}
    resp = await client.post(
        f"/api/prisoners/{prisoner}/transfer",
        json={"to_establishment_id": world.est},
        headers=bearer(officer),
    )
    assert (await _problem(resp, 400, "invalid_request", "The prisoner is already there."))[
        "reason"
    ] == "already_there"
    resp = await client.post(
        f"/api/prisoners/{prisoner}/transfer",
        json={"to_establishment_id": world.other_est, "to_cell": "W2-03"},
        headers=bearer(officer),
    )
    assert resp.status == 200
    # What the prisoner's letter is made of: their language and each appointment's fate.
    moved = await resp.json()
    assert {k: v for k, v in moved.items() if k != "steps"} == {
        "moved": 0,
        "reoffered": 0,
        "locale": "en",
        "appointments": [],
    }
    # What each module's transfer step did (issue 16: the money moves with the prisoner).
    assert "kiosk_money" in moved["steps"]
    assert set(moved["steps"]) <= set(client.server.app[SCHEDULING].transfer_steps.names)
    there = await (
        await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(admin))
    ).json()
    assert (there["establishment_id"], there["cell"]) == (world.other_est, "W2-03")
    assert [(m["kind"], m["from_cell"], m["to_cell"]) for m in there["history"]][0] == (
        "transfer",
        "W1-02",
        "W2-03",
    )
    # Their old establishment's officers no longer see them; the new one's do.
    resp = await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(officer))
    await _problem(resp, 404, "not_found")
    other = await sign_in_staff(client, world.staff["officer2"])
    roll = await (await client.get("/api/prisoners", headers=bearer(other))).json()
    assert {r["prison_number"]: r["cell"] for r in roll}["B2345CD"] == "W2-03"
    # Released: out of any cell.
    resp = await client.post(f"/api/prisoners/{prisoner}/release", headers=bearer(other))
    released = await resp.json()
    assert {k: v for k, v in released.items() if k not in ("steps", "handout")} == {
        "closed": 0,
        "locale": "en",
        "appointments": [],
    }
    assert "kiosk_money" in released["steps"]
    assert set(released["steps"]) <= set(client.server.app[SCHEDULING].release_steps.names)
    again = await client.post(f"/api/prisoners/{prisoner}/release", headers=bearer(other))
    refused = await _problem(again, 409, "conflict", "This prisoner has already been released.")
    assert refused["reason"] == "already_released"
    gone = await (
        await client.get(f"/api/prisoners/{prisoner}/cells", headers=bearer(admin))
    ).json()
    assert gone["cell"] is None and gone["history"][0]["kind"] == "release"


async def test_incentive_levels_need_a_reason_and_the_prisoner_reads_theirs(
    client: Any, world: World, clock: Any
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    first, second = world.prisoners
    path = f"/api/prisoners/{first.account_id}/incentive"
    refusals = [
        ({"level": "enhanced"}, 400, "Give a reason for the change (1 to 500 characters)."),
        ({"level": "enhanced", "reason": "   "}, 400, None),
        ({"level": "enhanced", "reason": "x" * 501}, 400, None),
        ({"level": "gold", "reason": "why"}, 400, "The level is one of basic, standard, enhanced."),
        ({"level": "standard", "reason": "why"}, 409, "The prisoner is on that level already."),
    ]
    for body, status, detail in refusals:
        resp = await client.post(path, json=body, headers=bearer(officer))
        assert resp.status == status
        if detail:
            assert (await resp.json())["detail"] == detail
    assert await (await client.get(path, headers=bearer(officer))).json() == {
        "level": "standard",
        "since": None,
        "history": [],
    }
    clock.advance(minutes=1)
    resp = await client.post(
        path, json={"level": "enhanced", "reason": "Helps on the wing"}, headers=bearer(officer)
    )
    assert resp.status == 200
    clock.advance(minutes=1)
    resp = await client.post(
        path, json={"level": "basic", "reason": "Fight at association"}, headers=bearer(officer)
    )
    shown = await resp.json()
    assert shown["level"] == "basic"
    assert [(h["from_level"], h["level"], h["reason"]) for h in shown["history"]] == [
        ("enhanced", "basic", "Fight at association"),
        ("standard", "enhanced", "Helps on the wing"),
    ]
    assert (await _actions(client, first.account_id)).count(Action.INCENTIVE_CHANGED) == 2

    mine = await sign_in_prisoner(client, first)
    assert (await (await client.get("/api/me/incentive", headers=bearer(mine))).json()) == shown
    assert (await (await client.get(path, headers=bearer(mine))).json()) == shown
    # Another prisoner cannot read it, nor set their own.
    theirs = await sign_in_prisoner(client, second)
    await _problem(await client.get(path, headers=bearer(theirs)), 404, "not_found")
    resp = await client.post(
        f"/api/prisoners/{second.account_id}/incentive",
        json={"level": "enhanced", "reason": "me"},
        headers=bearer(theirs),
    )
    await _problem(resp, 403, "forbidden")
    # Nor a clinician; nor an officer of another establishment.
    clinician = await sign_in_staff(client, world.staff["clinician"])
    await _problem(await client.get(path, headers=bearer(clinician)), 403, "forbidden")
    other = await sign_in_staff(client, world.staff["officer2"])
    await _problem(await client.get(path, headers=bearer(other)), 404, "not_found")


async def _second_clinician(client: Any, world: World) -> Staff:
    identity = client.server.app[IDENTITY]
    account_id, secret = await identity.create_staff(
        role=Role.CLINICIAN,
        establishment_id=world.est,
        username="clinician.two",
        display_name="Clinician Two",
        password=PASSWORD,
    )
    return Staff(account_id, "clinician.two", secret, Role.CLINICIAN, world.est)


async def _upload(
    client: Any, tokens: dict[str, Any], prisoner: str, body: bytes, kind: str
) -> Any:
    return await client.put(
        f"/api/prisoners/{prisoner}/photo",
        data=io.BytesIO(body),
        headers={**bearer(tokens), "Content-Type": kind},
    )


async def test_photos_that_are_not_only_a_photo_are_refused_and_nothing_is_stored(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    prisoner = world.prisoners[0].account_id
    not_an_image = "A photo is a JPEG or PNG image."
    polyglot = "This file holds more than a photo. Save the photo again as a plain JPEG or PNG."
    cases = [
        (b"hello, not a photo", "image/jpeg", 415, not_an_image),
        (png(), "image/jpeg", 415, not_an_image),
        (gif(), "image/gif", 415, not_an_image),
        (jpeg(), "application/json", 415, None),
        (jpeg()[:-200], "image/jpeg", 400, polyglot),
        (jpeg() + zip_file(), "image/jpeg", 400, polyglot),
        (jpeg_with_comment(b"%PDF-1.4 1 0 obj << >> endobj"), "image/jpeg", 400, polyglot),
        (png_with_text(b"<script>alert(1)</script>"), "image/png", 400, polyglot),
        (png() + b"<?php system($_GET['c']); ?>", "image/png", 400, polyglot),
        (jpeg(40, 40), "image/jpeg", 400, "A photo is at least 64 pixels on each side."),
        (
            b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024),
            "image/jpeg",
            413,
            "A photo is at most 5 MB.",
        ),
    ]
    for body, kind, status, detail in cases:
        resp = await _upload(client, officer, prisoner, body, kind)
        assert resp.status == status, (kind, status, await resp.text())
        if detail is not None:
            assert (await resp.json())["detail"] == detail

    async def chunked() -> Any:
        """No Content-Length: the server counts as it reads, and stops past the limit."""
        yield b"\xff\xd8\xff"
        for _ in range(6 * 16):
            yield b"\x00" * 65536

    resp = await client.put(
        f"/api/prisoners/{prisoner}/photo",
        data=chunked(),
        headers={**bearer(officer), "Content-Type": "image/jpeg"},
    )
    await _problem(resp, 413, "body_too_large", "A photo is at most 5 MB.")
    roll = await (await client.get("/api/prisoners", headers=bearer(officer))).json()
    assert not any(r["has_photo"] for r in roll)
    assert Action.IDENTITY_RECORDED not in await _actions(client, prisoner)
    # Only officers (reception) and admins upload.
    for who in ("clinician", "manager"):
        tokens = await sign_in_staff(client, world.staff[who])
        resp = await _upload(client, tokens, prisoner, jpeg(), "image/jpeg")
        await _problem(resp, 403, "forbidden")
    other = await sign_in_staff(client, world.staff["officer2"])
    await _problem(await _upload(client, other, prisoner, jpeg(), "image/jpeg"), 404, "not_found")


async def test_clinician_of_the_consult_sees_date_of_birth_and_a_clean_photo_others_do_not(
    client: Any, world: World, clock: Any
) -> None:
    app = client.server.app
    booked = await book_consult(app[SCHEDULING], world, starts_at=clock.now() + timedelta(hours=2))
    prisoner = booked.prisoner.account_id
    officer = await sign_in_staff(client, world.staff["officer"])
    for bad in ("1990-02-30", "31/01/1990", "1899-12-31", 19900101, None):
        resp = await client.put(
            f"/api/prisoners/{prisoner}/date-of-birth",
            json={"date_of_birth": bad},
            headers=bearer(officer),
        )
        await _problem(
            resp, 400, "invalid_request", "A date of birth is a past date written YYYY-MM-DD."
        )
    resp = await client.put(
        f"/api/prisoners/{prisoner}/date-of-birth",
        json={"date_of_birth": "2999-01-01"},
        headers=bearer(officer),
    )
    await _problem(
        resp, 400, "invalid_request", "A date of birth is in the past, not today or later."
    )
    resp = await client.put(
        f"/api/prisoners/{prisoner}/date-of-birth",
        json={"date_of_birth": "1990-01-31"},
        headers=bearer(officer),
    )
    assert resp.status == 204
    upload = jpeg(1200, 1600, exif_gps=True)
    assert b"SpyCam" in upload
    assert (await _upload(client, officer, prisoner, upload, "image/jpeg")).status == 204
    roll = await (await client.get("/api/prisoners", headers=bearer(officer))).json()
    entry = {r["prisoner_id"]: r for r in roll}[prisoner]
    assert (entry["has_date_of_birth"], entry["has_photo"]) == (True, True)
    # Nothing of either is in the row in clear.
    raw = await app[IDENTITY].account(prisoner)
    assert raw is not None

    patient = f"/api/appointments/{booked.appointment}/patient"
    clinician = await sign_in_staff(client, world.staff["clinician"])
    shown = await (await client.get(patient, headers=bearer(clinician))).json()
    assert (shown["identity_details"], shown["date_of_birth"], shown["photo"]) == (
        "shown",
        "1990-01-31",
        True,
    )
    resp = await client.get(patient + "/photo", headers=bearer(clinician))
    assert (resp.status, resp.content_type) == (200, "image/jpeg")
    photo = await resp.read()
    assert b"SpyCam" not in photo and b"where-it-was-taken" not in photo
    with Image.open(io.BytesIO(photo)) as image:
        assert image.format == "JPEG"
        assert max(image.size) == 600
        assert dict(image.getexif()) == {}

    # Not the officer who uploaded it, another clinician, the prisoner, or an admin.
    second = await sign_in_staff(client, await _second_clinician(client, world))
    admin = await sign_in_staff(client, world.staff["admin"])
    for tokens in (officer, second, await sign_in_prisoner(client, booked.prisoner), admin):
        resp = await client.get(patient + "/photo", headers=bearer(tokens))
        await _problem(resp, 403, "forbidden")
    withheld = await (await client.get(patient, headers=bearer(admin))).json()
    assert (withheld["identity_details"], withheld["date_of_birth"], withheld["photo"]) == (
        "withheld",
        None,
        False,
    )
    # A healthcare manager of the establishment sees them, and the look is logged.
    manager = await sign_in_staff(client, world.staff["manager"])
    before = (await _actions(client, prisoner)).count(Action.CLINICAL_VIEWED)
    resp = await client.get(patient + "/photo", headers=bearer(manager))
    assert resp.status == 200
    assert (await _actions(client, prisoner)).count(Action.CLINICAL_VIEWED) == before + 1

    # Whom to bring where: the officer's list names the cell the prisoner was moved to, not
    # the cell of the device they signed in on (W0-01).
    resp = await client.post(
        f"/api/prisoners/{prisoner}/cell", json={"cell": "W1-02"}, headers=bearer(officer)
    )
    assert resp.status == 200
    listed = await (await client.get("/api/appointments", headers=bearer(officer))).json()
    assert {a["id"]: a["cell"] for a in listed}[booked.appointment] == "W1-02"

    # Shredding the prisoner (end of retention) leaves neither readable.
    await app[AUDIT].shred(prisoner, "test")
    shredded = await (await client.get(patient, headers=bearer(clinician))).json()
    assert (shredded["date_of_birth"], shredded["photo"]) == (None, True)
    resp = await client.get(patient + "/photo", headers=bearer(clinician))
    await _problem(resp, 404, "not_found")


def _cell_ids(places: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["id"] for w in places["wings"] for c in w["cells"]}


async def test_wings_and_cells_are_renamed_and_removed_only_when_nothing_is_in_them(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    h = bearer(officer)
    wing = await (await client.post("/api/wings", json={"name": "R"}, headers=h)).json()
    for name in ("R1-01", "R1-02"):
        resp = await client.post("/api/cells", json={"wing": "R", "name": name}, headers=h)
        assert resp.status == 201
    ids = _cell_ids(await _places(client, officer))

    resp = await client.put(f"/api/cells/{ids['R1-01']}/name", json={"name": "R1-11"}, headers=h)
    assert resp.status == 200
    assert (await resp.json())["name"] == "R1-11"
    resp = await client.put(f"/api/wings/{wing['id']}/name", json={"name": "S"}, headers=h)
    assert (resp.status, (await resp.json())["name"]) == (200, "S")
    assert _cells(await _places(client, officer))["S"] == ["R1-02", "R1-11"]
    assert await _actions(client, ids["R1-01"]) == ["cell_added", "cell_renamed"]
    assert await _actions(client, wing["id"]) == ["wing_added", "wing_renamed"]

    # A prisoner in R1-02, a device in W0-01: both cells stay, as does the wing with cells.
    prisoner = world.prisoners[0].account_id
    resp = await client.post(f"/api/prisoners/{prisoner}/cell", json={"cell": "R1-02"}, headers=h)
    assert resp.status == 200
    theirs = _cell_ids(await _places(client, await sign_in_staff(client, world.staff["officer2"])))
    before = await _places(client, officer)
    refusals = [
        ("DELETE", f"/api/cells/{ids['R1-02']}", None, 409, "cell_occupied"),
        ("DELETE", f"/api/cells/{_cell_ids(before)['W0-01']}", None, 409, "cell_has_device"),
        ("DELETE", f"/api/wings/{wing['id']}", None, 409, "wing_has_cells"),
        ("PUT", f"/api/cells/{ids['R1-02']}/name", {"name": "R1-11"}, 409, "cell_exists"),
        ("PUT", f"/api/cells/{ids['R1-02']}/name", {"name": "R1-02"}, 409, "same_name"),
        ("PUT", f"/api/cells/{ids['R1-02']}/name", {"name": "<b>"}, 400, "bad_cell_name"),
        ("PUT", f"/api/wings/{wing['id']}/name", {"name": "W"}, 409, "wing_exists"),
        ("PUT", f"/api/wings/{wing['id']}/name", {}, 400, "bad_wing_name"),
        # Another establishment's cell answers as a missing one.
        ("PUT", f"/api/cells/{theirs['W2-03']}/name", {"name": "X1"}, 404, "unknown_cell"),
        ("DELETE", f"/api/cells/{theirs['W2-03']}", None, 404, "unknown_cell"),
        ("DELETE", "/api/wings/nope", None, 404, "unknown_wing"),
    ]
    for method, path, body, status, reason in refusals:
        resp = await client.request(method, path, json=body, headers=h)
        problem = await resp.json()
        assert (resp.status, problem.get("reason")) == (status, reason), (path, problem)
    occupied = await client.delete(f"/api/cells/{ids['R1-02']}", headers=h)
    assert (await occupied.json())["detail"] == "A prisoner is in that cell: move them first."
    assert await _places(client, officer) == before

    # Moved out, R1-02 is empty, but the prisoner's history names it: it stays.
    resp = await client.post(f"/api/prisoners/{prisoner}/cell", json={"cell": "W0-01"}, headers=h)
    assert resp.status == 200
    resp = await client.delete(f"/api/cells/{ids['R1-02']}", headers=h)
    await _problem(
        resp, 409, "conflict", "Past records name that cell, so it stays; it can be renamed."
    )
    # An empty cell no record names goes; then a wing with no cells.
    resp = await client.delete(f"/api/cells/{ids['R1-01']}", headers=h)
    assert resp.status == 204
    empty = await (await client.post("/api/wings", json={"name": "T"}, headers=h)).json()
    resp = await client.delete(f"/api/wings/{empty['id']}", headers=h)
    assert resp.status == 204
    after = _cells(await _places(client, officer))
    assert after["S"] == ["R1-02"] and "T" not in after
    assert await _actions(client, ids["R1-01"]) == ["cell_added", "cell_renamed", "cell_removed"]
    assert await _actions(client, empty["id"]) == ["wing_added", "wing_removed"]

    for who in ("clinician", "manager"):
        tokens = await sign_in_staff(client, world.staff[who])
        resp = await client.delete(f"/api/wings/{wing['id']}", headers=bearer(tokens))
        await _problem(resp, 403, "forbidden")
    resp = await client.delete(
        f"/api/cells/{ids['R1-02']}?establishment_id={world.other_est}", headers=h
    )
    await _problem(resp, 403, "forbidden")
    # An admin renames another establishment's cell, naming the establishment.
    admin = await sign_in_staff(client, world.staff["admin"])
    resp = await client.put(
        f"/api/cells/{theirs['W2-03']}/name",
        json={"name": "W2-33", "establishment_id": world.other_est},
        headers=bearer(admin),
    )
    assert resp.status == 200


async def test_reception_creates_a_prisoner_once_with_a_sealed_birth_date_in_a_cell(
    client: Any, world: World
) -> None:
    officer = await sign_in_staff(client, world.staff["officer"])
    h = bearer(officer)

    async def roll() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await (await client.get("/api/prisoners", headers=h)).json()
        return found

    new = {
        "prison_number": "e7654fg",
        "name": "Evan Newman",
        "pin": "2468",
        "date_of_birth": "1991-03-04",
        "cell": "W1-02",
    }
    before = await roll()
    theirs = _cell_ids(await _places(client, await sign_in_staff(client, world.staff["officer2"])))
    refusals = [
        ({**new, "prison_number": "12345"}, 400, "bad_prison_number"),
        ({**new, "name": " "}, 400, "bad_name"),
        ({**new, "pin": "12"}, 400, "bad_pin"),
        ({**new, "date_of_birth": "31/01/1990"}, 400, "bad_date_of_birth"),
        ({**new, "date_of_birth": "2999-01-01"}, 400, "future_date_of_birth"),
        ({**new, "cell": theirs["W2-03"]}, 409, "other_establishment"),
        ({**new, "cell": "Q9-99"}, 404, "unknown_cell"),
        ({**new, "prison_number": "A1234BC"}, 409, "prison_number_taken"),
    ]
    for body, status, reason in refusals:
        resp = await client.post("/api/prisoners", json=body, headers=h)
        problem = await resp.json()
        assert (resp.status, problem.get("reason")) == (status, reason), (body, problem)
    resp = await client.post(
        "/api/prisoners", json={**new, "establishment_id": world.other_est}, headers=h
    )
    await _problem(resp, 404, "not_found", "No such establishment.")
    clinician = await sign_in_staff(client, world.staff["clinician"])
    resp = await client.post("/api/prisoners", json=new, headers=bearer(clinician))
    await _problem(resp, 403, "forbidden")
    assert await roll() == before

    # Sent twice at once (a double click): one account.
    first, second = await asyncio.gather(
        client.post("/api/prisoners", json=new, headers=h),
        client.post("/api/prisoners", json=new, headers=h),
    )
    statuses = sorted([first.status, second.status])
    assert statuses == [201, 409]
    made = await (first if first.status == 201 else second).json()
    assert (made["cell"], made["wing"]) == ("W1-02", "W")
    found = [p for p in await roll() if p["prison_number"] == "E7654FG"]
    assert len(found) == 1
    assert found[0] == {
        **found[0],
        "prisoner_id": made["prisoner_id"],
        "name": "Evan Newman",
        "cell": "W1-02",
        "incentive_level": "standard",
        "has_date_of_birth": True,
        "has_photo": False,
    }
    assert await _actions(client, made["prisoner_id"]) == ["account_created"]
    # The PIN works: the new prisoner signs in on W1-02's device.
    device = world.prisoners[1]
    resp = await client.post(
        "/api/auth/prisoner",
        json={
            "prison_number": "E7654FG",
            "pin": "2468",
            "device_credential": device.device_credential,
        },
    )
    assert resp.status == 200, await resp.text()
    # Without a cell or a date of birth, too; an admin names the establishment.
    admin = await sign_in_staff(client, world.staff["admin"])
    resp = await client.post(
        "/api/prisoners",
        json={
            "prison_number": "F1111GH",
            "name": "Fay",
            "pin": "1357",
            "date_of_birth": "",
            "cell": "",
            "establishment_id": world.other_est,
        },
        headers=bearer(admin),
    )
    assert resp.status == 201
    assert (await resp.json())["cell"] is None
