"""FHIR R4 resources built from scheduling records, and the search parameters we accept.

Pure functions with no I/O: the web edge fetches through the service and calls
these. Statuses follow FHIR: checked-in on entering the waiting room, arrived
when admitted, noshow for did-not-attend, the reason in `cancelationReason`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from scheduling.reasons import REASONS
from scheduling.types import Appointment, Consent, Decision, Service, Slot, Status

SYSTEM = "https://throughcare.invalid/fhir"
APPOINTMENT_STATUS = {
    Status.BOOKED: "booked",
    Status.CHECKED_IN: "checked-in",
    Status.IN_PROGRESS: "arrived",
    Status.COMPLETED: "fulfilled",
    Status.DID_NOT_ATTEND: "noshow",
    Status.CANCELLED: "cancelled",
    # No outcome was recorded: FHIR has no word for that, and the booking stood.
    Status.NOT_RECORDED: "booked",
}
ENCOUNTER_STATUS = {
    Status.CHECKED_IN: "arrived",
    Status.IN_PROGRESS: "in-progress",
    Status.COMPLETED: "finished",
}
SEARCH_PARAMS = {
    "Appointment": {"patient", "practitioner", "date", "_count"},
    "Encounter": {"patient", "practitioner", "date", "_count"},
    "Consent": {"patient", "_count"},
    "Schedule": {"actor", "practitioner", "date", "_count"},
    "Slot": {"service-type", "practitioner", "schedule", "start", "date", "_count"},
}
DEFAULT_SPAN = timedelta(days=180)


class FhirSearchError(Exception):
    """A search the server cannot run; the message is fixed and safe to send."""


@dataclass(frozen=True)
class Search:
    params: dict[str, str]
    start: datetime
    end: datetime
    count: int


def _moment(text: str) -> tuple[datetime, datetime]:
    """A FHIR date or dateTime as the instant range it covers."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start, start + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise FhirSearchError("A date is YYYY-MM-DD or a date-time with a zone.") from None
    if moment.tzinfo is None:
        raise FhirSearchError("A date-time needs a time zone.")
    moment = moment.astimezone(UTC)
    return moment, moment + timedelta(seconds=1)


def parse_search(resource: str, query: list[tuple[str, str]], now: datetime) -> Search:
    allowed = SEARCH_PARAMS[resource]
    params: dict[str, str] = {}
    start, end = now - DEFAULT_SPAN, now + DEFAULT_SPAN
    count = 100
    for name, value in query:
        if name not in allowed:
            raise FhirSearchError(f"Unknown search parameter for {resource}.")
        if name in ("date", "start"):
            prefix, text = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
            lo, hi = _moment(text)
            if prefix == "eq":
                start, end = lo, hi
            elif prefix in ("ge", "gt"):
                start = lo if prefix == "ge" else hi
            elif prefix in ("le", "lt"):
                end = hi if prefix == "le" else lo
            else:
                raise FhirSearchError("Date prefixes are eq, ge, gt, le and lt.")
        elif name == "_count":
            if not value.isdigit() or not 1 <= int(value) <= 500:
                raise FhirSearchError("_count is 1 to 500.")
            count = int(value)
        else:
            params[name] = value.split("/")[-1]
    if end <= start or end - start > timedelta(days=366):
        raise FhirSearchError("The date range is empty or longer than 366 days.")
    return Search(params, start, end, count)


def _ref(kind: str, ident: str) -> dict[str, str]:
    return {"reference": f"{kind}/{ident}"}


def _service_type(code: str, name: str | None = None) -> list[dict[str, Any]]:
    coding: dict[str, str] = {"system": f"{SYSTEM}/service", "code": code}
    if name:
        coding["display"] = name
    return [{"coding": [coding]}]


def appointment(a: Appointment) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": a.id,
        "status": APPOINTMENT_STATUS[a.status],
        "serviceType": _service_type(a.service_code),
        "start": a.starts_at.isoformat(),
        "end": a.ends_at.isoformat(),
        "created": a.created_at.isoformat(),
        "participant": [
            {"actor": _ref("Patient", a.prisoner_id), "status": "accepted"},
            {"actor": _ref("Practitioner", a.clinician_id), "status": "accepted"},
        ],
    }
    if a.outcome_code and a.status in (Status.CANCELLED, Status.DID_NOT_ATTEND):
        why = REASONS[a.outcome_code]
        resource["cancelationReason"] = {
            "coding": [
                {"system": f"{SYSTEM}/reason", "code": why.code, "display": why.label},
                {"system": f"{SYSTEM}/reason-cause", "code": why.cause.value},
            ],
            "text": why.label,
        }
    return resource


def encounter(a: Appointment) -> dict[str, Any] | None:
    status = ENCOUNTER_STATUS.get(a.status)
    if status is None:
        return None
    period: dict[str, str] = {"start": a.starts_at.isoformat()}
    if a.status == Status.COMPLETED:
        period["end"] = a.ends_at.isoformat()
    return {
        "resourceType": "Encounter",
        "id": a.id,
        "status": status,
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "VR",
            "display": "virtual",
        },
        "serviceType": _service_type(a.service_code)[0],
        "subject": _ref("Patient", a.prisoner_id),
        "participant": [{"individual": _ref("Practitioner", a.clinician_id)}],
        "appointment": [_ref("Appointment", a.id)],
        "period": period,
    }


def slot_id(slot: Slot) -> str:
    raw = f"{slot.clinician_id}|{slot.service_id}|{slot.starts_at.isoformat()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def slot(s: Slot, service: Service) -> dict[str, Any]:
    return {
        "resourceType": "Slot",
        "id": slot_id(s),
        "schedule": _ref("Schedule", s.clinician_id),
        "status": "free",
        "serviceType": _service_type(service.code, service.name),
        "start": s.starts_at.isoformat(),
        "end": s.ends_at.isoformat(),
    }


def schedule(
    clinician_id: str, services: list[Service], horizon: tuple[datetime, datetime], comment: str
) -> dict[str, Any]:
    return {
        "resourceType": "Schedule",
        "id": clinician_id,
        "active": True,
        "serviceType": [_service_type(s.code, s.name)[0] for s in services],
        "actor": [_ref("Practitioner", clinician_id)],
        "planningHorizon": {"start": horizon[0].isoformat(), "end": horizon[1].isoformat()},
        "comment": comment,
    }


def consent(c: Consent) -> dict[str, Any]:
    period: dict[str, str] = {"start": c.decided_at.isoformat()}
    if c.withdrawn_at is not None:
        period["end"] = c.withdrawn_at.isoformat()
    return {
        "resourceType": "Consent",
        "id": c.id,
        "status": "inactive" if c.withdrawn_at is not None else "active",
        "scope": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                    "code": "treatment" if c.scope.value == "telehealth" else "patient-privacy",
                }
            ]
        },
        "category": [{"coding": [{"system": f"{SYSTEM}/consent-scope", "code": c.scope.value}]}],
        "patient": _ref("Patient", c.prisoner_id),
        "dateTime": c.decided_at.isoformat(),
        "policy": [{"uri": f"{SYSTEM}/consent-forms/{c.scope.value}/v{c.form_version}"}],
        "provision": {
            "type": "permit" if c.decision == Decision.GIVEN else "deny",
            "period": period,
        },
    }


def bundle(base: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def operation_outcome(message: str, code: str = "invalid") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }


# ------------------------------------------------------------- hand-over

REQUEST_PRIORITY = {"routine": "routine", "soon": "asap", "urgent": "urgent"}
GENDER = {"M": "male", "F": "female"}


def patient(
    prisoner_id: str, name: str, prison_number: str | None, sex: str | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": prisoner_id,
        "name": [{"text": name}],
        "gender": GENDER.get(sex or "", "unknown"),
    }
    if prison_number:
        resource["identifier"] = [{"system": f"{SYSTEM}/prison-number", "value": prison_number}]
    return resource


def pending_appointment(
    appointment_id: str, prisoner_id: str, service_code: str, was_at: datetime
) -> dict[str, Any]:
    """A consult the prison had booked and could not hold: still wanted, so `proposed`,
    for the community to book, from the time it was booked for."""
    return {
        "resourceType": "Appointment",
        "id": appointment_id,
        "status": "proposed",
        "serviceType": _service_type(service_code),
        "requestedPeriod": [{"start": was_at.isoformat()}],
        "participant": [{"actor": _ref("Patient", prisoner_id), "status": "needs-action"}],
    }


def service_request(
    request_id: str,
    prisoner_id: str,
    category: str,
    urgency: str | None,
    service_code: str | None,
    created_at: datetime,
) -> dict[str, Any]:
    """An open health request: what kind of care, how soon; its words stay sealed here."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": request_id,
        "status": "active",
        "intent": "proposal",
        "category": [{"coding": [{"system": f"{SYSTEM}/request-category", "code": category}]}],
        "subject": _ref("Patient", prisoner_id),
        "authoredOn": created_at.isoformat(),
        "priority": REQUEST_PRIORITY.get(urgency or "routine", "routine"),
    }
    if service_code:
        resource["code"] = {"coding": [{"system": f"{SYSTEM}/service", "code": service_code}]}
    return resource


def handover_bundle(
    handover_id: str, at: datetime, resources: list[dict[str, Any]]
) -> dict[str, Any]:
    """A `collection` Bundle whose identifier the receiver can use to drop a repeat."""
    return {
        "resourceType": "Bundle",
        "id": handover_id,
        "identifier": {"system": f"{SYSTEM}/handover", "value": handover_id},
        "type": "collection",
        "timestamp": at.isoformat(),
        "entry": [
            {"fullUrl": f"{SYSTEM}/{r['resourceType']}/{r['id']}", "resource": r} for r in resources
        ],
    }
