"""Identity details sealed under the prisoner's own key: the date of birth and the photo.

No identity import here: `IdentityService.create_prisoner` stores the date of
birth through `store_date_of_birth` in its own transaction.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import identity_details
from core.errors import Code, ServiceError
from core.fields import SubjectCipher

DATE_OF_BIRTH = "identity_details.date_of_birth"
PHOTO = "identity_details.photo"
EARLIEST = date(1900, 1, 1)
BAD_DATE = {"reason": "bad_date_of_birth"}


def date_of_birth(value: object, today: date) -> date:
    """A date of birth as YYYY-MM-DD, in the past and not before 1900."""
    message = "A date of birth is a past date written YYYY-MM-DD."
    if isinstance(value, date) and not isinstance(value, datetime):
        found = value
    elif isinstance(value, str) and len(value.strip()) == 10:
        try:
            found = date.fromisoformat(value.strip())
        except ValueError:
            raise ServiceError(Code.INVALID_REQUEST, message, extra=BAD_DATE) from None
    else:
        raise ServiceError(Code.INVALID_REQUEST, message, extra=BAD_DATE)
    if found >= today:
        raise ServiceError(
            Code.INVALID_REQUEST,
            "A date of birth is in the past, not today or later.",
            extra={"reason": "future_date_of_birth"},
        )
    if found < EARLIEST:
        raise ServiceError(Code.INVALID_REQUEST, message, extra=BAD_DATE)
    return found


async def _upsert(conn: AsyncConnection, prisoner_id: str, now: datetime, **values: object) -> None:
    found = await conn.scalar(
        select(identity_details.c.prisoner_id).where(identity_details.c.prisoner_id == prisoner_id)
    )
    if found is None:
        await conn.execute(
            insert(identity_details).values(prisoner_id=prisoner_id, updated_at=now, **values)
        )
    else:
        await conn.execute(
            update(identity_details)
            .where(identity_details.c.prisoner_id == prisoner_id)
            .values(updated_at=now, **values)
        )


async def store_date_of_birth(
    conn: AsyncConnection, keys: SubjectCipher, prisoner_id: str, born: date, now: datetime
) -> None:
    blob = await keys.seal(
        conn, prisoner_id, column=DATE_OF_BIRTH, row=prisoner_id, text=born.isoformat()
    )
    await _upsert(conn, prisoner_id, now, date_of_birth_enc=blob)


async def store_photo(
    conn: AsyncConnection, keys: SubjectCipher, prisoner_id: str, jpeg: bytes, now: datetime
) -> None:
    blob = await keys.seal_bytes(conn, prisoner_id, column=PHOTO, row=prisoner_id, data=jpeg)
    await _upsert(conn, prisoner_id, now, photo_enc=blob, photo_at=now)
