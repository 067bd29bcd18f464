"""Call status family: quality reports, written to the audit log."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from signalling.messages.base import number


@dataclass(frozen=True)
class Quality:
    TYPE: ClassVar[str] = "quality"
    rtt_ms: float
    loss_pct: float
    jitter_ms: float
    bitrate_kbps: float
    width: int
    height: int
    fps: float | None = None

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> Quality:
        fps = number(obj, "fps", maximum=240) if obj.get("fps") is not None else None
        return cls(
            rtt_ms=number(obj, "rtt_ms", maximum=60_000),
            loss_pct=number(obj, "loss_pct", maximum=100),
            jitter_ms=number(obj, "jitter_ms", maximum=60_000),
            bitrate_kbps=number(obj, "bitrate_kbps", maximum=1_000_000),
            width=int(number(obj, "width", maximum=16384, integer=True)),
            height=int(number(obj, "height", maximum=16384, integer=True)),
            fps=fps,
        )

    def details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}
