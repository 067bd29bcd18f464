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

from core.errors import Code, ServiceError
from core.identity import Principal, Role
from scheduling import SchedulingService
from scheduling.consent_forms import current_forms
from scheduling.types import Decision, Scope
from signalling.call_recording import RecorderHandle
from signalling.policy import IceServerIssuer
from web.recordings_api import RECORDINGS
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


async def _media_recorder(
    app: web.Application, issuer: IceServerIssuer, appointment_id: str, actor: str
) -> Any:
    """Media's recorder, its dependencies built here (the composition root), not by media."""
    # Imported when first used: the recorder brings aiortc and ffmpeg with it.
    recorder = importlib.import_module("media.recorder")
    scheduling = app[SCHEDULING]
    view = await scheduling.appointment_view(appointment_id)
    if view is None:
        raise ServiceError(Code.NOT_FOUND, "No such appointment.")
    # The issuer reads only the account id: it names the recorder in the TURN username.
    me = Principal(
        recorder.RECORDER_ID, Role.CLINICIAN, view.establishment_id, session_id="recorder"
    )

    async def ice_servers() -> list[dict[str, Any]]:
        servers: list[dict[str, Any]] = issuer(me, view)
        return servers

    deps = recorder.RecorderDeps(
        recordings=app[RECORDINGS],
        consent=scheduling,
        ice_servers=ice_servers,
        relay_only=True if view.relay_only else None,
    )
    return await recorder.start_recorder(deps, appointment_id, actor)


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

    def __init__(
        self, app: web.Application, consents: RecordingConsents, ice_servers: IceServerIssuer
    ) -> None:
        self._app = app
        self._consents = consents
        self._ice_servers = ice_servers

    async def standing(self, appointment_id: str) -> str:
        return await self._consents.standing(appointment_id)

    async def answer(
        self, principal: Principal, appointment_id: str, given: bool, language: str
    ) -> None:
        await self._consents.answer(principal, appointment_id, given, language)

    async def withdraw(self, principal: Principal, appointment_id: str) -> None:
        await self._consents.withdraw(principal, appointment_id)

    async def start_recorder(self, appointment_id: str, actor: str) -> RecorderHandle:
        factory = self._app.get(RECORDER_FACTORY)
        if factory is not None:
            recorder = await factory(self._app, appointment_id, actor)
        else:
            recorder = await _media_recorder(self._app, self._ice_servers, appointment_id, actor)
        await recorder.start()
        return recorder


def build_recording(app: web.Application, ice_servers: IceServerIssuer) -> CallRecordingServices:
    """The hub's recording services; `ice_servers` is the consult's TURN issuer (the
    recorder gets a credential of its own from it)."""
    consents = app.get(RECORDING_CONSENTS) or SchedulingConsents(app[SCHEDULING])
    return CallRecordingServices(app, consents, ice_servers)
