"""`throughcare departments ...` and `throughcare staff ...`: what the admin's screens and
`/api/staff`, `/api/departments` do, from a shell.

Every command calls the same `core.access` service as the API, as the system
actor with an admin's permissions, so the checks (staff only, staff who serve
the department's establishment, only clinicians and keyworkers serve several
establishments) and the audit records are the API's own. A member or an
establishment is added or removed by reading the current list and setting the
whole list, which is what the service keeps.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from core.clock import SystemClock
from core.config import ConfigError
from core.identity import Principal, Role
from core.identity.service import SYSTEM_ACTOR

if TYPE_CHECKING:
    from core.access.departments import Department
    from core.access.service import Access
    from web.cli import Core

SYSTEM = Principal(account_id=SYSTEM_ACTOR, role=Role.ADMIN, establishment_id=None, session_id="")


def add_access_commands(sub: Any) -> None:
    depts = sub.add_parser(
        "departments",
        help="an establishment's departments and their staff",
        description="Departments of an establishment (the built-in ones and any it adds) "
        "and the staff who belong to them. Members are staff who serve the establishment.",
    )
    d_sub = depts.add_subparsers(dest="departments_command", required=True, metavar="ACTION")
    listing = d_sub.add_parser("list", help="print the departments and their members")
    listing.add_argument("--establishment", required=True, help="establishment code")
    listing.add_argument("--json", action="store_true")
    add = d_sub.add_parser("add", help="add a department")
    add.add_argument("--establishment", required=True, help="establishment code")
    add.add_argument("--code", required=True, help="2-32 lower-case letters, digits or dashes")
    add.add_argument("--name", required=True, help="the name staff see")
    for action, words in (("add-member", "add a member of staff"), ("remove-member", "remove one")):
        member = d_sub.add_parser(action, help=words)
        member.add_argument("--establishment", required=True, help="establishment code")
        member.add_argument("--department", required=True, help="the department's code")
        member.add_argument("--username", required=True, help="the member of staff")

    staff = sub.add_parser(
        "staff",
        help="staff accounts: establishments served, email",
        description="Clinicians and keyworkers may serve establishments besides their home "
        "one. A staff email address counts once the link sent to it is opened.",
    )
    s_sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    show = s_sub.add_parser(
        "show", help="role, establishments, departments and email (verified or not)"
    )
    show.add_argument("--username", required=True)
    show.add_argument("--json", action="store_true")
    for action, words in (
        ("serve", "let a clinician or keyworker serve another establishment"),
        ("unserve", "stop them serving one (not their home establishment)"),
    ):
        serve = s_sub.add_parser(action, help=words)
        serve.add_argument("--username", required=True)
        serve.add_argument("--establishment", required=True, help="establishment code")
    email = s_sub.add_parser(
        "email",
        help="send a verification link to a new address",
        description="Sends the link through THROUGHCARE_SMTP_*; the address counts only once "
        "the link is opened. If the mail server refuses, nothing changes.",
    )
    email.add_argument("--username", required=True)
    email.add_argument("--email", required=True, metavar="ADDRESS")


def _access(core: Core) -> Access:
    from web.services import build_access

    return build_access(core.settings, core.db, core.audit, SystemClock(), core.keys)


async def _establishment(core: Core, code: str) -> str:
    est = await core.identity.establishment_by_code(code.strip().upper())
    if est is None:
        raise ConfigError(f"no establishment with code {code!r}")
    return est.id


async def _department(access: Access, est_id: str, code: str) -> Department:
    for dept in await access.departments.of_establishment(SYSTEM, est_id):
        if dept.code == code.strip().lower():
            return dept
    raise ConfigError(f"no department with code {code!r} in this establishment")


async def _codes(core: Core, ids: tuple[str, ...] | list[str]) -> list[str]:
    found = []
    for est_id in ids:
        est = await core.identity.establishment(est_id)
        found.append(est.code if est else est_id)
    return found


async def run_departments(core: Core, args: argparse.Namespace) -> int:
    access = _access(core)
    est_id = await _establishment(core, args.establishment)
    command = args.departments_command
    if command == "add":
        added = await access.departments.add(SYSTEM, est_id, args.code, args.name)
        print(f"department {added.code}: {added.id}")
        return 0
    if command in ("add-member", "remove-member"):
        dept = await _department(access, est_id, args.department)
        member = await access.staff.find(SYSTEM, args.username)
        members = set(dept.members)
        if command == "add-member":
            if member.id in members:
                raise ConfigError(f"{args.username} is in {dept.code} already")
            members.add(member.id)
        else:
            if member.id not in members:
                raise ConfigError(f"{args.username} is not in {dept.code}")
            members.discard(member.id)
        done = await access.departments.set_members(SYSTEM, dept.id, sorted(members))
        print(f"department {done.code}: {len(done.members)} member(s)")
        return 0
    depts = await access.departments.of_establishment(SYSTEM, est_id)
    names: dict[str, str] = {}
    for dept in depts:
        for account_id in dept.members:
            if account_id not in names:
                m = await access.staff.member(account_id)
                names[account_id] = m.username or m.id
    listed: dict[str, dict[str, Any]] = {
        d.code: {"name": d.name, "built_in": d.built_in, "members": [names[a] for a in d.members]}
        for d in depts
    }
    if args.json:
        print(json.dumps({"departments": listed}))
    else:
        for code, d in listed.items():
            who = " ".join(d["members"]) or "(no members)"
            print(f"{code}: {d['name']} - {who}")
    return 0


async def run_staff(core: Core, args: argparse.Namespace) -> int:
    access = _access(core)
    member = await access.staff.find(SYSTEM, args.username)
    command = args.staff_command
    if command in ("serve", "unserve"):
        est_id = await _establishment(core, args.establishment)
        extra = [e for e in member.serves if e != member.establishment_id]
        if command == "serve":
            if est_id in member.serves:
                raise ConfigError(f"{args.username} serves {args.establishment} already")
            extra.append(est_id)
        else:
            if est_id == member.establishment_id:
                raise ConfigError(
                    f"{args.establishment} is {args.username}'s home establishment; "
                    "it cannot be removed"
                )
            if est_id not in extra:
                raise ConfigError(f"{args.username} does not serve {args.establishment}")
            extra.remove(est_id)
        done = await access.staff.set_served(SYSTEM, member.id, extra)
        print(f"{args.username} serves: {' '.join(await _codes(core, done.serves))}")
        return 0
    if command == "email":
        await access.email.start(SYSTEM, member.id, args.email)
        print(f"a verification link was sent to {args.email.strip()}; it counts once opened")
        return 0
    pending = await access.email.pending(member.id)
    verified = await access.email.verified(member.id)
    depts = []
    for est_id in member.serves:
        for dept in await access.departments.of_establishment(SYSTEM, est_id):
            if member.id in dept.members:
                depts.append(dept.code)
    shown: dict[str, Any] = {
        "id": member.id,
        "username": member.username,
        "role": member.role.value,
        "serves": await _codes(core, member.serves),
        "departments": depts,
        "email": verified.email if verified else None,
        "email_verified": verified is not None,
        "email_pending": pending.email if pending else None,
    }
    if args.json:
        print(json.dumps(shown))
        return 0
    print(f"username: {member.username}")
    print(f"role: {member.role.value}")
    print(f"serves: {' '.join(shown['serves'])}")
    print(f"departments: {' '.join(depts) or '(none)'}")
    if verified:
        print(f"email: {verified.email} (verified)")
    else:
        print("email: none verified")
    if pending:
        print(f"waiting for the link sent to {pending.email} to be opened")
    return 0
