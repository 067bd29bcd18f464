"""coturn for the tests that relay media through it.

Two ways to start it. `start_turnserver` is the test relay of ENVIRONMENT.md:
loopback relay, loopback peers allowed, so call media never leaves 127.0.0.1.
`start_shipped_turnserver` runs the production configuration,
`deploy/turnserver.conf`, with only what this machine needs added on the
command line, as docker-compose.yml adds a deployment's: listening on loopback,
relaying from this machine's own addresses, and those allowed as peers.
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ifaddr
import pytest

from core.config import Secret

ROOT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = ROOT / "deploy" / "turnserver.conf"


@dataclass(frozen=True)
class Turn:
    url: str
    secret: Secret
    port: int
    log: Path
    cli_port: int
    cli_password: Secret
    """coturn's admin CLI on loopback (`media.turn_admin`), as deploy/turnserver.conf has it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def machine_relay_addresses() -> tuple[str, str]:
    """This machine's own IPv4 and IPv6 addresses, other than loopback and link-local.

    Read with ifaddr, the interface lookup aioice uses (the tests swap aioice's
    own for a loopback-only one). coturn refuses loopback peers before it reads
    its allow list, so a relay that must reach itself cannot sit on 127.0.0.1
    or ::1 under the shipped configuration.
    """
    found = [
        ipaddress.ip_address(ip.ip if isinstance(ip.ip, str) else ip.ip[0])
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
    ]
    usable = [a for a in found if not (a.is_loopback or a.is_link_local)]
    v4 = [a for a in usable if a.version == 4]
    v6 = [a for a in usable if a.version == 6]
    if not v4 or not v6:
        pytest.fail(
            "the shipped-TURN tests need a non-loopback IPv4 and IPv6 address on this machine; "
            f"found {[str(a) for a in usable]}",
            pytrace=False,
        )
    return str(v4[0]), str(v6[0])


def launch_turnserver(
    workdir: Path, args: Sequence[str], *, secret: str | None = None
) -> tuple[subprocess.Popen[bytes], Turn]:
    """`turnserver ARGS`, listening on a free loopback port, logging to `workdir`.

    A fresh TURN REST secret is added unless `secret` says the one `args` carry. The
    admin CLI listens on another free loopback port with a fresh password.
    """
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn's turnserver is missing: run scripts/install --test", pytrace=False)
    extra = []
    if secret is None:
        secret = secrets.token_urlsafe(24)
        extra.append(f"--static-auth-secret={secret}")
    port = free_port()
    cli_port = free_port()
    cli_password = secrets.token_hex(16)
    log = workdir / "turnserver.log"
    proc = subprocess.Popen(
        [
            binary,
            *args,
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            *extra,
            "--cli-ip=127.0.0.1",
            f"--cli-port={cli_port}",
            f"--cli-password={cli_password}",
            f"--log-file={log}",
            "--simple-log",
            f"--pidfile={workdir / 'turnserver.pid'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    for listening in (port, cli_port):
        while True:
            try:
                with socket.create_connection(("127.0.0.1", listening), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail(f"turnserver did not start; see {log}", pytrace=False)
                time.sleep(0.05)
    return proc, Turn(
        f"turn:127.0.0.1:{port}", Secret(secret), port, log, cli_port, Secret(cli_password)
    )


def start_turnserver(
    workdir: Path, *, verbose: bool = False
) -> tuple[subprocess.Popen[bytes], Turn]:
    """A test-only relay: loopback peers allowed, shared-secret (TURN REST) auth.

    `verbose` logs each allocation's username, for tests that read the log.
    """
    return launch_turnserver(
        workdir,
        [
            "-n",
            *(["-v"] if verbose else []),
            "--relay-ip=127.0.0.1",
            "--realm=throughcare",
            "--use-auth-secret",
            "--allow-loopback-peers",
            "--no-tls",
            "--no-dtls",
        ],
    )


def start_shipped_turnserver(
    workdir: Path, relay_ips: Sequence[str]
) -> tuple[subprocess.Popen[bytes], Turn]:
    """coturn as deployed: `deploy/turnserver.conf`, relaying from `relay_ips`.

    Each relay address is also an allowed peer, as `TURN_RELAY_IP` is in
    docker-compose.yml: every address of this machine is in a denied range, and
    two peers relaying through one coturn send to each other's relay address.
    """
    return launch_turnserver(
        workdir,
        [
            "-c",
            str(SHIPPED_CONFIG),
            *(f"--relay-ip={ip}" for ip in relay_ips),
            *(f"--allowed-peer-ip={ip}" for ip in relay_ips),
        ],
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
