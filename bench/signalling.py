"""Signalling relay under load, against a bare aiohttp relay in the same run.

    .venv/bin/python bench/signalling.py            # P = 10, 100, 1000; 12 s per target
    .venv/bin/python bench/signalling.py --quick    # P = 10, 100; 3 s per target (about a minute)
    .venv/bin/python bench/signalling.py --two-node # the same (every phase runs by default)

In --quick the headline figures are for the largest P run (100), not 1000:
setting up 2,000 clients in their rooms alone takes longer than a minute here.

The load generator (clients, pairs, the closed loop and the fixed load) is
bench/relay_load.py. P pairs of authenticated clients, each pair in its own consult, exchange a
realistic negotiation over and over: a ~3 KB offer and a ~3 KB answer and ten
relay candidates each way (22 relayed messages a round). The generator (this
process, uvloop) is pinned to CPU 0 and the server to CPU 1 with `taskset`.

For each P: relayed messages per second in a closed loop (each pair starts
its next round once it has received the last), and the server's CPU time per
relayed message from /proc/<pid>/stat. This machine is shared and its speed
drifts, so the closed loop runs in slices (5 in --quick, 6 otherwise), the
application and the bare relay taking turns with every client of both
connected, and the figures are medians: `cpu_ratio` is the median of the
slice-by-slice ratios, each slice's pair measured seconds apart.

At the largest P: relay latency p50/p95/p99 at a fixed offered load of
11,000 messages/s (each pair one round every P*22/11000 s, spread evenly; a
message carries its send time, in the SDP `s=` line or the candidate
foundation, which the server passes through untouched), and the server's
memory per connected client (VmRSS with every client in its room, minus VmRSS
before any connected, over 2P). Peak memory is VmHWM.

The server is the real application (`web.app.create_app`: token
authentication, room checks, sequence numbers, the SDP and candidate checks,
the audit log on PostgreSQL) with two bench settings: the per-connection rate
limit is raised (the closed loop sends far more than a person would), and the
join policy admits pair n's prisoner and clinician to rooms `bench-<n>-...` (so
P rooms need not be booked through scheduling; the policy is asked once per
join and is not on the relay path). Every simulated client has an identity of
its own, as real clients have (an account holds at most four sockets): P
prisoners and P clinicians are created and signed in before the servers start.

`--before REV` (e.g. `--before main`) also serves git revision REV's code (by
`git archive`, under this file's bench policy) as a third target in the same
slices, and prints `against_before`: both `cpu_ratio`s and the median slice
ratio of this code's CPU per message to REV's (`cpu_change_vs_before`). The baseline is a bare
aiohttp WebSocket relay (uvloop + orjson, no checks), in a process of its own
on the same core, under the same generator. Two-node figures: two server
processes (both on CPU 1) on the Redis bus, patients on one and clinicians on
the other; CPU is the sum of both. Their Redis is the bench's own (started on
CPU 1, beside the nodes, with nothing kept on disk), not the shared one: its
CPU per relayed message is reported apart (`redis_cpu_us_per_msg`). At the
largest P the two nodes also run the fixed load (`p99_ms_two_node`).

Issue 19's two-node keys, for the largest P and (suffix `_p100`) for P = 100:
two_node_cpu_us_per_msg, one_node_cpu_us_per_msg (the same run), ratio (the
two over the one; the goal is at most 3), redis_cpu_us_per_msg,
p99_ms_two_node (goal under 20 ms) and stalled_pairs (goal 0).

The last line is one JSON object with cpu_us_per_msg, baseline_cpu_us_per_msg,
cpu_ratio, p99_ms_fixed_load, kb_per_client and two_node_cpu_us_per_msg for
P = 1000, plus the rest of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# BENCH_CODE_DIR: serve another revision's code (`--before`), with this file's bench policy.
sys.path.insert(0, os.environ.get("BENCH_CODE_DIR") or str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from relay_load import Pair, Person, Stats, closed_loop, fixed_load, open_pairs  # noqa: E402

from tests.media.nodes import free_tcp_port  # noqa: E402

HERE = Path(__file__).resolve()
GENERATOR_CPU = 0
SERVER_CPUS = "1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kb(pid: int, field_name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


# ---------------------------------------------------------------- servers


def serve_app() -> None:
    """`--serve`: the real application, with the bench's join policy."""
    from aiohttp import web

    from core.config import Settings
    from core.identity import Principal, Role
    from scheduling.types import AppointmentView, JoinDecision
    from web.app import create_app
    from web.cli import LISTEN_BACKLOG, tune_gc
    from web.ws import JOIN_POLICY

    people = json.loads(Path(os.environ["BENCH_PEOPLE"]).read_text())
    establishment = os.environ["BENCH_ESTABLISHMENT"]
    now = datetime.now(UTC)

    class BenchPolicy:
        async def join_decision(self, principal: Principal, appointment_id: str) -> JoinDecision:
            kind, _, rest = appointment_id.partition("-")
            number = rest.partition("-")[0]
            if kind != "bench" or not number.isdigit() or int(number) >= len(people):
                return JoinDecision(False, "not_found", None, None)
            patient_id, clinician_id = people[int(number)]
            view = AppointmentView(
                id=appointment_id,
                establishment_id=establishment,
                prisoner_id=patient_id,
                clinician_id=clinician_id,
                service="gp",
                starts_at=now,
                ends_at=now + timedelta(hours=2),
                window_opens=now - timedelta(hours=1),
                window_closes=now + timedelta(hours=3),
                status="booked",
                relay_only=True,
            )
            if principal.role is Role.PRISONER and principal.account_id == patient_id:
                return JoinDecision(True, None, "patient", view)
            if principal.role is Role.CLINICIAN and principal.account_id == clinician_id:
                return JoinDecision(True, None, "clinician", view)
            return JoinDecision(False, "not_your_appointment", None, None)

        async def record_call_event(self, appointment_id: str, event: Any, actor: str) -> None:
            return None

        async def request_call_back(
            self, appointment_id: str, clinician_id: str, device_id: str | None
        ) -> bool:
            return False

        async def record_call_summary(self, appointment_id: str, summary: dict[str, Any]) -> None:
            return None

    settings = Settings.from_env()
    app = create_app(settings)
    app[JOIN_POLICY] = BenchPolicy()
    tune_gc(app)  # as `throughcare serve` does
    import uvloop

    # As `throughcare serve` runs it: on uvloop, like the bare relay.
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
        backlog=LISTEN_BACKLOG,  # as `throughcare serve` listens
    )


def serve_bare() -> None:
    """`--bare`: relay to `to` within a room; no authentication and no checks."""
    import uvloop
    from aiohttp import web

    rooms: dict[str, dict[str, web.WebSocketResponse]] = {}

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        me = room = ""
        async for msg in ws:
            if msg.type is not web.WSMsgType.TEXT:
                continue
            body = orjson.loads(msg.data)
            if body["type"] == "hello":
                me, room = body["id"], body["room"]
                rooms.setdefault(room, {})[me] = ws
                await ws.send_str('{"type":"welcome"}')
                continue
            peer = rooms.get(room, {}).get(body.pop("to"))
            if peer is not None:
                body["from"] = me
                await peer.send_str(orjson.dumps(body).decode())
        rooms.get(room, {}).pop(me, None)
        return ws

    app = web.Application()
    app.router.add_get("/readyz", ready)
    app.router.add_get("/ws", handler)
    port = int(os.environ["THROUGHCARE_PORT"])
    web.run_app(
        app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )


# ---------------------------------------------------------------- one measurement


@dataclass
class Target:
    label: str
    pids: list[int]
    patient_url: str
    clinician_url: str
    bare: bool
    redis_pid: int | None = None
    """The bench's own Redis (two nodes): its CPU is reported apart from the nodes'."""


async def measure(
    targets: Sequence[Target],
    counts: Sequence[int],
    seconds: float,
    *,
    windows: int,
    people: Sequence[Person],
    fixed_at: int | None,
) -> dict[str, dict[str, Any]]:
    """Figures per target and P. The closed loop runs in `windows` slices per target,
    the targets taking turns, and CPU per message is the median slice: a slow spell of
    this shared machine then lands on both targets instead of on whichever ran in it."""
    out: dict[str, dict[str, Any]] = {t.label: {} for t in targets}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for count in counts:
            opened: dict[str, list[Pair]] = {}
            figures: dict[str, dict[str, Any]] = {}
            stats = {t.label: Stats() for t in targets}
            for target in targets:
                rss_before = sum(memory_kb(pid, "VmRSS") for pid in target.pids)
                began = time.monotonic()
                opened[target.label] = await open_pairs(
                    session,
                    count,
                    target.patient_url,
                    target.clinician_url,
                    bare=target.bare,
                    people=people,
                    stats=stats[target.label],
                )
                setup_s = time.monotonic() - began
                log(f"{target.label} P={count}: {2 * count} clients in rooms in {setup_s:.1f} s")
                rss_in_rooms = sum(memory_kb(pid, "VmRSS") for pid in target.pids)
                figures[target.label] = {
                    "pairs": count,
                    "setup_s": round(setup_s, 2),
                    "kb_per_client": round((rss_in_rooms - rss_before) / (2 * count), 1),
                }
            stalls: dict[str, list[str]] = {t.label: [] for t in targets}
            for target in targets:  # warm-up
                await closed_loop(opened[target.label], min(seconds, 1.0), stalls[target.label])
            slices: dict[str, list[tuple[float, int, float, float]]] = {
                t.label: [] for t in targets
            }
            redis_slices: dict[str, list[float]] = {t.label: [] for t in targets}
            for _ in range(windows):
                for target in targets:
                    cpu0 = sum(cpu_seconds(pid) for pid in target.pids)
                    redis0 = cpu_seconds(target.redis_pid) if target.redis_pid else 0.0
                    gen0 = time.process_time()
                    t0 = time.monotonic()
                    relayed = await closed_loop(
                        opened[target.label], seconds / windows, stalls[target.label]
                    )
                    elapsed = time.monotonic() - t0
                    cpu = sum(cpu_seconds(pid) for pid in target.pids) - cpu0
                    if target.redis_pid and relayed:
                        redis_cpu = cpu_seconds(target.redis_pid) - redis0
                        redis_slices[target.label].append(redis_cpu * 1e6 / relayed)
                    generator = time.process_time() - gen0
                    slices[target.label].append((cpu, relayed, elapsed, generator))
            for target in targets:
                mine = slices[target.label]
                per_msg = [cpu * 1e6 / n for cpu, n, _, _ in mine if n]
                relayed = sum(n for _, n, _, _ in mine)
                elapsed = sum(e for _, _, e, _ in mine)
                figures[target.label].update(
                    msgs_per_s=round(relayed / elapsed),
                    cpu_us_per_msg=round(statistics.median(per_msg), 1) if per_msg else None,
                    cpu_us_per_msg_slices=[round(x, 1) for x in per_msg],
                    server_cpu_pct=round(100 * sum(c for c, _, _, _ in mine) / elapsed),
                    generator_cpu_pct=round(100 * sum(g for _, _, _, g in mine) / elapsed),
                    peak_rss_mb=round(sum(memory_kb(p, "VmHWM") for p in target.pids) / 1024, 1),
                    stalled_pairs=len(stalls[target.label]),
                )
                if redis_slices[target.label]:
                    figures[target.label]["redis_cpu_us_per_msg"] = round(
                        statistics.median(redis_slices[target.label]), 1
                    )
                if stalls[target.label]:
                    log(f"{target.label} P={count}: stalled, e.g. {stalls[target.label][0]}")
            baseline = next((t for t in targets if t.bare), None)
            for target in targets:
                if baseline is None or target is baseline:
                    continue
                paired = [
                    (a[0] / a[1]) / (b[0] / b[1])
                    for a, b in zip(slices[target.label], slices[baseline.label], strict=True)
                    if a[1] and b[1] and b[0]
                ]
                figures[target.label]["cpu_ratio_slices"] = [round(r, 2) for r in paired]
                if paired:
                    figures[target.label]["cpu_ratio"] = round(statistics.median(paired), 2)
            if len(targets) == 3:  # this code against `--before`, slice by slice
                now_s, before_s = slices[targets[0].label], slices[targets[1].label]
                change = [
                    (a[0] / a[1]) / (b[0] / b[1])
                    for a, b in zip(now_s, before_s, strict=True)
                    if a[1] and b[1] and b[0]
                ]
                if change:
                    figures[targets[0].label]["cpu_change_vs_before"] = round(
                        statistics.median(change), 3
                    )
                    figures[targets[0].label]["cpu_change_slices"] = [round(r, 3) for r in change]
            for target in targets:
                if fixed_at == count:
                    mine_stats = stats[target.label]
                    offered = await fixed_load(opened[target.label], seconds, mine_stats)
                    figures[target.label].update(
                        offered_msgs_per_s=round(offered),
                        latency_samples=len(mine_stats.latencies),
                        p50_ms=round(pct(mine_stats.latencies, 0.50), 2),
                        p95_ms=round(pct(mine_stats.latencies, 0.95), 2),
                        p99_ms=round(pct(mine_stats.latencies, 0.99), 2),
                    )
                print(f"{target.label} P={count}: {json.dumps(figures[target.label])}", flush=True)
                out[target.label][str(count)] = figures[target.label]
            closing = time.monotonic()
            await asyncio.gather(
                *(
                    c.close()
                    for pairs in opened.values()
                    for pair in pairs
                    for c in (pair.clinician, pair.patient)
                )
            )
            log(f"P={count}: closed in {time.monotonic() - closing:.1f} s")
            await asyncio.sleep(0.5)
    return out


async def sign_in_people(cluster: Any, count: int, path: Path) -> list[Person]:
    """`count` prisoners and `count` clinicians of their own, signed in through the
    identity service (in this process, on the cluster's store); their ids go to `path`
    for the servers' bench policy."""
    import pyotp

    from core.identity import Role
    from tests.world import PASSWORD
    from web.state import IDENTITY

    identity = cluster.identity_app[IDENTITY]
    world = cluster.world
    device = world.prisoners[0].device_credential
    gate = asyncio.Semaphore(16)  # the audit log batches what arrives together

    async def one(n: int) -> Person:
        number = f"Z{n:04d}ZZ"
        async with gate:
            patient_id = await identity.create_prisoner(
                establishment_id=world.est, prison_number=number, display_name=f"B{n}", pin="1234"
            )
            clinician_id, secret = await identity.create_staff(
                role=Role.CLINICIAN,
                establishment_id=world.est,
                username=f"bench.clinician.{n}",
                display_name=f"C{n}",
                password=PASSWORD,
            )
            patient = await identity.sign_in_prisoner(device, number, "1234")
            clinician = await identity.sign_in_staff(
                f"bench.clinician.{n}", PASSWORD, pyotp.TOTP(secret).now()
            )
        return Person(patient_id, clinician_id, patient.access.token, clinician.access.token)

    people = list(await asyncio.gather(*(one(n) for n in range(count))))
    await asyncio.to_thread(
        path.write_text, json.dumps([[p.patient_id, p.clinician_id] for p in people])
    )
    return people


async def checkout(rev: str, into: Path) -> Path:
    """The tree of `rev` (for `--before`), by `git archive`: no worktree is made."""
    root = HERE.parents[1]
    await asyncio.to_thread(into.mkdir, parents=True, exist_ok=True)
    proc = await asyncio.create_subprocess_shell(f"git -C {root} archive {rev} | tar -x -C {into}")
    if await proc.wait() != 0:
        raise RuntimeError(f"cannot check out {rev}")
    return into


async def main(
    quick: bool, counts: tuple[int, ...], phases: set[str], workdir: str | None, before: str | None
) -> dict[str, Any]:
    from core.identity.passwords import SecretHasher
    from tests.media.nodes import create_cluster

    os.sched_setaffinity(0, {GENERATOR_CPU})
    seconds = 3.0 if quick else 12.0
    windows = 5 if quick else 6
    limits = {
        "THROUGHCARE_WS_RATE": "10000",
        "THROUGHCARE_WS_BURST": "100000",
        "THROUGHCARE_LOG_LEVEL": "ERROR",
        "THROUGHCARE_ACCESS_TOKEN_SECONDS": "3600",
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tc-bench-sig-") as scratch:
        tmp = workdir or scratch
        cluster = await create_cluster(Path(tmp) / "one", redis_url=None, env=limits)
        try:
            world = await cluster.seed(SecretHasher(time_cost=1, memory_cost=1024))
            people_file = Path(tmp) / "people-one.json"
            began = time.monotonic()
            people = await sign_in_people(cluster, max(counts), people_file)
            log(f"{2 * len(people)} identities signed in in {time.monotonic() - began:.1f} s")
            serve = [sys.executable, str(HERE), "--serve"]
            bench_env = {"BENCH_PEOPLE": str(people_file), "BENCH_ESTABLISHMENT": world.est}
            node = await cluster.start_node("one", cpus=SERVER_CPUS, command=serve, **bench_env)
            one = Target("one node", [node.process.pid], node.ws_url, node.ws_url, bare=False)
            chosen = [one] if "one" in phases else []
            if before is not None:
                code = await checkout(before, Path(tmp) / "before-code")
                old = await cluster.start_node(
                    "before", cpus=SERVER_CPUS, command=serve, BENCH_CODE_DIR=str(code), **bench_env
                )
                chosen.append(
                    Target(f"one node ({before})", [old.process.pid], old.ws_url, old.ws_url, False)
                )
            bare = await cluster.start_node(
                "bare", cpus=SERVER_CPUS, command=[sys.executable, str(HERE), "--bare"]
            )
            base = Target("bare relay", [bare.process.pid], bare.ws_url, bare.ws_url, bare=True)
            if "bare" in phases:
                chosen.append(base)
            measured = await measure(
                chosen, counts, seconds, windows=windows, people=people, fixed_at=max(counts)
            )
            if "one" in phases:
                results["one_node"] = measured[one.label]
            if before is not None:
                results["before"] = measured[chosen[1].label]
            if "bare" in phases:
                results["bare_relay"] = measured[base.label]
        finally:
            await cluster.stop()

        if "two" not in phases:
            return _summary(results, counts, quick, before) if before else results
        # A Redis of the bench's own, on the nodes' core: its CPU is measured, and
        # the shared one (other people's tests) neither disturbs nor is disturbed.
        redis_port = free_tcp_port()
        redis = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            SERVER_CPUS,
            "redis-server",
            "--port",
            str(redis_port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await _wait_redis(redis_port)
        cluster = await create_cluster(
            Path(tmp) / "two", redis_url=f"redis://127.0.0.1:{redis_port}/0", env=limits
        )
        try:
            world = await cluster.seed(SecretHasher(time_cost=1, memory_cost=1024))
            two_counts = [c for c in counts if c >= 100] or list(counts)
            people_file = Path(tmp) / "people-two.json"
            people = await sign_in_people(cluster, max(two_counts), people_file)
            bench_env = {"BENCH_PEOPLE": str(people_file), "BENCH_ESTABLISHMENT": world.est}
            if os.environ.get("BENCH_CODE_DIR"):  # the two nodes on another revision's code
                bench_env["BENCH_CODE_DIR"] = os.environ["BENCH_CODE_DIR"]
            serve = [sys.executable, str(HERE), "--serve"]
            a = await cluster.start_node("a", cpus=SERVER_CPUS, command=serve, **bench_env)
            b = await cluster.start_node("b", cpus=SERVER_CPUS, command=serve, **bench_env)
            two = Target(
                "two nodes",
                [a.process.pid, b.process.pid],
                a.ws_url,
                b.ws_url,
                bare=False,
                redis_pid=redis.pid,
            )
            results["two_nodes"] = (
                await measure(
                    [two],
                    two_counts,
                    seconds,
                    windows=1 if quick else 3,
                    people=people,
                    fixed_at=max(two_counts),
                )
            )[two.label]
        finally:
            await cluster.stop()
            redis.terminate()
            await redis.wait()
    return _summary(results, counts, quick, before)


def _summary(
    results: dict[str, Any], counts: tuple[int, ...], quick: bool, before: str | None
) -> dict[str, Any]:
    top = str(max(counts))
    if before is not None and {"one_node", "before", "bare_relay"} <= set(results):
        results["against_before"] = {
            "before": before,
            "cpu_ratio": results["one_node"][top].get("cpu_ratio"),
            "cpu_ratio_before": results["before"][top].get("cpu_ratio"),
            "cpu_change_vs_before": results["one_node"][top].get("cpu_change_vs_before"),
            "cpu_change_slices": results["one_node"][top].get("cpu_change_slices"),
        }
    if not {"one_node", "bare_relay", "two_nodes"} <= set(results):
        return results
    one_k = results["one_node"][top]
    bare_k = results["bare_relay"][top]
    two_k = results["two_nodes"][top]
    summary = {
        "cpu_us_per_msg": one_k["cpu_us_per_msg"],
        "baseline_cpu_us_per_msg": bare_k["cpu_us_per_msg"],
        "cpu_ratio": one_k.get("cpu_ratio"),
        "cpu_ratio_slices": one_k.get("cpu_ratio_slices"),
        "p99_ms_fixed_load": one_k.get("p99_ms"),
        "p50_ms_fixed_load": one_k.get("p50_ms"),
        "p95_ms_fixed_load": one_k.get("p95_ms"),
        "offered_msgs_per_s": one_k.get("offered_msgs_per_s"),
        "baseline_p99_ms_fixed_load": bare_k.get("p99_ms"),
        "kb_per_client": one_k["kb_per_client"],
        "peak_rss_mb": one_k["peak_rss_mb"],
        "msgs_per_s": {k: v["msgs_per_s"] for k, v in results["one_node"].items()},
        "baseline_msgs_per_s": {k: v["msgs_per_s"] for k, v in results["bare_relay"].items()},
        "two_node_cpu_us_per_msg": two_k["cpu_us_per_msg"],
        "two_node_msgs_per_s": two_k["msgs_per_s"],
        "two_node_stalled_pairs": two_k["stalled_pairs"],
        "two_node_cpu_us_per_msg_by_pairs": {
            k: v["cpu_us_per_msg"] for k, v in results["two_nodes"].items()
        },
        "two_node_msgs_per_s_by_pairs": {
            k: v["msgs_per_s"] for k, v in results["two_nodes"].items()
        },
        **_two_node_goals(results, top),
        "pairs": max(counts),
        "quick": quick,
        **({"against_before": results["against_before"]} if "against_before" in results else {}),
    }
    return summary


def _two_node_goals(results: dict[str, Any], top: str) -> dict[str, Any]:
    """Issue 19's two-node figures: at the largest P, and at P = 100 (`_p100`)."""
    out: dict[str, Any] = {}
    for count, suffix in ((top, ""), ("100", "_p100")):
        two = results["two_nodes"].get(count)
        one = results["one_node"].get(count)
        if two is None or one is None or (suffix and count == top):
            continue
        two_us, one_us = two["cpu_us_per_msg"], one["cpu_us_per_msg"]
        out.update(
            {
                f"two_node_cpu_us_per_msg{suffix}": two_us,
                f"one_node_cpu_us_per_msg{suffix}": one_us,
                f"ratio{suffix}": round(two_us / one_us, 2) if two_us and one_us else None,
                f"redis_cpu_us_per_msg{suffix}": two.get("redis_cpu_us_per_msg"),
                f"p99_ms_two_node{suffix}": two.get("p99_ms"),
                f"stalled_pairs{suffix}": two["stalled_pairs"],
            }
        )
    return out


async def _wait_redis(port: int) -> None:
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError("the bench's Redis did not start")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="P = 10 and 100, five 3 s slices each: about a minute"
    )
    parser.add_argument(
        "--pairs", default=None, help="comma-separated P values (10,100,1000; quick: 10,100)"
    )
    parser.add_argument(
        "--two-node",
        action="store_true",
        help="one node, the bare relay and two nodes on a Redis of the bench's own (the default)",
    )
    parser.add_argument("--phases", default="one,bare,two", help=argparse.SUPPRESS)
    parser.add_argument(
        "--workdir", help="keep node logs and data here instead of a temporary folder"
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also serve git revision REV (e.g. main) as a third target, in the same slices",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_app()
    elif args.bare:
        serve_bare()
    else:
        import uvloop

        pairs = args.pairs or ("10,100" if args.quick else "10,100,1000")
        counts = tuple(sorted(int(p) for p in pairs.split(",")))
        phases = set(args.phases.split(","))
        print(json.dumps(uvloop.run(main(args.quick, counts, phases, args.workdir, args.before))))
