"""docker-compose.yml and deploy/ describe the production deployment the design names.

This machine has no Docker daemon, so each part is checked as far as it goes
without one: the compose file against the Compose Specification's JSON schema
(tests/fixtures/compose-spec.json, vendored from
https://github.com/compose-spec/compose-spec/blob/170098ba07d9f53c383a41bfd4c5166b0a4529a6/schema/compose-spec.json
under the Apache License 2.0: tests/fixtures/compose-spec.NOTICE and .LICENSE),
the environment it gives the app against the app's own settings, HAProxy's
configuration with `haproxy -c`, and coturn started with the compose file's
own command line and probed with a TURN client. Every value comes from the
`.env` that README's production steps write.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime as dt
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import jsonschema
import pyotp
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.config import Settings
from media.turn import turn_credential
from tests.turn import Turn, launch_turnserver, machine_relay_addresses, stop
from tests.turn_client import TurnClient

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
TURN_CONFIG = ROOT / "deploy" / "turnserver.conf"
HAPROXY_CONFIG = ROOT / "deploy" / "haproxy.cfg"


def readme_env() -> dict[str, str]:
    """The `.env` of README's production steps, with its `openssl rand -hex N` run."""
    text = (ROOT / "README.md").read_text()
    found = re.search(r"cat > \.env <<EOF\n(.*?)\n\s*EOF\n", text, re.S)
    assert found is not None, "README's production steps no longer write .env"
    env = {}
    for line in found.group(1).splitlines():
        name, value = line.strip().split("=", 1)
        rand = re.fullmatch(r"\$\(openssl rand -hex (\d+)\)", value)
        env[name] = secrets.token_hex(int(rand.group(1))) if rand else value
    return env


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:?message}` and `${NAME:-default}`."""

    def one(found: re.Match[str]) -> str:
        name, operator, rest = found.groups()
        if env.get(name):
            return env[name]
        if operator == ":-":
            return str(rest)
        raise KeyError(f"{name} is not set: {rest}")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.mark.allow_blocking
def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests/fixtures/compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    assert [error.message for error in validator.iter_errors(compose)] == []
    misspelt = copy.deepcopy(compose)
    misspelt["services"]["app1"]["enviroment"] = misspelt["services"]["app1"].pop("environment")
    assert not validator.is_valid(misspelt)


@pytest.mark.allow_blocking
def test_the_vendored_schema_is_the_one_its_notice_names_with_its_licence() -> None:
    """Apache-2.0 lets the schema be copied here with its licence and NOTICE kept."""
    fixtures = ROOT / "tests/fixtures"
    notice = (fixtures / "compose-spec.NOTICE").read_text()
    digest = hashlib.sha256((fixtures / "compose-spec.json").read_bytes()).hexdigest()
    assert f"sha256 {digest}." in notice
    commit = re.search(r"compose-spec/blob/([0-9a-f]{40})/", __doc__ or "")
    assert commit is not None and commit.group(1) in notice
    assert "Copyright 2020 The Compose Specification Authors" in notice
    licence = (fixtures / "compose-spec.LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


@pytest.mark.allow_blocking
def test_readme_env_sets_every_variable_the_compose_file_reads() -> None:
    wanted = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert set(readme_env()) == wanted


@pytest.mark.allow_blocking
def test_every_needed_service_is_defined(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("app1", "app2", "lb", "postgres", "redis", "coturn", "migrate"):
        assert name in services, name
    assert (ROOT / "deploy/haproxy.cfg").read_text().count("server app") == 2


def _packages() -> list[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    return [name.rstrip("*") for name in include]


@pytest.mark.allow_blocking
def test_the_image_copies_every_package_the_project_installs() -> None:
    """The Dockerfile copies the packages one by one: a new one must be added there too."""
    copied = re.findall(r"^COPY (\w+) \1$", (ROOT / "Dockerfile").read_text(), re.M)
    assert sorted(copied) == sorted(_packages())


@pytest.mark.allow_blocking
def test_every_volume_the_service_mounts_is_its_own_in_the_image(compose: dict[str, Any]) -> None:
    """A named volume starts as the image's directory: one the image lacks starts as
    root's, and the service (uid 10001, not root) could not write its keys or checkpoints."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    made = re.search(r"mkdir -p ([^\\&\n]+)", dockerfile)
    owned = re.search(r"chown throughcare ([^\\&\n]+)", dockerfile)
    assert made is not None and owned is not None
    for name in ("app1", "app2", "migrate"):
        targets = {v.split(":")[1] for v in compose["services"][name]["volumes"]}
        assert targets <= set(made.group(1).split()), name
        assert targets <= set(owned.group(1).split()), name
    # `migrate` runs the first CLI commands, which append audit events: the same volumes.
    assert compose["services"]["migrate"]["volumes"] == compose["services"]["app1"]["volumes"]


@pytest.mark.slow
@pytest.mark.allow_blocking
def test_the_installed_package_holds_every_page_script_and_word(tmp_path: Path) -> None:
    """What `pip install .` puts in the image: every file of every package, the
    templates, scripts and translations included, not only the Python modules."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    [wheel] = tmp_path.glob("throughcare-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    tracked = subprocess.run(
        ["git", "ls-files", *(f"{name}/" for name in _packages())],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert any(path.startswith("web/templates/") for path in tracked)
    assert [path for path in tracked if path not in inside] == []


@pytest.mark.allow_blocking
@pytest.mark.parametrize("replica", ["app1", "app2"])
def test_replicas_are_configured_for_postgres_redis_and_turn(
    compose: dict[str, Any], replica: str
) -> None:
    env = compose["services"][replica]["environment"]
    assert env["THROUGHCARE_DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in env["THROUGHCARE_DATABASE_URL"]
    assert env["THROUGHCARE_REDIS_URL"] == "redis://redis:6379/0"
    assert env["THROUGHCARE_KEYS_DIR"] == "/keys"
    assert "THROUGHCARE_TURN_SECRET" in env and "THROUGHCARE_TURN_URLS" in env
    assert env["THROUGHCARE_NODE_NAME"] == replica
    # Every replica shares one keys volume, so any node verifies any node's tokens.
    assert "keys:/keys" in compose["services"][replica]["volumes"]


@pytest.mark.allow_blocking
def test_replica_environment_is_accepted_by_the_settings(compose: dict[str, Any]) -> None:
    dotenv = readme_env()
    env = {
        k: interpolate(str(v), dotenv)
        for k, v in compose["services"]["app1"]["environment"].items()
    }
    settings = Settings.from_env(env)
    assert settings.is_postgres
    assert settings.redis_url is not None
    assert settings.cookie_secure
    assert settings.turn_secret is not None
    assert settings.turn_secret.reveal() == dotenv["TURN_SECRET"]
    assert settings.turn_urls == (
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
    )


def self_signed_pem(name: str) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.allow_blocking
def test_haproxy_accepts_the_shipped_configuration(compose: dict[str, Any], tmp_path: Path) -> None:
    """`haproxy -c` with the certificate the compose file names; the app hosts resolve later.

    Here `app1` and `app2` resolve to nothing, as they do in a container before
    the replicas start: the only warnings allowed are those two.
    """
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is missing: run scripts/install --test", pytrace=False)
    assert "TLS_CERT" in compose["services"]["lb"]["environment"]
    pem = tmp_path / "site.pem"
    pem.write_bytes(self_signed_pem("telehealth.example.org"))
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(HAPROXY_CONFIG)],
        env={**os.environ, "TLS_CERT": str(pem)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = checked.stdout + checked.stderr
    assert checked.returncode == 0, output
    assert "Configuration file is valid" in output
    warnings = [line for line in output.splitlines() if "[WARNING]" in line or "[ALERT]" in line]
    unresolved = [w for w in warnings if re.search(r"could not resolve address 'app[12]'", w)]
    assert warnings == unresolved


@pytest.mark.allow_blocking
def test_coturn_runs_the_shipped_configuration_file(compose: dict[str, Any]) -> None:
    """The policy lives in deploy/turnserver.conf; `-n` would make coturn ignore it."""
    coturn = compose["services"]["coturn"]
    assert "./deploy/turnserver.conf:/etc/coturn/turnserver.conf:ro" in coturn["volumes"]
    command = coturn["command"]
    assert command[:2] == ["-c", "/etc/coturn/turnserver.conf"]
    assert "-n" not in command


@pytest.mark.allow_blocking
def test_coturn_image_is_pinned_to_one_release(compose: dict[str, Any]) -> None:
    assert re.fullmatch(r"coturn/coturn:\d+\.\d+\.\d+-r\d+", compose["services"]["coturn"]["image"])


@pytest.mark.allow_blocking
def test_production_turn_allows_only_its_own_relay_addresses(compose: dict[str, Any]) -> None:
    """Every allowed peer is one that any credential holder can send to."""
    command = compose["services"]["coturn"]["command"]
    allowed = [c.split("=", 1)[1] for c in command if c.startswith("--allowed-peer-ip=")]
    assert allowed == ["${TURN_RELAY_IP:?set TURN_RELAY_IP}"]
    assert "--relay-ip=${TURN_RELAY_IP:?set TURN_RELAY_IP}" in command
    policy = [c for c in command if c.startswith(("--allow-loopback", "--denied-peer", "--no-"))]
    assert policy == []
    lines = TURN_CONFIG.read_text().splitlines()
    assert not [line for line in lines if line.startswith(("allow", "denied-peer-ip=0.0.0.0"))]
    assert not [line for line in lines if line.startswith("denied-peer-ip=::-")]
    for needed in ("no-tcp-relay", "fingerprint", "use-auth-secret"):
        assert needed in lines
    for setting in ("user-quota", "total-quota", "stale-nonce"):
        assert any(re.fullmatch(rf"{setting}=[1-9]\d*", line) for line in lines), setting


@pytest.mark.allow_blocking
def test_media_doc_quotes_the_shipped_turn_configuration() -> None:
    """docs/media.md's sample is the file itself, so the two cannot drift apart."""
    doc = (ROOT / "docs/media.md").read_text()
    assert f"```\n{TURN_CONFIG.read_text()}```\n" in doc


@pytest.mark.allow_blocking
def test_postgres_and_redis_have_health_checks(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis"):
        assert "healthcheck" in compose["services"][name]


@pytest.fixture(scope="module")
def compose_coturn(
    compose: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Turn, dict[str, str]]]:
    """coturn started with docker-compose.yml's own command line and README's `.env`.

    Only what a container would differ in is changed: the config file's path
    (the volume's source), the relay address (this machine's own, for the
    README's example one), and loopback listening.
    """
    env = readme_env()
    env["TURN_RELAY_IP"] = machine_relay_addresses()[0]
    service = compose["services"]["coturn"]
    mounts = dict(reversed(v.split(":")[:2]) for v in service["volumes"])
    args = [interpolate(arg, env) for arg in service["command"]]
    args = [str(ROOT / mounts[arg]) if arg in mounts else arg for arg in args]
    workdir = tmp_path_factory.mktemp("compose-coturn")
    proc, turn = launch_turnserver(workdir, args, secret=env["TURN_SECRET"])
    yield turn, env
    stop(proc)


@pytest.mark.slow
async def test_coturn_started_as_composed_relays_only_to_its_own_addresses(
    compose_coturn: tuple[Turn, dict[str, str]],
) -> None:
    turn, env = compose_coturn
    cred = turn_credential(
        turn.secret,
        appointment_id="appt-compose",
        participant_id="person-1",
        expires=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30),
    )
    public = ipaddress.ip_address(env["TURN_EXTERNAL_IP"])
    async with TurnClient(("127.0.0.1", turn.port), cred.username, cred.password) as client:
        relayed, _port = await client.allocate()
        peers = [env["TURN_RELAY_IP"], str(public), str(public + 1), "10.0.0.1", "198.51.101.0"]
        outcomes = {peer: await client.permission_outcome(peer) for peer in peers}
    # --external-ip=PUBLIC/PRIVATE: clients are given the public address, and a
    # peer at the public address is the relay itself.
    assert relayed == str(public)
    assert outcomes == {
        env["TURN_RELAY_IP"]: 200,
        str(public): 200,
        str(public + 1): 403,
        "10.0.0.1": 403,
        "198.51.101.0": 200,
    }


# ---------------------------------------------------------------- HAProxy in front of a node


def lb_config(app_port: int, http_port: int, https_port: int) -> str:
    """deploy/haproxy.cfg with only what a container gives it changed: the ports it
    binds (on loopback here), and the replicas' addresses (one app node on loopback
    here, for both `app1` and `app2`, where Docker's DNS would name two)."""
    text = HAPROXY_CONFIG.read_text()
    changes = {
        "    bind :8080\n": f"    bind 127.0.0.1:{http_port}\n",
        "    bind :8443 ssl": f"    bind 127.0.0.1:{https_port} ssl",
        "    server app1 app1:8080\n": f"    server app1 127.0.0.1:{app_port}\n",
        "    server app2 app2:8080\n": f"    server app2 127.0.0.1:{app_port}\n",
    }
    for old, new in changes.items():
        assert text.count(old) == 1, f"deploy/haproxy.cfg no longer has {old.strip()!r}"
        text = text.replace(old, new)
    return text


async def _until_served(session: Any, url: str) -> Any:
    """The load balancer's first health checks take a moment to find the node up."""
    for _ in range(100):
        try:
            resp = await session.get(url, ssl=False)
        except OSError:
            resp = None
        if resp is not None and resp.status == 200:
            return resp
        await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never answered 200 through HAProxy")


@pytest.mark.slow
@pytest.mark.allow_blocking
@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
async def test_haproxy_serves_a_node_over_tls_with_the_clients_address(
    app: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    """The shipped configuration, run: HTTP is sent to HTTPS, TLS ends at HAProxy, a
    request and a signalling WebSocket reach the node, and the node is told the client's
    address in X-Forwarded-For (one value, whatever the client claimed) and the scheme."""
    import aiohttp
    from aiohttp import web

    from tests.turn import free_port
    from tests.world import PASSWORD, build_world

    haproxy = shutil.which("haproxy")
    if haproxy is None:
        pytest.fail("haproxy is missing: run scripts/install --test", pytrace=False)
    seen: list[tuple[str, list[str], str | None]] = []

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        forwarded = request.headers.getall("X-Forwarded-For", [])
        seen.append((request.path, forwarded, request.headers.get("X-Forwarded-Proto")))
        response: web.StreamResponse = await handler(request)
        return response

    app.middlewares.append(record)
    server = await aiohttp_server(app)
    world = await build_world(app)
    clinician = world.staff["clinician"]
    http_port, https_port = free_port(), free_port()
    config = tmp_path / "haproxy.cfg"
    config.write_text(lb_config(server.port, http_port, https_port))
    pem = tmp_path / "site.pem"
    pem.write_bytes(self_signed_pem("telehealth.example.org"))
    log = (tmp_path / "haproxy.log").open("wb")
    # -n: this machine's file limit is below what the shipped maxconn needs (twice
    # it, which the compose file's `ulimits` gives the container).
    proc = subprocess.Popen(  # noqa: ASYNC220 - started once, waited for in a thread
        [haproxy, "-db", "-n", "2000", "-f", str(config)],
        env={**os.environ, "TLS_CERT": str(pem)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        async with aiohttp.ClientSession() as session:
            base = f"https://127.0.0.1:{https_port}"
            health = await _until_served(session, f"{base}/healthz")
            assert (await health.json())["status"] == "ok"
            plain = await session.get(
                f"http://127.0.0.1:{http_port}/healthz", allow_redirects=False
            )
            assert plain.status == 301
            assert plain.headers["Location"] == f"https://127.0.0.1:{http_port}/healthz"

            seen.clear()
            spoofed = {"X-Forwarded-For": "203.0.113.9"}
            signed_in = await session.post(
                f"{base}/api/auth/staff",
                json={
                    "username": clinician.username,
                    "password": PASSWORD,
                    "totp": clinician.code(app),
                },
                headers=spoofed,
                ssl=False,
            )
            assert signed_in.status == 200, await signed_in.text()
            token = (await signed_in.json())["access_token"]
            async with session.ws_connect(f"wss://127.0.0.1:{https_port}/ws", ssl=False) as ws:
                await ws.send_json({"v": 1, "type": "hello", "token": token})
                welcome = await asyncio.wait_for(ws.receive_json(), 5)
                assert welcome["type"] == "welcome", welcome
                await ws.send_json({"v": 1, "type": "ping"})
                assert (await asyncio.wait_for(ws.receive_json(), 5))["type"] == "pong"
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        log.close()
        await server.close()
    client_seen = [s for s in seen if s[0] in ("/api/auth/staff", "/ws")]
    assert client_seen == [
        ("/api/auth/staff", ["127.0.0.1"], "https"),
        ("/ws", ["127.0.0.1"], "https"),
    ]


# ---------------------------------------------------------------- the replicas' database role


def _throughcare(env: dict[str, str], *args: str, stdin: str = "") -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "throughcare"), *args],
        env={**clean, "THROUGHCARE_LOG_LEVEL": "WARNING", **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.allow_blocking
def test_grants_are_refused_on_sqlite_with_one_line(tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "throughcare"), "db", "upgrade", "--grant-to", "x"],
        env={**clean, "THROUGHCARE_DATA_DIR": str(tmp_path), "THROUGHCARE_LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "throughcare: --grant-to is for PostgreSQL: SQLite has no roles"
    assert not (tmp_path / "throughcare.db").exists()  # refused before anything was made


def _pg(url: str, *statements: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


@pytest.mark.slow
@pytest.mark.allow_blocking
def test_the_replicas_run_as_the_role_that_migrate_grants_to(
    postgres_url: str, tmp_path: Path
) -> None:
    """As composed: postgres's init script makes the replicas' role, `migrate` (the owner)
    upgrades and grants, the first admin is created as the owner, and a node connected as
    the role starts, is ready, and signs the admin in (sessions and audit events written)."""
    from sqlalchemy.engine import make_url

    from tests.turn import free_port

    role, password = f"tc_app_{secrets.token_hex(5)}", secrets.token_hex(16)
    owner = make_url(postgres_url)
    init = subprocess.run(
        [str(ROOT / "deploy/postgres-init.sh")],
        env={
            **os.environ,
            "PGHOST": owner.host or "127.0.0.1",
            "PGPORT": str(owner.port or 5432),
            "PGPASSWORD": owner.password or "",
            "POSTGRES_USER": owner.username or "postgres",
            "POSTGRES_DB": owner.database or "",
            "APP_DB_ROLE": role,
            "APP_DB_PASSWORD": password,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    common = {"THROUGHCARE_KEYS_DIR": str(tmp_path / "keys"), "THROUGHCARE_DATA_DIR": str(tmp_path)}
    as_owner = {**common, "THROUGHCARE_DATABASE_URL": postgres_url}
    as_role = {
        **common,
        "THROUGHCARE_DATABASE_URL": owner.set(username=role, password=password).render_as_string(
            hide_password=False
        ),
    }
    port = free_port()
    serve: subprocess.Popen[str] | None = None
    try:
        assert "granted" in _throughcare(as_owner, "db", "upgrade", "--grant-to", role)
        admin = json.loads(
            _throughcare(
                as_owner,
                *("accounts", "create", "--role", "admin", "--username", f"admin-{role}"),
                *("--name", "First Admin", "--secret-stdin", "--json"),
                stdin="a long first password\n",
            )
        )
        clean = {k: v for k, v in os.environ.items() if not k.startswith("THROUGHCARE_")}
        serve = subprocess.Popen(
            [str(Path(sys.executable).parent / "throughcare"), "serve", "--port", str(port)],
            env={**clean, "THROUGHCARE_LOG_LEVEL": "WARNING", **as_role},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as ready:  # noqa: S310
                    assert json.loads(ready.read())["status"] == "ready"
                    break
            except OSError:
                assert serve.poll() is None, serve.communicate()[1]
                time.sleep(0.2)
        else:
            raise AssertionError("the node connected as the app's role never became ready")
        body = json.dumps(
            {
                "username": f"admin-{role}",
                "password": "a long first password",
                "totp": pyotp.TOTP(admin["totp_secret"]).now(),
            }
        ).encode()
        request = urllib.request.Request(  # noqa: S310
            f"{base}/api/auth/staff", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as signed_in:  # noqa: S310
            assert "access_token" in json.loads(signed_in.read())
    finally:
        if serve is not None:
            serve.terminate()
            serve.communicate(timeout=30)
        _pg(postgres_url, f'DROP OWNED BY "{role}"', f'DROP ROLE "{role}"')


# ---------------------------------------------------------------- README's steps, checked


def _production_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Production\n")
    return text[start : text.index("\n## ", start + 1)]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


DOCKER_COMPOSE = {"build", "run", "up", "ps", "logs", "exec", "restart", "stop", "start"}
WITH_VALUE = {"--entrypoint", "-u", "--user", "-e", "-w"}


@pytest.mark.allow_blocking
def test_readme_production_commands_run_real_services_and_throughcare_commands(
    compose: dict[str, Any],
) -> None:
    """Each `docker compose` line of the steps names a compose command and a service the
    compose file defines, and each `throughcare` command it runs parses as the CLI's."""
    from web.cli import _parser

    section = _production_section()
    lines = [
        line.strip()
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
        for line in block.splitlines()
    ]
    lines += re.findall(r"`(docker compose [^`]+)`", section)
    composed = [line for line in lines if line.startswith("docker compose ")]
    assert len(composed) >= 15
    services = set(compose["services"])
    ran = 0
    for line in composed:
        words = shlex.split(line.split(" > ")[0].split(" < ")[0])
        command, rest = words[2], words[3:]
        assert command in DOCKER_COMPOSE, line
        named: list[str] = []
        skip = False
        for word in rest:
            if skip:
                skip = False
            elif word in WITH_VALUE:
                skip = True
            elif not word.startswith("-"):
                named.append(word)
        if command in ("build", "up", "ps") and not named:
            continue
        if command in ("run", "exec", "logs", "build"):
            named = named[:1]
            args = rest[rest.index(named[0]) + 1 :]
            if command == "run" and args[:1] == ["throughcare"]:
                try:
                    _parser().parse_args(args[1:])
                except SystemExit:
                    pytest.fail(f"README runs a command the CLI refuses: {line}")
                ran += 1
        assert set(named) <= services, line
    assert ran >= 2
    # `throughcare X Y` named in the prose are commands the CLI has.
    commands = _subcommands(_parser())
    for top, sub in re.findall(r"`throughcare (\w[\w-]*) (\w[\w-]*)", section):
        assert top in commands, top
        assert sub in _subcommands(commands[top]), f"throughcare {top} {sub}"


@pytest.mark.allow_blocking
def test_readme_lists_every_setting_and_only_real_ones() -> None:
    """The configuration table and the settings read in core/config.py are the same set."""
    read = {
        f"THROUGHCARE_{name}"
        for name in re.findall(r'reader\.\w+\(\s*"(\w+)"', (ROOT / "core/config.py").read_text())
    }
    assert len(read) > 30
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Production")]
    assert set(re.findall(r"`(THROUGHCARE_\w+)`", table)) == read
    named = set(re.findall(r"\bTHROUGHCARE_[A-Z_]+[A-Z]\b", readme))
    assert named <= read, named - read


@pytest.mark.allow_blocking
def test_readme_command_list_names_real_commands() -> None:
    from web.cli import _parser

    commands = _subcommands(_parser())
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## The `throughcare` command") : readme.index("## Configuration")]
    listed = re.findall(r"^throughcare (\S+)(?: (\(?[\w-]+))?", block, re.M)
    assert len(listed) > 15
    for top, sub in listed:
        assert top in commands, top
        children = _subcommands(commands[top])
        if children and sub and not sub.startswith("-"):
            assert sub.lstrip("(") in children, f"throughcare {top} {sub}"
