"""Several `throughcare serve` processes sharing one database, one key folder and Redis.

Each cluster gets its own PostgreSQL database (created, migrated with
`throughcare db upgrade`, dropped at the end) and its own bus prefix, so runs
never meet. The test process seeds people and appointments through the same
services the nodes use, against the same database and keys. The benches use
it too, which is why nothing here depends on pytest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pyotp
from aiohttp import web

from core.clock import SystemClock
from core.config import Secret, Settings
from core.db import Database, create_database
from core.events import MemorySink
from core.identity.passwords import SecretHasher
from core.keys import load_service_keys
from scheduling import SchedulingService
from tests.world import PASSWORD, Prisoner, Staff, World, build_world

PG_ADMIN_URL = os.environ.get(
    "THROUGHCARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """Stands in for `aioice.ice.get_host_addresses`: ICE on loopback only.

    aioice leaves 127.0.0.1 out of its host candidates on purpose and offers
    every other interface; tests and benches must keep media on loopback.
    """
    return ["127.0.0.1"] if use_ipv4 else []


def free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Node:
    name: str
    port: int
    process: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to its clients."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)


@dataclass
class Cluster:
    workdir: Path
    database_name: str
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    db: Database | None = None
    scheduling: SchedulingService | None = None
    world: World | None = None
    _app: web.Application | None = None

    @property
    def identity_app(self) -> web.Application:
        """The in-process app holding the identity service that `seed` used."""
        if self._app is None:
            raise RuntimeError("seed the cluster first")
        return self._app

    @property
    def database_url(self) -> str:
        return self.env["THROUGHCARE_DATABASE_URL"]

    async def start_node(
        self,
        name: str,
        *,
        cpus: str | None = None,
        command: list[str] | None = None,
        **extra: str,
    ) -> Node:
        """Start a node (`throughcare serve`, or `command`) and wait until it is ready."""
        port = free_tcp_port()
        log = self.workdir / f"{name}.log"
        data = self.workdir / name
        await asyncio.to_thread(data.mkdir, exist_ok=True)
        env = {
            **self.env,
            "THROUGHCARE_PORT": str(port),
            "THROUGHCARE_NODE_NAME": name,
            "THROUGHCARE_DATA_DIR": str(data),
            **extra,
        }
        argv = command or [sys.executable, "-m", "web.cli", "serve"]
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        out = await asyncio.to_thread(log.open, "wb")
        try:
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT, cwd=data
            )
        finally:
            out.close()
        node = Node(name, port, process, log)
        self.nodes.append(node)
        await _wait_ready(node)
        return node

    async def seed(self, hasher: SecretHasher) -> World:
        """The usual test world, written through the services into the shared store."""
        settings = await asyncio.to_thread(Settings.from_env, self.env)
        self.db = create_database(settings.database_url.reveal())
        keys = await asyncio.to_thread(load_service_keys, settings.keys_dir)
        from audit import open_subject_keys
        from core.places.service import Places
        from web.services import build_identity, build_scheduling
        from web.state import CLOCK, IDENTITY, PLACES

        sink = MemorySink()
        clock = SystemClock()
        identity = build_identity(settings, self.db, sink, clock, keys, hasher)
        subject_keys = await open_subject_keys(self.db, keys_dir=settings.keys_dir, clock=clock)
        self.scheduling = build_scheduling(self.db, sink, clock, keys, subject_keys)
        app = web.Application()
        app[IDENTITY] = identity
        app[CLOCK] = clock
        app[PLACES] = Places(self.db, clock=clock, audit=sink)
        self._app = app
        self.world = await build_world(app)
        return self.world

    async def stop(self) -> None:
        for node in self.nodes:
            if node.process.returncode is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                await asyncio.wait_for(node.process.wait(), 10)
            except TimeoutError:
                node.kill()
                await node.process.wait()
        if self.db is not None:
            await self.db.dispose()
        await _drop_database(self.database_name)


async def create_cluster(
    workdir: Path,
    *,
    redis_url: str | None,
    turn_urls: tuple[str, ...] = (),
    turn_secret: Secret | None = None,
    sqlite: bool = False,
    env: dict[str, str] | None = None,
    **extra: str,
) -> Cluster:
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    name = f"tc_media_{uuid.uuid4().hex[:12]}"
    if sqlite:
        url = f"sqlite:///{workdir / 'throughcare.db'}"
        name = ""
    else:
        url = await _create_database(name)
    settings_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(workdir)),
        "THROUGHCARE_HOST": "127.0.0.1",
        "THROUGHCARE_DATABASE_URL": url,
        "THROUGHCARE_KEYS_DIR": str(workdir / "keys"),
        "THROUGHCARE_BUS_PREFIX": f"tc-media-{uuid.uuid4().hex[:8]}:",
        "THROUGHCARE_LOG_LEVEL": "WARNING",
        **(env or {}),
        **extra,
    }
    if redis_url is not None:
        settings_env["THROUGHCARE_REDIS_URL"] = redis_url
    if turn_urls and turn_secret is not None:
        settings_env["THROUGHCARE_TURN_URLS"] = ",".join(turn_urls)
        settings_env["THROUGHCARE_TURN_SECRET"] = turn_secret.reveal()
    cluster = Cluster(workdir, name, settings_env)
    # Keys first, once: nodes starting together must not each generate their own.
    await asyncio.to_thread(load_service_keys, workdir / "keys")
    upgrade = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        "db",
        "upgrade",
        env=settings_env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await upgrade.communicate()
    if upgrade.returncode != 0:
        raise RuntimeError(f"db upgrade failed: {err.decode(errors='replace')[-500:]}")
    return cluster


async def _wait_ready(node: Node) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(1200):  # a minute: a loaded machine starts a node slowly
            if node.process.returncode is not None:
                raise RuntimeError(f"node {node.name} exited; see {node.log}")
            try:
                async with session.get(node.url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"node {node.name} did not become ready; see {node.log}")


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _create_database(name: str) -> str:
    conn = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


async def _drop_database(name: str) -> None:
    if not name:
        return
    conn = await asyncpg.connect(_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# ---------------------------------------------------------------- signing in


async def sign_in_prisoner(base_url: str, prisoner: Prisoner) -> str:
    body = {
        "prison_number": prisoner.prison_number,
        "pin": prisoner.pin,
        "device_credential": prisoner.device_credential,
    }
    return await _sign_in(base_url + "/api/auth/prisoner", body)


async def sign_in_staff(base_url: str, staff: Staff) -> str:
    body = {
        "username": staff.username,
        "password": PASSWORD,
        "totp": pyotp.TOTP(staff.totp_secret).now(),
    }
    return await _sign_in(base_url + "/api/auth/staff", body)


async def _sign_in(url: str, body: dict[str, Any]) -> str:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        if resp.status != 200:
            raise RuntimeError(f"sign-in failed: {resp.status} {await resp.text()}")
        data = await resp.json()
        return str(data["access_token"])
