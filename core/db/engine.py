"""Engine creation, and the one place that knows SQLite and PostgreSQL differ.

SQLite runs in WAL mode with foreign keys on, `synchronous=FULL` (a committed
write survives a crash of the process or the machine) and every transaction
opened with `BEGIN IMMEDIATE`, so two writers queue on the busy timeout instead
of failing half-way with "database is locked".
"""

from __future__ import annotations

import errno
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_S = 30
PING_AFTER_IDLE_S = 1.0
"""A pooled PostgreSQL connection idle longer than this is pinged before use."""
_IDLE_SINCE = "throughcare_idle_since"
CONNECT_TIMEOUT_S = 5
_UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT, errno.EPIPE})


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on error."""
        async with self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the store cannot be reached now (stopped, restarting, cut
    off), as opposed to a fault of ours: the first is a 503 and passes, the second a 500.

    The driver's own exception may be the one raised, or the cause of SQLAlchemy's.
    """
    import asyncpg

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionError | TimeoutError):
            return True  # refused, reset, aborted; a connect that timed out
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(
            current,
            asyncpg.PostgresConnectionError  # SQLSTATE class 08
            | asyncpg.CannotConnectNowError  # 57P03: starting up or shutting down
            | asyncpg.AdminShutdownError
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | asyncpg.InterfaceError,  # the connection was closed under the driver
        ):
            return True
        if isinstance(current, OSError) and current.errno in _UNREACHABLE:
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def create_database(url: str, *, pool_size: int = 10) -> Database:
    """Build the engine. For SQLite, creates the file's folder (blocking, call at start-up)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, pool_size=pool_size
        )
        _configure_sqlite(engine)
    else:
        # A connect that gets no answer fails in seconds (a 503), not in asyncpg's minute.
        engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size * 2,
            connect_args={"timeout": CONNECT_TIMEOUT_S},
        )
        _ping_when_idle(engine)
    return Database(engine)


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a pooled connection before use only if it sat idle, instead of `pool_pre_ping`.

    With asyncpg a pre-ping is three round trips (BEGIN, a query, ROLLBACK) on every
    checkout: a third of a delivered notice's trips in the burst of reminders at one
    instant (bench/jobs.py). A connection given back a moment ago is as alive as a ping
    would show; one idle longer may be dead (the store restarted, a proxy dropped it), so
    it is pinged, and a failed ping makes the pool discard it and connect afresh (the
    `checkout` event's documented `DisconnectionError`). A store that dies in the moment
    between is met by the statement itself: a disconnect error, answered 503, after which
    SQLAlchemy replaces the pool's connections.
    """
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is not None and time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # whatever the driver raises, the connection is unusable
            raise DisconnectionError() from exc
