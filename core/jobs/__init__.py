"""The durable job runner: work that must happen later, once in effect, on any node.

`JobRunner.register(kind, handler, ...)` says how a kind runs;
`JobRunner.schedule(conn, kind, payload, due_at=, key=)` adds a job in the
caller's transaction. docs/jobs.md explains the guarantees.
"""

from core.jobs.context import BatchContext, JobContext
from core.jobs.runner import PRUNE, JobRunner, JobStats, next_occurrence, prune_finished
from core.jobs.store import insert_job, insert_jobs
from core.jobs.types import Backoff, BatchHandler, Job, JobStatus, Kind, LeaseLost

__all__ = [
    "PRUNE",
    "Backoff",
    "BatchContext",
    "BatchHandler",
    "Job",
    "JobContext",
    "JobRunner",
    "JobStats",
    "JobStatus",
    "Kind",
    "LeaseLost",
    "insert_job",
    "insert_jobs",
    "next_occurrence",
    "prune_finished",
]
