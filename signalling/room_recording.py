"""A room's recording: asked by its clinician, confirmed on the patient's device, seen by all.

Mixed into `Room` (signalling/rooms.py), which holds the fields. Pure like the
rest of the room: each step checks everything first, then changes the room and
returns an `Outbox`; a refused step raises and changes nothing.

```
          record_start (clinician)          record_answer given (patient)
    off ───────────────────────────▶ asking ──────────────────────────────▶ on
     ▲                                 │                                     │
     │      record_answer declined     │   record_withdraw (patient),        │
     └─────────────────────────────────┴── record_stop (clinician), the ─────┘
                                           patient leaving, the consult ending
```

Every change reaches every active member of the room as `recording` (state,
by, at, and why it went off), whatever their role: the clinician, the patient,
and whoever else a room lets in. The room snapshot carries the state, so a page
that comes back shows it.

Once the patient declined or withdrew in this consult (`recording_closed`), the
clinician cannot ask again in it: the device is not asked twice. The consent
records themselves (scheduling's, per appointment) say the same to a new room.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.events import Action
from signalling.errors import ErrorCode, SignallingError

if TYPE_CHECKING:
    from signalling.rooms import ConsultState, Member, Outbox

OFF, ASKING, ON = "off", "asking", "on"
STATES = (OFF, ASKING, ON)
_ACTIVE = ("waiting", "present", "away")
_IN_A_CALL = ("admitted", "in_call")


def refused(reason: str) -> SignallingError:
    return SignallingError(ErrorCode.RECORDING_REFUSED, reason=reason)


class RoomRecording:
    """The recording steps of a `Room`; the fields below are the room's."""

    appointment: str
    clinician_id: str
    prisoner_id: str
    state: ConsultState
    members: dict[str, Member]
    recording: str
    recording_by: str | None
    recording_since: str | None
    recording_closed: str | None

    # ------------------------------------------------------------ views

    def recording_view(self) -> dict[str, Any]:
        return {"state": self.recording, "by": self.recording_by, "since": self.recording_since}

    def _everyone(self) -> tuple[str, ...]:
        """Every active member but one on hold (it is sent nothing until brought back)."""
        return tuple(
            m.participant
            for m in self.members.values()
            if m.status.value in _ACTIVE and not m.on_hold
        )

    def _announce(self, out: Outbox, now: datetime, reason: str | None = None) -> None:
        body: dict[str, Any] = {
            "type": "recording",
            "state": self.recording,
            "by": self.recording_by,
            "at": now.isoformat(),
        }
        if reason is not None:
            body["reason"] = reason
        out.send(self._everyone(), body)

    def _member_as(self, by: str, who: str) -> Member:
        """`by` as an active member who is this appointment's clinician, or its patient."""
        if self.state.value == "ended":
            raise SignallingError(ErrorCode.ROOM_ENDED)
        member = self.members.get(by)
        if member is None or member.status.value not in _ACTIVE:
            raise SignallingError(ErrorCode.NOT_IN_ROOM)
        if who == "clinician":
            mine = member.role == "clinician" and by == self.clinician_id
        else:
            mine = member.role == "patient" and by == self.prisoner_id
        if not mine:
            raise SignallingError(ErrorCode.NOT_ALLOWED)
        return member

    # ------------------------------------------------------------ steps

    def recording_ask(self, by: str, now: datetime, standing: str) -> Outbox:
        """The clinician asks to record; `standing` is the appointment's consent
        as scheduling holds it (`given`, `declined`, `withdrawn` or `none`)."""
        from signalling.rooms import Outbox

        self._member_as(by, "clinician")
        if self.recording != OFF:
            raise refused("already")
        if self.recording_closed is not None:
            raise refused(self.recording_closed)
        if standing != "given":
            raise refused("no_consent" if standing in ("none", "declined") else standing)
        patient = self.members.get(self.prisoner_id)
        if (
            patient is None
            or not patient.admitted
            or patient.status.value != "present"
            or self.state.value not in _IN_A_CALL
        ):
            raise refused("not_in_call")
        out = Outbox()
        self.recording, self.recording_by, self.recording_since = ASKING, by, now.isoformat()
        out.audit(Action.RECORDING_REQUESTED, by, now, patient=self.prisoner_id)
        self._announce(out, now)
        return out

    def recording_check_answer(self, by: str) -> None:
        """Whether the patient may answer now (checked before the answer is stored)."""
        self._member_as(by, "patient")
        if self.recording != ASKING:
            raise refused("not_asked")

    def recording_answer(self, by: str, given: bool, now: datetime) -> Outbox:
        from signalling.rooms import Outbox

        self.recording_check_answer(by)
        out = Outbox()
        if given:
            self.recording, self.recording_since = ON, now.isoformat()
            out.audit(Action.RECORDING_STARTED, self.recording_by or by, now, consented_by=by)
            self._announce(out, now)
        else:
            self.recording, self.recording_closed = OFF, "declined"
            self.recording_since = now.isoformat()
            self._announce(out, now, "declined")
        return out

    def recording_withdraw(self, by: str, now: datetime) -> Outbox:
        """The patient withdraws: the recording stops at once and is not asked for again."""
        from signalling.rooms import Outbox

        self._member_as(by, "patient")
        if self.recording != ON:
            raise refused("not_recording")
        out = Outbox()
        self.recording_closed = "withdrawn"
        self._off(out, by, now, "withdrawn")
        return out

    def recording_stop(self, by: str, now: datetime) -> Outbox:
        """The clinician stops the recording, or takes back a question not yet answered."""
        from signalling.rooms import Outbox

        self._member_as(by, "clinician")
        if self.recording == OFF:
            raise refused("not_recording")
        out = Outbox()
        self._off(out, by, now, "stopped")
        return out

    def recording_failed(self, now: datetime) -> Outbox:
        """The recorder could not start, or stopped by itself: off, said to everyone."""
        from signalling.rooms import Outbox

        out = Outbox()
        if self.recording == ON:
            self._off(out, "system", now, "failed")
        return out

    def recording_ends(self, why: str, by: str, now: datetime, out: Outbox) -> None:
        """The patient left or the consult ended: a recording (or a question) stops."""
        if self.recording != OFF:
            self._off(out, by, now, why)

    def _off(self, out: Outbox, by: str, now: datetime, reason: str) -> None:
        was = self.recording
        self.recording, self.recording_since = OFF, now.isoformat()
        self.recording_by = by if by != "system" else None
        if was == ON:
            out.audit(Action.RECORDING_STOPPED, by, now, reason=reason)
        self._announce(out, now, reason)
