"""Room state, the replay log, resume tokens and waiting queues: memory or Redis."""

from signalling.store.base import LogEntry, ResumeRecord, RoomStore, parse_entry

__all__ = [
    "LogEntry",
    "ResumeRecord",
    "RoomStore",
    "create_store",
    "parse_entry",
]


def create_store(redis_url: str | None, *, prefix: str, log_size: int) -> RoomStore:
    """In Redis when the nodes share one; otherwise in this node's memory."""
    if redis_url:
        from signalling.store.redis import RedisRoomStore

        return RedisRoomStore(redis_url, prefix=prefix, log_size=log_size)
    from signalling.store.memory import MemoryRoomStore

    return MemoryRoomStore(log_size=log_size)
