"""Media fixtures: coturn on loopback, and ICE kept on loopback.

aioice deliberately leaves 127.0.0.1 out of its host candidates and offers
every other interface instead; on a test machine that would send call media
to a non-loopback address. `loopback_ice` swaps aioice's address lookup for
one that answers 127.0.0.1 only (`nodes.loopback_host_addresses`): a seam in
the ICE library, nothing of ours.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aioice.ice
import pytest

from core.config import Secret
from tests.media.nodes import loopback_host_addresses


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port: int = udp.getsockname()[1]
    return port


@dataclass(frozen=True)
class Coturn:
    url: str
    secret: Secret
    port: int
    log: Path


def start_coturn(workdir: Path) -> tuple[subprocess.Popen[bytes], Coturn]:
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail(
            "coturn's turnserver is not installed; run scripts/install --test", pytrace=False
        )
    secret = secrets.token_urlsafe(24)
    port = free_port()
    log = workdir / "turnserver.log"
    proc = subprocess.Popen(
        [
            binary,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--realm=throughcare",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            "--allow-loopback-peers",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            f"--log-file={log}",
            "--simple-log",
            f"--pidfile={workdir / 'turnserver.pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"turnserver did not start; see {log}", pytrace=False)
            time.sleep(0.05)
    return proc, Coturn(f"turn:127.0.0.1:{port}", Secret(secret), port, log)


@pytest.fixture(scope="session")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    proc, turn = start_coturn(tmp_path_factory.mktemp("coturn"))
    yield turn
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# aiortc joins its decoder thread when a receiver stops, and its media
# player joins its reader thread: short, bounded waits inside the library
# that we accept, as the root conftest accepts asyncpg's connect-time reads.
AIORTC_BLOCKING = [
    ("aiortc/rtcrtpreceiver.py", "__stop_decoder"),
    ("aiortc/contrib/media.py", "_stop"),
]


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        for filename, name in AIORTC_BLOCKING:
            function.can_block_in(filename, name)


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)
