"""The job runner's vocabulary: statuses, a job as the store holds it, a kind's rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.jobs.context import BatchContext, JobContext


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN = (JobStatus.PENDING, JobStatus.RUNNING)
"""A job in these states will still run; the others are over."""

RECURRING_KEY = "every"
"""The idempotency key of a recurring kind's one row."""

TIMEOUT = "timeout"
LEASE_LOST = "lease_lost"


class LeaseLost(Exception):
    """This runner no longer holds the job: its lease lapsed and another took it,
    or an admin cancelled it. What the handler wrote in `JobContext.transaction`
    is rolled back."""


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    key: str | None
    payload: dict[str, Any]
    status: JobStatus
    due_at: datetime
    available_at: datetime | None
    """When it can next be claimed: its due time, its next retry, or its lease's end."""
    attempts: int
    lease_owner: str | None
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Backoff:
    """Exponential: `base`, then twice that, and so on, never more than `cap`.

    No jitter: the claim query already spreads retries over the nodes, and
    deterministic delays keep an admin's "next try at" honest.
    """

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)

    def delay(self, attempt: int) -> timedelta:
        """The wait after the `attempt`-th failed attempt (1-based)."""
        factor: int = 2 ** min(max(attempt - 1, 0), 30)
        delay: timedelta = min(self.base * factor, self.cap)
        return delay


Handler = Callable[["JobContext"], Awaitable[None]]
BatchHandler = Callable[["BatchContext"], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """How a kind of job runs: registered once per node, before the runner starts."""

    name: str
    handler: Handler
    max_attempts: int
    backoff: Backoff
    timeout: timedelta
    every: timedelta | None
    batch: BatchHandler | None = None
    """Runs several due jobs of this kind in one go (see `JobRunner.register`)."""
    batch_size: int = 1

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= 64:
            raise ValueError("a job kind is 1 to 64 characters")
        if self.max_attempts < 1:
            raise ValueError("max_attempts is at least 1")
        if self.timeout <= timedelta(0):
            raise ValueError("timeout must be positive")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("every must be positive")
        if self.batch is not None and (self.every is not None or not 1 < self.batch_size <= 1000):
            raise ValueError("a batched kind is not recurring and takes 2 to 1000 jobs a batch")
