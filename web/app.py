"""The composition root: build the application from settings.

Long-lived resources are opened by one cleanup context each, in dependency
order (keys and store, bus, audit, identity), so teardown runs in reverse.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from types import ModuleType

from aiohttp import web

from audit import SubjectKeys, open_audit_log
from core.clock import Clock, SystemClock
from core.config import Settings
from core.db import create_database
from core.db.migrate import current_revision, head_revision
from core.fields import FieldCipher
from core.identity.passwords import SecretHasher
from core.keys import load_service_keys
from core.mail import Mailer, SmtpMailer
from core.people.service import People
from core.places.service import Places
from media.turn import IceServers
from signalling.bus import create_bus
from signalling.identities import BusEndings
from web import (
    access_api,
    admin_jobs,
    audit_review,
    calendar_feed,
    call_backs,
    care_api,
    community,
    consults_api,
    desk_api,
    fhir,
    health,
    inbox_api,
    jobs,
    lockdown_api,
    openapi,
    operations,
    pages,
    people_api,
    recordings_api,
    reports_api,
    scheduling_api,
    signin,
    test_calls,
    ws,
)
from web.campus import api as campus_api
from web.campus import campus_ctx
from web.campus import desk as campus_desk
from web.campus import pages as campus_pages
from web.campus.sync import campus_sync_ctx
from web.interventions import api as interventions_api
from web.interventions import interventions_ctx, programmes_api
from web.interventions import pages as interventions_pages
from web.interventions import sync as interventions_sync
from web.kiosk import applications as kiosk_applications
from web.kiosk import money as kiosk_money
from web.kiosk import shop as kiosk_shop
from web.kiosk import shop_catalogue as kiosk_shop_catalogue
from web.kiosk import timetable as kiosk_timetable
from web.kiosk import visits as kiosk_visits
from web.metrics import Metrics
from web.middleware import csrf_protection, request_context, security_headers
from web.services import build_access, build_identity, build_scheduling
from web.state import (
    ACCESS,
    AUDIT,
    BUS,
    CLOCK,
    DATABASE,
    IDENTITY,
    KEYS,
    MAILER,
    METRICS,
    PEOPLE,
    PLACES,
    SCHEDULING,
    SETTINGS,
    SUBJECT_KEYS,
)

ROUTE_MODULES: tuple[ModuleType, ...] = (
    health,
    signin,
    openapi,
    pages,
    ws,
    consults_api,
    scheduling_api,
    lockdown_api,
    care_api,
    fhir,
    calendar_feed,
    audit_review,
    reports_api,
    operations,
    test_calls,
    call_backs,
    admin_jobs,
    access_api,
    people_api,
    inbox_api,
    desk_api,
    kiosk_applications,
    kiosk_timetable,
    interventions_api,
    interventions_pages,
    interventions_sync,
    programmes_api,
    kiosk_money,
    kiosk_shop,
    kiosk_visits,
    campus_api,
    campus_desk,
    campus_pages,
    recordings_api,
    kiosk_shop_catalogue,
    community,
)


class StartupError(Exception):
    """The service cannot start; the message says what to do."""


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    hasher: SecretHasher | None = None,
    mailer: Mailer | None = None,
) -> web.Application:
    app = web.Application(
        middlewares=[request_context, csrf_protection],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = Metrics()
    app.on_response_prepare.append(security_headers)
    app[ws.ICE_SERVERS] = IceServers.from_settings(settings)
    for ctx in (
        _store,
        _bus,
        _audit,
        _keys,
        _identity(hasher),
        _access(mailer),
        _scheduling,
        _people,
        kiosk_applications.applications_ctx,
        kiosk_timetable.timetable_ctx,
        interventions_ctx,
        interventions_sync.offline_ctx,
        campus_ctx,
        campus_sync_ctx,
        kiosk_money.money_ctx,
        kiosk_shop.shop_ctx,
        recordings_api.recordings_ctx,
        kiosk_shop_catalogue.shop_catalogue_ctx,
        kiosk_visits.visits_ctx,
        ws.signalling_ctx,
        jobs.jobs_ctx,
        pages.load_pages,
    ):
        app.cleanup_ctx.append(ctx)
    app.on_shutdown.append(ws.close_sockets)
    fragments = []
    for module in ROUTE_MODULES:
        app.add_routes(module.routes)
        fragments.append(getattr(module, "OPENAPI", {}))
    app[openapi.DOCUMENT] = openapi.document(fragments)
    return app


async def _store(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    db = await asyncio.to_thread(create_database, settings.database_url.reveal())
    try:
        try:
            revision = await current_revision(db)
        except Exception as exc:
            raise StartupError(
                f"cannot reach the database ({type(exc).__name__}); check THROUGHCARE_DATABASE_URL"
            ) from None
        if revision != await asyncio.to_thread(head_revision):
            raise StartupError(
                "the database schema is not up to date; run `throughcare db upgrade` first"
            )
        app[DATABASE] = db
        yield
    finally:
        await db.dispose()


async def _bus(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    bus = create_bus(
        settings.redis_url.reveal() if settings.redis_url else None, prefix=settings.bus_prefix
    )
    try:
        await bus.start()
    except Exception as exc:
        await bus.close()
        raise StartupError(
            f"cannot reach the bus ({type(exc).__name__}); check THROUGHCARE_REDIS_URL"
        ) from None
    app[BUS] = bus
    yield
    await bus.close()


async def _audit(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    log = await open_audit_log(
        app[DATABASE],
        keys_dir=settings.keys_dir,
        clock=app[CLOCK],
        checkpoint_dir=settings.audit_checkpoints_dir,
        node=settings.node_name,
    )
    app[AUDIT] = log
    app[SUBJECT_KEYS] = SubjectKeys(log.keys, app[CLOCK])
    yield
    await log.close()


async def _keys(app: web.Application) -> AsyncIterator[None]:
    """Read (or create) the key files once; identity and scheduling share them."""
    app[KEYS] = await asyncio.to_thread(load_service_keys, app[SETTINGS].keys_dir)
    yield


def _identity(
    hasher: SecretHasher | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[IDENTITY] = build_identity(
            app[SETTINGS],
            app[DATABASE],
            app[AUDIT],
            app[CLOCK],
            app[KEYS],
            hasher,
            endings=BusEndings(app[BUS]),
            subject_keys=app[SUBJECT_KEYS],
        )
        yield

    return ctx


def _access(mailer: Mailer | None) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        app[MAILER] = mailer or SmtpMailer.from_settings(app[SETTINGS])
        app[ACCESS] = build_access(
            app[SETTINGS], app[DATABASE], app[AUDIT], app[CLOCK], app[KEYS], app[MAILER]
        )
        yield

    return ctx


async def _scheduling(app: web.Application) -> AsyncIterator[None]:
    app[SCHEDULING] = build_scheduling(
        app[DATABASE],
        app[AUDIT],
        app[CLOCK],
        app[KEYS],
        app[SUBJECT_KEYS],
        endings=BusEndings(app[BUS]),
    )
    yield


async def _people(app: web.Application) -> AsyncIterator[None]:
    app[PLACES] = Places(app[DATABASE], clock=app[CLOCK], audit=app[AUDIT])
    app[PEOPLE] = People(
        app[DATABASE],
        cipher=FieldCipher(app[KEYS].field_key),
        subject_keys=app[SUBJECT_KEYS],
        clock=app[CLOCK],
        audit=app[AUDIT],
    )
    yield
