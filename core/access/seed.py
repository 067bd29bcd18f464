"""What a new establishment starts with: the built-in departments.

Kept apart from `departments` so that identity (which creates establishments)
can use it without importing the departments service.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.schema import departments

BUILT_IN = (
    ("wing-office", "Wing office"),
    ("property", "Property"),
    ("chaplaincy", "Chaplaincy"),
    ("education", "Education"),
    ("finance", "Finance"),
    ("shop", "Shop"),
    ("visits", "Visits"),
)
"""(code, English name). Migration 0012 holds its own copy, as migrations must."""


async def add_built_in(conn: AsyncConnection, establishment_id: str, now: datetime) -> None:
    for code, name in BUILT_IN:
        await conn.execute(
            insert(departments).values(
                id=str(uuid.uuid4()),
                establishment_id=establishment_id,
                code=code,
                name=name,
                created_at=now,
            )
        )
