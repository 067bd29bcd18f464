"""Identity details for the clinician's check: a date of birth and a photo.

Reception (officers of the prisoner's establishment, or admins) records them;
both are sealed under the prisoner's own key, so a shred erases them. Who sees
them is `core.clinical`'s rule for the record of one consult: the consult's
own clinician (checked by the caller, who knows the appointment), and a
healthcare manager of the establishment, whose look is logged. An officer,
an admin, and any other prisoner never see them, not even reception, who
record them: the page that uploads a photo only ever shows whether one is on
file.
"""

from __future__ import annotations

import asyncio
from datetime import date

from sqlalchemy import select

from core.clinical import ClinicalRecord, Reading, reading
from core.db.schema import identity_details
from core.events import Action
from core.fields import SealedField
from core.identity.types import Principal
from core.people.common import Deps, prisoner_for
from core.people.photos import clean_photo
from core.people.records import (
    DATE_OF_BIRTH,
    PHOTO,
    date_of_birth,
    store_date_of_birth,
    store_photo,
)
from core.people.types import IdentityCheck


class IdentityDetails:
    def __init__(self, deps: Deps) -> None:
        self._d = deps

    async def record_date_of_birth(
        self, actor: Principal, prisoner_id: object, value: object
    ) -> None:
        born = date_of_birth(value, self._d.clock.now().date())
        async with self._d.db.begin() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            await store_date_of_birth(
                conn, self._d.subject_keys, prisoner.id, born, self._d.clock.now()
            )
        await self._d.record(
            Action.IDENTITY_RECORDED,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            field="date_of_birth",
        )

    async def record_photo(
        self, actor: Principal, prisoner_id: object, data: bytes, content_type: str
    ) -> None:
        """Check the upload is only a photo, strip it to its pixels, and seal it.

        The actor and prisoner are checked before the file is even decoded.
        """
        async with self._d.db.connect() as conn:
            await prisoner_for(conn, actor, prisoner_id)
        jpeg = await asyncio.to_thread(clean_photo, data, content_type)
        async with self._d.db.begin() as conn:
            prisoner = await prisoner_for(conn, actor, prisoner_id)
            await store_photo(conn, self._d.subject_keys, prisoner.id, jpeg, self._d.clock.now())
        await self._d.record(
            Action.IDENTITY_RECORDED,
            actor,
            establishment=prisoner.establishment_id,
            subject=prisoner.id,
            field="photo",
            bytes=len(jpeg),
        )

    async def on_file(self, prisoner_ids: list[str]) -> dict[str, tuple[bool, bool]]:
        """Prisoner id -> (a date of birth is on file, a photo is on file); never the values."""
        if not prisoner_ids:
            return {}
        async with self._d.db.connect() as conn:
            rows = await conn.execute(
                select(
                    identity_details.c.prisoner_id,
                    identity_details.c.date_of_birth_enc.is_not(None).label("dob"),
                    identity_details.c.photo_enc.is_not(None).label("photo"),
                ).where(identity_details.c.prisoner_id.in_(prisoner_ids))
            )
            return {r.prisoner_id: (bool(r.dob), bool(r.photo)) for r in rows}

    async def _readable(self, reader: Principal, record: ClinicalRecord) -> bool:
        how = reading(reader, record)
        if how == Reading.WITHHOLD or record.prisoner_id is None:
            return False
        if how == Reading.SHOW_AND_LOG:
            await self._d.record(
                Action.CLINICAL_VIEWED,
                reader,
                establishment=record.establishment_id,
                subject=record.prisoner_id,
                identity=["date_of_birth", "photo"],
            )
        return True

    async def for_check(self, reader: Principal, record: ClinicalRecord) -> IdentityCheck:
        """The date of birth, and whether a photo is on file, if `reading` lets this reader see."""
        if not await self._readable(reader, record):
            return IdentityCheck(False, None, False)
        prisoner = record.prisoner_id
        assert prisoner is not None
        async with self._d.db.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        identity_details.c.date_of_birth_enc,
                        identity_details.c.photo_enc.is_not(None).label("photo"),
                    ).where(identity_details.c.prisoner_id == prisoner)
                )
            ).first()
            if row is None:
                return IdentityCheck(True, None, False)
            born = None
            if row.date_of_birth_enc is not None:
                [text] = await self._d.subject_keys.open_many(
                    conn, [SealedField(row.date_of_birth_enc, prisoner, DATE_OF_BIRTH, prisoner)]
                )
                born = date.fromisoformat(text) if isinstance(text, str) else None
        return IdentityCheck(True, born, bool(row.photo))

    async def photo_for_check(self, reader: Principal, record: ClinicalRecord) -> bytes | None:
        """The photo (a JPEG), if there is one and `reading` lets this reader see it."""
        if not await self._readable(reader, record):
            return None
        prisoner = record.prisoner_id
        assert prisoner is not None
        async with self._d.db.connect() as conn:
            blob = await conn.scalar(
                select(identity_details.c.photo_enc).where(
                    identity_details.c.prisoner_id == prisoner
                )
            )
            if blob is None:
                return None
            [data] = await self._d.subject_keys.open_bytes_many(
                conn, [SealedField(blob, prisoner, PHOTO, prisoner)]
            )
        return data if isinstance(data, bytes) else None
