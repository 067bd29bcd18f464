"""Scheduling and consent: how a consult comes to exist, and who may join it when.

Other packages use this public surface only.
"""

from scheduling.reasons import REASONS, Cause, Reason
from scheduling.reminders import Notification, NotificationSource
from scheduling.service import SchedulingService
from scheduling.types import (
    Appointment,
    AppointmentView,
    Consent,
    Decision,
    JoinDecision,
    Scope,
    Service,
    Slot,
    Status,
)

__all__ = [
    "REASONS",
    "Appointment",
    "AppointmentView",
    "Cause",
    "Consent",
    "Decision",
    "JoinDecision",
    "Notification",
    "NotificationSource",
    "Reason",
    "SchedulingService",
    "Scope",
    "Service",
    "Slot",
    "Status",
]
