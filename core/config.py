"""Settings, read once from `THROUGHCARE_*` environment variables.

A bad value stops start-up with one line naming the variable. Secrets are
wrapped in `Secret`, whose repr is masked, so a settings object can be logged.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "THROUGHCARE_"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})*$")
"""An email address as people type one (the `from`, and staff addresses): no quoting,
no comments, no display names, so nothing that could smuggle a second header."""


class ConfigError(Exception):
    """One configuration value is wrong; the message names the variable."""


class Secret:
    """A string that never shows itself in a repr or a log line."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    database_url: Secret = field(default_factory=lambda: Secret(""))
    redis_url: Secret | None = None
    keys_dir: Path = Path("var/keys")
    audit_checkpoints_dir: Path = Path("var/checkpoints")
    public_origins: tuple[str, ...] = ()
    jwt_issuer: str = "throughcare"
    jwt_audience: str = "throughcare"
    access_token_seconds: int = 900
    refresh_token_seconds: int = 12 * 3600
    enrolment_code_seconds: int = 24 * 3600
    max_body_bytes: int = 64 * 1024
    cookie_secure: bool = False
    log_level: str = "INFO"
    default_timezone: str = "Europe/London"
    node_name: str = "node-1"
    bus_prefix: str = "tc:"
    # signalling and TURN (docs/signalling.md)
    turn_urls: tuple[str, ...] = ()
    turn_secret: Secret | None = None
    # coturn's admin CLI on loopback, to cut a held officer's relay sessions (media/turn_admin.py)
    turn_cli_port: int | None = None
    turn_cli_password: Secret | None = None
    ws_heartbeat_seconds: int = 20
    ws_reclaim_seconds: int = 30
    ws_reauth_lead_seconds: int = 60
    ws_rate: int = 50
    ws_burst: int = 200
    ws_flood_strikes: int = 20
    ws_max_connections: int = 5000
    ws_max_per_identity: int = 4
    ws_replay_messages: int = 256
    ws_fast_path: str = "auto"
    ws_connect_per_identity: int = 20
    """Connections one account may open on a node in a minute, that many at once."""
    ws_connect_per_address: int = 2000
    """Connections one client address may open on a node in a minute, that many at once:
    generous, since a prison's devices reach us from one address."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the proxies whose X-Forwarded-For names the client."""
    """`auto`: the one-node fast path when aiohttp's internals fit it (web/ws_fast.py); `off`."""
    # the job runner (docs/jobs.md)
    job_workers: int = 4
    job_poll_ms: int = 1000
    job_lease_seconds: int = 60
    # email to staff (core/mail.py): no host, no email; verification links expire
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: Secret | None = None
    smtp_from: str = "throughcare@localhost"
    email_link_seconds: int = 24 * 3600
    # an identity photo upload (core/people/photos.py)
    photo_max_bytes: int = 5 * 1024 * 1024
    # consult recordings (media/recordings.py, docs/media.md): a directory on this node,
    # or one S3-compatible bucket for every node; how often the stored digests are checked
    recording_storage: str = "local"
    recording_dir: Path | None = None
    recording_s3_endpoint: str = ""
    recording_s3_bucket: str = "throughcare-recordings"
    recording_s3_access_key: str = ""
    recording_s3_secret_key: Secret | None = None
    recording_verify_hours: int = 24

    @property
    def is_postgres(self) -> bool:
        return self.database_url.reveal().startswith("postgresql")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        data_dir = Path(reader.text("DATA_DIR", "var"))
        host = reader.text("HOST", "127.0.0.1")
        port = reader.integer("PORT", 8080, minimum=1, maximum=65535)
        database_url = reader.database_url("DATABASE_URL", data_dir)
        redis_url = reader.redis_url("REDIS_URL")
        keys_dir = Path(reader.text("KEYS_DIR", str(data_dir / "keys")))
        checkpoints_dir = Path(reader.text("AUDIT_CHECKPOINTS_DIR", str(data_dir / "checkpoints")))
        default_origins = (f"http://{host}:{port}", f"http://localhost:{port}")
        origins = reader.origins("PUBLIC_ORIGINS", default_origins)
        return cls(
            host=host,
            port=port,
            data_dir=data_dir,
            database_url=database_url,
            redis_url=redis_url,
            keys_dir=keys_dir,
            audit_checkpoints_dir=checkpoints_dir,
            public_origins=origins,
            jwt_issuer=reader.text("JWT_ISSUER", "throughcare"),
            jwt_audience=reader.text("JWT_AUDIENCE", "throughcare"),
            access_token_seconds=reader.integer(
                "ACCESS_TOKEN_SECONDS", 900, minimum=30, maximum=3600
            ),
            refresh_token_seconds=reader.integer(
                "REFRESH_TOKEN_SECONDS", 12 * 3600, minimum=300, maximum=30 * 86400
            ),
            enrolment_code_seconds=reader.integer(
                "ENROLMENT_CODE_SECONDS", 24 * 3600, minimum=60, maximum=7 * 86400
            ),
            max_body_bytes=reader.integer(
                "MAX_BODY_BYTES", 64 * 1024, minimum=1024, maximum=16 * 1024 * 1024
            ),
            cookie_secure=reader.boolean(
                "COOKIE_SECURE", all(o.startswith("https://") for o in origins)
            ),
            log_level=reader.choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            default_timezone=reader.timezone("DEFAULT_TIMEZONE", "Europe/London"),
            node_name=reader.text("NODE_NAME", "node-1"),
            bus_prefix=reader.text("BUS_PREFIX", "tc:"),
            turn_urls=reader.turn_urls("TURN_URLS"),
            turn_secret=Secret(raw) if (raw := reader.text("TURN_SECRET", "")) else None,
            turn_cli_port=(
                reader.integer("TURN_CLI_PORT", 0, minimum=1, maximum=65535)
                if reader.text("TURN_CLI_PORT", "")
                else None
            ),
            turn_cli_password=(
                Secret(raw) if (raw := reader.text("TURN_CLI_PASSWORD", "")) else None
            ),
            ws_heartbeat_seconds=reader.integer("WS_HEARTBEAT_SECONDS", 20, minimum=1, maximum=300),
            ws_reclaim_seconds=reader.integer("WS_RECLAIM_SECONDS", 30, minimum=1, maximum=600),
            ws_reauth_lead_seconds=reader.integer(
                "WS_REAUTH_LEAD_SECONDS", 60, minimum=5, maximum=600
            ),
            ws_rate=reader.integer("WS_RATE", 50, minimum=1, maximum=10_000),
            ws_burst=reader.integer("WS_BURST", 200, minimum=1, maximum=100_000),
            ws_flood_strikes=reader.integer("WS_FLOOD_STRIKES", 20, minimum=1, maximum=10_000),
            ws_max_connections=reader.integer(
                "WS_MAX_CONNECTIONS", 5000, minimum=1, maximum=1_000_000
            ),
            ws_max_per_identity=reader.integer("WS_MAX_PER_IDENTITY", 4, minimum=1, maximum=64),
            ws_replay_messages=reader.integer(
                "WS_REPLAY_MESSAGES", 256, minimum=16, maximum=100_000
            ),
            ws_fast_path=reader.choice("WS_FAST_PATH", "AUTO", ("AUTO", "OFF")).lower(),
            ws_connect_per_identity=reader.integer(
                "WS_CONNECT_PER_IDENTITY", 20, minimum=1, maximum=100_000
            ),
            ws_connect_per_address=reader.integer(
                "WS_CONNECT_PER_ADDRESS", 2000, minimum=1, maximum=1_000_000
            ),
            trusted_proxies=reader.networks("TRUSTED_PROXIES"),
            job_workers=reader.integer("JOB_WORKERS", 4, minimum=0, maximum=64),
            job_poll_ms=reader.integer("JOB_POLL_MS", 1000, minimum=10, maximum=60_000),
            job_lease_seconds=reader.integer("JOB_LEASE_SECONDS", 60, minimum=2, maximum=3600),
            smtp_host=reader.text("SMTP_HOST", "") or None,
            smtp_port=reader.integer("SMTP_PORT", 587, minimum=1, maximum=65535),
            smtp_tls=reader.choice("SMTP_TLS", "STARTTLS", ("STARTTLS", "TLS", "NONE")).lower(),
            smtp_user=reader.text("SMTP_USER", "") or None,
            smtp_password=Secret(raw) if (raw := reader.text("SMTP_PASSWORD", "")) else None,
            smtp_from=reader.email("SMTP_FROM", "throughcare@localhost"),
            email_link_seconds=reader.integer(
                "EMAIL_LINK_SECONDS", 24 * 3600, minimum=300, maximum=7 * 86400
            ),
            photo_max_bytes=reader.integer(
                "PHOTO_MAX_BYTES", 5 * 1024 * 1024, minimum=64 * 1024, maximum=32 * 1024 * 1024
            ),
            recording_storage=reader.choice("RECORDING_STORAGE", "LOCAL", ("LOCAL", "S3")).lower(),
            recording_dir=Path(raw) if (raw := reader.text("RECORDING_DIR", "")) else None,
            recording_s3_endpoint=reader.text("RECORDING_S3_ENDPOINT", ""),
            recording_s3_bucket=reader.text("RECORDING_S3_BUCKET", "throughcare-recordings"),
            recording_s3_access_key=reader.text("RECORDING_S3_ACCESS_KEY", ""),
            recording_s3_secret_key=(
                Secret(raw) if (raw := reader.text("RECORDING_S3_SECRET_KEY", "")) else None
            ),
            recording_verify_hours=reader.integer(
                "RECORDING_VERIFY_HOURS", 24, minimum=1, maximum=24 * 31
            ),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def _raw(self, name: str) -> str | None:
        value = self._env.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _fail(self, name: str, why: str) -> ConfigError:
        return ConfigError(f"{PREFIX}{name}: {why}")

    def text(self, name: str, default: str) -> str:
        return self._raw(name) or default

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise self._fail(name, f"must be a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise self._fail(name, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self._raw(name)
        if raw is None:
            return default
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise self._fail(name, f"must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self._raw(name)
        if raw is None:
            return default
        if raw.upper() not in allowed:
            raise self._fail(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return raw.upper()

    def email(self, name: str, default: str) -> str:
        raw = self._raw(name) or default
        if not EMAIL.fullmatch(raw):
            raise self._fail(name, f"is not an email address: {raw!r}")
        return raw

    def timezone(self, name: str, default: str) -> str:
        raw = self._raw(name) or default
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise self._fail(name, f"is not a known time zone: {raw!r}") from None
        return raw

    def database_url(self, name: str, data_dir: Path) -> Secret:
        raw = self._raw(name)
        if raw is None:
            return Secret(f"sqlite+aiosqlite:///{data_dir / 'throughcare.db'}")
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
            rest = raw.split("://", 1)[1]
            if not urlsplit(raw).hostname and "host=" not in rest:
                raise self._fail(name, "a PostgreSQL URL needs a host")
            return Secret("postgresql+asyncpg://" + rest)
        if scheme in ("sqlite", "sqlite+aiosqlite"):
            path = raw.split("://", 1)[1]
            if not path.startswith("/") or len(path) < 2:
                raise self._fail(name, "a SQLite URL looks like sqlite:///path/to/file.db")
            return Secret("sqlite+aiosqlite://" + path)
        raise self._fail(
            name, "must start with postgresql:// or sqlite:/// (the value is not shown)"
        )

    def redis_url(self, name: str) -> Secret | None:
        raw = self._raw(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise self._fail(name, "must look like redis://host:6379/0 (the value is not shown)")
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise self._fail(name, "has an invalid port") from None
        return Secret(raw)

    def turn_urls(self, name: str) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None:
            return ()
        urls = tuple(item.strip() for item in raw.split(",") if item.strip())
        for url in urls:
            if url.split(":", 1)[0] not in ("turn", "turns", "stun"):
                raise self._fail(name, f"{url!r} is not a turn:, turns: or stun: URL")
        return urls

    def networks(self, name: str) -> tuple[str, ...]:
        """Comma-separated addresses or networks (`10.0.0.5`, `10.0.0.0/24`, `::1`)."""
        raw = self._raw(name)
        if raw is None or not raw.strip():
            return ()
        result = []
        for item in raw.split(","):
            try:
                result.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                raise self._fail(name, f"{item.strip()!r} is not an address or network") from None
        return tuple(result)

    def origins(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._raw(name)
        if raw is None:
            return default
        result = []
        for item in raw.split(","):
            origin = item.strip().rstrip("/")
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path:
                raise self._fail(name, f"{origin!r} is not an origin like https://host:port")
            result.append(origin)
        return tuple(result)
