"""The pre-call test peer's CPU per concurrent test, at the device's 640x360.

    .venv/bin/python bench/echo.py            # N = 1, 2, 5 tests at once, three rounds each
    .venv/bin/python bench/echo.py --quick    # one round each (under two minutes)

The peer runs where it runs in production: inside one `throughcare serve`
process (SQLite, in-process bus), reached through `/ws`, relay-only through
coturn on loopback. The simulated devices are in this process: each signs in
and runs a whole test (`media/precall.py`), sending the peer's own clip
pre-encoded with `MediaPlayer(decode=False)`, so their cost stays here and
out of the figure. The figure is the server process's own CPU time (every
thread: aiortc decodes in threads of its own), read from /proc over 8 s of
steady media once all N devices are connected, divided by N. The server also
holds N signalling sockets, which cost next to nothing while media flow.

The baseline, in the same run: what one test would cost if the peer decoded
what it receives and re-encoded it to send back (aiortc's `MediaRelay`, as in
aiortc's own server example), in a process of its own with the same media
through the same coturn. One warm-up test first (it also makes the clip).
The last line is one JSON object:
{"core_per_test", "tests_per_core", "transcoding_core_per_test", "ratio"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.identity import Principal, Role  # noqa: E402
from core.identity.passwords import SecretHasher  # noqa: E402
from media.echo import CLIP_NAME, make_clip  # noqa: E402
from media.precall import PrecallDevice, encoded_source  # noqa: E402
from media.turn import turn_credential  # noqa: E402
from tests.media.nodes import Cluster, create_cluster, sign_in_prisoner  # noqa: E402
from tests.turn import Turn, start_turnserver  # noqa: E402
from tests.world import Prisoner, place  # noqa: E402
from web.state import IDENTITY  # noqa: E402

STEADY_S = 8.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, every thread included (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


# ------------------------------------------------------------------ the world


async def devices_with_consults(cluster: Cluster, count: int) -> list[Prisoner]:
    """`count` prisoners, each on a device of their own, each with a consult in 3 hours."""
    from web.state import CLOCK

    assert cluster.world is not None and cluster.scheduling is not None
    assert cluster._app is not None
    world, scheduling = cluster.world, cluster.scheduling
    identity = cluster._app[IDENTITY]
    now = cluster._app[CLOCK].now()
    manager = Principal(world.staff["manager"].account_id, Role.MANAGER, world.est, "bench")
    clinician = Principal(world.staff["clinician"].account_id, Role.CLINICIAN, world.est, "bench")
    system = Principal("system", Role.ADMIN, None, "")
    service = await scheduling.create_service(
        manager, world.est, code="bench", name="Bench", minutes=10, buffer_minutes=0
    )
    for day in range(7):
        await scheduling.add_availability(
            clinician,
            clinician_id=clinician.account_id,
            service_id=service.id,
            weekday_value=day,
            start="00:00",
            end="24:00",
        )
    first = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    made = []
    for i in range(count):
        number = f"E{i:04d}BZ"
        account = await identity.create_prisoner(
            establishment_id=world.est, prison_number=number, display_name=f"Bench {i}", pin="2468"
        )
        await place(cluster._app, world.est, f"B1-{i:02d}")
        enrolment = await identity.devices.start_enrolment(system, world.est, f"B1-{i:02d}")
        device, credential = await identity.devices.complete_enrolment(enrolment.code)
        await scheduling.book(
            clinician,
            prisoner_id=account,
            service_id=service.id,
            clinician_id=clinician.account_id,
            starts_at=first + timedelta(minutes=10 * i),
        )
        made.append(Prisoner(account, number, "2468", world.est, device.id, credential))
    return made


# ------------------------------------------------------------------ through the server


async def run_tests(
    url: str, ws_url: str, prisoners: list[Prisoner], clip: Path, server_pid: int
) -> tuple[float, float]:
    """N tests at once; returns (cores the server used in steady state, CPU-s per whole test)."""
    tokens = [await sign_in_prisoner(url, p) for p in prisoners]
    devices = [
        PrecallDevice(ws_url, token, name=f"d{i}", source=encoded_source(clip))
        for i, token in enumerate(tokens)
    ]
    try:
        for device in devices:
            await device.connect()
        whole_start = cpu_seconds(server_pid)
        runs = [asyncio.create_task(d.run(), name=f"bench-test-{d.name}") for d in devices]
        for _ in range(400):
            if all(d.meter is not None and d.meter.connected.is_set() for d in devices):
                break
            if any(r.done() for r in runs):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # past the first keyframes and the DTLS handshakes
        wall_a, cpu_a = time.monotonic(), cpu_seconds(server_pid)
        await asyncio.sleep(STEADY_S)
        wall_b, cpu_b = time.monotonic(), cpu_seconds(server_pid)
        results = await asyncio.gather(*runs)
        whole = (cpu_seconds(server_pid) - whole_start) / len(devices)
        for result in results:
            if result.get("outcome") not in ("good", "poor"):
                raise RuntimeError(f"a test did not work: {result}")
        return (cpu_b - cpu_a) / (wall_b - wall_a), whole
    finally:
        for device in devices:
            await device.close()


# ------------------------------------------------------------------ the baseline


TRANSCODER = """
import asyncio, json, sys
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaBlackhole, MediaRelay
sys.path.insert(0, sys.argv[1])
from media.peer import rtc_configuration

async def main():
    line = await asyncio.to_thread(sys.stdin.readline)
    job = json.loads(line)
    pc = RTCPeerConnection(rtc_configuration(job["ice_servers"], relay_only=True))
    relay = MediaRelay()

    @pc.on("track")
    def on_track(track):
        pc.addTrack(relay.subscribe(track))

    await pc.setRemoteDescription(RTCSessionDescription(job["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    print(json.dumps({"sdp": pc.localDescription.sdp}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await pc.close()

asyncio.run(main())
"""


async def transcoding_baseline(turn: Turn, clip: Path) -> float:
    """Cores one decode-and-re-encode echo uses, in its own process, in steady state."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media.meter import LinkMeter
    from media.peer import rtc_configuration
    from media.tasks import TaskSet

    def servers(who: str) -> list[dict[str, Any]]:
        cred = turn_credential(
            turn.secret,
            appointment_id="bench",
            participant_id=who,
            expires=datetime.now(UTC) + timedelta(minutes=10),
        )
        return [{"urls": [turn.url], "username": cred.username, "credential": cred.password}]

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        TRANSCODER,
        str(ROOT),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    tasks = TaskSet("bench-baseline")
    media = await encoded_source(clip)()
    pc = RTCPeerConnection(rtc_configuration(servers("device"), relay_only=True))
    meter = LinkMeter(pc, tasks)
    try:
        for track in (media.audio, media.video):
            if track is not None:
                pc.addTrack(track)
        await pc.setLocalDescription(await pc.createOffer())
        job = {"sdp": pc.localDescription.sdp, "ice_servers": servers("transcoder")}
        proc.stdin.write((json.dumps(job) + "\n").encode())
        await proc.stdin.drain()
        answer = json.loads(await proc.stdout.readline())
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        if not await meter.wait_connected(20):
            raise RuntimeError("the transcoding echo did not connect")
        await asyncio.sleep(1.5)  # past its encoder's start
        wall_a, cpu_a = time.monotonic(), cpu_seconds(proc.pid)
        await asyncio.sleep(STEADY_S)
        wall_b, cpu_b = time.monotonic(), cpu_seconds(proc.pid)
        if meter.frames == 0:
            raise RuntimeError("the transcoding echo sent nothing back")
        return (cpu_b - cpu_a) / (wall_b - wall_a)
    finally:
        proc.stdin.write(b"stop\n")
        await proc.stdin.drain()
        await proc.wait()
        await tasks.close()
        await pc.close()
        media.stop()


# ------------------------------------------------------------------ main


async def main(rounds: int) -> dict[str, float]:
    sizes = (1, 2, 5)
    with tempfile.TemporaryDirectory(prefix="tc-bench-echo-") as tmp:
        work = Path(tmp)
        turn_proc, turn = await asyncio.to_thread(start_turnserver, work)
        cluster = await create_cluster(
            work, redis_url=None, turn_urls=(turn.url,), turn_secret=turn.secret, sqlite=True
        )
        try:
            await cluster.seed(SecretHasher(time_cost=1, memory_cost=1024))
            prisoners = await devices_with_consults(cluster, 1 + rounds * sum(sizes))
            node = await cluster.start_node("bench")
            # The device side sends the same clip the peer makes; made here, once.
            clip = work / CLIP_NAME
            await asyncio.to_thread(make_clip, clip)
            pid = node.process.pid
            spare = iter(prisoners)
            started = time.monotonic()
            await run_tests(node.url, node.ws_url, [next(spare)], clip, pid)
            print(f"warm-up test (the server made its clip): {time.monotonic() - started:.1f} s")
            per_test: dict[int, list[float]] = {n: [] for n in sizes}
            whole: dict[int, list[float]] = {n: [] for n in sizes}
            for r in range(rounds):
                for n in sizes:
                    cores, cpu_s = await run_tests(
                        node.url, node.ws_url, [next(spare) for _ in range(n)], clip, pid
                    )
                    per_test[n].append(cores / n)
                    whole[n].append(cpu_s)
                    print(
                        f"round {r} N={n}: server {cores:.3f} cores in steady state,"
                        f" {cores / n:.3f} per test; {cpu_s:.2f} CPU-s per whole test",
                        flush=True,
                    )
            baseline = await transcoding_baseline(turn, clip)
            print(f"baseline: a decode-and-re-encode echo uses {baseline:.3f} cores per test")
        finally:
            await cluster.stop()
            turn_proc.terminate()
            try:
                await asyncio.to_thread(turn_proc.wait, 5)
            except subprocess.TimeoutExpired:
                turn_proc.kill()
    medians = {n: statistics.median(v) for n, v in per_test.items()}
    for n in sizes:
        print(
            f"N={n}: {medians[n]:.3f} core per test (median of {len(per_test[n])}),"
            f" {statistics.median(whole[n]):.2f} CPU-s per whole test"
        )
    worst = max(medians.values())
    print(f"goal: at most 0.15 core per test; worst of N=1,2,5: {worst:.3f}")
    return {
        "core_per_test": round(worst, 3),
        "tests_per_core": round(1 / worst, 1),
        "transcoding_core_per_test": round(baseline, 3),
        "ratio": round(worst / baseline, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round of N = 1, 2, 5")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    result = asyncio.run(main(rounds))
    print(json.dumps(result))
