"""Interpreters and chaperones: access to the one appointment they are invited to, and
nothing else (issue 13, item 5)."""

from __future__ import annotations

from typing import Any

from core.identity import Role
from tests.scheduling.conftest import Sched, at
from tests.world import PASSWORD, Staff, bearer, sign_in_staff
from web.state import IDENTITY


async def _person(client: Any, sched: Sched, role: Role, name: str, est: str) -> Staff:
    account_id, secret = await client.server.app[IDENTITY].create_staff(
        role=role, establishment_id=est, username=name, display_name=name, password=PASSWORD
    )
    return Staff(account_id, name, secret, role, est)


async def test_an_invited_interpreter_sees_that_appointment_and_nothing_else(
    client: Any, sched: Sched
) -> None:
    booked = await sched.book(reason_text="Chest pain")
    other = await sched.book(at(4, 11), reason_text="Rash")
    interpreter = await _person(client, sched, Role.INTERPRETER, "ines.i", sched.world.est)
    chaperone = await _person(client, sched, Role.CHAPERONE, "chris.c", sched.world.est)
    elsewhere = await _person(client, sched, Role.INTERPRETER, "ivo.i", sched.world.other_est)
    clinician = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    url = f"/api/appointments/{booked.id}/attendees"
    resp = await client.put(
        url, json={"account_ids": [interpreter.account_id, chaperone.account_id]}, headers=clinician
    )
    assert resp.status == 200, await resp.text()

    ines = bearer(await sign_in_staff(client, interpreter))
    seen = await (await client.get("/api/attending", headers=ines)).json()
    assert [a["appointment_id"] for a in seen] == [booked.id]
    assert "Chest pain" not in str(seen)
    # Nothing establishment-wide: not the list, not the appointment, not the other one.
    for path in ("/api/appointments", f"/api/appointments/{other.id}", "/api/health-requests"):
        assert (await client.get(path, headers=ines)).status == 403, path

    # Bad input changes nothing: an officer where no identity check is required,
    # someone of another establishment, a prisoner, a list of junk.
    resp = await client.put(
        url, json={"account_ids": [sched.world.staff["officer"].account_id]}, headers=clinician
    )
    assert resp.status == 400
    assert (await resp.json())["detail"] == (
        "This establishment does not require an identity check: an officer cannot be invited."
    )
    for wrong in ([elsewhere.account_id], [sched.world.prisoners[0].account_id]):
        resp = await client.put(url, json={"account_ids": wrong}, headers=clinician)
        assert resp.status == 400
        assert (await resp.json())["detail"] == (
            "Attendees are interpreters, chaperones or officers of the appointment's establishment."
        )
    assert (await client.put(url, json={"account_ids": "all"}, headers=clinician)).status == 400
    officer = bearer(await sign_in_staff(client, sched.world.staff["officer"]))
    assert (await client.put(url, json={"account_ids": []}, headers=officer)).status == 403
    seen = await (await client.get("/api/attending", headers=ines)).json()
    assert [a["appointment_id"] for a in seen] == [booked.id]

    resp = await client.put(url, json={"account_ids": []}, headers=clinician)
    assert resp.status == 200
    assert await (await client.get("/api/attending", headers=ines)).json() == []
