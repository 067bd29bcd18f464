"""Recording in the call: scheduling's consents and media's recorder, wired for the hub.

The protocol and its rules are signalling's (signalling/call_recording.py,
signalling/room_recording.py, docs/signalling.md "Recording"). This module gives
the hub what it cannot import itself: the appointment's recording consent
(scheduling), the patient's answer and withdrawal stored as their consent on
their device, and the recorder (`media/recorder.py`), made by the factory in
`RECORDER_FACTORY` when set (tests) or media's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from core.identity import Principal
from scheduling import SchedulingService
from scheduling.consent_forms import current_forms
from scheduling.types import Decision, Scope
from signalling.call_recording import RecorderHandle
from web.state import SCHEDULING


class StartableRecorder(Protocol):
    async def start(self) -> Any: ...

    async def accept(self, member: str, offer_sdp: str) -> str: ...

    async def stop(self) -> Any: ...


RecorderFactory = Callable[[web.Application, str, str], Awaitable[StartableRecorder]]

RECORDER_FACTORY: web.AppKey[RecorderFactory] = web.AppKey("recorder_factory")
"""Optional: how a recorder is made (`media.recorder.start_recorder` when unset)."""


def _recording_form_version() -> int:
    return next(f.version for f in current_forms() if f.scope is Scope.RECORDING)


async def _media_recorder(app: web.Application, appointment_id: str, actor: str) -> Any:
    # Imported when first used: the recorder brings aiortc and ffmpeg with it.
    recorder = importlib.import_module("media.recorder")
    return await recorder.start_recorder(app, appointment_id, actor)


class RecordingConsents(Protocol):
    """The consent half of `RecordingServices`."""

    async def standing(self, appointment_id: str) -> str: ...

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None: ...

    async def withdraw(self, principal: Principal, appointment_id: str) -> None: ...


RECORDING_CONSENTS: web.AppKey[RecordingConsents] = web.AppKey("recording_consents")
"""Optional: replaces scheduling's consents (signalling tests with a fake join policy,
whose appointments are not in the database)."""


class SchedulingConsents:
    """Recording consent as scheduling keeps it, per appointment."""

    def __init__(self, scheduling: SchedulingService) -> None:
        self._scheduling = scheduling

    async def standing(self, appointment_id: str) -> str:
        return await self._scheduling.recording_standing(appointment_id)

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None:
        await self._scheduling.record_consent(
            principal,
            prisoner_id=principal.account_id,
            scope_value=Scope.RECORDING.value,
            version=_recording_form_version(),
            decision=(Decision.GIVEN if given else Decision.DECLINED).value,
            language=language,
            appointment_id=appointment_id,
        )

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        held = await self._scheduling.consents_of(principal, principal.account_id)
        for consent in held:  # newest first
            if (
                consent.scope is Scope.RECORDING
                and consent.appointment_id == appointment_id
                and consent.decision is Decision.GIVEN
                and consent.withdrawn_at is None
            ):
                await self._scheduling.withdraw_consent(principal, consent.id)


class CallRecordingServices:
    """`signalling.call_recording.RecordingServices`: consents, and media's recorder."""

    def __init__(self, app: web.Application, consents: RecordingConsents) -> None:
        self._app = app
        self._consents = consents

    async def standing(self, appointment_id: str) -> str:
        return await self._consents.standing(appointment_id)

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None:
        await self._consents.answer(principal, appointment_id, given, language)

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        await self._consents.withdraw(principal, appointment_id)

    async def start_recorder(self, appointment_id: str, actor: str) -> RecorderHandle:
        factory = self._app.get(RECORDER_FACTORY) or _media_recorder
        recorder = await factory(self._app, appointment_id, actor)
        await recorder.start()
        return recorder


def build_recording(app: web.Application) -> CallRecordingServices:
    consents = app.get(RECORDING_CONSENTS) or SchedulingConsents(app[SCHEDULING])
    return CallRecordingServices(app, consents)
