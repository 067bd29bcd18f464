"""Rejoin: a participant's reconnect to the first decoded frame on both sides again.

    .venv/bin/python bench/rejoin.py            # 10 rounds
    .venv/bin/python bench/rejoin.py --quick    # 4 rounds

Through the server: one `throughcare serve` process (SQLite, in-process bus,
scheduling's own join policy, an establishment that allows direct media so the
loopback host candidates are used). A clinician stays in the consult. Each round
a device connects, joins, waits and is admitted, and the call is set up; that is
the baseline, from the clinician's `admit` to the first decoded video frame on
both sides (the later of the two). Then the device's connection drops (its socket
closes under it, as a network blip does) and it resumes by itself: the clock runs
from its reconnect (the `welcome` of the resumed connection) to the first frame
decoded on the new peer connections on both sides again (the clinician is told to
restart ICE, and the Python participants replace their peer connections to do it;
see docs/media.md). Then the device leaves. One warm-up round is discarded.

Goal: a rejoin within 1.5 times the set-up of a call. The last line is one JSON
object: {"rejoin_median_ms", "setup_median_ms", "ratio"}.
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aioice.ice  # noqa: E402
from sqlalchemy import update  # noqa: E402

from core.db.schema import establishments  # noqa: E402
from core.identity.passwords import SecretHasher  # noqa: E402
from media.participant import Participant  # noqa: E402
from tests.media.consults import book_consult, next_minute  # noqa: E402
from tests.media.nodes import (  # noqa: E402
    create_cluster,
    loopback_host_addresses,
    sign_in_prisoner,
    sign_in_staff,
)


class FirstFrames:
    """Stands in front of each remote video track a participant gets: the time each
    new track decodes its first frame, so a restart's first frame is told apart."""

    def __init__(self, participant: Participant) -> None:
        self.times: list[float] = []
        self._new = asyncio.Event()
        counter = participant.received["video"]
        attach = counter.attach

        def watched(track: Any) -> None:
            attach(_Timed(track, self))

        counter.attach = watched  # type: ignore[method-assign]

    def seen(self, at: float) -> None:
        self.times.append(at)
        self._new.set()

    async def after(self, moment: float, within: float = 20.0) -> float:
        """The first frame of a track first decoded after `moment`."""
        deadline = time.monotonic() + within
        while True:
            later = [t for t in self.times if t >= moment]
            if later:
                return min(later)
            self._new.clear()
            await asyncio.wait_for(self._new.wait(), max(0.01, deadline - time.monotonic()))


class _Timed:
    """A track whose first decoded frame is noted."""

    def __init__(self, track: Any, frames: FirstFrames) -> None:
        self.track, self.frames, self.first = track, frames, True
        self.kind = track.kind

    async def recv(self) -> Any:
        frame = await self.track.recv()
        if self.first:
            self.first = False
            self.frames.seen(time.monotonic())
        return frame


async def one_round(
    ws_url: str, appointment: str, token: str, clinician: Participant, doc: FirstFrames
) -> tuple[float, float]:
    patient = Participant([ws_url], token, name="device", relay_only=False)
    pat = FirstFrames(patient)
    try:
        await patient.connect()
        await patient.join(appointment)
        await clinician.expect("arrived")
        started = time.monotonic()
        await clinician.admit(patient.participant_id)
        await patient.expect("admitted")
        await clinician.call(patient.participant_id)
        setup = max(await pat.after(started), await doc.after(started)) - started

        await patient.drop()
        await patient.expect("resumed", within=10)
        back = time.monotonic()
        await clinician.expect("reconnected")
        rejoin = max(await pat.after(back), await doc.after(back)) - back

        await patient.leave()
        await clinician.expect("left")
        return setup * 1000, rejoin * 1000
    finally:
        await patient.close()


async def main(rounds: int) -> dict[str, float]:
    aioice.ice.get_host_addresses = loopback_host_addresses
    with tempfile.TemporaryDirectory(prefix="tc-bench-rejoin-") as tmp:
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
            patient_token = await sign_in_prisoner(node.url, booked.prisoner)
            clinician = Participant(
                [node.ws_url],
                await sign_in_staff(node.url, booked.clinician),
                name="clinician",
                relay_only=False,
            )
            doc = FirstFrames(clinician)
            await clinician.connect()
            await clinician.join(booked.appointment)
            setups: list[float] = []
            rejoins: list[float] = []
            try:
                for i in range(rounds + 1):
                    setup, rejoin = await one_round(
                        node.ws_url, booked.appointment, patient_token, clinician, doc
                    )
                    print(
                        f"round {i}: set-up {setup:.1f} ms, rejoin {rejoin:.1f} ms"
                        + (" (warm-up)" if i == 0 else ""),
                        flush=True,
                    )
                    if i:
                        setups.append(setup)
                        rejoins.append(rejoin)
            finally:
                await clinician.close()
        finally:
            await cluster.stop()
    setup_median = statistics.median(setups)
    rejoin_median = statistics.median(rejoins)
    return {
        "rejoin_median_ms": round(rejoin_median, 1),
        "setup_median_ms": round(setup_median, 1),
        "ratio": round(rejoin_median / setup_median, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 rounds (under two minutes)")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (4 if args.quick else 10)
    print(json.dumps(asyncio.run(main(rounds))))
