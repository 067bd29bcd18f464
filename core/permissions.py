"""Roles and permissions as data: a role names the permissions it holds.

Every check on a route, and the domain's own checks of who may act, ask
`allows(principal, Permission.X)`, never a role's name. The OpenAPI document's
`x-roles` of each operation is `roles_with(permission)`, read from the same
table, so the document cannot drift from what the server enforces; a test walks
every route with every role against it (`tests/web/test_permissions.py`).

Permissions say what may be done; the rules about *which* records (a prisoner's
own, an establishment's, a clinician's own patients) stay with the domain that
owns those records. `ANY_ESTABLISHMENT` is the one permission that widens that
scope: without it, staff act only in the establishment they have chosen among
those they serve.

The table is the single place to change: a route declares its permission once,
in its handler (`await require(request, Permission.X)`) and once in its
OpenAPI operation (`op(..., permission=Permission.X)`); nothing else names roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from types import MappingProxyType

from core.errors import Code, ServiceError
from core.identity.types import Principal, Role, parse_role


class Permission(StrEnum):
    # Every signed-in person: their own profile, language, email and desk.
    SELF = "self"
    REFERENCE_READ = "reference.read"
    SERVICES_MANAGE = "services.manage"
    AVAILABILITY_MANAGE = "availability.manage"
    REGIME_READ = "regime.read"
    REGIME_MANAGE = "regime.manage"
    LOCKDOWN_READ = "lockdown.read"
    LOCKDOWN_MANAGE = "lockdown.manage"
    # A governor's confirmation of a security decision (lockdowns, restrictions).
    SECURITY_CONFIRM = "security.confirm"
    ESTABLISHMENTS_READ = "establishments.read"
    WAITING_ROOM = "waiting_room"
    CONSULTS_CONDUCT = "consults.conduct"
    SLOTS_SEARCH = "slots.search"
    APPOINTMENTS_READ = "appointments.read"
    APPOINTMENTS_DETAIL = "appointments.detail"
    APPOINTMENTS_BOOK = "appointments.book"
    APPOINTMENTS_RESCHEDULE = "appointments.reschedule"
    APPOINTMENTS_CANCEL = "appointments.cancel"
    APPOINTMENTS_CHECK_IN = "appointments.check_in"
    APPOINTMENTS_OUTCOME = "appointments.outcome"
    # Move, cancel or check in any appointment of the establishment, not only one's own.
    APPOINTMENTS_MANAGE_ANY = "appointments.manage_any"
    # Invited to one appointment (interpreter, chaperone): only that one.
    APPOINTMENTS_ATTEND = "appointments.attend"
    # Invite an interpreter or chaperone to an appointment one manages.
    APPOINTMENTS_INVITE = "appointments.invite"
    PATIENTS_IDENTIFY = "patients.identify"
    # Clinical free text of the establishment's records (`core.clinical`), and whether
    # each reading is itself logged.
    CLINICAL_TEXT_READ = "clinical_text.read"
    CLINICAL_TEXT_READ_LOGGED = "clinical_text.read_logged"
    CONSENTS_MANAGE = "consents.manage"
    HEALTH_REQUESTS_CREATE = "health_requests.create"
    HEALTH_REQUESTS_READ = "health_requests.read"
    HEALTH_REQUESTS_TRIAGE = "health_requests.triage"
    PRISONERS_MOVE = "prisoners.move"
    HANDOVER_READ = "handover.read"
    # Download a hand-over's FHIR Bundle (health content: healthcare managers only).
    HANDOVER_DOWNLOAD = "handover.download"
    # Set where an establishment's hand-overs are sent (admins).
    COMMUNITY_ENDPOINT_MANAGE = "community_endpoint.manage"
    AUDIT_READ = "audit.read"
    CALENDAR_MANAGE = "calendar.manage"
    FHIR_READ = "fhir.read"
    DEVICES_MANAGE = "devices.manage"
    DEVICE_ALERTS_READ = "device_alerts.read"
    CASELOAD_READ = "caseload.read"
    CASELOAD_MANAGE = "caseload.manage"
    DEPARTMENTS_READ = "departments.read"
    DEPARTMENTS_MANAGE = "departments.manage"
    STAFF_MANAGE = "staff.manage"
    # Act in any establishment, not only those one serves (admins).
    ANY_ESTABLISHMENT = "any_establishment"
    # Mark a consult as needing video: no sound-only step on its fallback ladder.
    APPOINTMENTS_VIDEO_REQUIRED = "appointments.video_required"
    # The wing's call-back tasks: bring a prisoner to a phone when video failed.
    CALL_BACKS_MANAGE = "call_backs.manage"
    # The job runner's view, retry and cancel.
    JOBS_MANAGE = "jobs.manage"
    # Disable an account: every session ends and its sockets close.
    ACCOUNTS_DISABLE = "accounts.disable"
    # Keep places and people: wings, cells, devices' cells, where each prisoner is,
    # their incentive level, their date of birth and identity photo (core/people).
    PEOPLE_MANAGE = "people.manage"
    # Create a prisoner's account (reception): prison number, name, PIN, date of birth, cell.
    PRISONERS_CREATE = "prisoners.create"
    # Read an incentive level and its history: one's own, or those one keeps.
    INCENTIVES_READ = "incentives.read"
    # See a patient's identity photo for the check at the start of a consult: the
    # consult's clinicians and managers, never admins (core.clinical's rule decides whose).
    IDENTITY_PHOTO_READ = "identity_photo.read"
    # Take one of the times a rebooking offer made to oneself.
    REBOOKING_TAKE = "rebooking_offers.take"
    # The to-do list of consults whose window closed with no outcome recorded.
    MISSES_CODE = "misses.code"
    # The establishment's reports (misses, waits, calls, quality, escorts, pre-call
    # tests, requests) and their exports; figures only, never clinical text.
    REPORTS_READ = "reports.read"
    # The report settings: the shortest consult, the cost of an escort and its source.
    REPORTS_CONFIGURE = "reports.configure"
    # The day's operations board: every consult of the day and where it stands (times,
    # names, cells; the service and clinician only with appointments.detail).
    OPERATIONS_READ = "operations.read"
    # Read and write the notes of one's own consult, during the call (scheduling/consult_record.py).
    CONSULT_NOTES_WRITE = "consult_notes.write"
    # The booking desk's look-ups: find a prisoner by name or number, list clinicians.
    BOOKING_DESK = "booking.desk"
    # Kiosk applications: send one's own and take them further (prisoners).
    APPLICATIONS_SEND = "applications.send"
    # Read and answer the applications of one's own departments' queues.
    APPLICATIONS_ANSWER = "applications.answer"
    # Confidential complaints and their appeals: the governor's queue.
    APPLICATIONS_CONFIDENTIAL = "applications.confidential"
    # Set a department's target days per stage.
    APPLICATION_TARGETS_MANAGE = "application_targets.manage"
    # Read one's own week (prisoners); keep prisoners' activity allocations (staff).
    TIMETABLE_READ = "timetable.read"
    ALLOCATIONS_MANAGE = "allocations.manage"
    # Answer a questionnaire and see one's own scores (interventions).
    QUESTIONNAIRES_ANSWER = "questionnaires.answer"
    # Send what one's device queued offline, and get one's own queue key (core/offline.py).
    OFFLINE_SYNC = "offline.sync"
    # See the scores over time of a person one follows: the establishment's (clinical
    # staff) or one's caseload's (keyworkers); free text only with CLINICAL_TEXT_READ.
    SCORES_READ = "scores.read"
    # The duty healthcare queue of risk answers: see and acknowledge them.
    RISK_ALERTS_HANDLE = "risk_alerts.handle"
    # Schedule a person's baseline and progress checks (the same people as SCORES_READ).
    CHECKS_SCHEDULE = "checks.schedule"
    # Programmes (interventions/programmes.py): take one, enrol oneself where it allows,
    # answer its exercises and complete its sessions in order (prisoners).
    PROGRAMMES_TAKE = "programmes.take"
    # Put a person one follows on a programme and see their progress: the keyworker
    # (their caseload) and clinical staff (their establishment's prisoners).
    PROGRAMMES_ENROL = "programmes.enrol"
    # Read a followed person's programme answers (free text, choices, personal plan);
    # each reading is logged. Never officers, never admins.
    PROGRAMME_ANSWERS_READ = "programme_answers.read"
    # The kiosk's money (kiosk/money.py): a prisoner's own balance and transactions.
    MONEY_OWN = "money.own"
    # Finance: post credits, transfer, reverse, read a prisoner's money (logged). The
    # domain also requires membership of the establishment's finance department.
    MONEY_MANAGE = "money.manage"
    # The prisoner's shop: the catalogue as it applies to them, placing orders, their history.
    SHOP_ORDER = "shop.order"
    # Shop staff: catalogue, limits and cut-off, pick lists, picked and delivered. The domain
    # also requires membership of the establishment's shop department.
    SHOP_MANAGE = "shop.manage"
    # Healthcare: stop a prisoner buying an item, without saying why.
    SHOP_HEALTH_RESTRICT = "shop.health_restrict"
    # Visits (kiosk/visits.py): ask for one's own visitors, book and cancel one's own visits.
    VISITS_BOOK = "visits.book"
    # Visits staff: decide visitor requests, create sessions, set allowances, the day's
    # list and the visits hall's letters, cancel a booking. Officers of the establishment,
    # or department staff of its visits department (the domain checks which).
    VISITS_MANAGE = "visits.manage"
    # The campus (campus/): a prisoner's catalogue, enrolment, lessons, assessments,
    # certificates, learning plan and learning record.
    CAMPUS_LEARN = "campus.learn"
    # Education staff: courses, lessons and uploads, enrolling learners, plans, their
    # learners' progress and records (logged). The domain also requires membership of
    # the establishment's education department.
    CAMPUS_TEACH = "campus.teach"
    # Approve or refuse an uploaded lesson file (never one's own upload).
    CAMPUS_APPROVE = "campus.approve"
    # One's own learning record (JSON and PDF) and certificates: prisoners, and former
    # prisoners through their community account.
    LEARNING_RECORD_OWN = "learning_record.own"
    # Consult recordings (media/recordings.py): play those of one's own patients (clinicians)
    # or the establishment's (healthcare managers), each viewing logged; never officers or admins.
    RECORDINGS_PLAY = "recordings.play"
    # Put a recording on legal hold (a complaint, an inquest) and lift it.
    RECORDINGS_HOLD = "recordings.hold"
    # How long each service keeps its recordings.
    RECORDINGS_RETENTION = "recordings.retention"


P = Permission
_EVERYONE = {P.SELF, P.REFERENCE_READ}
_BOOKING = {
    P.SLOTS_SEARCH,
    P.APPOINTMENTS_READ,
    P.APPOINTMENTS_DETAIL,
    P.APPOINTMENTS_BOOK,
    P.APPOINTMENTS_CANCEL,
}
_CLINICAL_DESK = _BOOKING | {
    P.CLINICAL_TEXT_READ,
    P.APPOINTMENTS_INVITE,
    P.AVAILABILITY_MANAGE,
    P.REGIME_READ,
    P.APPOINTMENTS_RESCHEDULE,
    P.APPOINTMENTS_CHECK_IN,
    P.APPOINTMENTS_OUTCOME,
    P.PATIENTS_IDENTIFY,
    P.CONSENTS_MANAGE,
    P.HEALTH_REQUESTS_READ,
    P.HEALTH_REQUESTS_TRIAGE,
    P.HANDOVER_READ,
    P.FHIR_READ,
    P.DEPARTMENTS_READ,
    P.APPOINTMENTS_VIDEO_REQUIRED,
    P.BOOKING_DESK,
}
_SECURITY = {
    P.REGIME_READ,
    P.REGIME_MANAGE,
    P.LOCKDOWN_READ,
    P.LOCKDOWN_MANAGE,
    P.PRISONERS_MOVE,
    P.DEVICE_ALERTS_READ,
    P.DEPARTMENTS_READ,
    P.CALL_BACKS_MANAGE,
}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.PRISONER: frozenset(
            _EVERYONE
            | _BOOKING
            | {
                P.APPOINTMENTS_CHECK_IN,
                P.CONSENTS_MANAGE,
                P.HEALTH_REQUESTS_CREATE,
                P.HEALTH_REQUESTS_READ,
                P.INCENTIVES_READ,
                P.REBOOKING_TAKE,
                P.APPLICATIONS_SEND,
                P.TIMETABLE_READ,
                P.QUESTIONNAIRES_ANSWER,
                P.OFFLINE_SYNC,
                P.PROGRAMMES_TAKE,
                P.MONEY_OWN,
                P.SHOP_ORDER,
                P.VISITS_BOOK,
                P.CAMPUS_LEARN,
                P.LEARNING_RECORD_OWN,
            }
        ),
        Role.CLINICIAN: frozenset(
            _EVERYONE
            | _CLINICAL_DESK
            | {
                P.WAITING_ROOM,
                P.CONSULTS_CONDUCT,
                P.CONSULT_NOTES_WRITE,
                P.CALENDAR_MANAGE,
                P.IDENTITY_PHOTO_READ,
                P.MISSES_CODE,
                P.SCORES_READ,
                P.RISK_ALERTS_HANDLE,
                P.CHECKS_SCHEDULE,
                P.PROGRAMMES_ENROL,
                P.PROGRAMME_ANSWERS_READ,
                P.SHOP_HEALTH_RESTRICT,
                P.RECORDINGS_PLAY,
            }
        ),
        Role.MANAGER: frozenset(
            _EVERYONE
            | _CLINICAL_DESK
            | _SECURITY
            | {
                P.APPOINTMENTS_MANAGE_ANY,
                P.SERVICES_MANAGE,
                P.ESTABLISHMENTS_READ,
                P.AUDIT_READ,
                P.APPOINTMENTS_MANAGE_ANY,
                P.CLINICAL_TEXT_READ_LOGGED,
                P.IDENTITY_PHOTO_READ,
                P.MISSES_CODE,
                P.REPORTS_READ,
                P.REPORTS_CONFIGURE,
                P.OPERATIONS_READ,
                P.HANDOVER_DOWNLOAD,
                P.SCORES_READ,
                P.RISK_ALERTS_HANDLE,
                P.CHECKS_SCHEDULE,
                P.PROGRAMMES_ENROL,
                P.PROGRAMME_ANSWERS_READ,
                P.RECORDINGS_PLAY,
                P.RECORDINGS_HOLD,
                P.RECORDINGS_RETENTION,
            }
        ),
        Role.OFFICER: frozenset(
            _EVERYONE
            | _SECURITY
            | {
                P.APPOINTMENTS_READ,
                P.APPOINTMENTS_CANCEL,
                P.APPOINTMENTS_CHECK_IN,
                P.DEVICES_MANAGE,
                P.CASELOAD_MANAGE,
                P.PEOPLE_MANAGE,
                P.PRISONERS_CREATE,
                P.INCENTIVES_READ,
                P.APPLICATIONS_ANSWER,
                P.ALLOCATIONS_MANAGE,
                P.OPERATIONS_READ,
                P.VISITS_MANAGE,
            }
        ),
        # Admins run the system; they are not clinicians and read no clinical free text.
        Role.ADMIN: frozenset(
            _EVERYONE
            | (_CLINICAL_DESK - {P.CLINICAL_TEXT_READ})
            | _SECURITY
            | {
                P.APPOINTMENTS_MANAGE_ANY,
                P.SERVICES_MANAGE,
                P.ESTABLISHMENTS_READ,
                P.AUDIT_READ,
                P.DEVICES_MANAGE,
                P.CASELOAD_MANAGE,
                P.DEPARTMENTS_MANAGE,
                P.STAFF_MANAGE,
                P.ANY_ESTABLISHMENT,
                P.JOBS_MANAGE,
                P.ACCOUNTS_DISABLE,
                P.COMMUNITY_ENDPOINT_MANAGE,
                P.PEOPLE_MANAGE,
                P.PRISONERS_CREATE,
                P.INCENTIVES_READ,
                P.REPORTS_READ,
                P.REPORTS_CONFIGURE,
                P.OPERATIONS_READ,
            }
        ),
        # Triage health requests, search slots and book, move and cancel with a reason.
        Role.HEALTHCARE_ADMIN: frozenset(
            _EVERYONE
            | _BOOKING
            | {
                P.REGIME_READ,
                P.APPOINTMENTS_RESCHEDULE,
                P.APPOINTMENTS_CHECK_IN,
                P.HEALTH_REQUESTS_READ,
                P.HEALTH_REQUESTS_TRIAGE,
                P.APPOINTMENTS_MANAGE_ANY,
                P.APPOINTMENTS_INVITE,
                P.APPOINTMENTS_VIDEO_REQUIRED,
                P.CLINICAL_TEXT_READ,
                P.CLINICAL_TEXT_READ_LOGGED,
                P.DEPARTMENTS_READ,
                P.BOOKING_DESK,
                P.SHOP_HEALTH_RESTRICT,
            }
        ),
        # Confirms security decisions; sees the regime, lockdowns and departments.
        Role.GOVERNOR: frozenset(
            _EVERYONE
            | {
                P.REGIME_READ,
                P.LOCKDOWN_READ,
                P.LOCKDOWN_MANAGE,
                P.SECURITY_CONFIRM,
                P.DEPARTMENTS_READ,
                P.DEPARTMENTS_MANAGE,
                P.CASELOAD_MANAGE,
                P.APPLICATIONS_ANSWER,
                P.APPLICATIONS_CONFIDENTIAL,
                P.APPLICATION_TARGETS_MANAGE,
            }
        ),
        Role.KEYWORKER: frozenset(
            _EVERYONE
            | {
                P.CASELOAD_READ,
                P.DEPARTMENTS_READ,
                P.SCORES_READ,
                P.CHECKS_SCHEDULE,
                P.PROGRAMMES_ENROL,
                P.PROGRAMME_ANSWERS_READ,
            }
        ),
        # Per-appointment access only: nothing establishment-wide.
        Role.INTERPRETER: frozenset(_EVERYONE | {P.APPOINTMENTS_ATTEND}),
        Role.CHAPERONE: frozenset(_EVERYONE | {P.APPOINTMENTS_ATTEND}),
        Role.DEPARTMENT_STAFF: frozenset(
            _EVERYONE
            | {
                P.DEPARTMENTS_READ,
                P.APPLICATIONS_ANSWER,
                P.ALLOCATIONS_MANAGE,
                P.MONEY_MANAGE,
                P.SHOP_MANAGE,
                P.VISITS_MANAGE,
                P.CAMPUS_TEACH,
                P.CAMPUS_APPROVE,
            }
        ),
        # A former prisoner's community account (core/identity/community.py): carry on the
        # programmes they were on and download their learning record and certificates.
        # No kiosk, no consults, no establishment, no questionnaires (a risk answer would
        # alert a prison's duty healthcare team that no longer looks after them).
        Role.COMMUNITY: frozenset(_EVERYONE | {P.PROGRAMMES_TAKE, P.LEARNING_RECORD_OWN}),
    }
)


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def allows(principal: Principal, permission: Permission) -> bool:
    return permission in permissions_of(principal.role)


def require_permission(principal: Principal, permission: Permission) -> None:
    """Refuse (403) anyone whose role does not hold the permission, naming it.

    Naming the permission tells the caller nothing about any record; it tells
    an operator, and a test, which rule refused.
    """
    if not allows(principal, permission):
        raise ServiceError(Code.FORBIDDEN, extra={"permission": permission.value})


def acts_in(principal: Principal, establishment_id: str | None) -> bool:
    """Whether the principal may act in this establishment: the one their session acts in,
    or any, with `ANY_ESTABLISHMENT` (admins)."""
    return (
        allows(principal, Permission.ANY_ESTABLISHMENT)
        or principal.establishment_id == establishment_id
    )


def require_in(
    principal: Principal,
    establishment_id: str | None,
    permission: Permission | None = None,
    *,
    missing: str = "No such establishment.",
) -> None:
    """Refuse unless the principal holds `permission` (403) and acts in this establishment.

    Another establishment answers 404 with `missing`, as a record that does not
    exist would (`acts_in`): asking about another establishment's records must
    not tell anyone they exist.
    """
    if permission is not None:
        require_permission(principal, permission)
    if not acts_in(principal, establishment_id):
        raise ServiceError(Code.NOT_FOUND, missing)


def roles_with(permission: Permission) -> list[str]:
    """The roles holding a permission, in the table's order: an operation's `x-roles`."""
    return [role.value for role, held in ROLE_PERMISSIONS.items() if permission in held]


def parse_permission(value: object) -> Permission:
    if isinstance(value, str):
        try:
            return Permission(value.strip())
        except ValueError:
            pass
    raise ServiceError(Code.INVALID_REQUEST, "No such permission.")


__all__ = [
    "ROLE_PERMISSIONS",
    "Permission",
    "acts_in",
    "allows",
    "parse_permission",
    "parse_role",
    "permissions_of",
    "require_in",
    "require_permission",
    "roles_with",
    "table",
]


def table(roles: Iterable[Role] = tuple(Role)) -> dict[str, list[str]]:
    """Role -> its permissions, sorted: what `GET /api/roles` and the admin screen show."""
    return {role.value: sorted(p.value for p in permissions_of(role)) for role in roles}
