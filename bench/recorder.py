"""The recorder's CPU per recorded consult, against aiortc's transcoding `MediaRecorder`.

    .venv/bin/python bench/recorder.py            # N = 1, 2, 4 consults at once, two rounds
    .venv/bin/python bench/recorder.py --quick    # N = 2 only, one round, one consult
                                                  # finalised per run (under two minutes)

A consult is two members, each sending a 640x360 VP8 picture and Opus audio, pre-encoded
with `MediaPlayer(..., decode=False)` (the test-call clip, media/echo.py) so the senders
never encode; they run in this process, relay-only through coturn on loopback. What
records them runs in a process of its own, whose CPU (every thread, from /proc) is read
over the steady state once every connection is up, and divided by N:

- `recorder`: `media.recorder.RoomRecorder` on the path the start-up check chose (the
  encoded path: nothing decoded, nothing encoded), sealing as it writes;
- `transcode`: aiortc's `MediaRecorder`, one per member, in the same run with the same
  streams: aiortc decodes what arrives, `MediaRecorder` encodes it again (VP8 + Opus);
- `decoded`: the recorder forced onto its public-API fallback (N = 1 only), for the docs.

`stop` then finalises each recorded consult (ffmpeg: both voices mixed, both pictures side
by side, VP8 + Opus); that one-off cost comes after the call and is reported apart, as
CPU-seconds per minute of consult (the recorder process and its ffmpeg children). The
store the recorder writes into is a bench stand-in for `Recordings` (no database): it seals
to a local directory exactly as the real one does and registers nothing.

The last line is one JSON object:
{"core_per_consult", "transcode_core_per_consult", "ratio", ...}, ratio = recorder/transcode.
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

from media.turn import turn_credential  # noqa: E402
from tests.turn import Turn, start_turnserver  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CLIP_SECONDS = 240


def make_clip(path: Path, seconds: int) -> None:
    """The members' media: FFmpeg's test picture and a tone, VP8 (500 kbit/s, a keyframe a
    second) and Opus, as the test-call clip is (blocking). Eight seconds are encoded once in
    real-time mode, then repeated by copying packets, long enough to outlast the slowest
    set-up. Kept in the temporary directory between runs (it is test media, nothing else)."""
    if path.exists():
        return
    base = path.with_name(path.name + f".{os.getpid()}.base.webm")
    part = path.with_name(path.name + f".{os.getpid()}.part")
    quiet = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run(
        quiet + [
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=8",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=8",
            "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k",
            "-g", "30", "-c:a", "libopus", "-b:a", "32k", "-ac", "2", "-f", "webm", str(base),
        ],
        check=True,
    )  # fmt: skip
    # The concat demuxer moves each copy's timestamps on past the one before (a looped
    # input copied as it is would jump, and MediaPlayer would stall at each jump).
    listing = path.with_name(path.name + f".{os.getpid()}.txt")
    listing.write_text(f"file '{base}'\n" * (seconds // 8))
    subprocess.run(
        quiet + [
            "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy",
            "-f", "webm", str(part),
        ],
        check=True,
    )  # fmt: skip
    listing.unlink()
    base.unlink()
    os.replace(part, path)


SIZES = (1, 2, 4)
QUICK_SIZES = (2,)


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime + stime of a process, every thread (and its waited-for children if asked)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


# ------------------------------------------------------------------ the recording process


class _BenchNew:
    """What `finalise` writes into: sealed to local files as `NewRecording` does."""

    def __init__(self, storage: Any, n: int) -> None:
        from media.recordings import SealedWriter

        key = os.urandom(32)
        self.media = SealedWriter(storage, f"bench/{n}/media", key, f"bench/{n}/media")
        self.poster = SealedWriter(storage, f"bench/{n}/poster", key, f"bench/{n}/poster")

    async def write(self, data: bytes) -> None:
        await self.media.write(data)

    async def finish(self, *, duration_ms: int, mime: str) -> Any:
        size, _, _ = await self.media.finish()
        await self.poster.finish()
        return {"duration_ms": duration_ms, "size": size}

    async def abort(self) -> None:
        await self.media.abort()
        await self.poster.abort()


class _BenchRecordings:
    def __init__(self, storage: Any) -> None:
        self.storage = storage
        self.made = 0

    async def begin(self, appointment_id: str, *, actor: str) -> _BenchNew:
        self.made += 1
        new = _BenchNew(self.storage, self.made)
        await new.media.open()
        await new.poster.open()
        return new


class _Consent:
    async def recording_allowed(self, appointment_id: str) -> bool:
        return True


async def serve(mode: str, workdir: str) -> None:
    """The child: answers offers on stdin, records, and on "stop" reports and exits."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.contrib.media import MediaRecorder

    from media.peer import rtc_configuration
    from media.recorder import CapturePath, RecorderDeps, RoomRecorder
    from media.recording_storage import LocalStorage

    storage = LocalStorage(Path(workdir) / "store")
    recordings = _BenchRecordings(storage)
    recorders: dict[int, RoomRecorder] = {}
    transcoders: list[tuple[RTCPeerConnection, MediaRecorder]] = []
    started = time.monotonic()
    while line := await asyncio.to_thread(sys.stdin.readline):
        job = json.loads(line)
        if job["op"] == "offer":
            servers = job["ice_servers"]
            if mode == "transcode":
                pc = RTCPeerConnection(rtc_configuration(servers, relay_only=True))
                sink = MediaRecorder(f"{workdir}/t{len(transcoders)}.webm")
                pc.on("track", sink.addTrack)
                await pc.setRemoteDescription(RTCSessionDescription(job["sdp"], "offer"))
                await pc.setLocalDescription(await pc.createAnswer())
                await sink.start()
                transcoders.append((pc, sink))
                answer = pc.localDescription.sdp
            else:
                consult = job["consult"]
                if consult not in recorders:

                    async def ice(s: list[dict[str, Any]] = servers) -> list[dict[str, Any]]:
                        return s

                    deps = RecorderDeps(recordings, _Consent(), ice)  # type: ignore[arg-type]
                    path = CapturePath.DECODED if mode == "decoded" else None
                    recorders[consult] = RoomRecorder(deps, f"c{consult}", "bench", path=path)
                    await recorders[consult].start()
                answer = await recorders[consult].accept(f"m{job['member']}", job["sdp"])
            print(json.dumps({"sdp": answer}), flush=True)
        elif job["op"] == "stop":
            media_s = time.monotonic() - started
            paths = sorted({r.path.value for r in recorders.values()})
            before = cpu_seconds(os.getpid(), children=True)
            # Every consult ends now, together: stopped one after another, the later ones
            # kept recording while the earlier ones were finalised (a 10 s consult was stored
            # at 57 s and 240 s, which read as senders faster than real time).
            keep = job.get("finalise", len(recorders))
            ended: list[Any] = await asyncio.gather(
                *(
                    recorder.stop() if n < keep else recorder.discard()
                    for n, recorder in enumerate(recorders.values())
                )
            )
            durations = [done["duration_ms"] for done in ended if done is not None]
            stored = len(durations)
            written = []
            for n, (pc, sink) in enumerate(transcoders):
                await sink.stop()
                await pc.close()
                written.append((await asyncio.to_thread(os.stat, f"{workdir}/t{n}.webm")).st_size)
            finalise_s = cpu_seconds(os.getpid(), children=True) - before
            print(
                json.dumps(
                    {
                        "finalise_cpu_s": finalise_s,
                        "media_s": media_s,
                        "stored": stored,
                        "paths": paths,
                        "durations_ms": durations,
                        "transcoded_bytes": written,
                    }
                ),
                flush=True,
            )
            return


# ------------------------------------------------------------------ the members


class _Paced:
    """A player's track sent at the pace of its timestamps, from its first packet.

    aiortc's `MediaPlayer(decode=False)` paces each track from the first packet it hands
    out, but under load some members' tracks were seen sending several times faster than
    real time (57 s of media in 10 s): the recorder and the transcoder then had several
    consults' worth of packets to keep, and the stored file was as long as the timestamps
    said. Each track is paced here on its own clock, so every member sends real time."""

    def __new__(cls, track: Any) -> Any:
        from aiortc.mediastreams import MediaStreamTrack

        class Paced(MediaStreamTrack):
            kind = track.kind

            def __init__(self) -> None:
                super().__init__()
                self._start: float | None = None

            async def recv(self) -> Any:
                packet = await track.recv()
                at = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                if self._start is None:
                    self._start = time.monotonic() - at
                wait = self._start + at - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                return packet

            def stop(self) -> None:
                super().stop()
                track.stop()

        return Paced()


def paced(media: Any) -> Any:
    from media.tracks import LocalMedia

    return LocalMedia(_Paced(media.audio), _Paced(media.video), player=media.player)


def servers(turn: Turn, who: str) -> list[dict[str, Any]]:
    cred = turn_credential(
        turn.secret,
        appointment_id="bench",
        participant_id=who,
        expires=datetime.now(UTC) + timedelta(minutes=30),
    )
    return [{"urls": [turn.url], "username": cred.username, "credential": cred.password}]


async def run(
    mode: str, n: int, turn: Turn, clip: Path, work: Path, steady: float, finalise: int | None
) -> dict[str, Any]:
    """N consults recorded by one `mode` process; its cores in steady state and more."""
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from media.peer import create_peer, rtc_configuration
    from media.precall import encoded_source

    child_dir = Path(tempfile.mkdtemp(prefix=f"{mode}-", dir=work))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        mode,
        str(child_dir),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    members: list[tuple[RTCPeerConnection, Any]] = []

    async def ask(job: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write((json.dumps(job) + "\n").encode())
        await proc.stdin.drain()
        answer: dict[str, Any] = json.loads(await proc.stdout.readline())
        return answer

    try:
        for consult in range(n):
            for member in range(2):
                media = paced(await encoded_source(clip)())
                who = f"c{consult}m{member}"
                pc = create_peer(rtc_configuration(servers(turn, who), relay_only=True), media)
                members.append((pc, media))
                await pc.setLocalDescription(await pc.createOffer())
                answer = await ask(
                    {
                        "op": "offer",
                        "consult": consult,
                        "member": member,
                        "sdp": pc.localDescription.sdp,
                        "ice_servers": servers(turn, f"rec{consult}m{member}"),
                    }
                )
                await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        for _ in range(1200):
            if all(pc.connectionState == "connected" for pc, _ in members):
                break
            await asyncio.sleep(0.05)
        else:
            if mode == "transcode":  # it could not keep up with its own decoding and encoding
                return {"cores": None}
            raise RuntimeError("the members did not connect")
        await asyncio.sleep(1.5)  # past the handshakes, the first keyframes, encoders' start
        wall_a, cpu_a = time.monotonic(), cpu_seconds(proc.pid)
        await asyncio.sleep(steady)
        wall_b, cpu_b = time.monotonic(), cpu_seconds(proc.pid)
        report = await ask({"op": "stop", "finalise": n if finalise is None else finalise})
        await proc.wait()
        report["cores"] = (cpu_b - cpu_a) / (wall_b - wall_a)
        wanted = n if finalise is None else min(n, finalise)
        if mode != "transcode" and report["stored"] != wanted:
            raise RuntimeError(f"{mode}: {report['stored']} of {wanted} consults were stored")
        report["finalised"] = wanted
        return report
    finally:
        for pc, media in members:
            await pc.close()
            media.stop()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def main(
    rounds: int, steady: float, only: str | None = None, quick: bool = False
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="tc-bench-recorder-") as tmp:
        work = Path(tmp)
        turn_proc, turn = await asyncio.to_thread(start_turnserver, work)
        try:
            clip = Path(tempfile.gettempdir()) / f"tc-bench-recorder-clip-{CLIP_SECONDS}s-v2.webm"
            await asyncio.to_thread(make_clip, clip, CLIP_SECONDS)
            per: dict[tuple[str, int], list[float]] = {}
            finalise_per_min: list[float] = []
            path = "?"
            sizes = QUICK_SIZES if quick else SIZES
            plan = [(m, n) for n in sizes for m in ("recorder", "transcode")]
            if not quick:
                plan.append(("decoded", 1))
            if only:
                plan = [(m, int(n)) for m, n in (p.split(":") for p in only.split(","))]
                rounds = 1
            for r in range(rounds):
                for mode, n in plan:
                    # --quick finalises one consult per run (ffmpeg's encode is most of
                    # its time); its CPU is per consult all the same.
                    report = await run(mode, n, turn, clip, work, steady, 1 if quick else None)
                    cores = report["cores"]
                    if cores is None:
                        print(f"round {r} {mode} N={n}: its connections never came up (overloaded)")
                        continue
                    per.setdefault((mode, n), []).append(cores / n)
                    if mode == "transcode":
                        print(f"  MediaRecorder wrote {report['transcoded_bytes']} bytes")
                    line = f"round {r} {mode} N={n}: {cores:.3f} cores, {cores / n:.3f} per consult"
                    if mode != "transcode":
                        minutes = report["media_s"] / 60
                        per_min = report["finalise_cpu_s"] / max(1, report["finalised"]) / minutes
                        line += f"; finalise {per_min:.1f} CPU-s per consult-minute"
                        media = report["media_s"]
                        line += f" (media {media:.1f} s, stored {report['durations_ms']} ms)"
                        if mode == "recorder":
                            finalise_per_min.append(per_min)
                            path = ",".join(report["paths"])
                    print(line, flush=True)
        finally:
            turn_proc.terminate()
            try:
                await asyncio.to_thread(turn_proc.wait, 5)
            except subprocess.TimeoutExpired:
                turn_proc.kill()
    med = {k: statistics.median(v) for k, v in per.items()}
    if only:
        return {f"{m}:{n}": round(v, 3) for (m, n), v in med.items()}
    sizes = QUICK_SIZES if quick else SIZES
    for n in sizes:
        t = med.get(("transcode", n))
        print(
            f"N={n}: recorder {med[('recorder', n)]:.3f},"
            f" transcoding {'overloaded' if t is None else f'{t:.3f}'} core per consult"
        )
    decoded = med.get(("decoded", 1))
    if decoded is not None:
        print(f"decoded fallback, N=1: {decoded:.3f} core per consult")
    worst = max(med[("recorder", n)] for n in sizes)
    transcode = min(med[("transcode", n)] for n in sizes if ("transcode", n) in med)
    print(
        f"goal: at most 0.15 core per consult and 2x cheaper; recorder worst {worst:.3f} ({path}),"
        f" transcoding best {transcode:.3f}"
    )
    return {
        "core_per_consult": round(worst, 3),
        "transcode_core_per_consult": round(transcode, 3),
        "ratio": round(worst / transcode, 3),
        "decoded_fallback_core_per_consult": None if decoded is None else round(decoded, 3),
        "finalise_cpu_s_per_consult_minute": round(statistics.median(finalise_per_min), 1),
        "path": path,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--only", help="e.g. recorder:1,transcode:1 (for looking into one)")
    parser.add_argument("--serve", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(*args.serve))
        sys.exit(0)
    rounds = args.rounds or (1 if args.quick else 2)
    result = asyncio.run(main(rounds, 4.0 if args.quick else 8.0, args.only, args.quick))
    print(json.dumps(result))
