"""docker-compose.yml describes the production deployment the design names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
TURN_CONFIG = ROOT / "deploy" / "turnserver.conf"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


@pytest.mark.allow_blocking
def test_every_needed_service_is_defined(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("app1", "app2", "lb", "postgres", "redis", "coturn", "migrate"):
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
    env = {
        k: str(v)
        .replace("${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}", "pw")
        .replace("${PUBLIC_ORIGIN:?set PUBLIC_ORIGIN}", "https://telehealth.example.org")
        for k, v in compose["services"]["app1"]["environment"].items()
    }
    settings = Settings.from_env(env)
    assert settings.is_postgres
    assert settings.redis_url is not None
    assert settings.cookie_secure


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
    assert allowed == [
        "${TURN_RELAY_IP:?set TURN_RELAY_IP}",
        "${TURN_EXTERNAL_IP:?set TURN_EXTERNAL_IP}",
    ]
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
