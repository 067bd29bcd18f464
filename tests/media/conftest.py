"""Media fixtures: coturn on loopback, and ICE kept on loopback.

aioice deliberately leaves 127.0.0.1 out of its host candidates and offers
every other interface instead; on a test machine that would send call media
to a non-loopback address. `loopback_ice` swaps aioice's address lookup for
one that answers 127.0.0.1 only (`nodes.loopback_host_addresses`): a seam in
the ICE library, nothing of ours.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest

from tests.media.nodes import loopback_host_addresses
from tests.turn import Turn, start_turnserver

Coturn = Turn


def start_coturn(workdir: Path) -> tuple[subprocess.Popen[bytes], Coturn]:
    return start_turnserver(workdir)


@pytest.fixture(scope="session")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coturn]:
    proc, turn = start_coturn(tmp_path_factory.mktemp("coturn"))
    yield turn
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# aiortc joins its decoder thread when a receiver stops, and its media
# player joins its reader thread: short, bounded waits inside the library
# that we accept, as the root conftest accepts asyncpg's connect-time reads.
AIORTC_BLOCKING = [
    ("aiortc/rtcrtpreceiver.py", "__stop_decoder"),
    ("aiortc/contrib/media.py", "_stop"),
]


@pytest.fixture(autouse=True)
def aiortc_thread_joins(no_blocking_calls: Any) -> None:
    if no_blocking_calls is None:
        return
    for function in no_blocking_calls.functions.values():
        for filename, name in AIORTC_BLOCKING:
            function.can_block_in(filename, name)


@pytest.fixture(autouse=True)
def loopback_ice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_host_addresses)
