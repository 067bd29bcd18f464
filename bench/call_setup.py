"""Call set-up: the clinician's admit to the first decoded remote video frame.

    .venv/bin/python bench/call_setup.py            # 20 calls each way
    .venv/bin/python bench/call_setup.py --quick    # 5 calls each way

Through the server: one `throughcare serve` process (SQLite, in-process bus,
scheduling's own join policy, an establishment that allows direct media so
both runs use the same loopback host candidates). A clinician stays in the
consult; each round a device connects, joins, waits, and is admitted; the
clock runs from sending `admit` until the device decodes its first frame of
the clinician's video (admit -> admitted -> offer -> answer -> ICE -> DTLS ->
first VP8 key frame decoded). Then the device leaves.

The limit, in the same run, interleaved with the above: two aiortc peers in
this process with in-memory signalling, from creating the offer to the
answerer's first decoded frame. One warm-up round of each is discarded.
The last line is one JSON object: {"median_ms", "direct_median_ms", "ratio"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aioice.ice  # noqa: E402
from sqlalchemy import update  # noqa: E402

from core.db.schema import establishments  # noqa: E402
from core.identity.passwords import SecretHasher  # noqa: E402
from media.pair import DirectPair  # noqa: E402
from media.participant import Participant  # noqa: E402
from media.peer import rtc_configuration  # noqa: E402
from tests.media.consults import book_consult, next_minute  # noqa: E402
from tests.media.nodes import (  # noqa: E402
    create_cluster,
    loopback_host_addresses,
    sign_in_prisoner,
    sign_in_staff,
)


async def through_server(
    node_url: str, ws_url: str, booked_appt: str, tokens: dict[str, str], clinician: Participant
) -> float:
    patient = Participant([ws_url], tokens["patient"], name="device", relay_only=False)
    try:
        await patient.connect()
        await patient.join(booked_appt)
        await clinician.expect("arrived")
        started = time.monotonic()
        await clinician.admit(patient.participant_id)
        await patient.expect("admitted")
        await clinician.call(patient.participant_id)
        await patient.received["video"].wait_for(1, within=20)
        first = patient.received["video"].first_frame_at
        assert first is not None
        await patient.leave()
        await clinician.expect("left")
        return (first - started) * 1000
    finally:
        await patient.close()


async def direct() -> float:
    config = rtc_configuration([], relay_only=False)
    pair = DirectPair(config, config)
    try:
        return await pair.connect() * 1000
    finally:
        await pair.close()


async def main(rounds: int) -> dict[str, float]:
    aioice.ice.get_host_addresses = loopback_host_addresses
    with tempfile.TemporaryDirectory(prefix="tc-bench-call-") as tmp:
        cluster = await create_cluster(Path(tmp), redis_url=None, sqlite=True)
        try:
            world = await cluster.seed(SecretHasher(time_cost=1, memory_cost=1024))
            assert cluster.db is not None and cluster.scheduling is not None
            async with cluster.db.begin() as conn:
                await conn.execute(
                    update(establishments)
                    .where(establishments.c.id == world.est)
                    .values(relay_only=False)
                )
            booked = await book_consult(
                cluster.scheduling, world, starts_at=next_minute(datetime.now(UTC))
            )
            node = await cluster.start_node("bench")
            tokens = {
                "patient": await sign_in_prisoner(node.url, booked.prisoner),
                "clinician": await sign_in_staff(node.url, booked.clinician),
            }
            clinician = Participant(
                [node.ws_url], tokens["clinician"], name="clinician", relay_only=False
            )
            await clinician.connect()
            await clinician.join(booked.appointment)
            served: list[float] = []
            limit: list[float] = []
            try:
                for i in range(rounds + 1):
                    s = await through_server(
                        node.url, node.ws_url, booked.appointment, tokens, clinician
                    )
                    d = await direct()
                    print(
                        f"round {i}: server {s:.1f} ms, direct {d:.1f} ms"
                        + (" (warm-up)" if i == 0 else ""),
                        flush=True,
                    )
                    if i:
                        served.append(s)
                        limit.append(d)
            finally:
                await clinician.close()
        finally:
            await cluster.stop()
    median = statistics.median(served)
    direct_median = statistics.median(limit)
    return {
        "median_ms": round(median, 1),
        "direct_median_ms": round(direct_median, 1),
        "ratio": round(median / direct_median, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 calls each way")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 20)
    result = asyncio.run(main(rounds))
    print(json.dumps(result))
