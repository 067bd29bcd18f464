"""`/ws` runs its fast path only on an aiohttp whose internals it knows (web/ws_fast.py).

At start-up the app checks that the private parts of aiohttp's WebSocketResponse
that the fast path replaces or reads still have the shape it needs; if not, or
when THROUGHCARE_WS_FAST_PATH=off, it runs aiohttp's public WebSocket API. Only
aiohttp 3.14 is installable here, so a changed aiohttp is simulated by changing
the installed one, part by part. The relay's own tests run on both paths
(`EDGES`, `WS_PATHS` in conftest.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp._websocket.writer import WebSocketWriter

from core.config import ConfigError, Settings
from tests.signalling.conftest import SDP, FakePolicy, book_consult, build_app, candidate, in_call
from web import ws as ws_module
from web import ws_fast
from web.ws import choose_path

ORIGINAL_POST_START = web.WebSocketResponse._post_start
ORIGINAL_WRITER_INIT = WebSocketWriter.__init__


def _post_start_that_does_more(self: Any, request: Any, protocol: Any, writer: Any) -> None:
    ORIGINAL_POST_START(self, request, protocol, writer)
    self._compress_threshold = 0  # a new aiohttp, setting something new up


def _post_start_with_other_arguments(self: Any, request: Any, writer: Any) -> None:
    raise AssertionError("never called: the check reads it")


def _cancel_heartbeat_of_another_timer(self: Any) -> None:
    self._cancel_pong_response_cb()
    if self._heartbeat_timer is not None:  # renamed: ours would never be cancelled
        self._heartbeat_timer.cancel()


def _writer_init_without_closing(self: Any, protocol: Any, transport: Any, **kw: Any) -> None:
    self.protocol = protocol
    self.transport = transport


class _BatchingReader:
    """A parser that queues a whole read as one item, as a future aiohttp might."""

    def __init__(self, queue: Any, *args: Any, **kw: Any) -> None:
        self._queue = queue

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._queue.feed_data(("batch", data), len(data))
        return False, b""


CHANGES: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], str]] = {
    "post_start_gone": (
        lambda mp: mp.delattr(web.WebSocketResponse, "_post_start"),
        "WebSocketResponse._post_start is gone",
    ),
    "post_start_does_more": (
        lambda mp: mp.setattr(web.WebSocketResponse, "_post_start", _post_start_that_does_more),
        "_post_start changed: now also ORIGINAL_POST_START(), self._compress_threshold =;",
    ),
    "post_start_other_arguments": (
        lambda mp: mp.setattr(
            web.WebSocketResponse, "_post_start", _post_start_with_other_arguments
        ),
        "takes ['self', 'request', 'writer']",
    ),
    "heartbeat_timer_renamed": (
        lambda mp: mp.setattr(
            web.WebSocketResponse, "_cancel_heartbeat", _cancel_heartbeat_of_another_timer
        ),
        "WebSocketResponse._cancel_heartbeat no longer uses _heartbeat_cb",
    ),
    "writer_state_renamed": (
        lambda mp: mp.setattr(WebSocketWriter, "__init__", _writer_init_without_closing),
        "WebSocketWriter.__init__ no longer uses self._closing =",
    ),
    "parser_batches": (
        lambda mp: mp.setattr(ws_fast, "WebSocketReader", _BatchingReader),
        "no longer feeds its queue frame by frame",
    ),
    "module_moved": (
        lambda mp: (
            mp.setattr(ws_module, "ws_fast", None)
            or mp.setattr(ws_module, "_FAST_IMPORT", "the fast path does not import (ImportError)")
        ),
        "the fast path does not import",
    ),
}


async def test_the_installed_aiohttp_fits_the_fast_path() -> None:
    """If this fails after an upgrade, the service still runs (on the public path):
    the message says which internal changed; web/ws_fast.py needs a look."""
    assert await ws_fast.unfit() is None
    chosen = await choose_path("auto")
    assert chosen.fast, chosen.why
    assert chosen.why.startswith("aiohttp 3.")


@pytest.mark.parametrize("change", sorted(CHANGES))
async def test_a_changed_aiohttp_gets_the_public_path_and_says_why(
    change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply, expected = CHANGES[change]
    apply(monkeypatch)
    chosen = await choose_path("auto")
    assert not chosen.fast
    assert chosen.name == "public"
    assert expected in chosen.why, chosen.why


async def test_the_setting_forces_the_public_path() -> None:
    chosen = await choose_path("off")
    assert (chosen.fast, chosen.why) == (False, "THROUGHCARE_WS_FAST_PATH=off")


def test_the_setting_is_auto_or_off() -> None:
    assert Settings.from_env({"THROUGHCARE_WS_FAST_PATH": "off"}).ws_fast_path == "off"
    assert Settings.from_env({}).ws_fast_path == "auto"
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"THROUGHCARE_WS_FAST_PATH": "fast"})
    assert str(info.value).startswith("THROUGHCARE_WS_FAST_PATH:")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


@pytest.mark.parametrize("shape", ["as installed", "changed"])
async def test_start_up_logs_the_path_shows_it_and_relays_on_it(
    shape: str,
    aiohttp_client: Any,
    settings: Settings,
    clock: Any,
    hasher: Any,
    policy: FakePolicy,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A whole consult's negotiation on an aiohttp that fits, and on one that does not:
    there aiohttp's own `prepare` runs its changed `_post_start`, and nothing is relayed
    from the read callback."""
    from tests.world import build_world
    from web.state import SIGNALLING

    fast = shape == "as installed"
    if not fast:
        monkeypatch.setattr(web.WebSocketResponse, "_post_start", _post_start_that_does_more)
    caplog.set_level(logging.INFO, logger="web.ws")
    app = build_app(replace(settings, ws_fast_path="auto"), clock, hasher, policy)
    client = await aiohttp_client(app)
    [line] = [r.getMessage() for r in caplog.records if "signalling WebSocket" in r.getMessage()]
    assert line.startswith(f"signalling WebSocket: {'fast' if fast else 'public'} path (aiohttp 3.")
    if not fast:
        assert "_post_start changed" in line
    health = await (await client.get("/healthz")).json()
    assert health["ws_path"] == ("fast" if fast else "public")
    text = await (await client.get("/metrics")).text()
    assert _metric(text, "throughcare_ws_fast_path") == (1 if fast else 0)

    hub = app[SIGNALLING]
    offered: list[str] = []
    relay_now = hub.relay_now

    def spy(conn: Any, frame: str) -> bool:
        offered.append(frame)
        return bool(relay_now(conn, frame))

    hub.relay_now = spy
    consult = await book_consult(client, await build_world(app), policy)
    patient, clinician = await in_call(client, consult)
    await clinician.send({"type": "offer", "to": consult.patient_id, "sdp": SDP})
    assert (await patient.expect("offer"))["sdp"] == SDP
    await patient.send({"type": "answer", "to": consult.clinician_id, "sdp": SDP})
    await clinician.expect("answer")
    for n in range(5):
        await patient.send(
            {"type": "candidate", "to": consult.clinician_id, "candidate": candidate(n)}
        )
    got = [(await clinician.expect("candidate"))["candidate"] for _ in range(5)]
    assert got == [candidate(n) for n in range(5)]
    seqs = [body["seq"] for body in clinician.seen]
    assert seqs == sorted(set(seqs))
    assert bool(offered) is fast
    await asyncio.gather(patient.quiet(), clinician.quiet())
    for peer in (patient, clinician):
        await peer.ws.close()
