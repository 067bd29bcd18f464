"""Owned background tasks: every task started is kept, cancelled and awaited.

aiortc work is full of long-running coroutines (frame pumps, stats loops, the
socket reader). A task nobody holds can be garbage-collected mid-flight, and a
task cancelled but never awaited can still be running when its peer connection
is torn down. `TaskSet` is the one owner per object: `spawn` keeps a strong
reference, a finished task is dropped and its failure logged, and `close`
cancels everything left and waits until it has really stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

log = logging.getLogger("throughcare.media")

T = TypeVar("T")


class TaskSet:
    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        if self._closed:
            coro.close()
            raise RuntimeError(f"{self._owner} is closed; cannot start {name}")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self._owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("task %s failed: %s", task.get_name(), type(exc).__name__, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def close(self) -> None:
        """Cancel every task still running and wait for all of them to finish."""
        self._closed = True
        current = asyncio.current_task()
        pending = [t for t in self._tasks if t is not current and not t.done()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        self._tasks.clear()
