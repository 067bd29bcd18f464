"""`People`: where each prisoner is, their incentive level, and their identity details,
over one store, cipher, clock and audit sink; and the officer's roll that joins them."""

from __future__ import annotations

from sqlalchemy import and_, select

from core.clock import Clock
from core.db.engine import Database
from core.db.schema import accounts
from core.events import AuditSink
from core.fields import FieldCipher, SubjectCipher
from core.identity.types import Principal, Role
from core.people.common import Deps
from core.people.details import IdentityDetails
from core.people.incentives import Incentives, levels_of
from core.people.locations import Locations, cells_of
from core.people.types import DEFAULT_LEVEL, RollEntry
from core.places.service import may_keep


class People:
    def __init__(
        self,
        db: Database,
        *,
        cipher: FieldCipher,
        subject_keys: SubjectCipher,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._d = Deps(db, cipher, subject_keys, clock, audit)
        self.locations = Locations(self._d)
        self.incentives = Incentives(self._d)
        self.details = IdentityDetails(self._d)

    async def roll(self, actor: Principal, establishment_id: str) -> list[RollEntry]:
        """The establishment's active prisoners: cell, wing, level, and whether identity
        details are on file (never the details). Officers of the establishment and admins."""
        may_keep(actor, establishment_id)
        async with self._d.db.connect() as conn:
            rows = list(
                await conn.execute(
                    select(
                        accounts.c.id, accounts.c.display_name_enc, accounts.c.prison_number_enc
                    ).where(
                        and_(
                            accounts.c.establishment_id == establishment_id,
                            accounts.c.role == Role.PRISONER.value,
                            accounts.c.active.is_(True),
                        )
                    )
                )
            )
            ids = [r.id for r in rows]
            where = await cells_of(conn, ids)
            levels = await levels_of(conn, ids)
        on_file = await self.details.on_file(ids)
        cipher = self._d.cipher
        found = []
        for r in rows:
            cell = where.get(r.id)
            dob, photo = on_file.get(r.id, (False, False))
            found.append(
                RollEntry(
                    prisoner_id=r.id,
                    name=cipher.decrypt(r.display_name_enc, row=r.id, column="display_name"),
                    prison_number=cipher.decrypt(
                        r.prison_number_enc, row=r.id, column="prison_number"
                    )
                    if r.prison_number_enc is not None
                    else "",
                    cell_id=cell.id if cell else None,
                    cell=cell.name if cell else None,
                    wing=cell.wing if cell else None,
                    level=levels.get(r.id, DEFAULT_LEVEL),
                    has_date_of_birth=dob,
                    has_photo=photo,
                )
            )
        found.sort(key=lambda e: (e.wing or "~", e.cell or "~", e.name))
        return found
