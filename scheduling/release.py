"""Release: one step, run in one transaction, that other modules add to.

`release` disables the account first (the guard: a second release finds it
disabled and changes nothing), then runs the built-in steps in order and every
step registered in `release_steps` (scheduling/release_steps.py):

- account: the account disabled; its sessions, device sign-ins included, revoked;
  after the commit its open sockets are closed on every node (4009, released).
- handover: a FHIR R4B Bundle of the patient, pending consults (as `proposed`
  Appointments), open requests (ServiceRequests) and the community-sharing
  consents in force, sealed under the prisoner's key in `handovers`. With such a
  consent it is sent to the establishment's community endpoint by a job
  (`HANDOVER_JOB`, scheduling/handover.py); without one it is only kept.
- care: pending consults cancelled with the release reason (each clinician told),
  open requests closed.
- consents: those that end with custody (telehealth, recording) end
  (`ended_reason` "released"); community sharing outlives custody.
- cell: the prisoner leaves their cell, and the move is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import and_, insert, select, update

from core.db.schema import accounts, sessions
from core.errors import Code, ServiceError
from core.events import Action
from core.identity import Principal, Role
from core.identity.types import EndReason, SessionsEnded
from core.jobs import insert_job
from core.people.moves import relocate
from core.people.types import MoveKind
from core.permissions import Permission, require_permission
from scheduling import fhir
from scheduling.base import HANDOVER_BUNDLE, new_id, require_visible
from scheduling.consent import Consents, consent_from
from scheduling.lockdown import Lockdowns
from scheduling.release_steps import ReleaseContext
from scheduling.tables import consents, handovers, health_requests, movements, services
from scheduling.triage import OPEN
from scheduling.types import Decision, Scope, Status

HANDOVER_JOB = "scheduling.handover_send"
"""The job kind that POSTs a hand-over to its establishment's community endpoint."""
ALREADY_RELEASED = "This prisoner has already been released."
ENDS_WITH_CUSTODY = (Scope.TELEHEALTH.value, Scope.RECORDING.value)

FateKind = Literal["moved", "reoffered", "handed_over", "cancelled"]


@dataclass(frozen=True)
class Fate:
    """What became of one pending consult when its prisoner left: its time and a code,
    never its reason or any clinical text (the prisoner's letter is made from these)."""

    appointment_id: str
    starts_at: datetime
    fate: FateKind
    """`moved`: goes ahead at the new establishment; `reoffered`: its healthcare team
    will offer a new time; `handed_over`: in the Bundle sent to the community
    provider; `cancelled`: cancelled (released with no community-sharing consent)."""


@dataclass(frozen=True)
class Released:
    closed: int
    """Pending consults closed."""
    locale: str
    """The prisoner's language, for their letter."""
    appointments: tuple[Fate, ...]
    steps: Mapping[str, Any] = field(default_factory=dict)
    """What each registered step put in its summary (the kiosk's payout and receipt
    number, say): pence, counts and ids, for the officer's page and the letter."""
    handout: Mapping[str, Any] = field(default_factory=dict)
    """What the steps give the person only (the community account's claim code): for
    the officer's page and the letter, never the audit log."""


async def account_locale(conn: Any, account_id: str) -> str:
    locale = await conn.scalar(select(accounts.c.locale).where(accounts.c.id == account_id))
    return str(locale or "en")


class Release(Lockdowns, Consents):
    async def release(self, actor: Principal, prisoner_id: str) -> Released:
        """How many pending consults were closed, and what became of each.

        A second release (or of a disabled account) is refused with nothing changed.
        """
        require_permission(actor, Permission.PRISONERS_MOVE)
        now = self._clock.now()
        async with self._db.begin() as conn:
            prisoner = await self._person(conn, prisoner_id, Role.PRISONER)
            source = prisoner.establishment_id
            require_visible(actor, source, "No such prisoner.")
            ctx = ReleaseContext(conn, actor, prisoner.id, source, now)
            await self._release_account(ctx)
            await self._release_handover(ctx)
            fates = await self._release_care(ctx)
            locale = await account_locale(conn, prisoner.id)
            await self._release_consents(ctx)
            await self._release_cell(ctx)
            for name, step in self.release_steps:
                await step(ctx)
                ctx.summary.setdefault(name, True)
        await self._record(
            Action.RELEASED,
            actor,
            establishment=source,
            subject=prisoner.id,
            steps=list(self.release_steps.names),
            **ctx.summary,
        )
        for then in ctx.after_commit:
            await then()
        closed: int = ctx.summary["closed"]
        steps = {name: ctx.summary[name] for name, _ in self.release_steps}
        return Released(closed, locale, fates, steps, dict(ctx.handout))

    async def _release_account(self, ctx: ReleaseContext) -> None:
        disabled = await ctx.conn.execute(
            update(accounts)
            .where(and_(accounts.c.id == ctx.prisoner_id, accounts.c.active.is_(True)))
            .values(active=False)
        )
        if disabled.rowcount != 1:
            released = await ctx.conn.scalar(
                select(movements.c.id)
                .where(
                    and_(movements.c.prisoner_id == ctx.prisoner_id, movements.c.kind == "release")
                )
                .limit(1)
            )
            raise ServiceError(
                Code.CONFLICT,
                ALREADY_RELEASED if released else "This prisoner's account is disabled.",
                extra={"reason": "already_released" if released else "account_disabled"},
            )
        revoked = await ctx.conn.execute(
            update(sessions)
            .where(and_(sessions.c.account_id == ctx.prisoner_id, sessions.c.revoked_at.is_(None)))
            .values(revoked_at=ctx.now, revoked_reason="released")
        )
        ctx.summary["sessions_revoked"] = revoked.rowcount

        async def close_sockets() -> None:
            # HTTP already refuses the tokens; the sockets they opened close (4009).
            await self._endings.sessions_ended(
                SessionsEnded(EndReason.RELEASED, account_id=ctx.prisoner_id)
            )

        ctx.after_commit.append(close_sockets)

    async def _release_handover(self, ctx: ReleaseContext) -> None:
        conn, pid = ctx.conn, ctx.prisoner_id
        person = (
            await conn.execute(
                select(
                    accounts.c.display_name_enc, accounts.c.prison_number_enc, accounts.c.sex
                ).where(accounts.c.id == pid)
            )
        ).one()
        resources: list[dict[str, Any]] = [
            fhir.patient(
                pid,
                self._cipher.decrypt(person.display_name_enc, row=pid, column="display_name"),
                self._open(person.prison_number_enc, pid, "prison_number"),
                person.sex,
            )
        ]
        for m in await self._active_of(conn, prisoner_id=pid):
            code = await conn.scalar(
                select(services.c.code).where(services.c.id == m["service_id"])
            )
            resources.append(fhir.pending_appointment(m["id"], pid, str(code), m["starts_at"]))
        requests = await conn.execute(
            select(health_requests, services.c.code.label("service_code"))
            .outerjoin(services, services.c.id == health_requests.c.service_id)
            .where(and_(health_requests.c.prisoner_id == pid, health_requests.c.status.in_(OPEN)))
            .order_by(health_requests.c.created_at)
        )
        for r in requests:
            resources.append(
                fhir.service_request(r.id, pid, r.category, r.urgency, r.service_code, r.created_at)
            )
        sharing = await self._sharing_consent(ctx)
        if sharing is not None:
            resources.append(sharing)
        handover_id = new_id()
        bundle = fhir.handover_bundle(handover_id, ctx.now, resources)
        sealed = await self._seal(
            conn, pid, json.dumps(bundle, sort_keys=True), handover_id, HANDOVER_BUNDLE
        )
        assert sealed is not None
        shared = sharing is not None
        await conn.execute(
            insert(handovers).values(
                id=handover_id,
                prisoner_id=pid,
                establishment_id=ctx.establishment_id,
                created_at=ctx.now,
                bundle_enc=sealed,
                shared=shared,
                status="sending" if shared else "held",
                attempts=0,
            )
        )
        if shared:
            await insert_job(
                conn,
                HANDOVER_JOB,
                {"handover": handover_id},
                due_at=ctx.now,
                now=ctx.now,
                key=handover_id,
            )
        ctx.summary["handover"] = handover_id
        ctx.summary["handover_shared"] = shared

    async def _sharing_consent(self, ctx: ReleaseContext) -> dict[str, Any] | None:
        """The community-sharing consent in force, as FHIR, or None."""
        row = (
            await ctx.conn.execute(
                select(consents)
                .where(
                    and_(
                        consents.c.prisoner_id == ctx.prisoner_id,
                        consents.c.scope == Scope.COMMUNITY_SHARING.value,
                    )
                )
                .order_by(consents.c.decided_at.desc())
                .limit(1)
            )
        ).first()
        if row is None or row.decision != Decision.GIVEN.value or row.withdrawn_at is not None:
            return None
        return fhir.consent(consent_from(row._mapping))

    async def _release_care(self, ctx: ReleaseContext) -> tuple[Fate, ...]:
        pending = await self._active_of(ctx.conn, prisoner_id=ctx.prisoner_id)
        # In the Bundle either way; it leaves only with a community-sharing consent.
        fate: FateKind = "handed_over" if ctx.summary.get("handover_shared") else "cancelled"
        for m in pending:
            await self._apply(ctx.conn, m["id"], Status.CANCELLED, None, "release", None)
            await self._notify(
                ctx.conn,
                m["clinician_id"],
                "patient_released",
                appointment_id=m["id"],
                starts_at=m["starts_at"],
            )
        closed = await ctx.conn.execute(
            update(health_requests)
            .where(
                and_(
                    health_requests.c.prisoner_id == ctx.prisoner_id,
                    health_requests.c.status.in_(OPEN),
                )
            )
            .values(status="closed")
        )
        ctx.summary["closed"] = len(pending)
        ctx.summary["requests_closed"] = closed.rowcount
        return tuple(Fate(m["id"], m["starts_at"], fate) for m in pending)

    async def _release_consents(self, ctx: ReleaseContext) -> None:
        ended = await ctx.conn.execute(
            update(consents)
            .where(
                and_(
                    consents.c.prisoner_id == ctx.prisoner_id,
                    consents.c.scope.in_(ENDS_WITH_CUSTODY),
                    consents.c.withdrawn_at.is_(None),
                )
            )
            .values(withdrawn_at=ctx.now, ended_reason="released")
        )
        ctx.summary["consents_ended"] = ended.rowcount

    async def _release_cell(self, ctx: ReleaseContext) -> None:
        left = await relocate(
            ctx.conn,
            prisoner_id=ctx.prisoner_id,
            kind=MoveKind.RELEASE,
            from_establishment=ctx.establishment_id,
            to_establishment=None,
            to_cell=None,
            now=ctx.now,
            actor=ctx.actor.account_id,
        )
        await ctx.conn.execute(
            insert(movements).values(
                id=new_id(),
                prisoner_id=ctx.prisoner_id,
                kind="release",
                from_establishment_id=ctx.establishment_id,
                to_establishment_id=None,
                at=ctx.now,
                actor=ctx.actor.account_id,
            )
        )
        ctx.summary["from_cell"] = left.name if left else None
