"""What the core layer tells the audit log, without importing it.

`core` sits below `audit`, so identity code writes through the `AuditSink`
protocol; `audit` implements it and `web` wires the two together. The action
vocabulary is closed and lives here, in the lowest package that needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.identity.types import Principal


class Action(StrEnum):
    # identity
    SIGN_IN = "sign_in"
    SIGN_IN_FAILED = "sign_in_failed"
    LOCKOUT = "lockout"
    SIGN_OUT = "sign_out"
    REFRESH_REUSED = "refresh_reused"
    ACCOUNT_CREATED = "account_created"
    ACCOUNT_DISABLED = "account_disabled"
    # community accounts (core/identity/community.py): codes given at release, claimed once
    COMMUNITY_CODE_ISSUED = "community_code_issued"
    COMMUNITY_CLAIMED = "community_claimed"
    COMMUNITY_CLAIM_FAILED = "community_claim_failed"
    DEVICE_ENROLMENT_STARTED = "device_enrolment_started"
    DEVICE_ENROLLED = "device_enrolled"
    DEVICE_REVOKED = "device_revoked"
    # access (core/access): roles, serving, departments, caseloads, email
    ROLE_CHANGED = "role_changed"
    ESTABLISHMENTS_SERVED = "establishments_served"
    ESTABLISHMENT_CHOSEN = "establishment_chosen"
    DEPARTMENT_ADDED = "department_added"
    DEPARTMENT_MEMBERS_SET = "department_members_set"
    CASELOAD_SET = "caseload_set"
    EMAIL_VERIFICATION_SENT = "email_verification_sent"
    EMAIL_VERIFIED = "email_verified"
    ATTENDEES_SET = "attendees_set"
    # interpreters (scheduling/interpreters.py): invited for a language, by account or email
    INTERPRETER_INVITED = "interpreter_invited"
    INTERPRETER_INVITATION_ISSUED = "interpreter_invitation_issued"
    INTERPRETER_INVITATION_ACCEPTED = "interpreter_invitation_accepted"
    INTERPRETER_INVITATION_FAILED = "interpreter_invitation_failed"
    # places and people (core/places, core/people)
    WING_ADDED = "wing_added"
    CELL_ADDED = "cell_added"
    WING_RENAMED = "wing_renamed"
    CELL_RENAMED = "cell_renamed"
    WING_REMOVED = "wing_removed"
    CELL_REMOVED = "cell_removed"
    DEVICE_MOVED = "device_moved"
    PRISONER_MOVED = "prisoner_moved"
    INCENTIVE_CHANGED = "incentive_changed"
    # A date of birth or photo recorded for the identity check: never its value.
    IDENTITY_RECORDED = "identity_recorded"
    # scheduling
    AVAILABILITY_CHANGED = "availability_changed"
    REGIME_CHANGED = "regime_changed"
    LOCKDOWN_DECLARED = "lockdown_declared"
    LOCKDOWN_LIFTED = "lockdown_lifted"
    # A communications restriction's second person; it is in force from then.
    LOCKDOWN_CONFIRMED = "lockdown_confirmed"
    # A suspended module refused a prisoner (which module, which lockdown).
    SUSPENDED_REFUSED = "suspended_refused"
    # kiosk applications (kiosk/applications.py)
    APPLICATION_SENT = "application_sent"
    APPLICATION_ESCALATED = "application_escalated"
    APPLICATION_ANSWERED = "application_answered"
    APPLICATIONS_READ = "applications_read"
    APPLICATION_TARGETS_SET = "application_targets_set"
    # kiosk timetable (kiosk/timetable.py)
    ALLOCATION_ADDED = "allocation_added"
    ALLOCATION_REMOVED = "allocation_removed"
    BOOKED = "booked"
    RESCHEDULED = "rescheduled"
    VIDEO_REQUIRED_CHANGED = "video_required_changed"
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"
    # The appointment's status moving to in progress; the person-level
    # "admitted" event is written by signalling.
    CONSULT_STARTED = "consult_started"
    ATTENDED = "attended"
    DID_NOT_ATTEND = "did_not_attend"
    # An outcome changed within 24 hours of being recorded (scheduling/consult_record.py).
    OUTCOME_AMENDED = "outcome_amended"
    # The window closed with no outcome: the job runner marks it, staff code it later.
    NOT_RECORDED = "not_recorded"
    REBOOK_OFFERED = "rebook_offered"
    CONSENT_GIVEN = "consent_given"
    CONSENT_DECLINED = "consent_declined"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    REQUEST_MADE = "request_made"
    REQUEST_TRIAGED = "request_triaged"
    # Closed without a consult: advice given, or declined with a reason.
    REQUEST_ANSWERED = "request_answered"
    TRANSFERRED = "transferred"
    RELEASED = "released"
    HANDOVER_SENT = "handover_sent"
    HANDOVER_SEND_FAILED = "handover_send_failed"
    HANDOVER_DOWNLOADED = "handover_downloaded"
    COMMUNITY_ENDPOINT_SET = "community_endpoint_set"
    # kiosk money (kiosk/money.py): every ledger entry; a finance file posted; staff reading
    # a prisoner's money
    LEDGER_ENTRY = "ledger_entry"
    MONEY_BATCH_POSTED = "money_batch_posted"
    MONEY_VIEWED = "money_viewed"
    # kiosk shop (kiosk/shop.py)
    SHOP_ITEM_ADDED = "shop_item_added"
    SHOP_SETTINGS_SET = "shop_settings_set"
    # Healthcare's "not this item" for a prisoner: never why.
    SHOP_RESTRICTED = "shop_restricted"
    SHOP_UNRESTRICTED = "shop_unrestricted"
    SHOP_ITEM_CHANGED = "shop_item_changed"
    ORDER_PLACED = "order_placed"
    ORDER_PICKED = "order_picked"
    ORDER_DELIVERED = "order_delivered"
    # kiosk visits (kiosk/visitors.py, kiosk/visits.py): a visitor asked for and the
    # decision; staff reading a prisoner's visitors; sessions, allowances, bookings,
    # cancellations and the new times a lockdown offers.
    VISITOR_REQUESTED = "visitor_requested"
    VISITOR_DECIDED = "visitor_decided"
    VISITORS_READ = "visitors_read"
    VISIT_SESSION_CREATED = "visit_session_created"
    VISIT_ALLOWANCES_SET = "visit_allowances_set"
    VISIT_BOOKED = "visit_booked"
    VISIT_CANCELLED = "visit_cancelled"
    VISITS_OFFERED = "visits_offered"
    # campus (campus/): content and its approval, enrolments, lesson completions,
    # assessment results, course completions, plans, and staff reading a learner's record
    CAMPUS_COURSE_ADDED = "campus_course_added"
    CAMPUS_LESSON_ADDED = "campus_lesson_added"
    CAMPUS_QUESTIONS_SET = "campus_questions_set"
    CAMPUS_FILE_UPLOADED = "campus_file_uploaded"
    CAMPUS_FILE_APPROVED = "campus_file_approved"
    CAMPUS_FILE_REFUSED = "campus_file_refused"
    CAMPUS_ENROLLED = "campus_enrolled"
    CAMPUS_LESSON_COMPLETED = "campus_lesson_completed"
    CAMPUS_ASSESSED = "campus_assessed"
    CAMPUS_COMPLETED = "campus_completed"
    CAMPUS_GOAL_SET = "campus_goal_set"
    CAMPUS_RECORD_READ = "campus_record_read"
    ORDER_CANCELLED = "order_cancelled"
    # consults
    JOINED = "joined"
    WAITING = "waiting"
    ADMITTED = "admitted"
    LEFT = "left"
    RECONNECTED = "reconnected"
    CALL_ENDED = "call_ended"
    # Third parties: the clinician confirmed the prisoner's identity; an officer on
    # hold (receives nothing) and brought back.
    IDENTITY_CONFIRMED = "identity_confirmed"
    PUT_ON_HOLD = "put_on_hold"
    BROUGHT_BACK = "brought_back"
    # The held member's relay allocations cancelled at coturn (signalling/relay_cut.py), or
    # the relay could not be reached (the credential's short expiry then ends them).
    RELAY_CUT = "relay_cut"
    RELAY_CUT_FAILED = "relay_cut_failed"
    QUALITY_REPORT = "quality_report"
    # The fallback ladder (video -> audio only -> call back), each step with its cause.
    CALL_MODE_CHANGED = "call_mode_changed"
    CALL_BACK_REQUESTED = "call_back_requested"
    CALL_BACK_DONE = "call_back_done"
    MESSAGE_SENT = "message_sent"
    # The clinician asked the patient's device whether the consult may be recorded
    # (the answer is `consent_given` / `consent_declined`, scope recording).
    RECORDING_REQUESTED = "recording_requested"
    RECORDING_STARTED = "recording_started"
    RECORDING_STOPPED = "recording_stopped"
    # media/recordings.py: a finished recording stored (with its SHA-256 digests), each
    # viewing, a stored file that failed its check, retention's deletions, legal holds.
    RECORDING_STORED = "recording_stored"
    RECORDING_VIEWED = "recording_viewed"
    RECORDING_TAMPERED = "recording_tampered"
    RECORDING_DELETED = "recording_deleted"
    RECORDING_HOLD_PLACED = "recording_hold_placed"
    RECORDING_HOLD_LIFTED = "recording_hold_lifted"
    RECORDING_RETENTION_SET = "recording_retention_set"
    # media/recordings.py: a recorder's sealed scratch objects left by a node that died
    # mid-recording (unreadable: their key was in that process's memory), swept away.
    RECORDING_SCRATCH_PURGED = "recording_scratch_purged"
    # reading health records: a healthcare manager's reading of clinical text
    CLINICAL_VIEWED = "clinical_viewed"
    # A device's pre-call test on the call's own path: its result, with the
    # cell and wing, never anything clinical.
    TEST_CALL_COMPLETED = "test_call_completed"
    # interventions (interventions/questionnaires.py): a submission with its score,
    # a PHQ-9 risk answer's alert and each step of it, and staff reading answers
    QUESTIONNAIRE_SUBMITTED = "questionnaire_submitted"
    RISK_ALERT_RAISED = "risk_alert_raised"
    RISK_ALERT_ACKNOWLEDGED = "risk_alert_acknowledged"
    RISK_ALERT_ESCALATED = "risk_alert_escalated"
    ANSWERS_VIEWED = "answers_viewed"
    CHECKS_SCHEDULED = "checks_scheduled"
    # an offline answer that lost to an earlier one for the same slot (core/offline.py)
    SYNC_CONFLICT = "sync_conflict"
    # programmes (interventions/programmes.py): who was put on one and by whom, each
    # session completed and the programme finished, and staff reading a person's answers
    PROGRAMME_ENROLLED = "programme_enrolled"
    PROGRAMME_SESSION_COMPLETED = "programme_session_completed"
    PROGRAMME_COMPLETED = "programme_completed"
    PROGRAMME_ANSWERS_VIEWED = "programme_answers_viewed"
    # the log itself and its keys
    LOG_VIEWED = "log_viewed"
    LOG_EXPORTED = "log_exported"
    # A manager's report settings: the shortest consult, the escort cost and its source.
    REPORT_SETTINGS_CHANGED = "report_settings_changed"
    KEY_ROTATED = "key_rotated"
    SUBJECT_SHREDDED = "subject_shredded"
    # the job runner: an admin's hand on a job (docs/jobs.md)
    JOB_RETRIED = "job_retried"
    JOB_CANCELLED = "job_cancelled"


@dataclass(frozen=True)
class AuditRecord:
    """An event before the log gives it a sequence number and a time."""

    action: Action
    actor: str
    establishment: str | None = None
    subject: str | None = None
    appointment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class AuditSink(Protocol):
    async def append(self, record: AuditRecord) -> int:
        """Durably record the event; returns its sequence number."""
        ...


class Audited:
    """Mixed into a service that keeps its audit sink as `_audit`: one event done by a
    signed-in person, about a subject, in an establishment."""

    _audit: AuditSink

    async def _record(
        self,
        action: Action,
        actor: Principal,
        establishment: str | None,
        subject: str,
        **details: Any,
    ) -> None:
        await self._audit.append(
            AuditRecord(
                action=action,
                actor=actor.account_id,
                establishment=establishment,
                subject=subject,
                details=details,
            )
        )


class MemorySink:
    """Keeps records in a list: for tests of code below `audit`."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def append(self, record: AuditRecord) -> int:
        self.records.append(record)
        return len(self.records) - 1

    def actions(self) -> list[Action]:
        return [r.action for r in self.records]
