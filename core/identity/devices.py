"""Devices: an officer enrols one to a cell, the device redeems its one-time code
once for its own credential, and a revoked device's sessions end with it.

A device's cell is a place (`core.places`): it gives the device's wing. The
cell must be one the establishment lists. Moving a device to another cell
re-enrols it: its credential and sessions end, and a new one-time code is
issued for the new cell, so a device is never somewhere its enrolment does
not say."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import cells, devices, establishments, sessions, wings
from core.errors import Code, ServiceError
from core.events import Action, AuditRecord, AuditSink
from core.identity.tokens import hash_token
from core.identity.types import (
    SYSTEM_ACTOR,
    EndReason,
    NoEndings,
    Principal,
    Role,
    SessionEndings,
    SessionsEnded,
)
from core.places.cells import cell_in

ENROLMENT_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


@dataclass(frozen=True)
class Device:
    id: str
    establishment_id: str
    cell: str
    """The cell's name ("A1-02")."""
    cell_id: str
    wing_id: str
    wing: str
    """The wing's name ("A")."""


def _device_query() -> Select[Any]:
    return select(
        devices,
        cells.c.name.label("cell"),
        cells.c.wing_id,
        wings.c.name.label("wing"),
    ).select_from(
        devices.join(cells, cells.c.id == devices.c.cell_id).join(
            wings, wings.c.id == cells.c.wing_id
        )
    )


def _device(m: Any) -> Device:
    return Device(
        id=m["id"],
        establishment_id=m["establishment_id"],
        cell=m["cell"],
        cell_id=m["cell_id"],
        wing_id=m["wing_id"],
        wing=m["wing"],
    )


@dataclass(frozen=True)
class DeviceState:
    device: Device
    enrolled: bool
    """False while its one-time code waits to be used (new, or just moved)."""


def _may_enrol(actor: Principal, establishment_id: str) -> None:
    if actor.role not in (Role.OFFICER, Role.ADMIN):
        raise ServiceError(Code.FORBIDDEN)
    if actor.role != Role.ADMIN and actor.establishment_id != establishment_id:
        raise ServiceError(Code.FORBIDDEN)


def _new_code() -> tuple[str, str]:
    """A one-time code as shown ("ABCD-EFGH-JKMN") and its hash."""
    code = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(12))
    return "-".join(code[i : i + 4] for i in range(0, 12, 4)), hash_token(code)


@dataclass(frozen=True)
class Enrolment:
    device_id: str
    code: str
    expires_at: datetime
    cell: str = ""
    wing: str = ""


def _normalise_enrolment_code(code: object) -> str:
    if not isinstance(code, str) or len(code) > 64:
        raise ServiceError(Code.ENROLMENT_CODE_INVALID)
    return "".join(ch for ch in code.upper() if ch.isalnum())


class DeviceRegistry:
    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        audit: AuditSink,
        enrolment_lifetime_s: int,
        endings: SessionEndings | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self._enrolment_lifetime = timedelta(seconds=enrolment_lifetime_s)
        self.endings: SessionEndings = endings or NoEndings()

    async def start_enrolment(
        self, actor: Principal, establishment_id: str, cell: object
    ) -> Enrolment:
        """An officer registers a device for one of the establishment's cells (by name or id)
        and gets a one-time code. A cell the establishment does not list is refused."""
        _may_enrol(actor, establishment_id)
        code, code_hash = _new_code()
        device_id = str(uuid.uuid4())
        now = self._clock.now()
        expires = now + self._enrolment_lifetime
        async with self._db.begin() as conn:
            await require_establishment(conn, establishment_id)
            place = await cell_in(conn, establishment_id, cell)
            await conn.execute(
                insert(devices).values(
                    id=device_id,
                    establishment_id=establishment_id,
                    cell_id=place.id,
                    enrolment_code_hash=code_hash,
                    enrolment_expires_at=expires,
                    enrolled_by=None if actor.account_id == SYSTEM_ACTOR else actor.account_id,
                    created_at=now,
                )
            )
        await self._audit.append(
            AuditRecord(
                action=Action.DEVICE_ENROLMENT_STARTED,
                actor=actor.account_id,
                establishment=establishment_id,
                subject=device_id,
                details={"cell": place.name, "wing": place.wing},
            )
        )
        return Enrolment(device_id, code, expires, place.name, place.wing)

    async def move(self, actor: Principal, device_id: object, cell: object) -> Enrolment:
        """Move a device to another cell of its establishment: it is enrolled again.

        Its credential stops working and its sessions end at once; the new
        one-time code enrols it to the new cell. Another establishment's device
        answers as a missing one; a cell the establishment does not list, or
        the cell the device is in, is refused and nothing changes.
        """
        if actor.role not in (Role.OFFICER, Role.ADMIN):
            raise ServiceError(Code.FORBIDDEN)
        if not isinstance(device_id, str) or len(device_id) > 36:
            raise ServiceError(Code.NOT_FOUND)
        code, code_hash = _new_code()
        now = self._clock.now()
        expires = now + self._enrolment_lifetime
        async with self._db.begin() as conn:
            row = (await conn.execute(_device_query().where(devices.c.id == device_id))).first()
            if row is None or row._mapping["revoked_at"] is not None:
                raise ServiceError(Code.NOT_FOUND)
            before = _device(row._mapping)
            if actor.role != Role.ADMIN and before.establishment_id != actor.establishment_id:
                raise ServiceError(Code.NOT_FOUND)
            place = await cell_in(conn, before.establishment_id, cell)
            if place.id == before.cell_id:
                raise ServiceError(
                    Code.CONFLICT,
                    "The device is in that cell already.",
                    extra={"reason": "same_cell"},
                )
            await conn.execute(
                update(devices)
                .where(devices.c.id == before.id)
                .values(
                    cell_id=place.id,
                    credential_hash=None,
                    enrolment_code_hash=code_hash,
                    enrolment_expires_at=expires,
                    enrolled_at=None,
                    enrolled_by=None if actor.account_id == SYSTEM_ACTOR else actor.account_id,
                )
            )
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.device_id == before.id, sessions.c.revoked_at.is_(None)))
                .values(revoked_at=now, revoked_reason="device_moved")
            )
        await self._audit.append(
            AuditRecord(
                action=Action.DEVICE_MOVED,
                actor=actor.account_id,
                establishment=before.establishment_id,
                subject=before.id,
                details={
                    "from_cell": before.cell,
                    "from_wing": before.wing,
                    "cell": place.name,
                    "wing": place.wing,
                },
            )
        )
        return Enrolment(before.id, code, expires, place.name, place.wing)

    async def in_establishment(self, actor: Principal, establishment_id: str) -> list[DeviceState]:
        """The establishment's devices that are not revoked, with their cell and wing."""
        _may_enrol(actor, establishment_id)
        async with self._db.connect() as conn:
            rows = await conn.execute(
                _device_query()
                .where(
                    and_(
                        devices.c.establishment_id == establishment_id,
                        devices.c.revoked_at.is_(None),
                    )
                )
                .order_by(wings.c.name, cells.c.name, devices.c.created_at)
            )
            return [
                DeviceState(_device(r._mapping), r._mapping["credential_hash"] is not None)
                for r in rows
            ]

    async def complete_enrolment(self, code: object) -> tuple[Device, str]:
        """The device swaps its one-time code for its own long-lived credential."""
        normalised = _normalise_enrolment_code(code)
        if len(normalised) != 12:
            raise ServiceError(Code.ENROLMENT_CODE_INVALID)
        code_hash = hash_token(normalised)
        credential = "tcd_" + secrets.token_urlsafe(32)
        now = self._clock.now()
        async with self._db.begin() as conn:
            row = (
                await conn.execute(
                    _device_query().where(devices.c.enrolment_code_hash == code_hash)
                )
            ).first()
            if row is None:
                raise ServiceError(Code.ENROLMENT_CODE_INVALID)
            m = row._mapping
            if m["enrolment_expires_at"] is None or m["enrolment_expires_at"] <= now:
                raise ServiceError(Code.ENROLMENT_CODE_INVALID)
            result = await conn.execute(
                update(devices)
                .where(
                    and_(
                        devices.c.id == m["id"],
                        devices.c.enrolment_code_hash == code_hash,
                        devices.c.credential_hash.is_(None),
                    )
                )
                .values(
                    credential_hash=hash_token(credential),
                    enrolment_code_hash=None,
                    enrolment_expires_at=None,
                    enrolled_at=now,
                )
            )
            if result.rowcount != 1:
                raise ServiceError(Code.ENROLMENT_CODE_INVALID)
        device = _device(m)
        await self._audit.append(
            AuditRecord(
                action=Action.DEVICE_ENROLLED,
                actor=device.id,
                establishment=device.establishment_id,
                subject=device.id,
                details={"cell": device.cell, "wing": device.wing},
            )
        )
        return device, credential

    async def authenticate_device(self, credential: object) -> Device:
        if (
            not isinstance(credential, str)
            or not credential.startswith("tcd_")
            or len(credential) > 100
        ):
            raise ServiceError(Code.DEVICE_NOT_ENROLLED)
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    _device_query().where(devices.c.credential_hash == hash_token(credential))
                )
            ).first()
        if row is None or row._mapping["revoked_at"] is not None:
            raise ServiceError(Code.DEVICE_NOT_ENROLLED)
        return _device(row._mapping)

    async def device(self, device_id: str) -> Device | None:
        """An enrolled, unrevoked device, with its cell and wing."""
        async with self._db.connect() as conn:
            row = (
                await conn.execute(
                    _device_query().where(
                        and_(
                            devices.c.id == device_id,
                            devices.c.revoked_at.is_(None),
                            devices.c.credential_hash.is_not(None),
                        )
                    )
                )
            ).first()
        return _device(row._mapping) if row is not None else None

    async def revoke_device(self, actor: Principal, device_id: str) -> None:
        if actor.role not in (Role.OFFICER, Role.ADMIN):
            raise ServiceError(Code.FORBIDDEN)
        async with self._db.begin() as conn:
            est = await conn.scalar(
                select(devices.c.establishment_id).where(devices.c.id == device_id)
            )
            # Another establishment's device answers as a missing one (no existence oracle).
            if est is None or (actor.role != Role.ADMIN and est != actor.establishment_id):
                raise ServiceError(Code.NOT_FOUND)
            await conn.execute(
                update(devices)
                .where(devices.c.id == device_id)
                .values(revoked_at=self._clock.now())
            )
            # A revoked device's open sessions end with it.
            await conn.execute(
                update(sessions)
                .where(and_(sessions.c.device_id == device_id, sessions.c.revoked_at.is_(None)))
                .values(revoked_at=self._clock.now(), revoked_reason="device_revoked")
            )
        await self._audit.append(
            AuditRecord(
                action=Action.DEVICE_REVOKED,
                actor=actor.account_id,
                establishment=est,
                subject=device_id,
            )
        )
        await self.endings.sessions_ended(
            SessionsEnded(EndReason.DEVICE_REVOKED, device_id=device_id)
        )


async def require_establishment(conn: AsyncConnection, est_id: str | None) -> None:
    if est_id is None:
        return
    found = await conn.scalar(select(establishments.c.id).where(establishments.c.id == est_id))
    if found is None:
        raise ServiceError(Code.NOT_FOUND, "No such establishment.")
