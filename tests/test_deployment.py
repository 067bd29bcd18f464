"""docker-compose.yml describes the production deployment the design names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import Settings

ROOT = Path(__file__).resolve().parents[1]


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
def test_production_turn_denies_loopback_and_private_peers(compose: dict[str, Any]) -> None:
    command = " ".join(compose["services"]["coturn"]["command"])
    assert "--allow-loopback-peers" not in command
    for denied in ("10.0.0.0", "127.0.0.0", "172.16.0.0", "192.168.0.0"):
        assert f"--denied-peer-ip={denied}" in command
    assert "--use-auth-secret" in command


@pytest.mark.allow_blocking
def test_postgres_and_redis_have_health_checks(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis"):
        assert "healthcheck" in compose["services"][name]
