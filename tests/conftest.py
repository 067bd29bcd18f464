"""Shared fixtures: both stores for real, a fake clock, the app on a loopback port.

PostgreSQL and Redis are the machine's own (127.0.0.1:5432 and :6379). Each
test run gets its own PostgreSQL database, created here and dropped at the end,
and its own Redis key prefix, so runs cannot collide. An unreachable service
fails the run with a message saying how to start it; nothing is skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

# aiortc's import runs blocking calls (ifaddr runs `ldconfig` through ctypes,
# multiprocessing reads the working directory); the app imports it lazily inside
# a test, where blockbuster refuses them. Importing it here, before any loop
# runs, makes `pytest tests/<area>` work on its own (it failed unless another
# test module had imported the app first).
import aiortc  # noqa: F401
import asyncpg
import pytest
import redis.asyncio as redis_async
from blockbuster import blockbuster_ctx

from core.clock import FakeClock
from core.config import Secret, Settings
from core.db import Database, create_database, upgrade
from core.identity.passwords import SecretHasher

PG_ADMIN_URL = os.environ.get(
    "THROUGHCARE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("THROUGHCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STORES = ["sqlite", "postgres"]
OUR_PACKAGES = ["core", "audit", "scheduling", "signalling", "media", "web"]


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Nothing is skipped silently: a skipped test fails the run."""
    if _SKIPPED and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nerror: {len(_SKIPPED)} test(s) were skipped; every test must run:")
        for nodeid in _SKIPPED[:20]:
            print(f"  {nodeid}")


def run_blocking(coro_fn: Any, *args: Any) -> Any:
    """Run a coroutine to completion on its own loop in another thread.

    Session-scoped set-up can be first requested from inside a running test
    loop, where asyncio.run() is not allowed.
    """
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro_fn(*args)).result()


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _create_pg_database(name: str) -> str:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); "
            "start it with scripts/services or set THROUGHCARE_TEST_POSTGRES_URL",
            pytrace=False,
        )
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)


async def _drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_ADMIN_URL), timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    db = create_database(url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of this run's own, migrated once."""
    name = f"tc_test_{uuid.uuid4().hex[:12]}"
    url = run_blocking(_create_pg_database, name)
    run_blocking(_migrate, url)
    yield url
    run_blocking(_drop_pg_database, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    run_blocking(_migrate, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def redis_url() -> str:
    async def check() -> None:
        client = redis_async.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
        try:
            await client.ping()
        except (OSError, redis_async.ConnectionError) as exc:
            pytest.fail(
                f"Redis is not reachable at {REDIS_URL} ({exc}); start it with scripts/services",
                pytrace=False,
            )
        finally:
            await client.aclose()

    run_blocking(check)
    return REDIS_URL


# Emptying every table costs a few milliseconds this way; TRUNCATE of all ninety took one to
# two seconds a test (a new file for each table and index), on each of ~850 PostgreSQL tests.
# As the replication role, foreign keys and the audit tables' refusals (migration 0004) are not
# enforced, which only a superuser may ask; the store is left as TRUNCATE ... RESTART IDENTITY
# left it: every table but alembic_version empty, every sequence at its start.
_EMPTY_EVERY_TABLE = """
DO $$
DECLARE found record;
BEGIN
    SET LOCAL session_replication_role = replica;
    FOR found IN
        SELECT tablename FROM pg_tables
        WHERE schemaname = 'public' AND tablename <> 'alembic_version'
    LOOP
        EXECUTE format('DELETE FROM public.%I', found.tablename);
    END LOOP;
    FOR found IN
        SELECT sequencename, start_value FROM pg_sequences WHERE schemaname = 'public'
    LOOP
        PERFORM setval(format('public.%I', found.sequencename)::regclass, found.start_value, false);
    END LOOP;
END $$
"""


async def _empty(url: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        await conn.execute(_EMPTY_EVERY_TABLE)
    finally:
        await conn.close()


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A migrated, empty store of the kind under test."""
    if store_kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "throughcare.db"
        await asyncio.to_thread(shutil.copy, template, target)
        return f"sqlite+aiosqlite:///{target}"
    url: str = request.getfixturevalue("postgres_url")
    await _empty(url)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = await asyncio.to_thread(create_database, database_url)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def hasher() -> SecretHasher:
    """Real Argon2id, with a cost low enough that the suite stays quick."""
    return SecretHasher(time_cost=1, memory_cost=1024)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    base = Settings.from_env({})
    return replace(
        base,
        data_dir=tmp_path,
        keys_dir=tmp_path / "keys",
        audit_checkpoints_dir=tmp_path / "checkpoints",
        database_url=Secret(database_url),
        bus_prefix=f"tc-test-{uuid.uuid4().hex[:8]}:",
        # The app's job runner claims nothing unless a test asks (`job_workers`
        # or `app[JOBS].run_due()`): a reminder sweep between two steps of a
        # test that counts notifications would otherwise race it.
        job_workers=0,
    )


@pytest.fixture(autouse=True)
def no_blocking_calls(
    request: pytest.FixtureRequest, sqlite_template: Path, postgres_url: str
) -> Iterator[Any]:
    """Our code must not block the event loop (aiohttp's own suite does the same).

    It depends on the session's stores so that their one-off set-up, which
    blocks on purpose, happens before the watch starts.
    """
    # Imported before the watch starts: importing aiortc (through web.app) runs
    # ldconfig in a subprocess, which a run of tests/web alone reported as a
    # blocking call of its first test.
    import web.app  # noqa: F401

    if request.node.get_closest_marker("allow_blocking"):
        yield None
        return
    with blockbuster_ctx(OUR_PACKAGES) as bb:
        # asyncpg looks for ~/.pgpass and client certificates once per new
        # connection (not per query): a driver detail we accept.
        for function in bb.functions.values():
            function.can_block_in("asyncpg/connect_utils.py", "_parse_connect_dsn_and_args")
            # redis-py reads its own package version when it opens a connection.
            function.can_block_in("redis/utils.py", "get_lib_version")
            # botocore's first S3 client reads its data files: made in a worker thread with
            # its own loop at start-up (media/recording_storage.py), never on the app's loop.
            function.can_block_in("media/recording_storage.py", "warm")
        yield bb


# ---------------------------------------------------------------- the app


@pytest.fixture
async def app(settings: Settings, clock: FakeClock, hasher: SecretHasher) -> Any:
    from web.app import create_app

    return create_app(settings, clock=clock, hasher=hasher)


@pytest.fixture
async def client(aiohttp_client: Any, app: Any) -> Any:
    return await aiohttp_client(app)


@pytest.fixture
async def world(client: Any) -> Any:
    """One establishment with one of each role, a second establishment, and devices."""
    from tests.world import build_world

    return await build_world(client.server.app)


@pytest.fixture(scope="session")
def precall_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pre-call test peer's clip, encoded once for the whole run (media/echo.py)."""
    from media.echo import CLIP_NAME, make_clip

    directory = tmp_path_factory.mktemp("precall-clip")
    make_clip(directory / CLIP_NAME)
    return directory
