"""Scheduling tables, declared on the shared metadata; migration 0003 creates the same.

Instants are UTC (`UTCDateTime`); weekly rules are minutes after local
midnight in the establishment's zone, so a booking made before a clock change
keeps its instant while the weekly pattern follows the wall clock. Free text
that can reveal health (reasons, notes, requests, outcome reasons) is stored
only encrypted under the prisoner's own data key (`*_enc`,
`core.fields.SubjectCipher`, sealed as the columns named in `scheduling.base`),
so shredding the prisoner erases it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)

from core.db.schema import metadata
from core.db.types import UTCDateTime

services = Table(
    "services",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("code", String(32), nullable=False),
    Column("name", String(100), nullable=False),
    Column("minutes", Integer, nullable=False),
    Column("buffer_minutes", Integer, nullable=False),
    Column("target_days", Integer, nullable=False),
    Column("sensitive", Boolean, nullable=False),
    # Seen in person, this service needs an officer to escort the prisoner: a lockdown
    # moves such appointments, and a video consult of it is an escort avoided.
    Column("escort_if_in_person", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("establishment_id", "code", name="uq_services_establishment_code"),
)

service_readers = Table(
    "service_readers",
    metadata,
    # Staff a sensitive service names: besides each appointment's own clinician,
    # the only people who may read its clinical text (core.clinical).
    Column("service_id", String(36), ForeignKey("services.id"), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
)

availability = Table(
    "availability",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("clinician_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("service_id", String(36), ForeignKey("services.id"), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_availability_service", "service_id", "weekday"),
    Index("ix_availability_clinician", "clinician_id"),
)

availability_exceptions = Table(
    "availability_exceptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("clinician_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    # Only for kind "extra": which service the one-off session offers.
    Column("service_id", String(36), ForeignKey("services.id"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_availability_exceptions_clinician", "clinician_id", "starts_at"),
)

regime_windows = Table(
    "regime_windows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("label", String(64), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
    Column("created_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_regime_windows_establishment", "establishment_id"),
)

lockdowns = Table(
    "lockdowns",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    Column("declared_by", String(36), nullable=False),
    Column("declared_at", UTCDateTime, nullable=False),
    Column("lifted_at", UTCDateTime, nullable=True),
    # "lockdown" or "communications" (a restriction that stops in-cell calls too).
    Column("kind", String(16), nullable=False, server_default="lockdown"),
    # The second person's confirmation of a communications restriction; a lockdown is
    # confirmed by its declarer. Not in force until confirmed.
    Column("confirmed_by", String(36), nullable=True),
    Column("confirmed_at", UTCDateTime, nullable=True),
    Index("ix_lockdowns_establishment", "establishment_id", "starts_at"),
)

health_requests = Table(
    "health_requests",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("category", String(32), nullable=False),
    Column("text_enc", LargeBinary, nullable=False),
    Column("status", String(16), nullable=False),
    Column("urgency", String(16), nullable=True),
    Column("service_id", String(36), ForeignKey("services.id"), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("triaged_at", UTCDateTime, nullable=True),
    Column("triaged_by", String(36), nullable=True),
    Column("appointment_id", String(36), nullable=True),
    # Advice given or the reason a request was declined, for the prisoner to read:
    # sealed under the prisoner's key like the request's own text.
    Column("response_enc", LargeBinary, nullable=True),
    Index("ix_health_requests_queue", "establishment_id", "status"),
    # Reports: requests made in a period (migration 0020).
    Index("ix_health_requests_created", "establishment_id", "created_at"),
    Index("ix_health_requests_prisoner", "prisoner_id"),
)

appointments = Table(
    "appointments",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("clinician_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("service_id", String(36), ForeignKey("services.id"), nullable=False),
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),
    # The service's buffer, kept on the booking so a later change of the
    # service's settings cannot make existing bookings overlap.
    Column("buffer_minutes", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason_enc", LargeBinary, nullable=True),
    Column("notes_enc", LargeBinary, nullable=True),
    Column("outcome_category", String(16), nullable=True),
    Column("outcome_code_enc", LargeBinary, nullable=True),
    Column("outcome_note_enc", LargeBinary, nullable=True),
    Column("same_sex", Boolean, nullable=False),
    Column("chaperone", Boolean, nullable=False),
    # A consult that cannot go audio only (a BSL user, a lip-reader, a visual
    # examination): a failing video goes straight to the call-back choice.
    Column("video_required", Boolean, nullable=False, server_default=false()),
    # Seen in person rather than by video in the cell.
    Column("in_person", Boolean, nullable=False, server_default=false()),
    Column("request_id", String(36), nullable=True),
    Column("rebook_of", String(36), nullable=True),
    Column("created_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # When the outcome was first recorded: it may be amended for 24 hours from then.
    Column("outcome_at", UTCDateTime, nullable=True),
    Index("ix_appointments_clinician", "clinician_id", "starts_at"),
    Index("ix_appointments_prisoner", "prisoner_id", "starts_at"),
    Index("ix_appointments_establishment", "establishment_id", "starts_at"),
    Index("ix_appointments_status_end", "status", "ends_at"),
)

booking_locks = Table(
    "booking_locks",
    metadata,
    # "clinician:<id>" or "prisoner:<id>": taken FOR UPDATE inside a booking
    # transaction so two bookings for the same person run one after the other.
    Column("key", String(80), primary_key=True),
)

consents = Table(
    "consents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("form_version", Integer, nullable=False),
    Column("language", String(8), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("decided_at", UTCDateTime, nullable=False),
    Column("device_id", String(36), nullable=True),
    Column("witness_id", String(36), nullable=True),
    Column("withdrawn_at", UTCDateTime, nullable=True),
    Column("withdrawn_device_id", String(36), nullable=True),
    # Set when the consent ended with custody ("released") rather than being withdrawn.
    Column("ended_reason", String(16), nullable=True),
    # Recording consent is for one appointment (migration 0030): asked at booking
    # (witnessed, no device) and confirmed on the device when the clinician asks.
    Column("appointment_id", String(36), nullable=True),
    Index("ix_consents_prisoner", "prisoner_id", "scope"),
    Index("ix_consents_appointment", "appointment_id", "scope"),
)

notifications = Table(
    "notifications",
    metadata,
    # The outbox: rows the signalling bus delivers later. Payloads carry times
    # and ids, never a reason or a note.
    Column("id", String(36), primary_key=True),
    Column("recipient_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("appointment_id", String(36), nullable=True),
    Column("payload", Text, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime, nullable=True),
    Column("dedupe_key", String(120), nullable=True),
    # The inbox: delivered (by the `notifications.deliver` job), then read.
    Column("read_at", UTCDateTime, nullable=True),
    UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    Index("ix_notifications_pending", "delivered_at", "due_at"),
    Index("ix_notifications_inbox", "recipient_id", "delivered_at"),
)

rebooking_offers = Table(
    "rebooking_offers",
    metadata,
    # The times offered after a prison-caused cancellation; taking one books it.
    Column("id", String(36), primary_key=True),
    Column("appointment_id", String(36), nullable=False),
    Column("establishment_id", String(36), nullable=False),
    Column("prisoner_id", String(36), nullable=False),
    Column("clinician_id", String(36), nullable=False),
    Column("service_id", String(36), nullable=False),
    Column("times", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("taken_at", UTCDateTime, nullable=True),
    Column("booked_appointment_id", String(36), nullable=True),
    UniqueConstraint("appointment_id", name="uq_rebooking_offers_appointment_id"),
    Index("ix_rebooking_offers_prisoner", "prisoner_id"),
)

movements = Table(
    "movements",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("from_establishment_id", String(36), nullable=False),
    Column("to_establishment_id", String(36), nullable=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(36), nullable=False),
    Index("ix_movements_from", "from_establishment_id", "kind"),
)

handovers = Table(
    "handovers",
    metadata,
    # The id is the FHIR Bundle's identifier, and the idempotency key of every POST of it.
    Column("id", String(36), primary_key=True),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("establishment_id", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The Bundle (names, pending care, consents): sealed under the prisoner's own key.
    Column("bundle_enc", LargeBinary, nullable=False),
    # A community-sharing consent was in force at release: only then is it sent.
    Column("shared", Boolean, nullable=False),
    # held (not to be sent), sending, failing (to be tried again), failed (no more tries), sent
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # A fixed code ("http_500", "unreachable", "no_endpoint"), never the receiver's words.
    Column("last_error", String(64), nullable=True),
    Column("sent_at", UTCDateTime, nullable=True),
    Index("ix_handovers_establishment", "establishment_id", "created_at"),
)

community_endpoints = Table(
    "community_endpoints",
    metadata,
    # Where an establishment's hand-overs are POSTed (the community provider's FHIR endpoint).
    Column("establishment_id", String(36), ForeignKey("establishments.id"), primary_key=True),
    Column("url", String(500), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(36), nullable=False),
)

consult_notes = Table(
    "consult_notes",
    metadata,
    # What the clinician writes during a consult, sealed under the prisoner's key
    # (column `consult_notes.text`, row the appointment). Each save names the
    # version it replaces (scheduling/consult_notes.py).
    Column("appointment_id", String(36), ForeignKey("appointments.id"), primary_key=True),
    Column("prisoner_id", String(36), nullable=False),
    Column("text_enc", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("updated_by", String(36), nullable=False),
)

calendar_tokens = Table(
    "calendar_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("token_hash", String(64), nullable=False),
    Column("clinician_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    UniqueConstraint("token_hash", name="uq_calendar_tokens_token_hash"),
)

test_calls = Table(
    "test_calls",
    metadata,
    # A device's pre-call test on the call's own path (scheduling/readiness.py):
    # when, where (the device's cell and wing at the time) and how it went.
    # Nothing clinical: no reason, no service, no media.
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("device_id", String(36), ForeignKey("devices.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("appointment_id", String(36), ForeignKey("appointments.id"), nullable=False),
    Column("wing_id", String(36), ForeignKey("wings.id"), nullable=False),
    Column("cell_id", String(36), ForeignKey("cells.id"), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    # good, poor, failed; aborted when the device went before the end; null while running.
    Column("outcome", String(16), nullable=True),
    Column("camera", String(16), nullable=True),
    Column("microphone", String(16), nullable=True),
    Column("connection", String(16), nullable=True),
    # JSON: the numbers each side measured (round trip, loss, jitter, bitrate, frame rate).
    Column("measures", Text, nullable=True),
    Index("ix_test_calls_device", "device_id", "started_at"),
    Index("ix_test_calls_establishment", "establishment_id", "finished_at"),
    Index("ix_test_calls_appointment", "appointment_id", "finished_at"),
    # One test at a time per device, whichever node runs it.
    Index(
        "uq_test_calls_running",
        "device_id",
        unique=True,
        sqlite_where=text("finished_at IS NULL"),
        postgresql_where=text("finished_at IS NULL"),
    ),
)

call_backs = Table(
    "call_backs",
    metadata,
    # The last step of a consult's fallback ladder: the clinician will phone, and
    # the staff of the device's wing bring the prisoner to a phone or a room. It
    # stays the same appointment (no new booking). Places and times only.
    # Migration 0006 runs before wings and cells exist (0007), so the device's
    # wing and cell are kept without a foreign key.
    Column("id", String(36), primary_key=True),
    Column("establishment_id", String(36), ForeignKey("establishments.id"), nullable=False),
    Column("appointment_id", String(36), ForeignKey("appointments.id"), nullable=False),
    Column("prisoner_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("clinician_id", String(36), ForeignKey("accounts.id"), nullable=False),
    Column("device_id", String(36), nullable=True),
    Column("wing_id", String(36), nullable=True),
    Column("cell_id", String(36), nullable=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Column("done_by", String(36), nullable=True),
    Index("ix_call_backs_establishment", "establishment_id", "done_at"),
    # One open call-back per appointment, whichever node asked.
    Index(
        "uq_call_backs_open",
        "appointment_id",
        unique=True,
        sqlite_where=text("done_at IS NULL"),
        postgresql_where=text("done_at IS NULL"),
    ),
)

# Interpreters and chaperones invited to one appointment (scheduling/attendees.py, issue 13).
appointment_attendees = Table(
    "appointment_attendees",
    metadata,
    Column("appointment_id", String(36), ForeignKey("appointments.id"), primary_key=True),
    Column("account_id", String(36), ForeignKey("accounts.id"), primary_key=True),
    Column("invited_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # The language an interpreter interprets (scheduling.languages; migration 0033).
    Column("language", String(16), nullable=True),
    Index("ix_appointment_attendees_account", "account_id"),
)

# One-time invitations that make an interpreter's account (scheduling/interpreters.py,
# migration 0033): the code only as its keyed hash, the address only encrypted.
interpreter_invitations = Table(
    "interpreter_invitations",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("appointment_id", String(36), ForeignKey("appointments.id"), nullable=False),
    Column("establishment_id", String(36), nullable=False),
    Column("language", String(16), nullable=False),
    Column("email_index", String(64), nullable=False),
    Column("email_enc", LargeBinary, nullable=False),
    Column("code_index", String(64), nullable=False, unique=True),
    Column("invited_by", String(36), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("totp_secret_enc", LargeBinary, nullable=True),
    Column("accepted_at", UTCDateTime, nullable=True),
    Column("account_id", String(36), nullable=True),
    Index("ix_interpreter_invitations_appointment", "appointment_id"),
)

# One plain row per consult whose call ended (migration 0020, scheduling/call_summaries.py):
# times, counts and link figures for reports, because the audit log's are encrypted.
# `answer`: answered (admitted), unanswered (still waiting at the end), abandoned
# (the patient left the waiting room unadmitted), absent (the patient never came).
call_summaries = Table(
    "call_summaries",
    metadata,
    Column("appointment_id", String(36), ForeignKey("appointments.id"), primary_key=True),
    Column("establishment_id", String(36), nullable=False),
    Column("scheduled_start", UTCDateTime, nullable=False),
    # JSON list of the roles that were in the room (patient, clinician, interpreter...).
    Column("attended", Text, nullable=False),
    Column("patient_attended", Boolean, nullable=False),
    Column("first_arrival_at", UTCDateTime, nullable=True),
    Column("first_admit_at", UTCDateTime, nullable=True),
    # From the later of first arrival and scheduled start to the first admit.
    Column("wait_s", Integer, nullable=True),
    Column("admits", Integer, nullable=False),
    # The longest wait to be admitted again after a drop: counted apart from `wait_s`.
    Column("readmit_wait_s", Integer, nullable=True),
    Column("call_s", Integer, nullable=True),
    Column("ended_at", UTCDateTime, nullable=False),
    Column("ended_reason", String(32), nullable=False),
    Column("answer", String(16), nullable=False),
    Column("mode_changes", Integer, nullable=False),
    Column("final_mode", String(16), nullable=False),
    Column("worst_loss_pct", Float, nullable=True),
    Column("lowest_bitrate_kbps", Float, nullable=True),
    # The device's last pre-call test for this appointment: good, poor, failed, aborted.
    Column("precall", String(16), nullable=True),
    # JSON: each member's role, when present and when on hold (0032); no names.
    Column("presence", Text, nullable=True),
    Index("ix_call_summaries_establishment", "establishment_id", "scheduled_start"),
)

# Per establishment: the shortest call counted as a consult, and the cost of one escort
# with where the figure comes from (a setting, never typed into a report form).
report_settings = Table(
    "report_settings",
    metadata,
    Column("establishment_id", String(36), ForeignKey("establishments.id"), primary_key=True),
    Column("min_consult_s", Integer, nullable=False),
    Column("escort_cost_pence", Integer, nullable=True),
    Column("escort_cost_source", String(200), nullable=True),
    Column("updated_by", String(36), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)
