"""TaskSet: every task started is kept, cancelled and awaited."""

from __future__ import annotations

import asyncio
import logging

import pytest

from media.tasks import TaskSet


async def test_close_cancels_and_awaits_every_running_task() -> None:
    tasks = TaskSet("t")
    stopped: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0)
            stopped.append(name)

    made = [tasks.spawn(forever(n), n) for n in ("a", "b")]
    await asyncio.sleep(0)
    await tasks.close()
    assert sorted(stopped) == ["a", "b"]
    assert all(t.done() for t in made)
    assert len(tasks) == 0


async def test_a_finished_task_is_dropped_and_its_failure_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskSet("owner")

    async def fails() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(fails(), "job")
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0)
    assert len(tasks) == 0
    assert any(
        "owner:job" in r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    )
    await tasks.close()


async def test_nothing_can_be_spawned_after_close() -> None:
    tasks = TaskSet("t")
    await tasks.close()
    coro = asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="closed"):
        tasks.spawn(coro, "x")
