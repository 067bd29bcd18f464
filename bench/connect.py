"""Authenticated connections against bare aiohttp ones, and a reconnect storm.

    .venv/bin/python bench/connect.py            # 5,000 clients; a storm of 2,000
    .venv/bin/python bench/connect.py --quick    # 2,000 clients; the same storm (under 2 min)
    .venv/bin/python bench/connect.py --profile /tmp/connect.prof   # the server under cProfile
    .venv/bin/python bench/connect.py --quick --trace-memory 20   # where a client's memory goes

The servers are bench/signalling.py's (`--serve`: the real application with its bench
join policy; `--bare`: a bare aiohttp WebSocket relay, uvloop + orjson, no checks), each
started by `tests/media/nodes.py` on CPU 1, with this generator (uvloop) on CPU 0. Every
simulated client has an identity of its own, signed in through the identity service
before the servers start (bench/signalling.py's `sign_in_people`).

Connections. N clients (`--clients`, 5,000; 2,000 in --quick) connect in turns of
N/5 to the application and to the bare relay, at most `--concurrency` at a time: a
WebSocket upgrade, then `hello` (the access token; the bare relay takes an id) up to
`welcome`. For each server: connections per second, server CPU per connection (CPU time
from /proc/<pid>/stat over the turns, divided by the clients connected in them) and
memory per connected client (VmRSS with all N connected, minus VmRSS before any, over N).
`held_by_server` is the application's own count of open sockets at that moment (it
must be N: the clients do not read then, so the application's heartbeat is set to
300 s, or the first of them, not answering pings, would be dropped before the
memory is read). Then every client closes. `ratio` is the application's CPU per
connection over the bare relay's.

The storm (`--storm`, 2,000 clients = 1,000 consults). Each pair joins its consult
(the patient waits, the clinician admits it) and keeps its resume token and the highest
`seq` it has seen. Every client then closes at once (both members go `away`); once the
server holds no socket, all of them reconnect at once with `hello` and `resume`. A client
is back when it has `welcome` with `resumed: true` and `replay: "complete"`, and has seen
its peer present again (in the snapshot, or by `reconnected`). `storm_s` is the time from
the first reconnect to the last client back. Nothing missed: no `seq` a client saw twice
or out of order, every replay complete, and then each clinician's offer reaches its
patient and the patient's answer its clinician.

The last line is one JSON object: conn_cpu_ms, bare_conn_cpu_ms, ratio, kb_per_client,
storm_s, plus the rest of the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import orjson  # noqa: E402
from relay_load import Person  # noqa: E402

HERE = Path(__file__).resolve()
SIGNALLING_BENCH = HERE.parent / "signalling.py"


def _signalling_bench() -> Any:
    """bench/signalling.py (its servers, /proc readers and sign-ins), by path: its name
    is the `signalling` package's."""
    spec = importlib.util.spec_from_file_location("bench_signalling", SIGNALLING_BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_bench = _signalling_bench()
GENERATOR_CPU: int = _bench.GENERATOR_CPU
SERVER_CPUS: str = _bench.SERVER_CPUS
cpu_seconds = _bench.cpu_seconds
memory_kb = _bench.memory_kb
log = _bench.log
sign_in_people = _bench.sign_in_people
SLICES = 5
OFFER_SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def serve_profiled() -> None:
    """`--serve-profiled FILE`: bench/signalling.py's server under cProfile, dumped on exit."""
    import cProfile

    out = sys.argv[sys.argv.index("--serve-profiled") + 1]
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        _bench.serve_app()
    finally:
        profiler.disable()
        profiler.dump_stats(out)


def serve_traced() -> None:
    """`--serve-traced DIR`: bench/signalling.py's server; the first SIGUSR1 starts
    tracemalloc (after start-up, which it would slow past the nodes' minute), and each
    dumps a snapshot to DIR/<n>.snap (n counting from 0) and then writes DIR/<n>.done."""
    import signal
    import tracemalloc

    out = Path(sys.argv[sys.argv.index("--serve-traced") + 1])
    taken = [0]

    def dump(_signum: int, _frame: object) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(12)
        n = taken[0]
        taken[0] += 1
        tracemalloc.take_snapshot().dump(str(out / f"{n}.snap"))
        (out / f"{n}.done").touch()

    signal.signal(signal.SIGUSR1, dump)
    _bench.serve_app()


async def snapshot(pid: int, folder: Path, n: int) -> None:
    """Ask the traced server (`serve_traced`) for snapshot `n` and wait until it is on disk."""
    import signal

    os.kill(pid, signal.SIGUSR1)
    while not (folder / f"{n}.done").exists():  # noqa: ASYNC110 (another process writes it)
        await asyncio.sleep(0.1)


def report_memory(folder: Path, clients: int, top: int) -> None:
    """Where the application's Python memory per connected client went: the allocations
    alive with every client connected and not before, by where they were made."""
    import tracemalloc

    before = tracemalloc.Snapshot.load(str(folder / "0.snap"))
    after = tracemalloc.Snapshot.load(str(folder / "1.snap"))
    drop = (
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    )
    before, after = before.filter_traces(drop), after.filter_traces(drop)
    total = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    log(f"traced: {total / clients / 1024:.2f} KB per client in Python objects")
    for key in ("lineno", "traceback"):
        log(f"--- by {key}, bytes per client (count per client)")
        for stat in after.compare_to(before, key)[:top]:
            log(
                f"{stat.size_diff / clients:8.0f} B  {stat.count_diff / clients:6.2f}  "
                + (
                    " <- ".join(
                        f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback[-8:])
                    )
                )
            )


# ---------------------------------------------------------------- connections


async def connect_all(
    session: aiohttp.ClientSession,
    url: str,
    hellos: list[dict[str, Any]],
    concurrency: int,
) -> list[aiohttp.ClientWebSocketResponse]:
    gate = asyncio.Semaphore(concurrency)

    async def one(hello: dict[str, Any]) -> aiohttp.ClientWebSocketResponse:
        async with gate:
            ws = await session.ws_connect(url, max_msg_size=0)
            await ws.send_str(orjson.dumps({"v": 1, "type": "hello", **hello}).decode())
            msg = await ws.receive(timeout=60)
            if msg.type is not aiohttp.WSMsgType.TEXT or '"welcome"' not in msg.data:
                raise RuntimeError(f"no welcome: {msg.type} {str(msg.data)[:200]}")
            return ws

    return list(await asyncio.gather(*(one(h) for h in hellos)))


async def measure_connections(
    session: aiohttp.ClientSession,
    targets: dict[str, tuple[int, str]],
    hellos: dict[str, list[dict[str, Any]]],
    concurrency: int,
    traced: Path | None = None,
    app_base: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Each target's clients connect in SLICES turns, the targets alternating; with
    `traced`, the application's memory is snapshot before and with all connected."""
    figures: dict[str, dict[str, Any]] = {}
    opened: dict[str, list[aiohttp.ClientWebSocketResponse]] = {label: [] for label in targets}
    cpu: dict[str, float] = dict.fromkeys(targets, 0.0)
    wall: dict[str, float] = dict.fromkeys(targets, 0.0)
    if traced is not None:
        await snapshot(targets["app"][0], traced, 0)
    rss_before = {label: memory_kb(pid, "VmRSS") for label, (pid, _) in targets.items()}
    count = len(next(iter(hellos.values())))
    step = -(-count // SLICES)
    for start in range(0, count, step):
        for label, (pid, url) in targets.items():
            batch = hellos[label][start : start + step]
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            opened[label] += await connect_all(session, url, batch, concurrency)
            wall[label] += time.monotonic() - t0
            cpu[label] += cpu_seconds(pid) - cpu0
    if traced is not None:
        await snapshot(targets["app"][0], traced, 1)
    # Memory per client counts only if the server still holds every one of them.
    held = await connections_on(session, app_base) if app_base is not None else None
    for label, (pid, _) in targets.items():
        rss = memory_kb(pid, "VmRSS")
        figures[label] = {
            "clients": count,
            **({"held_by_server": held} if label == "app" and held is not None else {}),
            "conn_per_s": round(count / wall[label]),
            "conn_cpu_ms": round(cpu[label] * 1000 / count, 3),
            "kb_per_client": round((rss - rss_before[label]) / count, 1),
            "peak_rss_mb": round(memory_kb(pid, "VmHWM") / 1024, 1),
        }
        log(f"{label}: {json.dumps(figures[label])}")
    for sockets in opened.values():
        await asyncio.gather(*(ws.close() for ws in sockets))
    return figures


# ---------------------------------------------------------------- the storm


@dataclass
class StormClient:
    me: str
    peer: str
    token: str
    clinician: bool
    ws: aiohttp.ClientWebSocketResponse | None = None
    resume_token: str | None = None
    last_seq: int = 0
    seqs: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    peer_present: bool = False
    welcomed: asyncio.Event = field(default_factory=asyncio.Event)
    back: asyncio.Event = field(default_factory=asyncio.Event)
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    reader: asyncio.Task[None] | None = None

    async def send(self, body: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(orjson.dumps({"v": 1, **body}).decode())

    def start(self) -> None:
        self.reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue
            body = orjson.loads(msg.data)
            self._note(body)
            self.inbox.put_nowait(body)

    def _note(self, body: dict[str, Any]) -> None:
        kind, seq = body.get("type"), int(body.get("seq", 0))
        if kind in ("welcome", "room", "error", "pong"):
            if kind == "error":
                self.problems.append(f"error {body.get('code')} {body.get('reason')}")
            room = body.get("room") if kind == "welcome" else body
            if room:
                self.resume_token = room.get("resume_token") or self.resume_token
                for member in room.get("members", []):
                    if member["participant"] == self.peer:
                        self.peer_present = member["status"] == "present"
            if kind == "welcome":
                if body.get("resume_token"):
                    self.resume_token = body["resume_token"]
                if body.get("resumed") and body.get("replay") != "complete":
                    self.problems.append(f"replay {body.get('replay')}")
                self.welcomed.set()
        else:
            if seq <= self.last_seq:
                self.problems.append(f"seq {seq} after {self.last_seq}")
            self.seqs.append(seq)
            if body.get("participant") == self.peer:
                if kind in ("reconnected", "joined", "admitted"):
                    self.peer_present = True
                elif kind in ("away", "left"):
                    self.peer_present = False
        self.last_seq = max(self.last_seq, seq)
        if self.welcomed.is_set() and self.peer_present:
            self.back.set()

    async def expect(self, kind: str, wait: float = 30.0) -> dict[str, Any]:
        while True:
            body = await asyncio.wait_for(self.inbox.get(), wait)
            if body.get("type") == kind:
                return body

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await asyncio.gather(self.reader, return_exceptions=True)
        self.reader = None


async def open_rooms(
    session: aiohttp.ClientSession, url: str, people: list[Person], concurrency: int
) -> list[tuple[StormClient, StormClient]]:
    """Each pair in its own consult: the patient waiting, then admitted by its clinician."""
    gate = asyncio.Semaphore(concurrency)

    async def pair(n: int, person: Person) -> tuple[StormClient, StormClient]:
        patient = StormClient(person.patient_id, person.clinician_id, person.patient_token, False)
        clinician = StormClient(
            person.clinician_id, person.patient_id, person.clinician_token, True
        )
        room = f"bench-{n}-{uuid.uuid4().hex[:12]}"
        async with gate:
            for client in (patient, clinician):
                client.ws = await session.ws_connect(url, max_msg_size=0)
                client.start()
                await client.send({"type": "hello", "token": client.token})
                await client.expect("welcome")
                await client.send({"type": "join", "appointment": room})
                await client.expect("room")
            await clinician.send({"type": "admit", "participant": person.patient_id})
            await patient.expect("admitted")
            await clinician.expect("joined")
        return patient, clinician

    return list(await asyncio.gather(*(pair(n, p) for n, p in enumerate(people))))


async def connections_on(session: aiohttp.ClientSession, base: str) -> int:
    async with session.get(base + "/metrics") as resp:
        text = await resp.text()
    for line in text.splitlines():
        if line.startswith("throughcare_ws_connections "):
            return int(float(line.split()[1]))
    return -1


async def storm(
    session: aiohttp.ClientSession, url: str, base: str, people: list[Person], concurrency: int
) -> dict[str, Any]:
    began = time.monotonic()
    pairs = await open_rooms(session, url, people, concurrency)
    clients = [c for pair in pairs for c in pair]
    log(f"storm: {len(clients)} clients in their rooms in {time.monotonic() - began:.1f} s")
    await asyncio.sleep(0.5)  # the last joined/admitted land
    await asyncio.gather(*(c.close() for c in clients))
    for _ in range(600):
        if await connections_on(session, base) == 0:
            break
        await asyncio.sleep(0.05)
    for client in clients:
        client.welcomed, client.back = asyncio.Event(), asyncio.Event()
        client.peer_present = False
        client.inbox = asyncio.Queue()
        if client.resume_token is None:
            client.problems.append("no resume token")

    async def reconnect(client: StormClient) -> None:
        client.ws = await session.ws_connect(url, max_msg_size=0)
        client.start()
        await client.send(
            {
                "type": "hello",
                "token": client.token,
                "resume": {"token": client.resume_token, "last_seq": client.last_seq},
            }
        )
        await asyncio.wait_for(client.back.wait(), 60)

    cpu0 = cpu_seconds(int(os.environ["BENCH_STORM_PID"]))
    start = time.monotonic()
    outcomes = await asyncio.gather(*(reconnect(c) for c in clients), return_exceptions=True)
    storm_s = time.monotonic() - start
    storm_cpu = cpu_seconds(int(os.environ["BENCH_STORM_PID"])) - cpu0
    failed = [repr(o) for o in outcomes if isinstance(o, BaseException)]
    # Back in the room: each clinician's offer reaches its patient, and the answer comes back.
    relayed = 0
    for patient, clinician in pairs:
        try:
            await clinician.send({"type": "offer", "to": patient.me, "sdp": OFFER_SDP})
        except aiohttp.ClientError:
            clinician.problems.append(
                f"closed by the server ({clinician.ws and clinician.ws.close_code})"
            )
    for patient, clinician in pairs:
        try:
            got = await patient.expect("offer", 10)
            if got.get("from") == clinician.me:
                relayed += 1
            await patient.send({"type": "answer", "to": clinician.me, "sdp": OFFER_SDP})
            got = await clinician.expect("answer", 10)
            if got.get("from") == patient.me:
                relayed += 1
        except (TimeoutError, aiohttp.ClientError):
            patient.problems.append("the offer or answer did not arrive")
    problems = [f"{c.me[:8]}: {p}" for c in clients for p in c.problems]
    await asyncio.gather(*(c.close() for c in clients))
    figures = {
        "clients": len(clients),
        "storm_s": round(storm_s, 2),
        "storm_cpu_ms_per_client": round(storm_cpu * 1000 / len(clients), 3),
        "failed": len(failed),
        "failures": failed[:3],
        "relayed_after": relayed,
        "problems": len(problems),
        "problem_examples": problems[:5],
    }
    log(f"storm: {json.dumps(figures)}")
    return figures


# ---------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from core.identity.passwords import SecretHasher
    from tests.media.nodes import create_cluster

    os.sched_setaffinity(0, {GENERATOR_CPU})
    clients = args.clients or (2000 if args.quick else 5000)
    storm_clients = args.storm
    env = {
        "THROUGHCARE_LOG_LEVEL": "ERROR",
        "THROUGHCARE_ACCESS_TOKEN_SECONDS": "3600",
        "THROUGHCARE_WS_MAX_CONNECTIONS": str(max(clients, storm_clients) + 100),
        # Every client of the bench comes from 127.0.0.1: the per-address limit is raised
        # (it is still counted), as the per-connection rate limit is in bench/signalling.py.
        "THROUGHCARE_WS_CONNECT_PER_ADDRESS": "100000",
        "THROUGHCARE_TURN_URLS": "turn:127.0.0.1:3478?transport=udp",
        "THROUGHCARE_TURN_SECRET": "bench-turn-secret",
    }
    # The clients here do not read while all are connected, so they would not answer
    # the server's pings: at the default 20 s the first ones were dropped before the
    # memory was read (as real clients are not), and the bare relay pings nobody.
    env["THROUGHCARE_WS_HEARTBEAT_SECONDS"] = "300"
    with tempfile.TemporaryDirectory(prefix="tc-bench-connect-") as scratch:
        tmp = Path(args.workdir or scratch)
        cluster = await create_cluster(tmp / "cluster", redis_url=None, env=env)
        try:
            world = await cluster.seed(SecretHasher(time_cost=1, memory_cost=1024))
            pairs = -(-max(clients, storm_clients) // 2)
            began = time.monotonic()
            people_file = tmp / "people.json"
            people = await sign_in_people(cluster, pairs, people_file)
            log(f"{2 * pairs} identities signed in in {time.monotonic() - began:.1f} s")
            bench_env = {"BENCH_PEOPLE": str(people_file), "BENCH_ESTABLISHMENT": world.est}
            serve = [sys.executable, str(SIGNALLING_BENCH), "--serve"]
            if args.profile:
                serve = [sys.executable, str(HERE), "--serve-profiled", args.profile]
            traced = tmp / "traced" if args.trace_memory else None
            if traced is not None:
                traced.mkdir(exist_ok=True)
                serve = [sys.executable, str(HERE), "--serve-traced", str(traced)]
            app = await cluster.start_node("app", cpus=SERVER_CPUS, command=serve, **bench_env)
            bare = await cluster.start_node(
                "bare", cpus=SERVER_CPUS, command=[sys.executable, str(SIGNALLING_BENCH), "--bare"]
            )
            tokens = [t for p in people for t in (p.patient_token, p.clinician_token)][:clients]
            ids = [i for p in people for i in (p.patient_id, p.clinician_id)][:clients]
            hellos = {
                "app": [{"token": t} for t in tokens],
                "bare": [{"id": i, "room": f"r{n // 2}"} for n, i in enumerate(ids)],
            }
            connector = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector) as session:
                conns = await measure_connections(
                    session,
                    {"app": (app.process.pid, app.ws_url), "bare": (bare.process.pid, bare.ws_url)},
                    hellos,
                    args.concurrency,
                    traced,
                    app.url,
                )
                if traced is not None:
                    report_memory(traced, clients, args.trace_memory)
                await asyncio.sleep(1.0)
                os.environ["BENCH_STORM_PID"] = str(app.process.pid)
                stormed = await storm(
                    session,
                    app.ws_url,
                    app.url,
                    people[: storm_clients // 2],
                    args.concurrency,
                )
        finally:
            await cluster.stop()
    a, b = conns["app"], conns["bare"]
    return {
        "connections": conns,
        "storm": stormed,
        "clients": clients,
        "storm_clients": stormed["clients"],
        "conn_per_s": a["conn_per_s"],
        "bare_conn_per_s": b["conn_per_s"],
        "storm_ok": not stormed["failed"]
        and not stormed["problems"]
        and stormed["relayed_after"] == stormed["clients"],
        "quick": args.quick,
        "conn_cpu_ms": a["conn_cpu_ms"],
        "bare_conn_cpu_ms": b["conn_cpu_ms"],
        "ratio": round(a["conn_cpu_ms"] / b["conn_cpu_ms"], 2) if b["conn_cpu_ms"] else None,
        "kb_per_client": a["kb_per_client"],
        "storm_s": stormed["storm_s"],
    }


if __name__ == "__main__":
    if "--serve-profiled" in sys.argv:
        serve_profiled()
        sys.exit(0)
    if "--serve-traced" in sys.argv:
        serve_traced()
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 clients: under two minutes")
    parser.add_argument("--clients", type=int, default=0, help="clients to connect (5,000)")
    parser.add_argument("--storm", type=int, default=2000, help="clients in the storm (2,000)")
    parser.add_argument("--concurrency", type=int, default=64, help="connects in flight")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile")
    parser.add_argument(
        "--trace-memory",
        metavar="TOP",
        type=int,
        default=0,
        help="tracemalloc in the server: print the TOP places a client's memory goes",
    )
    parser.add_argument("--workdir", help="keep node logs and data here")
    arguments = parser.parse_args()
    import uvloop

    print(json.dumps(uvloop.run(main(arguments))))
