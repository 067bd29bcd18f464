"""Structured JSON logs with a request id on every line.

Nothing here logs a request body, a query string or a header. The access log
names the route pattern (`/api/calendar/{token}`), not the path, so a secret
in a URL can never reach a log line; a last-line filter masks anything shaped
like a token that slips through anyway.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_TOKENISH = re.compile(
    r"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*|tc[rd]_[A-Za-z0-9_-]{16,})"
)
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    return _TOKENISH.sub("[redacted]", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, ensure_ascii=False))


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_drivers()


def quiet_drivers() -> None:
    """Driver chatter includes SQL and bound query parameters; never let it through.

    (SQLAlchemy's engine logger echoes statements and parameters at INFO.)
    """
    for noisy in ("aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = "-"
        match = getattr(request, "match_info", None)
        if match is not None and match.route.resource is not None:
            route = match.route.resource.canonical
        self.logger.info(
            "request",
            extra={
                "method": request.method,
                "route": route,
                "status": response.status,
                "ms": round(time * 1000, 2),
                "request_id": response.headers.get("X-Request-Id", "-"),
            },
        )
