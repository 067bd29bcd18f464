"""Kiosk visits over HTTP: the prisoner's visitors and bookings, and the visits staff's
requests queue, sessions, allowances, day list and the hall's letters to print. Rules
live in `kiosk.visitors` and `kiosk.visits`.

Asking for a visitor and booking take an `Idempotency-Key` header: the same key again
answers 200 with what the first made, so a double tap is one request or one booking.
Staff act in the establishment their session acts in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from core.clock import Clock
from core.db.engine import Database
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.jobs import JobContext, JobRunner
from core.keys import ServiceKeys
from core.mail import SmtpMailer
from core.permissions import Permission
from kiosk.visit_letters import EMAIL_JOB, Letter
from kiosk.visit_records import Booking, Session
from kiosk.visitors import MODULE, Visitor, Visitors
from kiosk.visits import Choices, Visits
from scheduling import SchedulingService
from web.auth import require
from web.kiosk import IDEMPOTENCY, NULLABLE_STR, idempotency_key, kiosk_op
from web.openapi import DATETIME, STR, obj
from web.pages import page
from web.request import json_response, read_json
from web.scheduling_shared import ID, INT, iso_or_none, path_params, query_params
from web.state import AUDIT, CLOCK, DATABASE, KEYS, MAILER, SCHEDULING, SUBJECT_KEYS

VISITS = web.AppKey("visits", Visits)

routes = web.RouteTableDef()


def build_visits(
    db: Database,
    audit: AuditSink,
    clock: Clock,
    keys: ServiceKeys,
    subject_keys: SubjectCipher,
    scheduling: SchedulingService,
    *,
    email: bool = False,
) -> Visits:
    """The visits service, its module registered with the suspension mechanism (a
    lockdown closes booking and cancels the visits in its window)."""
    visitors = Visitors(
        db,
        cipher=FieldCipher(keys.field_key),
        subject_keys=subject_keys,
        clock=clock,
        audit=audit,
        gate=scheduling.require_open,
    )
    visits = Visits(
        db, visitors=visitors, clock=clock, audit=audit, gate=scheduling.require_open, email=email
    )
    scheduling.suspensions.register(MODULE, on_declared=visits.on_lockdown)
    return visits


async def visits_ctx(app: web.Application) -> AsyncIterator[None]:
    """After scheduling's: booking closes in a lockdown, and a lockdown, a transfer and a
    release cancel the visits they touch."""
    scheduling = app[SCHEDULING]
    mailer = app[MAILER]
    visits = build_visits(
        app[DATABASE],
        app[AUDIT],
        app[CLOCK],
        app[KEYS],
        app[SUBJECT_KEYS],
        scheduling,
        # Without a mail server every letter is printed for the visits hall.
        email=not (isinstance(mailer, SmtpMailer) and mailer.host is None),
    )
    scheduling.transfer_steps.register("visits", visits.transfer_step)
    scheduling.release_steps.register("visits", visits.release_step)
    app[VISITS] = visits
    yield


def register_jobs(runner: JobRunner, app: web.Application) -> None:
    """`kiosk.visit_email`: one per letter to a visitor with an email address, sent when
    due and marked sent (a retry after the mark sends nothing)."""
    if VISITS not in app:
        return
    visits, mailer = app[VISITS], app[MAILER]

    async def send(ctx: JobContext) -> None:
        letter = ctx.payload.get("letter")
        if not isinstance(letter, str):
            raise ValueError("kiosk.visit_email needs a letter")
        mail = await visits.letters.email(letter)
        if mail is not None:
            await mailer.send(mail)
            await visits.letters.sent(letter)

    runner.register(EMAIL_JOB, send, max_attempts=10, backoff=60, timeout=60)


def _visitor_json(v: Visitor) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": v.id,
        "status": v.status,
        "name": v.name,
        "relationship": v.relationship,
        "email": v.email,
        "phone": v.phone,
        "reason": v.reason,
        "requested_at": iso_or_none(v.requested_at),
        "decided_at": iso_or_none(v.decided_at),
    }
    if v.prison_number is not None:
        found["prisoner"] = {
            "id": v.prisoner_id,
            "prison_number": v.prison_number,
            "name": v.prisoner_name,
        }
    return found


def _session_json(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "starts_at": iso_or_none(s.starts_at),
        "ends_at": iso_or_none(s.ends_at),
        "capacity": s.capacity,
        "booked": s.booked,
        "free": s.free,
    }


def _booking_json(b: Booking) -> dict[str, Any]:
    found: dict[str, Any] = {
        "id": b.id,
        "reference": b.reference,
        "session_id": b.session_id,
        "status": b.status,
        "cancel_reason": b.cancel_reason,
        "starts_at": iso_or_none(b.starts_at),
        "ends_at": iso_or_none(b.ends_at),
        "booked_at": iso_or_none(b.booked_at),
        "visitors": [
            {"id": v.id, "name": v.name, "relationship": v.relationship} for v in b.visitors
        ],
    }
    if b.prison_number is not None:
        found["prisoner"] = {
            "id": b.prisoner_id,
            "prison_number": b.prison_number,
            "name": b.prisoner_name,
            "cell": b.cell,
            "wing": b.wing,
        }
    return found


def _choices_json(c: Choices) -> dict[str, Any]:
    return {
        "level": c.level.value,
        "allowance": c.allowance,
        "used_this_month": c.used_this_month,
        "sessions": [_session_json(s) for s in c.sessions],
        "offers": [
            {
                "booking": _booking_json(o.booking),
                "sessions": [_session_json(s) for s in o.sessions],
            }
            for o in c.offers
        ],
    }


def _letter_json(letter: Letter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "event": letter.event,
        "reference": letter.reference,
        "establishment": letter.establishment,
        "starts_at": iso_or_none(letter.starts_at),
        "ends_at": iso_or_none(letter.ends_at),
        "visitor_name": letter.visitor_name,
        "prison_number": letter.prison_number,
        "prisoner_name": letter.prisoner_name,
    }


def _here(request: web.Request, principal: Any) -> str:
    return str(principal.establishment_id or "")


# ------------------------------------------------------------------ prisoner


@routes.get("/api/kiosk/visitors")
async def my_visitors(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    found = await request.app[VISITS].visitors.mine(principal)
    return json_response([_visitor_json(v) for v in found])


@routes.post("/api/kiosk/visitors")
async def ask_visitor(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    body = await read_json(request)
    made, new = await request.app[VISITS].visitors.request(
        principal,
        name=body.get("name"),
        relationship=body.get("relationship"),
        email=body.get("email"),
        phone=body.get("phone"),
        key=idempotency_key(request),
    )
    return json_response(_visitor_json(made), status=201 if new else 200)


@routes.get("/api/kiosk/visits")
async def my_visits(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    found = await request.app[VISITS].mine(principal)
    return json_response([_booking_json(b) for b in found])


@routes.get("/api/kiosk/visits/choices")
async def choices(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    return json_response(_choices_json(await request.app[VISITS].choices(principal)))


@routes.post("/api/kiosk/visits")
async def book(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    body = await read_json(request)
    made, new = await request.app[VISITS].book(
        principal,
        session_id=body.get("session_id"),
        visitors=body.get("visitor_ids"),
        key=idempotency_key(request),
    )
    return json_response(_booking_json(made), status=201 if new else 200)


@routes.post("/api/kiosk/visits/{booking_id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    done = await request.app[VISITS].cancel(principal, request.match_info["booking_id"])
    return json_response(_booking_json(done))


@routes.post("/api/kiosk/visits/{booking_id}/rebook")
async def rebook(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_BOOK)
    body = await read_json(request)
    made, new = await request.app[VISITS].take_offer(
        principal,
        request.match_info["booking_id"],
        session_id=body.get("session_id"),
        key=idempotency_key(request),
    )
    return json_response(_booking_json(made), status=201 if new else 200)


# --------------------------------------------------------------------- staff


@routes.get("/api/kiosk/staff/visitor-requests")
async def visitor_requests(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    found = await request.app[VISITS].visitors.requests(principal, _here(request, principal))
    return json_response([_visitor_json(v) for v in found])


@routes.get("/api/kiosk/staff/prisoners/{prisoner_id}/visitors")
async def prisoner_visitors(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    found = await request.app[VISITS].visitors.of_prisoner(
        principal, request.match_info["prisoner_id"]
    )
    return json_response([_visitor_json(v) for v in found])


@routes.post("/api/kiosk/staff/visitors/{visitor_id}/decision")
async def decide(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    body = await read_json(request)
    found = await request.app[VISITS].visitors.decide(
        principal,
        request.match_info["visitor_id"],
        approve=body.get("approve"),
        reason=body.get("reason"),
    )
    return json_response(_visitor_json(found))


@routes.get("/api/kiosk/staff/visit-sessions")
async def sessions(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    found = await request.app[VISITS].sessions(
        principal, _here(request, principal), day=request.query.get("day")
    )
    return json_response([_session_json(s) for s in found])


@routes.post("/api/kiosk/staff/visit-sessions")
async def create_session(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    body = await read_json(request)
    made = await request.app[VISITS].create_session(
        principal,
        _here(request, principal),
        starts_at=body.get("starts_at"),
        ends_at=body.get("ends_at"),
        capacity=body.get("capacity"),
    )
    return json_response(_session_json(made), status=201)


@routes.get("/api/kiosk/staff/visit-allowances")
async def allowances(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    return json_response(await request.app[VISITS].allowances(principal, _here(request, principal)))


@routes.put("/api/kiosk/staff/visit-allowances")
async def set_allowances(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    body = await read_json(request)
    return json_response(
        await request.app[VISITS].set_allowances(principal, _here(request, principal), body)
    )


@routes.get("/api/kiosk/staff/visits/day")
async def day_list(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    found = await request.app[VISITS].day_list(
        principal, _here(request, principal), request.query.get("day")
    )
    return json_response(
        [
            {
                "session": _session_json(d.session),
                "bookings": [_booking_json(b) for b in d.bookings],
            }
            for d in found
        ]
    )


@routes.post("/api/kiosk/staff/visits/{booking_id}/cancel")
async def staff_cancel(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    done = await request.app[VISITS].cancel(principal, request.match_info["booking_id"])
    return json_response(_booking_json(done))


@routes.get("/api/kiosk/staff/visit-letters")
async def letters(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    found = await request.app[VISITS].letters.to_print(principal, _here(request, principal))
    return json_response([_letter_json(letter) for letter in found])


@routes.post("/api/kiosk/staff/visit-letters/printed")
async def printed(request: web.Request) -> web.Response:
    principal = await require(request, Permission.VISITS_MANAGE)
    body = await read_json(request)
    count = await request.app[VISITS].letters.mark_printed(
        principal, _here(request, principal), body.get("letter_ids")
    )
    return json_response({"printed": count})


@routes.get("/staff/visits")
async def visits_page(request: web.Request) -> web.Response:
    """Staff: visitor requests, sessions, the day's list (printable) and letters to print."""
    return await page(request, "staff_visits.html", "staff_visits")


PRISONER = obj(["id", "prison_number"], id=ID, prison_number=STR, name=NULLABLE_STR)
VISITOR = obj(
    ["id", "status", "requested_at"],
    id=ID,
    status={"type": "string", "enum": ["requested", "approved", "refused"]},
    name=NULLABLE_STR,
    relationship=NULLABLE_STR,
    email=NULLABLE_STR,
    phone=NULLABLE_STR,
    reason=NULLABLE_STR,
    requested_at=DATETIME,
    decided_at=NULLABLE_STR,
    prisoner=PRISONER,
)
SESSION = obj(
    ["id", "starts_at", "ends_at", "capacity", "booked", "free"],
    id=ID,
    starts_at=DATETIME,
    ends_at=DATETIME,
    capacity=INT,
    booked=INT,
    free=INT,
)
BOOKING = obj(
    ["id", "reference", "session_id", "status", "starts_at", "ends_at", "visitors"],
    id=ID,
    reference=STR,
    session_id=ID,
    status={"type": "string", "enum": ["booked", "cancelled"]},
    cancel_reason=NULLABLE_STR,
    starts_at=DATETIME,
    ends_at=DATETIME,
    booked_at=DATETIME,
    visitors={
        "type": "array",
        "items": obj(["id"], id=ID, name=NULLABLE_STR, relationship=NULLABLE_STR),
    },
    prisoner=PRISONER,
)
CHOICES = obj(
    ["level", "allowance", "used_this_month", "sessions", "offers"],
    level=STR,
    allowance=INT,
    used_this_month=INT,
    sessions={"type": "array", "items": SESSION},
    offers={
        "type": "array",
        "items": obj(
            ["booking", "sessions"], booking=BOOKING, sessions={"type": "array", "items": SESSION}
        ),
    },
)
ALLOWANCES = obj(["basic", "standard", "enhanced"], basic=INT, standard=INT, enhanced=INT)
LETTER = obj(
    ["id", "event", "reference", "starts_at"],
    id=ID,
    event={"type": "string", "enum": ["confirmed", "cancelled"]},
    reference=STR,
    establishment=STR,
    starts_at=DATETIME,
    ends_at=DATETIME,
    visitor_name=NULLABLE_STR,
    prison_number=NULLABLE_STR,
    prisoner_name=NULLABLE_STR,
)
P = Permission

OPENAPI: dict[str, Any] = {
    "/api/kiosk/visitors": {
        "get": kiosk_op(
            "The prisoner's own visitors: asked for, approved and refused (with the reason)",
            P.VISITS_BOOK,
            result={"type": "array", "items": VISITOR},
            errors=(401, 403),
        ),
        "post": kiosk_op(
            "Ask for a visitor to be approved (closed in a lockdown)",
            P.VISITS_BOOK,
            body=obj(["name", "relationship"], name=STR, relationship=STR, email=STR, phone=STR),
            ok=201,
            result=VISITOR,
            parameters=[IDEMPOTENCY],
            errors=(400, 401, 403, 409, 423),
        ),
    },
    "/api/kiosk/visits": {
        "get": kiosk_op(
            "The prisoner's own visits, booked and cancelled, soonest first",
            P.VISITS_BOOK,
            result={"type": "array", "items": BOOKING},
            errors=(401, 403),
        ),
        "post": kiosk_op(
            "Book a visit for approved visitors: a reference at once; refused with a reason "
            "when full, over the month's allowance or past (closed in a lockdown)",
            P.VISITS_BOOK,
            body=obj(["session_id", "visitor_ids"], session_id=ID, visitor_ids={"type": "array"}),
            ok=201,
            result=BOOKING,
            parameters=[IDEMPOTENCY],
            errors=(400, 401, 403, 404, 409, 423),
        ),
    },
    "/api/kiosk/visits/choices": {
        "get": kiosk_op(
            "Sessions with free places in the next four weeks, the month's allowance and its "
            "use, and new times offered after a lockdown",
            P.VISITS_BOOK,
            result=CHOICES,
            errors=(401, 403),
        )
    },
    "/api/kiosk/visits/{booking_id}/cancel": {
        "post": kiosk_op(
            "Cancel one's own visit; the visitors are told",
            P.VISITS_BOOK,
            result=BOOKING,
            parameters=path_params("booking_id"),
            errors=(401, 403, 404, 409, 423),
        )
    },
    "/api/kiosk/visits/{booking_id}/rebook": {
        "post": kiosk_op(
            "Take one of the new times offered for a visit a lockdown cancelled",
            P.VISITS_BOOK,
            body=obj(["session_id"], session_id=ID),
            ok=201,
            result=BOOKING,
            parameters=[*path_params("booking_id"), IDEMPOTENCY],
            errors=(400, 401, 403, 404, 409, 423),
        )
    },
    "/api/kiosk/staff/visitor-requests": {
        "get": kiosk_op(
            "Visitors waiting for a decision, of the prisoners here; reading is logged",
            P.VISITS_MANAGE,
            result={"type": "array", "items": VISITOR},
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/staff/prisoners/{prisoner_id}/visitors": {
        "get": kiosk_op(
            "A prisoner's visitors; reading is logged",
            P.VISITS_MANAGE,
            result={"type": "array", "items": VISITOR},
            parameters=path_params("prisoner_id"),
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/staff/visitors/{visitor_id}/decision": {
        "post": kiosk_op(
            "Approve a visitor, or refuse with a reason the prisoner reads",
            P.VISITS_MANAGE,
            body=obj(["approve"], approve={"type": "boolean"}, reason=STR),
            result=VISITOR,
            parameters=path_params("visitor_id"),
            errors=(400, 401, 403, 404, 409),
        )
    },
    "/api/kiosk/staff/visit-sessions": {
        "get": kiosk_op(
            "Visit sessions here: one day's (?day=YYYY-MM-DD) or the next four weeks'",
            P.VISITS_MANAGE,
            result={"type": "array", "items": SESSION},
            parameters=query_params("day"),
            errors=(400, 401, 403, 404),
        ),
        "post": kiosk_op(
            "Create a visit session with a capacity",
            P.VISITS_MANAGE,
            body=obj(
                ["starts_at", "ends_at", "capacity"],
                starts_at=DATETIME,
                ends_at=DATETIME,
                capacity=INT,
            ),
            ok=201,
            result=SESSION,
            errors=(400, 401, 403, 404),
        ),
    },
    "/api/kiosk/staff/visit-allowances": {
        "get": kiosk_op(
            "Visits a month by incentive level here",
            P.VISITS_MANAGE,
            result=ALLOWANCES,
            errors=(401, 403, 404),
        ),
        "put": kiosk_op(
            "Set the visits a month by incentive level (0-31)",
            P.VISITS_MANAGE,
            body=ALLOWANCES,
            result=ALLOWANCES,
            errors=(400, 401, 403, 404),
        ),
    },
    "/api/kiosk/staff/visits/day": {
        "get": kiosk_op(
            "One day's sessions (?day=YYYY-MM-DD, today by default) with their booked visits; "
            "reading is logged",
            P.VISITS_MANAGE,
            result={
                "type": "array",
                "items": obj(
                    ["session", "bookings"],
                    session=SESSION,
                    bookings={"type": "array", "items": BOOKING},
                ),
            },
            parameters=query_params("day"),
            errors=(400, 401, 403, 404),
        )
    },
    "/api/kiosk/staff/visits/{booking_id}/cancel": {
        "post": kiosk_op(
            "Cancel a visit here; the prisoner and the visitors are told",
            P.VISITS_MANAGE,
            result=BOOKING,
            parameters=path_params("booking_id"),
            errors=(401, 403, 404, 409),
        )
    },
    "/api/kiosk/staff/visit-letters": {
        "get": kiosk_op(
            "Letters for visitors without an email address, to print for the visits hall",
            P.VISITS_MANAGE,
            result={"type": "array", "items": LETTER},
            errors=(401, 403, 404),
        )
    },
    "/api/kiosk/staff/visit-letters/printed": {
        "post": kiosk_op(
            "Mark letters printed",
            P.VISITS_MANAGE,
            body=obj(["letter_ids"], letter_ids={"type": "array", "items": ID}),
            result=obj(["printed"], printed=INT),
            errors=(400, 401, 403, 404),
        )
    },
}
