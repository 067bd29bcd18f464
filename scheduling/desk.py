"""The booking desk's look-ups: find a prisoner by name or prison number, and the
clinicians of an establishment.

Names and prison numbers are encrypted at rest, so a name cannot be matched in
SQL: the establishment's prisoners are opened and matched here, which is what
keeps a search string out of any query (it is never SQL, whatever it holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import accounts
from core.errors import Code, ServiceError
from core.identity import Principal, Role
from core.permissions import Permission, require_permission
from scheduling.base import ServiceBase, require_establishment
from scheduling.tables import movements

MAX_QUERY = 64
MAX_MATCHES = 20


@dataclass(frozen=True)
class PatientMatch:
    prisoner_id: str
    name: str
    prison_number: str | None
    released: bool


@dataclass(frozen=True)
class ClinicianView:
    clinician_id: str
    name: str
    sex: str | None


async def released(conn: AsyncConnection, prisoner_ids: list[str]) -> set[str]:
    """Those whose latest movement is a release (their account stays, for hand-over)."""
    if not prisoner_ids:
        return set()
    latest: dict[str, tuple[Any, str]] = {}
    rows = await conn.execute(
        select(movements.c.prisoner_id, movements.c.kind, movements.c.at).where(
            movements.c.prisoner_id.in_(prisoner_ids)
        )
    )
    for r in rows:
        seen = latest.get(r.prisoner_id)
        if seen is None or r.at >= seen[0]:
            latest[r.prisoner_id] = (r.at, r.kind)
    return {p for p, (_, kind) in latest.items() if kind == "release"}


class Desk(ServiceBase):
    async def find_patients(
        self, actor: Principal, establishment_id: str, query: object
    ) -> list[PatientMatch]:
        """Prisoners of the establishment whose name or prison number contains `query`."""
        require_permission(actor, Permission.BOOKING_DESK)
        require_establishment(actor, establishment_id)
        if not isinstance(query, str) or not 2 <= len(query.strip()) <= MAX_QUERY:
            raise ServiceError(
                Code.INVALID_REQUEST, "Search with 2 to 64 characters of a name or prison number."
            )
        wanted = query.strip().casefold()
        c = accounts.c
        async with self._db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(c.id, c.display_name_enc, c.prison_number_enc).where(
                        and_(c.establishment_id == establishment_id, c.role == Role.PRISONER.value)
                    )
                )
            )
            found = []
            for r in rows:
                name = self._open(r.display_name_enc, r.id, "display_name") or ""
                number = self._open(r.prison_number_enc, r.id, "prison_number")
                if wanted in name.casefold() or (number and wanted in number.casefold()):
                    found.append((name, number, r.id))
            found.sort()
            found = found[:MAX_MATCHES]
            gone = await released(conn, [f[2] for f in found])
        return [PatientMatch(i, n, num, i in gone) for n, num, i in found]

    async def clinicians_at(self, actor: Principal, establishment_id: str) -> list[ClinicianView]:
        require_permission(actor, Permission.BOOKING_DESK)
        require_establishment(actor, establishment_id)
        c = accounts.c
        async with self._db.connect() as conn:
            rows = await conn.execute(
                select(c.id, c.display_name_enc, c.sex).where(
                    and_(
                        c.establishment_id == establishment_id,
                        c.role == Role.CLINICIAN.value,
                        c.active.is_(True),
                    )
                )
            )
            found = [
                ClinicianView(
                    r.id, self._open(r.display_name_enc, r.id, "display_name") or "", r.sex
                )
                for r in rows
            ]
        return sorted(found, key=lambda v: (v.name, v.clinician_id))
