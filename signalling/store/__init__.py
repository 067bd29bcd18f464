"""Room state, the replay log, resume tokens and waiting queues: memory or Redis."""

from signalling.bus.base import Bus
from signalling.store.base import LogEntry, ResumeRecord, RoomStore, format_entry, parse_entry

__all__ = [
    "LogEntry",
    "ResumeRecord",
    "RoomStore",
    "create_store",
    "format_entry",
    "parse_entry",
]


def create_store(redis_url: str | None, bus: Bus, *, prefix: str, log_size: int) -> RoomStore:
    """In memory with the in-process bus; in Redis when the nodes share one."""
    if redis_url:
        from signalling.store.redis import RedisRoomStore

        return RedisRoomStore(redis_url, prefix=prefix, log_size=log_size)
    from signalling.store.memory import MemoryRoomStore

    return MemoryRoomStore(log_size=log_size)
