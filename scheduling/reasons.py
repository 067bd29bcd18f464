"""Why a consult did not happen: the documented code list (see docs/reasons.md).

In prisons most missed appointments are caused by the system, not the patient,
and managers must tell the two apart; every cancellation and did-not-attend
carries one of these codes, and each code belongs to exactly one side.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.errors import Code, ServiceError


class Cause(StrEnum):
    PRISON = "prison"
    PATIENT = "patient"
    CLINICIAN = "clinician"


@dataclass(frozen=True)
class Reason:
    code: str
    cause: Cause
    label: str


REASONS: dict[str, Reason] = {
    r.code: r
    for r in (
        Reason("lockdown", Cause.PRISON, "Establishment in lockdown"),
        Reason("communications", Cause.PRISON, "Calls restricted after a security incident"),
        Reason("regime_change", Cause.PRISON, "Regime change (roll check, movement, meals)"),
        Reason("no_escort", Cause.PRISON, "No officer available to escort or unlock"),
        Reason("transfer", Cause.PRISON, "Prisoner transferred to another establishment"),
        Reason("court", Cause.PRISON, "Prisoner at court"),
        Reason("release", Cause.PRISON, "Prisoner released"),
        Reason("device_unavailable", Cause.PRISON, "In-cell device missing or faulty"),
        Reason("network_failure", Cause.PRISON, "Prison network or relay failure"),
        Reason("other_prison", Cause.PRISON, "Other prison-caused reason"),
        Reason("declined", Cause.PATIENT, "Patient declined to attend"),
        Reason("unwell", Cause.PATIENT, "Patient too unwell to take part"),
        Reason("patient_asleep", Cause.PATIENT, "Patient did not respond"),
        Reason("competing_activity", Cause.PATIENT, "Patient chose another activity"),
        Reason("patient_request", Cause.PATIENT, "Patient asked to cancel or move"),
        Reason("other_patient", Cause.PATIENT, "Other patient-caused reason"),
        Reason("clinician_unavailable", Cause.CLINICIAN, "Clinician unavailable"),
        Reason("clinician_late", Cause.CLINICIAN, "Clinician ran late"),
        Reason("clinical_decision", Cause.CLINICIAN, "Clinical decision (no longer needed)"),
        Reason("booking_error", Cause.CLINICIAN, "Booked in error"),
        Reason("other_clinician", Cause.CLINICIAN, "Other clinician-caused reason"),
    )
}


def reason(code: object) -> Reason:
    """The reason for a code, or a clear refusal naming where the list lives."""
    if not isinstance(code, str) or code not in REASONS:
        raise ServiceError(
            Code.INVALID_REQUEST, "The reason must be a code from the list at /api/reasons."
        )
    return REASONS[code]
