"""The scheduling vocabulary: statuses, consent scopes and the views other packages read.

`AppointmentView` and `JoinDecision` are the contract with the join policy in
`signalling/`; their field names are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal


class Status(StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DID_NOT_ATTEND = "did_not_attend"
    CANCELLED = "cancelled"
    # The window closed with no outcome recorded: on the clinician's and the manager's
    # to-do list until coded (seen, or did not attend with a reason and its cause).
    NOT_RECORDED = "not_recorded"


ACTIVE_STATUSES = frozenset({Status.BOOKED, Status.CHECKED_IN, Status.IN_PROGRESS})
"""Statuses that hold a clinician's and a prisoner's time."""


class Scope(StrEnum):
    TELEHEALTH = "telehealth"
    RECORDING = "recording"
    COMMUNITY_SHARING = "community_sharing"


class Decision(StrEnum):
    GIVEN = "given"
    DECLINED = "declined"


Refusal = Literal[
    "not_found",
    "not_your_appointment",
    "wrong_device",
    "not_booked",
    "no_consent",
    "too_early",
    "too_late",
]


class TextStatus(StrEnum):
    """What became of a record's clinical free text for this reader (core.clinical)."""

    SHOWN = "shown"
    # This reader may not read it (an admin, an officer, a sensitive service's outsider).
    WITHHELD = "withheld"
    # The subject was shredded: the key is gone, here and in every backup.
    SHREDDED = "shredded"
    # The key is there but a blob does not open in its row (moved or edited).
    DAMAGED = "damaged"


@dataclass(frozen=True)
class AppointmentView:
    """What signalling needs about a consult."""

    id: str
    establishment_id: str
    prisoner_id: str
    clinician_id: str
    service: str
    starts_at: datetime
    ends_at: datetime
    window_opens: datetime
    window_closes: datetime
    status: str
    relay_only: bool
    video_required: bool = False


MemberRole = Literal["patient", "clinician", "interpreter", "chaperone", "officer"]
"""A consult room's people: the recorder (a server member) is not one of them."""

THIRD_PARTY_ROLES: dict[str, MemberRole] = {
    "interpreter": "interpreter",
    "chaperone": "chaperone",
    "officer": "officer",
}


@dataclass(frozen=True)
class JoinDecision:
    allowed: bool
    refusal: Refusal | None
    role: MemberRole | None
    appointment: AppointmentView | None


@dataclass(frozen=True)
class Service:
    id: str
    establishment_id: str
    code: str
    name: str
    minutes: int
    buffer_minutes: int
    target_days: int
    sensitive: bool
    escort_if_in_person: bool = False


@dataclass(frozen=True)
class Slot:
    clinician_id: str
    service_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Appointment:
    """A consult as its clinician, a manager or its prisoner sees it.

    `reason`, `notes` and `outcome_note` are clinical free text: None unless
    `clinical_text` is SHOWN for this reader (a prisoner never gets `notes`
    or `outcome_note`). `outcome_code` is a code from the published list.
    """

    id: str
    establishment_id: str
    prisoner_id: str
    clinician_id: str
    service_id: str
    service_code: str
    starts_at: datetime
    ends_at: datetime
    status: Status
    reason: str | None
    notes: str | None
    outcome_code: str | None
    outcome_category: str | None
    outcome_note: str | None
    same_sex: bool
    chaperone: bool
    request_id: str | None
    rebook_of: str | None
    created_at: datetime
    clinical_text: TextStatus = TextStatus.WITHHELD
    video_required: bool = False
    in_person: bool = False


@dataclass(frozen=True)
class OfficerAppointment:
    """That a prisoner has an appointment, and when: nothing about what it is for."""

    id: str
    prisoner_id: str
    starts_at: datetime
    ends_at: datetime
    # Whom to bring where: the prisoner's name and number, and the cell of the
    # device they last signed in on (None if they never have).
    prisoner_name: str | None = None
    prison_number: str | None = None
    cell: str | None = None


@dataclass(frozen=True)
class WaitingPatient:
    """One of a clinician's patients checked in and waiting now, whichever appointment."""

    appointment_id: str
    prisoner_id: str
    prisoner_name: str
    prison_number: str | None
    starts_at: datetime
    ends_at: datetime
    waiting_since: datetime


@dataclass(frozen=True)
class EstablishmentView:
    id: str
    code: str
    name: str
    timezone: str


@dataclass(frozen=True)
class Consent:
    id: str
    prisoner_id: str
    establishment_id: str
    scope: Scope
    form_version: int
    decision: Decision
    decided_at: datetime
    device_id: str | None
    witness_id: str | None
    withdrawn_at: datetime | None
    withdrawn_device_id: str | None
    # Set for recording consent, which is for one appointment.
    appointment_id: str | None = None

    @property
    def in_force(self) -> bool:
        return self.decision == Decision.GIVEN and self.withdrawn_at is None


@dataclass(frozen=True)
class HealthRequest:
    id: str
    prisoner_id: str
    establishment_id: str
    category: str
    # Clinical free text: None unless `text_status` is SHOWN for this reader.
    text: str | None
    status: str
    urgency: str | None
    service_id: str | None
    created_at: datetime
    triaged_at: datetime | None
    triaged_by: str | None
    appointment_id: str | None
    waited_days: float
    target_days: int | None
    text_status: TextStatus = TextStatus.WITHHELD
    # Advice or a reason for declining, written for the prisoner (sealed like `text`).
    response: str | None = None
    prisoner_name: str | None = None
    prison_number: str | None = None


PrecallRefusal = Literal["not_a_device", "no_consult", "too_many", "already_testing"]
"""Why a device may not start a pre-call test now (scheduling/readiness.py)."""


@dataclass(frozen=True)
class PrecallTicket:
    """A pre-call test that has started: for which consult, from which device and where."""

    id: str
    appointment: AppointmentView
    prisoner_id: str
    device_id: str
    cell_id: str
    cell: str
    wing_id: str
    wing: str
    started_at: datetime


@dataclass(frozen=True)
class PrecallDecision:
    ticket: PrecallTicket | None
    refusal: PrecallRefusal | None


@dataclass(frozen=True)
class PrecallResult:
    """How a test went. `outcome` is good, poor, failed, or aborted (the device went).

    `camera` and `microphone` are ok, failed or unknown; `connection` good, poor
    or failed; `measures` holds each direction's numbers (`to_service`: what the
    test peer received from the device, `to_device`: what the device received).
    """

    outcome: str
    camera: str | None = None
    microphone: str | None = None
    connection: str | None = None
    measures: dict[str, dict[str, float]] | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        """What wing staff are asked to fix: camera, microphone, connection."""
        found = []
        if self.camera == "failed":
            found.append("camera")
        if self.microphone == "failed":
            found.append("microphone")
        if self.connection == "failed":
            found.append("connection")
        return tuple(found)


@dataclass(frozen=True)
class PrecallSummary:
    """The latest test before a consult, as its clinician sees it in the list."""

    appointment_id: str
    at: datetime
    outcome: str
    camera: str | None
    microphone: str | None
    connection: str | None


@dataclass(frozen=True)
class PrecallAlert:
    """A device whose latest test failed: a place, a time and what to fix, nothing else."""

    test_id: str
    at: datetime
    wing: str
    cell: str
    problems: tuple[str, ...]
    consult_at: datetime


@dataclass(frozen=True)
class CallBackTask:
    """Bring a prisoner to a phone or a room: the clinician will call back.

    For the staff of the device's wing: who, where and when, never why.
    """

    id: str
    appointment_id: str
    requested_at: datetime
    consult_at: datetime
    prisoner_name: str | None
    prison_number: str | None
    wing: str | None
    cell: str | None
    done_at: datetime | None
