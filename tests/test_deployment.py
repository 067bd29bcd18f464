"""docker-compose.yml and deploy/ describe the production deployment the design names.

This machine has no Docker daemon, so each part is checked as far as it goes
without one: the compose file against the Compose Specification's JSON schema
(tests/fixtures/compose-spec.json, vendored from
https://github.com/compose-spec/compose-spec/blob/170098ba07d9f53c383a41bfd4c5166b0a4529a6/schema/compose-spec.json),
the environment it gives the app against the app's own settings, HAProxy's
configuration with `haproxy -c`, and coturn started with the compose file's
own command line and probed with a TURN client. Every value comes from the
`.env` that README's production steps write.
"""

from __future__ import annotations

import copy
import datetime as dt
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
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
def test_readme_env_sets_every_variable_the_compose_file_reads() -> None:
    wanted = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert set(readme_env()) == wanted


@pytest.mark.allow_blocking
def test_every_needed_service_is_defined(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("app1", "app2", "lb", "postgres", "redis", "coturn", "migrate", "minio"):
        assert name in services, name
    assert (ROOT / "deploy/haproxy.cfg").read_text().count("server app") == 2


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
    # Recordings go to the MinIO bucket every replica shares, with the password of its root.
    assert settings.recording_storage == "s3"
    assert settings.recording_s3_endpoint == "http://minio:9000"
    assert settings.recording_s3_secret_key is not None
    assert settings.recording_s3_secret_key.reveal() == dotenv["MINIO_PASSWORD"]
    minio = compose["services"]["minio"]["environment"]
    assert interpolate(minio["MINIO_ROOT_PASSWORD"], dotenv) == dotenv["MINIO_PASSWORD"]


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
