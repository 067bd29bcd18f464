"""Programme sessions worked offline: exercise answers and completed sessions from a device's
queue through POST /api/sync, on both stores. Played in order, once; a replay (in any order)
changes nothing; the same answer changed on two devices keeps the first to arrive and shows the
later as a conflict; bad items and bad batches are refused with nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.identity import Principal, Role
from core.offline_tables import sync_conflicts
from interventions.programme_tables import (
    programme_answer_writes,
    programme_answers,
    programme_completions,
)
from tests.interventions.test_programmes import app_programmes
from tests.offline_device import Device, count, statuses
from tests.world import World
from web.demo_programmes import create_programmes
from web.state import CLOCK, SCHEDULING

PLAN = {"triggers": ["Pay day"], "avoid": ["Stay in my cell"], "cope": ["Ring Sam"]}


async def _enrolled(client: Any, world: World, who: int = 0) -> tuple[Device, list[Any]]:
    """Thinking skills (two sessions: a text and a choice, then a text), joined by the person."""
    app = client.server.app
    ids = await create_programmes(app_programmes(app), None)
    device = await Device.sign_in(client, world.prisoners[who])
    resp = await client.post(f"/api/me/programmes/{ids[1]}/enrol", headers=device.headers)
    assert resp.status == 201
    view = await device.get(f"/api/me/programmes/{ids[1]}")
    return device, [ids[1], *view["session_list"]]


def _answer(device: Device, session: Any, exercise: str, value: Any, base: int = 0) -> Any:
    body = {
        "action": "answer",
        "session_id": session["id"],
        "exercise": exercise,
        "value": value,
        "base_version": base,
    }
    return device.seal("programme", body)


def _complete(device: Device, session: Any) -> Any:
    return device.seal("programme", {"action": "complete", "session_id": session["id"]})


async def test_a_session_worked_offline_is_played_in_order_once_and_a_replay_changes_nothing(
    client: Any, world: World
) -> None:
    app = client.server.app
    device, (programme, one, two) = await _enrolled(client, world)
    # Worked offline: an answer, its edit (from the version the first one makes), the
    # choice, the session done, which opens the next, answered and done too.
    items = [
        _answer(device, one, "last_time", "I shouted"),
        _answer(device, one, "often", "sometimes"),
        _answer(device, one, "last_time", "I shouted at my cellmate", base=1),
        _complete(device, one),
        _answer(device, two, "their_view", "He was tired too"),
        _complete(device, two),
    ]
    first = await device.sync(items)
    assert statuses(first) == ["stored"] * 6
    assert [r.get("version") for r in first["results"]] == [1, 1, 2, None, 1, None]
    view = await device.get(f"/api/me/programmes/{programme}")
    assert view["completed_at"] is not None
    s1, s2 = view["session_list"]
    assert s1["answers"] == {"last_time": "I shouted at my cellmate", "often": "sometimes"}
    assert s1["versions"] == {"last_time": 2, "often": 1}
    assert (s1["state"], s2["state"]) == ("done", "done")
    assert s2["answers"] == {"their_view": "He was tired too"}
    before = [await count(app, t) for t in (programme_answers, programme_answer_writes)]
    assert before == [3, 4]

    again = await device.sync(list(reversed(items)))
    assert statuses(again) == ["replayed"] * 6
    assert [r.get("version") for r in again["results"]] == [None, 1, None, 2, 1, 1]
    assert [await count(app, t) for t in (programme_answers, programme_answer_writes)] == before
    assert await count(app, programme_completions) == 2
    assert await device.get(f"/api/me/programmes/{programme}") == view


async def test_the_same_answer_changed_on_two_devices_keeps_the_first_and_shows_the_later(
    client: Any, world: World
) -> None:
    app = client.server.app
    device, (programme, one, _two) = await _enrolled(client, world)
    await device.sync([_answer(device, one, "last_time", "First words")])
    # Both devices showed version 1; the cell's device reaches the server first.
    cell = _answer(device, one, "last_time", "Changed in the cell", base=1)
    wing = _answer(device, one, "last_time", "Changed on the wing", base=1)
    assert statuses(await device.sync([cell])) == ["stored"]
    late = await device.sync([wing])
    assert late["results"] == [{"id": wing["id"], "status": "conflict", "kept": cell["id"]}]
    view = await device.get(f"/api/me/programmes/{programme}")
    assert view["session_list"][0]["answers"]["last_time"] == "Changed in the cell"
    assert view["session_list"][0]["versions"]["last_time"] == 2
    shown = await device.get("/api/me/sync/conflicts")
    assert [(c["kind"], c["client_id"], c["kept_client_id"]) for c in shown["conflicts"]] == [
        ("programme", wing["id"], cell["id"])
    ]
    # Sent again, it is the same conflict, and still changes nothing.
    assert (await device.sync([wing]))["results"] == late["results"]
    assert await count(app, sync_conflicts) == 1
    assert await count(app, programme_answer_writes) == 2


async def test_bad_programme_items_are_refused_and_change_nothing(
    client: Any, world: World
) -> None:
    app = client.server.app
    device, (programme, one, two) = await _enrolled(client, world)
    # Locked behind session one, an exercise that is not there, a value that does not fit,
    # a made-up session, completing with answers missing: each refused with its reason.
    bad = [
        _answer(device, two, "their_view", "Too early"),
        _answer(device, one, "no_such", "x"),
        _answer(device, one, "often", "always"),
        _answer(device, {"id": "made-up"}, "often", "rarely"),
        _complete(device, one),
    ]
    answer = await device.sync(bad)
    assert statuses(answer) == ["refused"] * 5
    assert [r["code"] for r in answer["results"]] == [
        "conflict",
        "not_found",
        "invalid_request",
        "not_found",
        "invalid_request",
    ]
    assert answer["results"][0]["reason"] == "order"
    assert answer["results"][4]["missing"] == ["last_time", "often"]
    assert await count(app, programme_answers) == 0

    # Another person's session (they are on no programme): as if it did not exist.
    other = await Device.sign_in(client, world.prisoners[1])
    theirs = await other.sync([_answer(other, one, "often", "rarely")])
    assert theirs["results"][0]["code"] == "not_found"
    # Another person's item, sent from this person's session, or an id changed on the way:
    # the whole batch is refused, nothing stored.
    good = _answer(device, one, "often", "rarely")
    await other.sync([_answer(other, one, "often", "often"), good], status=409)
    await device.sync([{**good, "id": "7d1d4b0e-53a8-4f00-9d39-1d2e3f4a5b6c"}], status=409)
    assert await count(app, programme_answers) == 0

    # During a lockdown: the batch is refused (423) and nothing is stored; after, it goes.
    officer = world.staff["officer"]
    by = Principal(officer.account_id, Role.OFFICER, world.est, session_id="t")
    lockdown = await app[SCHEDULING].declare_lockdown(
        by, world.est, starts_at=None, ends_at=app[CLOCK].now() + timedelta(hours=2)
    )
    refused = await device.sync([good], status=423)
    assert refused["code"] == "lockdown"
    assert await count(app, programme_answers) == 0
    await app[SCHEDULING].lift_lockdown(by, lockdown.id)
    assert statuses(await device.sync([good])) == ["stored"]
    view = await device.get(f"/api/me/programmes/{programme}")
    assert view["session_list"][0]["answers"] == {"often": "rarely"}
