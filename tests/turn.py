"""coturn on loopback for the tests that relay media through it."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.config import Secret


@dataclass(frozen=True)
class Turn:
    url: str
    secret: Secret
    port: int
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_turnserver(
    workdir: Path, *, verbose: bool = False
) -> tuple[subprocess.Popen[bytes], Turn]:
    """A test-only relay: loopback peers allowed, shared-secret (TURN REST) auth.

    `verbose` logs each allocation's username, for tests that read the log.
    """
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn's turnserver is missing: run scripts/install --test", pytrace=False)
    secret = secrets.token_urlsafe(24)
    port = free_port()
    log = workdir / "turnserver.log"
    proc = subprocess.Popen(
        [
            binary,
            "-n",
            *(["-v"] if verbose else []),
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
    return proc, Turn(f"turn:127.0.0.1:{port}", Secret(secret), port, log)
