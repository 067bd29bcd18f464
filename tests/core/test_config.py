from __future__ import annotations

from pathlib import Path

import pytest

from core.config import ConfigError, Secret, Settings


def test_embedded_defaults() -> None:
    s = Settings.from_env({})
    assert s.database_url.reveal() == "sqlite+aiosqlite:///var/throughcare.db"
    assert s.redis_url is None
    assert s.keys_dir == Path("var/keys")
    assert s.audit_checkpoints_dir == Path("var/checkpoints")
    assert s.port == 8080
    assert not s.is_postgres


def test_postgres_and_redis_switch_on() -> None:
    s = Settings.from_env(
        {
            "THROUGHCARE_DATABASE_URL": "postgresql://tc:pw@db:5432/tc",
            "THROUGHCARE_REDIS_URL": "redis://redis:6379/0",
        }
    )
    assert s.database_url.reveal() == "postgresql+asyncpg://tc:pw@db:5432/tc"
    assert s.is_postgres
    assert s.redis_url is not None and s.redis_url.reveal() == "redis://redis:6379/0"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "THROUGHCARE_PORT: must be a whole number, got 'eighty'"),
        ("PORT", "70000", "THROUGHCARE_PORT: must be between 1 and 65535, got 70000"),
        (
            "DATABASE_URL",
            "mysql://x/y",
            "THROUGHCARE_DATABASE_URL: must start with postgresql:// or sqlite:/// "
            "(the value is not shown)",
        ),
        (
            "REDIS_URL",
            "http://secret@redis",
            "THROUGHCARE_REDIS_URL: must look like redis://host:6379/0 (the value is not shown)",
        ),
        (
            "LOG_LEVEL",
            "LOUD",
            "THROUGHCARE_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, got 'LOUD'",
        ),
        (
            "DEFAULT_TIMEZONE",
            "Mars/Olympus",
            "THROUGHCARE_DEFAULT_TIMEZONE: is not a known time zone: 'Mars/Olympus'",
        ),
        ("COOKIE_SECURE", "maybe", "THROUGHCARE_COOKIE_SECURE: must be true or false, got 'maybe'"),
        (
            "JOB_LEASE_SECONDS",
            "1",
            "THROUGHCARE_JOB_LEASE_SECONDS: must be between 2 and 3600, got 1",
        ),
        ("JOB_WORKERS", "many", "THROUGHCARE_JOB_WORKERS: must be a whole number, got 'many'"),
        (
            "PUBLIC_ORIGINS",
            "ftp://x",
            "THROUGHCARE_PUBLIC_ORIGINS: 'ftp://x' is not an origin like https://host:port",
        ),
    ],
)
def test_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({f"THROUGHCARE_{name}": value})
    assert str(info.value) == message


def test_secret_urls_never_show_in_repr() -> None:
    s = Settings.from_env({"THROUGHCARE_DATABASE_URL": "postgresql://tc:hunter2@db/tc"})
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(Secret("hunter2"))
