"""The manager's audit log for people: names and prison numbers instead of ids, found by
person, prison number, appointment or action, a page at a time from the server, and each
reading itself logged. Search words that are SQL or HTML are only words."""

from __future__ import annotations

from typing import Any

from core.events import Action, AuditRecord
from tests.world import World, bearer, sign_in_staff
from web.state import AUDIT, IDENTITY


async def _events(client: Any, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    resp = await client.get("/api/audit/events", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _about(client: Any, world: World, n: int) -> None:
    prisoner = world.prisoners[0].account_id
    clinician = world.staff["clinician"].account_id
    for i in range(n):
        await client.server.app[AUDIT].append(
            AuditRecord(
                Action.CHECKED_IN,
                actor=clinician,
                establishment=world.est,
                subject=prisoner,
                appointment=f"appt-{i:02d}",
                details={"n": i},
            )
        )


async def test_a_prison_number_finds_the_prisoners_events_with_names(
    client: Any, world: World
) -> None:
    await _about(client, world, 3)
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    prisoner = world.prisoners[0]
    found = await _events(client, headers, q=prisoner.prison_number.lower())
    assert found["events"] and all(
        prisoner.account_id in (e["subject"], e["actor"]) for e in found["events"]
    )
    me = found["people"][prisoner.account_id]
    view = await client.server.app[IDENTITY].account(prisoner.account_id)
    assert view is not None
    assert (me["name"], me["prison_number"]) == (view.display_name, prisoner.prison_number)
    clinician = found["people"][world.staff["clinician"].account_id]
    assert clinician["name"] == "Clinician One" and clinician["prison_number"] is None


async def test_a_name_an_appointment_and_an_action_narrow_the_search(
    client: Any, world: World
) -> None:
    await _about(client, world, 3)
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    by_name = await _events(client, headers, q="clinician on", action="checked_in")
    assert len(by_name["events"]) == 3
    by_appointment = await _events(client, headers, q="appt-01")
    assert by_appointment["events"] == []  # not an id, not a number, nobody's name
    one = await _events(
        client, headers, q=world.prisoners[0].account_id, action="checked_in", limit=1
    )
    assert [e["appointment_id"] for e in one["events"]] == ["appt-02"]


async def test_pages_come_from_the_server_and_each_reading_is_logged(
    client: Any, world: World
) -> None:
    await _about(client, world, 7)
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        params: dict[str, Any] = {"action": "checked_in", "limit": 3}
        if before is not None:
            params["before"] = before
        page = await _events(client, headers, **params)
        seen += [e["appointment_id"] for e in page["events"]]
        pages += 1
        before = page["next_before"]
        if before is None:
            break
    assert seen == [f"appt-{i:02d}" for i in reversed(range(7))]
    assert pages == 3
    readings = await _events(client, headers, action="log_viewed", limit=500)
    assert len(readings["events"]) >= pages
    assert readings["events"][0]["details"]["filters"]["action"] == "checked_in"


async def test_sql_and_html_in_the_search_are_only_words(client: Any, world: World) -> None:
    await _about(client, world, 2)
    headers = bearer(await sign_in_staff(client, world.staff["manager"]))
    for words in ("' OR 1=1 --", "<img src=x onerror=alert(1)>", "%", "_"):
        found = await _events(client, headers, q=words)
        assert found["events"] == [], words
    logged = await _events(client, headers, action="log_viewed", limit=1)
    assert logged["events"][0]["details"]["filters"]["text"] == "_"
    resp = await client.get("/api/audit/events", params={"q": "x" * 101}, headers=headers)
    assert (await resp.json())["detail"] == "The search is at most 100 characters."


async def test_admins_see_ids_not_names(client: Any, world: World) -> None:
    await _about(client, world, 1)
    headers = bearer(await sign_in_staff(client, world.staff["admin"]))
    found = await _events(client, headers, establishment=world.est, action="checked_in")
    assert found["events"] and found["people"] == {}
