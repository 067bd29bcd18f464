"""The relay forwards a negotiation frame as the sender wrote it, and only what it checked.

The recipient gets `{"seq":N,"from":"<sender>",` followed by the sender's own
text after its opening brace. So the fields are a closed set (no one names
their own `from` or `seq`), and a repeated key means its last value everywhere.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import WSMsgType

from tests.signalling.conftest import EDGES, FakePolicy, Peer, book_consult, in_call

pytestmark = pytest.mark.parametrize(("bus_kind", "ws_path"), EDGES, indirect=True)

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
DATA_CHANNEL = SDP + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
RELAY = "candidate:1 1 udp 2 127.0.0.1 5000 typ relay raddr 0.0.0.0 rport 0"


async def raw_message(peer: Peer, kind: str) -> str:
    """The exact text of the next message of `kind`, skipping others."""
    while True:
        msg = await asyncio.wait_for(peer.ws.receive(), 3)
        assert msg.type is WSMsgType.TEXT, msg
        if json.loads(msg.data)["type"] == kind:
            return str(msg.data)


def relayed(text: str, sender: str, seq: int) -> str:
    return f'{{"seq":{seq},"from":{json.dumps(sender)},' + text.lstrip()[1:]


async def refused(peer: Peer, text: str) -> dict[str, Any]:
    await peer.ws.send_str(text)
    return await peer.expect("error")


def frame(*fields: tuple[str, Any]) -> str:
    """A JSON object from (key, value) pairs, a key repeated if it comes twice."""
    return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in fields) + "}"


def candidate_frame(to: str, line: str) -> str:
    body = {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}
    return frame(("type", "candidate"), ("v", 1), ("to", to), ("candidate", body))


async def test_offer_and_answer_arrive_byte_for_byte_as_sent(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    offer = (
        f'{{"v" : 1,  "ref":"o-1", "to": {json.dumps(consult.patient_id)},\n'
        ' "sdp": "v=0\\r\\ns=caf\\u00e9 \\/ x\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n" ,'
        ' "type":"offer"}'
    )
    await clinician.ws.send_str(offer)
    got = await raw_message(patient, "offer")
    seq = json.loads(got)["seq"]
    assert got == relayed(offer, consult.clinician_id, seq)
    assert json.loads(got)["sdp"].startswith("v=0\r\ns=café / x\r\n")

    answer = " \r\n\t" + frame(
        ("type", "answer"), ("v", 1), ("to", consult.clinician_id), ("sdp", SDP)
    )
    await patient.ws.send_str(answer)
    got = await raw_message(clinician, "answer")
    assert got == relayed(answer, consult.patient_id, json.loads(got)["seq"])
    await patient.ws.close()
    await clinician.ws.close()


async def test_fields_outside_the_protocol_are_refused_and_not_relayed(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    to = consult.patient_id
    offer = [("type", "offer"), ("v", 1), ("to", to), ("sdp", SDP)]
    odd = {"candidate": RELAY, "sdpMid": "0", "x": 1}
    cases = [
        (frame(*offer, ("colour", "red")), "colour"),
        (frame(*offer, ("from", consult.clinician_id)), "from"),
        (frame(("seq", 999), *offer), "seq"),
        (frame(("type", "candidate"), ("v", 1), ("to", to), ("candidate", odd)), "candidate.x"),
    ]
    for text, field in cases:
        error = await refused(clinician, text)
        assert (error["code"], error["field"]) == ("unknown_field", field)
    # `ref` goes on with the frame, so it may only be the short string it is for.
    for ref in ({"nested": [[[[1]]]]}, "r" * 65, 7):
        error = await refused(clinician, frame(*offer, ("ref", ref)))
        assert (error["code"], error["field"]) == ("invalid_field", "ref")
    await patient.quiet()
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    got = await patient.expect("offer")
    assert (got["from"], got["sdp"]) == (consult.clinician_id, SDP)
    await patient.ws.close()
    await clinician.ws.close()


async def test_a_repeated_sdp_key_is_judged_by_its_last_value(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    head = [("type", "answer"), ("v", 1), ("to", consult.clinician_id)]
    clean_last = frame(*head, ("sdp", DATA_CHANNEL), ("sdp", SDP))
    await patient.ws.send_str(clean_last)
    assert (await clinician.expect("answer"))["sdp"] == SDP

    dirty_last = frame(*head, ("sdp", SDP), ("sdp", DATA_CHANNEL))
    assert (await refused(patient, dirty_last))["code"] == "data_channel_refused"
    await clinician.quiet()
    await patient.ws.close()
    await clinician.ws.close()


async def test_device_candidate_type_is_read_where_the_rfc_puts_it(
    client: Any, world: Any, policy: FakePolicy
) -> None:
    consult = await book_consult(client, world, policy)
    patient, clinician = await in_call(client, consult)
    lines = [
        "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host generation 0 typ relay",
        "candidate:1\t1\tudp\t2\t127.0.0.1\t5000\ttyp\trelay",
        "candidate:1 1 udp 2 127.0.0.1  5000 typ relay",
    ]
    for line in lines:
        error = await refused(patient, candidate_frame(consult.clinician_id, line))
        assert error["code"] == "candidate_refused", line
    await clinician.quiet()
    await patient.ws.send_str(candidate_frame(consult.clinician_id, RELAY))
    assert (await clinician.expect("candidate"))["candidate"]["candidate"] == RELAY
    await patient.ws.close()
    await clinician.ws.close()
