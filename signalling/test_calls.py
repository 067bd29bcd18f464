"""Pre-call tests on the call's own path: the server side of the `test_*` messages.

From 24 hours before a booked consult until it ends (scheduling decides:
`PrecallPolicy`), a device can ask on its signalling socket for a test call.
The server opens a test peer (media/echo.py, behind the `EchoPeers` protocol:
media sits above signalling, so web wires it in) and gives the device the TURN
credentials a consult would, so the media takes the consult's path: relay-only
through our TURN. The peer offers, the device answers and trickles its
candidates, and for `duration_s` each end measures what it receives. The
device reports its numbers; the server judges both directions together
(`judge`), sends the verdict, and has scheduling keep it with the device's
cell and wing (and alert the wing's staff if it failed).

One test per connection here and one per device in the store; a test whose
device goes (the socket drops, `test_stop`) is closed as aborted and alerts
nobody. Every task is owned by `PrecallTests` and awaited on `close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from core.clock import Clock
from core.errors import ServiceError
from core.identity import Principal, Role
from scheduling.types import PrecallDecision, PrecallResult, PrecallTicket
from signalling.connection import Connection
from signalling.errors import ErrorCode, SignallingError
from signalling.messages.test_call import (
    DeviceCheck,
    PrecallAnswer,
    PrecallCandidate,
    PrecallMessage,
    PrecallReport,
    PrecallStart,
    PrecallStop,
)
from signalling.policy import IceServerIssuer
from signalling.registry import encode
from signalling.sdp import check_candidate, check_sdp

log = logging.getLogger(__name__)


class PrecallPolicy(Protocol):
    """Scheduling's part (`scheduling.readiness.Readiness`)."""

    async def begin_test_call(
        self, principal: Principal, appointment_id: str | None
    ) -> PrecallDecision: ...

    async def finish_test_call(self, ticket: PrecallTicket, result: PrecallResult) -> None: ...


@dataclass(frozen=True)
class LinkMeasures:
    """What one end received over the test: the same numbers either way."""

    connected: bool
    rtt_ms: float = 0.0
    loss_pct: float = 0.0
    jitter_ms: float = 0.0
    bitrate_kbps: float = 0.0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    video_frames: int = 0
    audio_packets: int = 0

    @classmethod
    def reported(cls, measures: dict[str, float]) -> LinkMeasures:
        """The device's `test_report` numbers (already range-checked by the parser)."""
        whole = {"width", "height", "video_frames", "audio_packets"}
        values: dict[str, Any] = {k: int(v) if k in whole else v for k, v in measures.items()}
        return cls(connected=True, **values)

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 1) for k, v in asdict(self).items() if k != "connected"}


class EchoPeer(Protocol):
    """One test's far end (media/echo.py)."""

    async def offer(self) -> str:
        """The peer's offer SDP (its candidates are in it: the peer does not trickle)."""
        ...

    async def answer(self, sdp: str) -> None:
        """Raises ValueError when the answer cannot be used."""
        ...

    async def add_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Raises ValueError when the candidate cannot be read or used."""
        ...

    async def measure(self, duration_s: float, connect_within_s: float) -> LinkMeasures:
        """Wait for the media to connect, then measure what arrives for `duration_s`."""
        ...

    async def close(self) -> None: ...


class EchoPeers(Protocol):
    """Opens test peers (media/echo.py `EchoService`)."""

    async def open(self, ticket: PrecallTicket) -> EchoPeer: ...


@dataclass(frozen=True)
class PrecallConfig:
    duration_s: float = 10.0
    """How long each end measures the other's media."""
    connect_within_s: float = 20.0
    """ICE and DTLS must be up by then, or the connection failed."""
    report_within_s: float = 10.0
    """After the peer has measured, how long to wait for the device's report."""
    credential_s: float = 300.0
    """The device's TURN credentials for a test end this long after it starts."""


# What makes a link poor, either way (the device's screen says so in words).
POOR_LOSS_PCT = 5.0
POOR_RTT_MS = 400.0
POOR_JITTER_MS = 60.0
POOR_VIDEO_KBPS = 150.0
POOR_FPS = 10.0


def _poor(m: LinkMeasures) -> bool:
    if m.loss_pct > POOR_LOSS_PCT or m.rtt_ms > POOR_RTT_MS or m.jitter_ms > POOR_JITTER_MS:
        return True
    return m.video_frames > 0 and (m.bitrate_kbps < POOR_VIDEO_KBPS or m.fps < POOR_FPS)


def _received(m: LinkMeasures | None) -> bool:
    return m is not None and m.connected and (m.audio_packets > 0 or m.video_frames > 0)


def judge(
    to_service: LinkMeasures, to_device: LinkMeasures | None, check: DeviceCheck | None
) -> PrecallResult:
    """Both directions and the device's own check, in the words the store keeps.

    The connection failed if the peer's end never connected, or nothing
    arrived at an end that should have had something (a device that opened
    neither camera nor microphone sends nothing, which says nothing about the
    path); it is poor if either direction crosses a threshold. The camera
    (microphone) failed if the device could not open it, or if the link worked
    and no video frame (audio packet) of the device's arrived.
    """
    sends = check is None or "ok" in (check.camera, check.microphone)
    if (
        not to_service.connected
        or (sends and not _received(to_service))
        or (to_device is not None and not _received(to_device))
    ):
        connection = "failed"
    elif _poor(to_service) or (to_device is not None and _poor(to_device)):
        connection = "poor"
    else:
        connection = "good"
    working = connection != "failed"

    def part(opened: str | None, arrived: bool) -> str:
        if opened == "fail":
            return "failed"
        if working:
            return "ok" if arrived else "failed"
        return "unknown"

    camera = part(check.camera if check else None, to_service.video_frames > 0)
    microphone = part(check.microphone if check else None, to_service.audio_packets > 0)
    outcome = "failed" if "failed" in (connection, camera, microphone) else connection
    measures = {"to_service": to_service.as_dict()}
    if to_device is not None:
        measures["to_device"] = to_device.as_dict()
    return PrecallResult(outcome, camera, microphone, connection, measures)


@dataclass
class _Test:
    ticket: PrecallTicket
    conn: Connection
    peer: EchoPeer
    check: DeviceCheck | None
    report: asyncio.Future[PrecallReport]
    task: asyncio.Task[None] | None = None


class PrecallTests:
    """The running tests of one node, by connection."""

    def __init__(
        self,
        *,
        policy: PrecallPolicy | None,
        peers: EchoPeers | None,
        ice_servers: IceServerIssuer,
        clock: Clock,
        config: PrecallConfig | None = None,
    ) -> None:
        self._policy = policy
        self._peers = peers
        self._ice_servers = ice_servers
        self._clock = clock
        self.config = config or PrecallConfig()
        self._tests: dict[str, _Test] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def running(self) -> int:
        return len(self._tests)

    async def handle(self, conn: Connection, message: PrecallMessage) -> None:
        if isinstance(message, PrecallStart):
            await self._start(conn, message)
            return
        test = self._tests.get(conn.id)
        if test is None or test.ticket.id != message.test:
            raise SignallingError(ErrorCode.NOT_TESTING)
        relay_only = test.ticket.appointment.relay_only
        if isinstance(message, PrecallAnswer):
            check_sdp(message.sdp, device=True, relay_only=relay_only)
            try:
                await test.peer.answer(message.sdp)
            except ValueError:
                raise SignallingError(ErrorCode.SDP_INVALID) from None
        elif isinstance(message, PrecallCandidate):
            check_candidate(message.candidate, device=True, relay_only=relay_only)
            if message.candidate:
                try:
                    await test.peer.add_candidate(
                        message.candidate, message.sdp_mid, message.sdp_mline_index
                    )
                except ValueError:
                    raise SignallingError(ErrorCode.CANDIDATE_REFUSED) from None
        elif isinstance(message, PrecallReport):
            if not test.report.done():
                test.report.set_result(message)
        elif isinstance(message, PrecallStop):
            await self._abort(test)

    async def dropped(self, conn: Connection) -> None:
        """The device's socket is gone: its test ends, as aborted."""
        test = self._tests.get(conn.id)
        if test is not None:
            await self._abort(test)

    async def close(self) -> None:
        self._closing = True
        for test in list(self._tests.values()):
            await self._abort(test)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------ steps

    async def _start(self, conn: Connection, message: PrecallStart) -> None:
        principal = conn.principal
        assert principal is not None
        if principal.role is not Role.PRISONER or principal.device_id is None:
            raise _refused("not_a_device")
        if conn.id in self._tests:
            raise _refused("already_testing")
        if conn.room is not None:
            raise _refused("in_consult")
        if self._policy is None or self._peers is None or self._closing:
            raise _refused("unavailable")
        try:
            decision = await self._policy.begin_test_call(principal, message.appointment)
        except ServiceError as exc:
            raise _refused("unavailable", {"code": exc.code.slug}) from None
        ticket = decision.ticket
        if ticket is None:
            raise _refused(decision.refusal or "unavailable")
        try:
            peer = await self._peers.open(ticket)
        except Exception:
            log.exception("could not open a test peer")
            await self._policy.finish_test_call(ticket, PrecallResult("aborted"))
            raise _refused("unavailable") from None
        loop = asyncio.get_running_loop()
        test = _Test(ticket, conn, peer, message.check, loop.create_future())
        self._tests[conn.id] = test
        view = ticket.appointment
        lifetime = timedelta(seconds=self.config.credential_s)
        expires = min(view.window_closes, ticket.started_at + lifetime)
        await self._send(
            conn,
            {
                "type": "test_call_started",
                "v": 1,
                "test": ticket.id,
                "ice_servers": self._ice_servers(principal, replace(view, window_closes=expires)),
                "relay_only": view.relay_only,
                "duration_s": self.config.duration_s,
            },
        )
        test.task = task = loop.create_task(self._run(test), name=f"test-call-{ticket.id[:8]}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            sdp = await peer.offer()
        except Exception:
            log.exception("the test peer could not offer")
            await self._abort(test)
            raise _refused("unavailable") from None
        await self._send(conn, {"type": "test_offer", "v": 1, "test": ticket.id, "sdp": sdp})

    async def _run(self, test: _Test) -> None:
        """Measure, wait for the device's numbers, judge, keep it, then tell the device.

        The result is kept before the device hears it, so whatever the device
        (or a person told by it) looks at next already shows it.
        """
        cfg = self.config
        result = PrecallResult("aborted")
        reply: dict[str, Any]
        try:
            to_service = await test.peer.measure(cfg.duration_s, cfg.connect_within_s)
            report: PrecallReport | None = None
            if to_service.connected:
                with contextlib.suppress(TimeoutError):
                    report = await asyncio.wait_for(
                        asyncio.shield(test.report), cfg.report_within_s
                    )
            elif test.report.done():
                report = test.report.result()
            to_device = LinkMeasures.reported(report.measures) if report is not None else None
            check = report.check if report is not None else test.check
            result = judge(to_service, to_device, check)
            reply = {
                "type": "test_result",
                "v": 1,
                "test": test.ticket.id,
                "outcome": result.outcome,
                "camera": result.camera,
                "microphone": result.microphone,
                "connection": result.connection,
                "problems": list(result.problems),
                "measures": result.measures,
            }
        except asyncio.CancelledError:
            raise
        except Exception:
            # A fault of ours (the peer, aiortc): nobody is alerted about the
            # device, and the device is told to try again later.
            log.exception("test call failed on the server's side")
            result = PrecallResult("aborted")
            reply = _refused("unavailable").to_wire()
        finally:
            await self._finish(test, result)
        await self._send(test.conn, reply)

    async def _abort(self, test: _Test) -> None:
        task = test.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            await self._finish(test, PrecallResult("aborted"))

    async def _finish(self, test: _Test, result: PrecallResult) -> None:
        if self._tests.get(test.conn.id) is test:
            del self._tests[test.conn.id]
        if not test.report.done():
            test.report.cancel()
        try:
            await test.peer.close()
        finally:
            assert self._policy is not None
            try:
                await self._policy.finish_test_call(test.ticket, result)
            except (ServiceError, ConnectionError, OSError) as exc:
                log.warning("could not keep a test call's result (%s)", type(exc).__name__)

    @staticmethod
    async def _send(conn: Connection, body: dict[str, Any]) -> None:
        if conn.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.transport.send(encode(body, conn.last_seq))


def _refused(reason: str, debug: dict[str, Any] | None = None) -> SignallingError:
    return SignallingError(ErrorCode.TEST_CALL_REFUSED, reason=reason, debug_context=debug)
