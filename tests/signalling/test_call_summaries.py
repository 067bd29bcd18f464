"""When a call ends, the hub hands scheduling one plain summary of it: who came, when,
how often they were admitted, how the mode changed and the worst link anyone reported."""

from __future__ import annotations

from typing import Any

import pytest

from tests.signalling.conftest import BUSES, FakePolicy, book_consult, in_call

pytestmark = pytest.mark.parametrize("bus_kind", BUSES, indirect=True)


def _quality(loss: float, bitrate: float) -> dict[str, Any]:
    return {
        "type": "quality",
        "rtt_ms": 80,
        "loss_pct": loss,
        "jitter_ms": 5,
        "bitrate_kbps": bitrate,
        "width": 640,
        "height": 360,
    }


async def test_the_summary_keeps_the_worst_link_and_the_mode_changes(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    for loss, bitrate in ((0.5, 900.0), (6.5, 300.0), (1.0, 120.0)):
        await patient.send(_quality(loss, bitrate))
        await clinician.expect("quality")
    await clinician.send({"type": "mode", "mode": "audio", "cause": "high_loss"})
    await patient.expect("mode")
    await clinician.send({"type": "end", "reason": "completed"})
    await patient.expect("ended")
    [(appointment, summary)] = policy.summaries
    assert appointment == consult.appointment
    assert summary["answer"] == "answered"
    assert summary["attended"] == ["clinician", "patient"]
    assert (summary["worst_loss_pct"], summary["lowest_bitrate_kbps"]) == (6.5, 120.0)
    assert (summary["mode_changes"], summary["final_mode"]) == (1, "audio")
    assert summary["admits"] == 1 and summary["wait_s"] is not None
    assert "reason" not in summary and "notes" not in summary
    await patient.ws.close()
    await clinician.ws.close()


async def test_a_patient_left_waiting_at_the_end_is_unanswered(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    from tests.signalling.conftest import open_peer

    consult = await book_consult(client, world, policy)
    patient, _ = await open_peer(client, consult.patient_token)
    await patient.send({"type": "join", "appointment": consult.appointment})
    await patient.expect("waiting")
    clinician, _ = await open_peer(client, consult.clinician_token)
    await clinician.send({"type": "join", "appointment": consult.appointment})
    await clinician.expect("room")
    await clinician.send({"type": "end", "reason": "completed"})
    await patient.expect("ended")
    [(_, summary)] = policy.summaries
    assert (summary["answer"], summary["admits"], summary["wait_s"]) == ("unanswered", 0, None)
    assert summary["first_arrival_at"] is not None
    await patient.ws.close()
    await clinician.ws.close()
