"""`SchedulingService`: the one object the application builds for this package.

Each concept lives in its own module as a part of the service (catalogue,
search, booking, lockdown, movements, consent, join, readiness, triage,
reminders, inbox, calendar); this class only puts them together over one store, cipher, clock
and audit sink.
"""

from __future__ import annotations

from scheduling.attendees import Attendees
from scheduling.calendar import CalendarFeed
from scheduling.call_backs import CallBacks
from scheduling.catalogue import Catalogue
from scheduling.consult_record import ConsultRecord
from scheduling.desk import Desk
from scheduling.inbox import Inbox
from scheduling.join import JoinPolicy
from scheduling.misses import Misses
from scheduling.movements import Movements
from scheduling.operations import Operations
from scheduling.reminders import Reminders
from scheduling.triage import Triage


class SchedulingService(
    Movements,
    Misses,
    CallBacks,
    Operations,
    ConsultRecord,
    JoinPolicy,
    Inbox,
    Catalogue,
    Desk,
    Triage,
    Reminders,
    CalendarFeed,
    Attendees,
):
    """Services, availability, slots, appointments, consent, requests, reminders, feeds,
    and pre-call tests."""
