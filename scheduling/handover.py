"""The hand-over to community services: kept for the manager, sent to the community endpoint.

A release (scheduling/release.py) seals one FHIR Bundle per prisoner in
`handovers`. Where a community-sharing consent was in force it is `sending` and
a `HANDOVER_JOB` POSTs it to the establishment's community endpoint (kept by
admins, `set_community_endpoint`), with the Bundle's identifier as the
`Idempotency-Key`, so a retry is never a second hand-over at the receiver. The
job runner retries a refusal (an HTTP error, no answer, no endpoint yet) with
back-off; each failure is recorded here (`failing`, how many tries, a fixed
code) for the manager's page, and logged. Without consent it stays `held`:
the manager can download it, nothing leaves.

The HTTP itself is the web layer's (web/handover_send.py): this module gives it
what to send and records what happened.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.errors import Code, ServiceError
from core.events import Action
from core.fields import SealedField
from core.identity import Principal
from core.identity.types import SYSTEM_ACTOR
from core.permissions import Permission, require_permission
from scheduling.base import HANDOVER_BUNDLE, require_establishment, require_visible
from scheduling.lockdown import Lockdowns
from scheduling.tables import community_endpoints, handovers

MAX_URL = 500
ERROR_CODE_LENGTH = 64


@dataclass(frozen=True)
class Handover:
    prisoner_id: str
    released_at: datetime
    community_sharing: bool
    id: str = ""
    status: str = "held"
    attempts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    name: str | None = None
    prison_number: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """What the sending job POSTs: the Bundle's bytes, to `url` (None: none is set)."""

    handover_id: str
    establishment_id: str
    url: str | None
    body: bytes


def endpoint_url(value: object) -> str:
    """An http(s) URL with a host, no credentials in it, at most 500 characters."""
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_URL:
        raise ServiceError(Code.INVALID_REQUEST, "The endpoint is an http or https URL.")
    url = value.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ServiceError(Code.INVALID_REQUEST, "The endpoint is an http or https URL.") from None
    del port
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ServiceError(Code.INVALID_REQUEST, "The endpoint is an http or https URL.")
    if parts.username or parts.password:
        raise ServiceError(Code.INVALID_REQUEST, "The endpoint URL must not hold credentials.")
    return url


class Handovers(Lockdowns):
    # ------------------------------------------------------------ settings

    async def set_community_endpoint(
        self, actor: Principal, establishment_id: str, url: object
    ) -> str | None:
        """Set (or, with None, clear) where the establishment's hand-overs go."""
        require_permission(actor, Permission.COMMUNITY_ENDPOINT_MANAGE)
        require_establishment(actor, establishment_id)
        chosen = None if url is None else endpoint_url(url)
        now = self._clock.now()
        async with self._db.begin() as conn:
            await self._zone_name(conn, establishment_id)
            await conn.execute(
                delete(community_endpoints).where(
                    community_endpoints.c.establishment_id == establishment_id
                )
            )
            if chosen is not None:
                await conn.execute(
                    insert(community_endpoints).values(
                        establishment_id=establishment_id,
                        url=chosen,
                        updated_at=now,
                        updated_by=actor.account_id,
                    )
                )
        await self._record(
            Action.COMMUNITY_ENDPOINT_SET,
            actor,
            establishment=establishment_id,
            host=urlsplit(chosen).hostname if chosen else None,
        )
        return chosen

    async def community_endpoint(self, actor: Principal, establishment_id: str) -> str | None:
        require_permission(actor, Permission.COMMUNITY_ENDPOINT_MANAGE)
        require_establishment(actor, establishment_id)
        async with self._db.connect() as conn:
            await self._zone_name(conn, establishment_id)
            return await self._endpoint_of(conn, establishment_id)

    async def _endpoint_of(self, conn: AsyncConnection, establishment_id: str) -> str | None:
        url: str | None = await conn.scalar(
            select(community_endpoints.c.url).where(
                community_endpoints.c.establishment_id == establishment_id
            )
        )
        return url

    # ------------------------------------------------------------ the manager

    async def handover_list(self, actor: Principal, establishment_id: str) -> list[Handover]:
        """Released prisoners' hand-overs, newest first, with where each send stands."""
        require_permission(actor, Permission.HANDOVER_READ)
        require_establishment(actor, establishment_id)
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(handovers)
                    .where(handovers.c.establishment_id == establishment_id)
                    .order_by(handovers.c.created_at.desc(), handovers.c.id)
                    .limit(200)
                )
            )
            people = await self._prisoners(conn, {r.prisoner_id for r in rows})
        return [
            Handover(
                prisoner_id=r.prisoner_id,
                released_at=r.created_at,
                community_sharing=r.shared,
                id=r.id,
                status=r.status,
                attempts=r.attempts,
                last_error=r.last_error,
                sent_at=r.sent_at,
                name=people.get(r.prisoner_id, ("", None))[0],
                prison_number=people.get(r.prisoner_id, ("", None))[1],
            )
            for r in rows
        ]

    async def handover_bundle(self, actor: Principal, handover_id: str) -> dict[str, Any]:
        """The Bundle as it was (and is) sent; the reading is logged."""
        require_permission(actor, Permission.HANDOVER_DOWNLOAD)
        async with self._db.connect() as conn:
            row = await self._handover_row(conn, handover_id)
            require_visible(actor, row.establishment_id, "No such hand-over.")
            body = await self._open_bundle(conn, row)
        await self._record(
            Action.HANDOVER_DOWNLOADED,
            actor,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            handover=row.id,
        )
        bundle: dict[str, Any] = json.loads(body)
        return bundle

    async def _handover_row(self, conn: AsyncConnection, handover_id: object) -> Any:
        if not isinstance(handover_id, str) or len(handover_id) > 36:
            raise ServiceError(Code.NOT_FOUND, "No such hand-over.")
        row = (await conn.execute(select(handovers).where(handovers.c.id == handover_id))).first()
        if row is None:
            raise ServiceError(Code.NOT_FOUND, "No such hand-over.")
        return row

    async def _open_bundle(self, conn: AsyncConnection, row: Any) -> str:
        (opened,) = await self._subject_keys.open_many(
            conn, [SealedField(row.bundle_enc, row.prisoner_id, HANDOVER_BUNDLE, row.id)]
        )
        if not isinstance(opened, str):
            raise ServiceError(Code.CONFLICT, "This hand-over can no longer be read.")
        return opened

    # ------------------------------------------------------------ sending

    async def handover_outgoing(self, handover_id: str) -> Outgoing | None:
        """What to POST, or None when there is nothing to send (sent, or held)."""
        async with self._db.connect() as conn:
            row = await self._handover_row(conn, handover_id)
            if row.status not in ("sending", "failing", "failed"):
                return None
            body = await self._open_bundle(conn, row)
            url = await self._endpoint_of(conn, row.establishment_id)
        return Outgoing(row.id, row.establishment_id, url, body.encode())

    async def handover_failed(self, handover_id: str, error: str, *, final: bool = False) -> None:
        """One try refused or unanswered: the manager sees it, the audit log has it.

        `final`: the job runner will not try again (`failed`); an admin's retry of the
        job from /admin/jobs still sends it."""
        code = error[:ERROR_CODE_LENGTH]
        async with self._db.begin() as conn:
            row = await self._handover_row(conn, handover_id)
            await conn.execute(
                update(handovers)
                .where(and_(handovers.c.id == handover_id, handovers.c.status != "sent"))
                .values(
                    status="failed" if final else "failing",
                    attempts=handovers.c.attempts + 1,
                    last_error=code,
                )
            )
        await self._record(
            Action.HANDOVER_SEND_FAILED,
            SYSTEM_ACTOR,
            establishment=row.establishment_id,
            subject=row.prisoner_id,
            handover=handover_id,
            error=code,
            attempt=row.attempts + 1,
            final=final,
        )

    async def handover_sent(
        self, conn: AsyncConnection, handover_id: str, url: str, status: int
    ) -> Callable[[], Awaitable[None]]:
        """Record the receiver's acceptance in the job's completing transaction;
        returns the audit record's writing, for after that commit."""
        row = await self._handover_row(conn, handover_id)
        await conn.execute(
            update(handovers)
            .where(handovers.c.id == handover_id)
            .values(
                status="sent",
                attempts=handovers.c.attempts + 1,
                last_error=None,
                sent_at=self._clock.now(),
            )
        )

        async def log() -> None:
            await self._record(
                Action.HANDOVER_SENT,
                SYSTEM_ACTOR,
                establishment=row.establishment_id,
                subject=row.prisoner_id,
                handover=handover_id,
                host=urlsplit(url).hostname,
                status=status,
                attempt=row.attempts + 1,
            )

        return log
