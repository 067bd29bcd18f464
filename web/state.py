"""Typed application state, set once at start-up by the cleanup contexts."""

from __future__ import annotations

from aiohttp import web

from audit import AuditLog, SubjectKeys
from core.access.service import Access
from core.clock import Clock
from core.config import Settings
from core.db import Database
from core.identity import IdentityService
from core.jobs import JobRunner
from core.keys import ServiceKeys
from core.mail import Mailer
from core.people.service import People
from core.places.service import Places
from scheduling import SchedulingService
from signalling.bus import Bus
from signalling.hub import Hub
from web.metrics import Metrics

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
METRICS = web.AppKey("metrics", Metrics)
DATABASE = web.AppKey("database", Database)
BUS = web.AppKey("bus", Bus)
AUDIT = web.AppKey("audit", AuditLog)
# Health text under each subject's own key: every module that stores any seals it here.
SUBJECT_KEYS = web.AppKey("subject_keys", SubjectKeys)
KEYS = web.AppKey("keys", ServiceKeys)
IDENTITY = web.AppKey("identity", IdentityService)
SCHEDULING = web.AppKey("scheduling", SchedulingService)
SIGNALLING = web.AppKey("signalling", Hub)
JOBS = web.AppKey("jobs", JobRunner)
ACCESS = web.AppKey("access", Access)
# The one way mail leaves (SMTP, or a test's): verification links and notice emails.
MAILER = web.AppKey("mailer", Mailer)
# Places and people (cell, incentive level, identity details): core/places, core/people.
PLACES = web.AppKey("places", Places)
PEOPLE = web.AppKey("people", People)
