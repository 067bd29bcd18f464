from __future__ import annotations

from signalling.bus.base import Bus


def create_bus(redis_url: str | None, *, prefix: str = "tc:") -> Bus:
    """The in-process bus unless a Redis URL is configured."""
    if redis_url:
        from signalling.bus.redis import RedisBus

        return RedisBus(redis_url, prefix=prefix)
    from signalling.bus.memory import MemoryBus

    return MemoryBus()
