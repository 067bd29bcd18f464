"""The manager review API: scoped to the establishment, decrypted only where allowed, logged."""

from __future__ import annotations

from typing import Any

from audit.verify import verify_bundle
from core.events import Action, AuditRecord
from tests.world import World, bearer, sign_in_staff
from web.state import AUDIT


async def seed(client: Any, world: World) -> None:
    log = client.server.app[AUDIT]
    for est, prisoner in ((world.est, world.prisoners[0]), (world.other_est, world.other_prisoner)):
        assert prisoner is not None
        await log.append(
            AuditRecord(
                Action.BOOKED,
                actor=world.staff["clinician"].account_id,
                establishment=est,
                subject=prisoner.account_id,
                appointment="appt-1",
                details={"reason": "asthma review"},
            )
        )


async def events(client: Any, tokens: dict[str, Any], **query: str) -> Any:
    return await client.get("/api/audit/events", params=query, headers=bearer(tokens))


async def test_a_manager_reads_their_establishment_with_details(client: Any, world: World) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["manager"])
    resp = await events(client, tokens, action="booked")
    assert resp.status == 200
    found = (await resp.json())["events"]
    assert len(found) == 1
    assert found[0]["establishment_id"] == world.est
    assert found[0]["subject"] == world.prisoners[0].account_id
    assert found[0]["details"] == {"reason": "asthma review"}
    assert found[0]["details_status"] == "shown"


async def test_search_filters_by_prisoner_clinician_and_appointment(
    client: Any, world: World
) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["manager"])
    clinician = world.staff["clinician"].account_id
    for query, expected in (
        ({"prisoner": world.prisoners[0].account_id, "action": "booked"}, 1),
        ({"prisoner": world.prisoners[1].account_id, "action": "booked"}, 0),
        ({"clinician": clinician, "action": "booked"}, 1),
        ({"appointment": "appt-1"}, 1),
        ({"appointment": "appt-2"}, 0),
        ({"from": "2030-01-01T00:00:00Z"}, 0),
    ):
        resp = await events(client, tokens, **query)
        assert len((await resp.json())["events"]) == expected, query


async def test_every_read_is_itself_logged(client: Any, world: World) -> None:
    tokens = await sign_in_staff(client, world.staff["manager"])
    first = await events(client, tokens, prisoner=world.prisoners[0].account_id)
    seen = len((await first.json())["events"])
    resp = await events(client, tokens, action="log_viewed")
    viewed = (await resp.json())["events"]
    assert viewed[0]["actor"] == world.staff["manager"].account_id
    assert viewed[0]["details"]["filters"]["prisoner"] == world.prisoners[0].account_id
    assert viewed[0]["details"]["results"] == seen


async def test_a_manager_cannot_read_another_establishment(client: Any, world: World) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["manager"])
    resp = await events(client, tokens, establishment=world.other_est)
    assert resp.status == 403
    body = await resp.json()
    assert body["detail"] == "Managers can only read their own establishment's log."
    assert "asthma" not in await resp.text()


async def test_an_admin_sees_metadata_only(client: Any, world: World) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["admin"])
    resp = await events(client, tokens, establishment=world.other_est, action="booked")
    assert resp.status == 200
    (found,) = (await resp.json())["events"]
    assert found["details"] is None
    assert found["details_status"] == "withheld"
    assert "asthma" not in await resp.text()


async def test_officers_and_clinicians_cannot_read_the_log(client: Any, world: World) -> None:
    await seed(client, world)
    for role in ("officer", "clinician"):
        tokens = await sign_in_staff(client, world.staff[role])
        resp = await events(client, tokens)
        assert resp.status == 403, role
        assert "asthma" not in await resp.text()


async def test_an_unknown_action_is_refused(client: Any, world: World) -> None:
    tokens = await sign_in_staff(client, world.staff["manager"])
    resp = await events(client, tokens, action="teleported")
    assert resp.status == 400
    assert (await resp.json())["detail"] == "The audit action is not in the vocabulary."


async def test_export_gives_a_bundle_of_the_establishment_that_verifies(
    client: Any, world: World
) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["manager"])
    resp = await client.get("/api/audit/export", headers=bearer(tokens))
    assert resp.status == 200
    bundle = await resp.json()
    shown = [e for e in bundle["events"] if "leaf_hash" not in e]
    assert shown
    assert {e["establishment"] for e in shown} == {world.est}
    report = verify_bundle(bundle)
    assert report.ok, report.summary()
    again = await events(client, tokens, action="log_exported")
    assert len((await again.json())["events"]) == 1


async def test_integrity_check_reports_a_sound_log(client: Any, world: World) -> None:
    await seed(client, world)
    tokens = await sign_in_staff(client, world.staff["manager"])
    resp = await client.get("/api/audit/integrity", headers=bearer(tokens))
    assert resp.status == 200
    body = await resp.json()
    assert body["ok"] is True and body["first_bad_seq"] is None and body["size"] > 2


async def test_identity_events_reach_the_log(client: Any, world: World) -> None:
    """Wiring: sign-ins and failures go through the real log, not a placeholder."""
    manager = world.staff["manager"]
    bad = await client.post(
        "/api/auth/staff",
        json={"username": manager.username, "password": "wrong", "totp": "000000"},
    )
    assert bad.status == 401
    tokens = await sign_in_staff(client, manager)
    resp = await events(client, tokens, action="sign_in", clinician=manager.account_id)
    assert len((await resp.json())["events"]) == 1
    failed = await events(client, tokens, action="sign_in_failed")
    assert len((await failed.json())["events"]) >= 1
