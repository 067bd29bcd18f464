"""`throughcare`: run the service and administer it from a shell."""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import getpass
import json
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from audit import AuditLog, SubjectKeys, open_audit_log
from core.clock import SystemClock
from core.config import ConfigError, Settings
from core.db import Database, create_database, upgrade
from core.errors import ServiceError
from core.identity import IdentityService, Principal, Role
from core.identity.service import SYSTEM_ACTOR
from core.keys import KeyFileError, ServiceKeys, load_service_keys
from web.access_cli import add_access_commands, run_departments, run_staff
from web.audit_cli import add_audit_commands, run_audit
from web.logs import configure_logging

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger("throughcare.cli")

ENVIRONMENT_HELP = """\
environment variables (all optional):
  THROUGHCARE_HOST, THROUGHCARE_PORT   where to listen (127.0.0.1, 8080)
  THROUGHCARE_DATA_DIR                 local state for the embedded defaults (./var)
  THROUGHCARE_DATABASE_URL             postgresql://... (default: SQLite in the data dir)
  THROUGHCARE_REDIS_URL                redis://... to join several nodes (default: in-process)
  THROUGHCARE_KEYS_DIR                 key files (default: DATA_DIR/keys, generated)
  THROUGHCARE_PUBLIC_ORIGINS           comma-separated origins browsers use
  THROUGHCARE_LOG_LEVEL                DEBUG, INFO, WARNING or ERROR
  see README.md for the rest
"""


@dataclass
class Core:
    settings: Settings
    db: Database
    audit: AuditLog
    identity: IdentityService
    keys: ServiceKeys


@asynccontextmanager
async def open_core(settings: Settings) -> AsyncIterator[Core]:
    from web.services import build_identity

    clock = SystemClock()
    db = await asyncio.to_thread(create_database, settings.database_url.reveal())
    try:
        audit = await open_audit_log(
            db,
            keys_dir=settings.keys_dir,
            clock=clock,
            checkpoint_dir=settings.audit_checkpoints_dir,
            node=settings.node_name,
        )
        try:
            keys = await asyncio.to_thread(load_service_keys, settings.keys_dir)
            subject_keys = SubjectKeys(audit.keys, clock)
            identity = build_identity(settings, db, audit, clock, keys, subject_keys=subject_keys)
            yield Core(settings, db, audit, identity, keys)
        finally:
            await audit.close()
    finally:
        await db.dispose()


LISTEN_BACKLOG = 4096


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="throughcare",
        description="Telehealth consultations for prisons.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the web service",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to listen on (THROUGHCARE_HOST)")
    serve.add_argument("--port", type=int, help="port to listen on (THROUGHCARE_PORT)")

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_upgrade = db_sub.add_parser("upgrade", help="apply all migrations (safe to run again)")
    db_upgrade.add_argument(
        "--grant-to",
        metavar="ROLE",
        help="then give this PostgreSQL role (the service's) what `db grants` prints, and no more",
    )
    grants = db_sub.add_parser(
        "grants",
        help="print the SQL that gives the service's PostgreSQL role only what it needs",
        description="Every table gets SELECT, INSERT, UPDATE and DELETE, except the audit "
        "log's: events and checkpoints are insert and select only, the head row select and "
        "update, the data keys select, insert and update. Run the output as the tables' owner "
        "(e.g. `throughcare db grants --role throughcare_app | psql ...`), after each upgrade.",
    )
    grants.add_argument("--role", required=True, help="the role the service connects as")

    demo = sub.add_parser(
        "demo",
        help="seed demo data and print the sign-ins",
        description="Seed one establishment with a clinician, manager, officer, admin, "
        "two prisoners and two enrolled devices. Safe to run again: it prints the same sign-ins.",
    )
    demo.add_argument("--json", action="store_true", help="print the sign-in details as JSON")

    est = sub.add_parser("establishments", help="create establishments")
    est_sub = est.add_subparsers(dest="est_command", required=True, metavar="ACTION")
    est_create = est_sub.add_parser("create", help="create an establishment")
    est_create.add_argument("--code", required=True, help="short code, e.g. HMP-BRIXTON")
    est_create.add_argument("--name", required=True)
    est_create.add_argument("--timezone", default="Europe/London")
    est_create.add_argument(
        "--allow-direct-media",
        action="store_true",
        help="let devices use non-relay ICE candidates (relay-only is the default)",
    )
    est_create.add_argument(
        "--identity-check",
        action="store_true",
        help="an officer checks the prisoner's identity at the start of each consult",
    )

    endpoint = est_sub.add_parser(
        "community-endpoint",
        help="show or set where an establishment's hand-overs to community services are sent",
    )
    endpoint.add_argument("--establishment", required=True, help="the establishment's code")
    choice = endpoint.add_mutually_exclusive_group()
    choice.add_argument("--url", help="the community provider's FHIR endpoint (http or https)")
    choice.add_argument("--clear", action="store_true", help="send hand-overs nowhere")

    acc = sub.add_parser("accounts", help="create accounts")
    acc_sub = acc.add_subparsers(dest="acc_command", required=True, metavar="ACTION")
    create = acc_sub.add_parser(
        "create",
        help="create a staff or prisoner account",
        description="Staff get a password (asked for, or read from stdin with --secret-stdin) "
        "and a TOTP secret to add to their authenticator app. Prisoners get a PIN.",
    )
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--establishment", help="establishment code (not for admins)")
    create.add_argument("--username", help="staff sign-in name")
    create.add_argument("--prison-number", help="prisoner's number, e.g. A1234BC")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--sex", choices=["F", "M", "X"])
    create.add_argument(
        "--date-of-birth",
        metavar="YYYY-MM-DD",
        help="a prisoner's date of birth, for the clinician's identity check "
        "(sealed under the prisoner's own key)",
    )
    create.add_argument(
        "--cell", help="a prisoner's cell, one the establishment lists (see `places list`)"
    )
    create.add_argument(
        "--secret-stdin", action="store_true", help="read the password or PIN from standard input"
    )
    create.add_argument("--json", action="store_true", help="print the result as JSON")

    dev = sub.add_parser("devices", help="enrol in-cell devices")
    dev_sub = dev.add_subparsers(dest="dev_command", required=True, metavar="ACTION")
    enrol = dev_sub.add_parser(
        "enrol",
        help="register a device to a cell and print its one-time enrolment code",
        description="Prints a one-time code to type on the device. With --complete, also "
        "redeems it here and prints the device credential (for provisioning images).",
    )
    enrol.add_argument("--establishment", required=True, help="establishment code")
    enrol.add_argument(
        "--cell", required=True, help="a cell the establishment lists (see `places list`)"
    )
    enrol.add_argument("--complete", action="store_true")
    enrol.add_argument("--json", action="store_true")
    _add_places_commands(sub)
    add_access_commands(sub)
    add_audit_commands(sub)
    return parser


def _add_places_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    places = sub.add_parser(
        "places",
        help="wings and cells of an establishment",
        description="An establishment's wings and cells. Devices are enrolled, and prisoners "
        "placed, only in cells listed here.",
    )
    places_sub = places.add_subparsers(dest="places_command", required=True, metavar="ACTION")
    listing = places_sub.add_parser("list", help="print the wings and their cells")
    listing.add_argument("--establishment", required=True, help="establishment code")
    listing.add_argument("--json", action="store_true")
    wing = places_sub.add_parser("add-wing", help="add a wing")
    wing.add_argument("--establishment", required=True, help="establishment code")
    wing.add_argument("--wing", required=True, help="the wing's name, e.g. A")
    cell = places_sub.add_parser("add-cell", help="add cells on a wing")
    cell.add_argument("--establishment", required=True, help="establishment code")
    cell.add_argument("--wing", required=True, help="a wing the establishment has")
    cell.add_argument("cells", nargs="+", metavar="CELL", help="cell names, e.g. A1-01 A1-02")
    for what in ("wing", "cell"):
        rename = places_sub.add_parser(f"rename-{what}", help=f"rename a {what}")
        rename.add_argument("--establishment", required=True, help="establishment code")
        rename.add_argument(f"--{what}", required=True, help=f"the {what}'s name now")
        rename.add_argument("--to", required=True, help="its new name")
        remove = places_sub.add_parser(
            f"remove-{what}",
            help=f"remove a {what}"
            + (" that has no cells" if what == "wing" else " no prisoner or device is in"),
            description="Refused, changing nothing, while "
            + (
                "the wing has cells"
                if what == "wing"
                else "a prisoner is in the cell or a device is enrolled in it"
            )
            + ", or while past records (moves, retired devices, test calls) name it: "
            "rename it instead.",
        )
        remove.add_argument("--establishment", required=True, help="establishment code")
        remove.add_argument(f"--{what}", required=True, help=f"the {what}'s name")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"throughcare: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        if args.command == "serve":
            return _serve(settings, args)
        return asyncio.run(_run(settings, args))
    except (ConfigError, KeyFileError, ServiceError) as exc:
        # A service's own sentence says what was wrong; the code's generic one is for HTTP.
        message = (exc.detail or exc.code.message) if isinstance(exc, ServiceError) else str(exc)
        print(f"throughcare: {message}", file=sys.stderr)
        return 2


GC_GEN0_THRESHOLD = 20_000


def tune_gc(app: web.Application) -> None:
    """Once the app has started: freeze what start-up built, and collect young objects less often.

    CPython's default (700 allocations) promotes whatever a busy node holds in
    flight (frames, tasks, buffered messages) to the oldest generation, which
    then fills and is scanned whole: at 1,000 consults the node ran a full
    collection of ~200 ms every second or two, costing about a fifth of its CPU
    and putting 100-200 ms pauses in the relay (bench/signalling.py). With the
    threshold at 20,000 those objects die young; the start-up heap (libraries,
    modules), frozen, is never scanned again.
    """

    async def settle(_app: web.Application) -> None:
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 10, 10)

    app.on_startup.append(settle)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvloop
    from aiohttp import web

    from web.app import StartupError, create_app
    from web.logs import AccessLogger

    if args.host:
        settings = replace(settings, host=args.host)
    if args.port:
        settings = replace(settings, port=args.port)
    app = create_app(settings)
    tune_gc(app)
    try:
        web.run_app(
            app,
            # uvloop: the event loop of libuv, a third cheaper per message than asyncio's.
            loop=uvloop.new_event_loop(),
            host=settings.host,
            port=settings.port,
            access_log_class=AccessLogger,
            print=lambda _msg: print(
                f"Throughcare is listening on http://{settings.host}:{settings.port}", flush=True
            ),
            shutdown_timeout=10,
            # When a node dies its clients all reconnect at once: aiohttp's default queue
            # of 128 unanswered connections dropped the rest, whose SYNs were resent after
            # 1, 3, 7, 15 s (bench/connect.py's storm took 30 s for 1,000 clients on 2 s of
            # CPU). The kernel caps it at net.core.somaxconn.
            backlog=LISTEN_BACKLOG,
        )
    except StartupError as exc:
        print(f"throughcare: {exc}", file=sys.stderr)
        return 2
    return 0


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "db" and args.db_command == "grants":
        return _print_grants(args.role)
    if args.command == "db":
        from audit.field_migration import load_field_mover

        if args.grant_to and not settings.is_postgres:  # refused before changing anything
            raise ConfigError("--grant-to is for PostgreSQL: SQLite has no roles")

        # Data migrations move sealed fields between keys (0005): they get the keys folder.
        fields = await asyncio.to_thread(load_field_mover, settings.keys_dir)
        db = await asyncio.to_thread(create_database, settings.database_url.reveal())
        try:
            await upgrade(db, fields=fields)
            if args.db_command == "upgrade" and args.grant_to:
                await _apply_grants(db, args.grant_to)
        finally:
            await db.dispose()
        print("database is up to date")
        return 0
    async with open_core(settings) as core:
        if args.command == "demo":
            return await _demo(core, args)
        if args.command == "establishments" and args.est_command == "community-endpoint":
            return await _community_endpoint(core, args)
        if args.command == "establishments":
            est_id = await core.identity.create_establishment(
                args.code,
                args.name,
                args.timezone,
                relay_only=not args.allow_direct_media,
                identity_check=args.identity_check,
            )
            print(est_id)
            return 0
        if args.command == "accounts":
            return await _create_account(core, args)
        if args.command == "devices":
            return await _enrol(core, args)
        if args.command == "places":
            return await _places(core, args)
        if args.command == "departments":
            return await run_departments(core, args)
        if args.command == "staff":
            return await run_staff(core, args)
        if args.command == "audit":
            return await run_audit(core, args)
    return 2


async def _apply_grants(db: Database, role: str) -> None:
    """As the tables' owner, after an upgrade: the service's role gets what it needs."""
    import web.app  # noqa: F401  (declares every table on the metadata)
    from core.db.grants import grant_statements
    from core.db.schema import metadata

    try:
        statements = grant_statements(metadata, role)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    try:
        async with db.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    except DBAPIError as exc:
        first = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
        raise ConfigError(f"could not grant to {role}: {first}") from None
    print(f"granted {role} what the service needs")


def _print_grants(role: str) -> int:
    import web.app  # noqa: F401  (declares every table on the metadata)
    from core.db.grants import grant_statements
    from core.db.schema import metadata

    try:
        statements = grant_statements(metadata, role)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    print("BEGIN;")
    for statement in statements:
        print(f"{statement};")
    print("COMMIT;")
    return 0


async def _demo(core: Core, args: argparse.Namespace) -> int:
    from core.fields import FieldCipher
    from core.people.service import People
    from core.places.service import Places
    from kiosk.applications import MODULE as APPLICATIONS
    from kiosk.shop_types import MODULE as SHOP
    from web.campus import build_campus
    from web.demo import describe, seed
    from web.demo_kiosk import KioskDemoDeps
    from web.demo_programmes import seed_programmes
    from web.kiosk.visits import build_visits
    from web.services import build_access, build_scheduling

    clock = SystemClock()
    subject_keys = SubjectKeys(core.audit.keys, clock)
    scheduling = build_scheduling(core.db, core.audit, clock, core.keys, subject_keys)
    for module in (SHOP, APPLICATIONS):  # as the app registers them: a lockdown closes them
        scheduling.suspensions.register(module)
    visits = build_visits(core.db, core.audit, clock, core.keys, subject_keys, scheduling)
    places = Places(core.db, clock=clock, audit=core.audit)
    access = build_access(core.settings, core.db, core.audit, clock, core.keys)
    people = People(
        core.db,
        cipher=FieldCipher(core.keys.field_key),
        subject_keys=subject_keys,
        clock=clock,
        audit=core.audit,
    )
    programmes = functools.partial(
        seed_programmes,
        core.db,
        cipher=FieldCipher(core.keys.field_key),
        subject_keys=subject_keys,
        audit=core.audit,
        clock=clock,
    )
    data = await seed(
        core.identity,
        core.settings.data_dir / "demo.json",
        scheduling,
        places=places,
        people=people,
        access=access,
        kiosk=KioskDemoDeps(
            db=core.db,
            identity=core.identity,
            audit=core.audit,
            cipher=FieldCipher(core.keys.field_key),
            subject_keys=subject_keys,
            gate=scheduling,
            clock=clock,
        ),
        visits=visits,
        programmes=lambda est, staff, prisoners: programmes(
            est_id=est, staff=staff, prisoners=prisoners
        ),
        campus=build_campus(core.db, core.audit, clock, core.keys, subject_keys, scheduling),
    )
    url = f"http://{core.settings.host}:{core.settings.port}"
    if args.json:
        print(json.dumps({"url": url, **data}, indent=2))
    else:
        print(describe(data, url))
    return 0


async def _community_endpoint(core: Core, args: argparse.Namespace) -> int:
    from web.services import build_scheduling

    est_id = await _establishment_id(core, args.establishment)
    assert est_id is not None
    clock = SystemClock()
    scheduling = build_scheduling(
        core.db, core.audit, clock, core.keys, SubjectKeys(core.audit.keys, clock)
    )
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    if args.url is not None or args.clear:
        url = await scheduling.set_community_endpoint(
            system, est_id, None if args.clear else args.url
        )
    else:
        url = await scheduling.community_endpoint(system, est_id)
    print(url or "(none: hand-overs are kept, not sent)")
    return 0


async def _establishment_id(core: Core, code: str | None) -> str | None:
    if code is None:
        return None
    est = await core.identity.establishment_by_code(code)
    if est is None:
        raise ConfigError(f"no establishment with code {code!r}")
    return est.id


def _read_secret(args: argparse.Namespace, what: str) -> str:
    if args.secret_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"{what}: ")
    if getpass.getpass(f"{what} again: ") != first:
        raise ConfigError(f"the two {what}s differ")
    return first


async def _create_account(core: Core, args: argparse.Namespace) -> int:
    role = Role(args.role)
    est_id = await _establishment_id(core, args.establishment)
    if role != Role.PRISONER and (args.date_of_birth or args.cell):
        raise ConfigError("--date-of-birth and --cell are for prisoners")
    if role == Role.PRISONER:
        if not args.prison_number or est_id is None:
            raise ConfigError("a prisoner needs --prison-number and --establishment")
        pin = await asyncio.to_thread(_read_secret, args, "PIN")
        account_id = await core.identity.create_prisoner(
            establishment_id=est_id,
            prison_number=args.prison_number,
            display_name=args.name,
            pin=pin,
            sex=args.sex,
            date_of_birth=args.date_of_birth,
            cell=args.cell,
        )
        result = {"account_id": account_id}
    else:
        if not args.username:
            raise ConfigError("staff need --username")
        password = await asyncio.to_thread(_read_secret, args, "password")
        account_id, secret = await core.identity.create_staff(
            role=role,
            establishment_id=est_id,
            username=args.username,
            display_name=args.name,
            password=password,
            sex=args.sex,
        )
        import pyotp

        uri = pyotp.TOTP(secret).provisioning_uri(name=args.username, issuer_name="Throughcare")
        result = {"account_id": account_id, "totp_secret": secret, "totp_uri": uri}
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


async def _enrol(core: Core, args: argparse.Namespace) -> int:
    est_id = await _establishment_id(core, args.establishment)
    assert est_id is not None
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    enrolment = await core.identity.devices.start_enrolment(system, est_id, args.cell)
    result: dict[str, str] = {
        "device_id": enrolment.device_id,
        "enrolment_code": enrolment.code,
        "expires_at": enrolment.expires_at.isoformat(),
    }
    if args.complete:
        _, credential = await core.identity.devices.complete_enrolment(enrolment.code)
        result["device_credential"] = credential
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


async def _places(core: Core, args: argparse.Namespace) -> int:
    from core.places.service import Places

    est_id = await _establishment_id(core, args.establishment)
    assert est_id is not None
    system = Principal(
        account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id=""
    )
    places = Places(core.db, clock=SystemClock(), audit=core.audit)
    if args.places_command == "add-wing":
        wing = await places.add_wing(system, est_id, args.wing)
        print(f"wing {wing.name}: {wing.id}")
        return 0
    if args.places_command == "add-cell":
        for name in args.cells:
            cell = await places.add_cell(system, est_id, args.wing, name)
            print(f"cell {cell.name} on wing {cell.wing}: {cell.id}")
        return 0
    if args.places_command == "rename-wing":
        wing = await places.rename_wing(system, est_id, args.wing, args.to)
        print(f"wing {args.wing} is now {wing.name}")
        return 0
    if args.places_command == "rename-cell":
        cell = await places.rename_cell(system, est_id, args.cell, args.to)
        print(f"cell {args.cell} on wing {cell.wing} is now {cell.name}")
        return 0
    if args.places_command == "remove-wing":
        wing = await places.remove_wing(system, est_id, args.wing)
        print(f"wing {wing.name} removed")
        return 0
    if args.places_command == "remove-cell":
        cell = await places.remove_cell(system, est_id, args.cell)
        print(f"cell {cell.name} on wing {cell.wing} removed")
        return 0
    wings = await places.wings(est_id)
    cells = await places.cells(est_id)
    listed = {w.name: [c.name for c in cells if c.wing_id == w.id] for w in wings}
    if args.json:
        print(json.dumps({"wings": listed}))
    else:
        for name, on in listed.items():
            print(f"{name}: {' '.join(on) if on else '(no cells)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
