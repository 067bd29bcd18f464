"""Demo visits (issue 16 item 3): so the device's Visits screen and the staff's visits page
each have something to show. The first prisoner has two approved visitors (one with an
email, one whose letters are printed) and one waiting; a visit booked with both and one
they cancelled. The second has an approved partner booked into the same session and a
friend waiting; the third a visitor refused with a reason. Sessions run Tuesday,
Thursday and Saturday afternoons for three weeks, and one small session tomorrow."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core.identity import Principal, Role
from kiosk.visit_records import Session
from kiosk.visits import Visits

VISITORS: list[list[dict[str, Any]]] = [
    [
        {"name": "Mary Evans", "relationship": "Mother", "email": "mary.evans@example.org"},
        {"name": "Tom Evans", "relationship": "Brother", "phone": "07700 900456"},
        {"name": "Sam Price", "relationship": "Friend", "decision": None},
    ],
    [
        {"name": "Lee Morgan", "relationship": "Partner", "email": "lee.morgan@example.org"},
        {"name": "Kim Hughes", "relationship": "Friend", "decision": None},
    ],
    [
        {
            "name": "Jo Bright",
            "relationship": "Friend",
            "decision": "We could not confirm who this person is. "
            "Ask them to contact the visits hall.",
        },
    ],
]
DAYS = (1, 3, 5)
"""Tuesday, Thursday and Saturday."""


def _at(day: Any, hour: int, tz: ZoneInfo) -> str:
    return datetime.combine(day, time(hour, 0), tzinfo=tz).isoformat()


async def seed_visits(
    visits: Visits,
    *,
    est_id: str,
    staff: list[dict[str, Any]],
    prisoners: list[dict[str, Any]],
    now: datetime,
    timezone: str = "Europe/London",
) -> dict[str, Any]:
    officer_id = next(p["account_id"] for p in staff if p["role"] == Role.OFFICER.value)
    officer = Principal(officer_id, Role.OFFICER, est_id, "demo")
    tz = ZoneInfo(timezone)
    await visits.set_allowances(officer, est_id, {"basic": 2, "standard": 3, "enhanced": 4})
    today = now.astimezone(tz).date()
    sessions: list[Session] = []
    for offset in range(1, 22):
        day = today + timedelta(days=offset)
        if day.weekday() in DAYS:
            sessions.append(
                await visits.create_session(
                    officer,
                    est_id,
                    starts_at=_at(day, 14, tz),
                    ends_at=_at(day, 16, tz),
                    capacity=20,
                )
            )
    tomorrow = today + timedelta(days=1)
    small = await visits.create_session(
        officer, est_id, starts_at=_at(tomorrow, 10, tz), ends_at=_at(tomorrow, 11, tz), capacity=2
    )
    approved: list[list[str]] = []
    for person, people in zip(prisoners, VISITORS, strict=False):
        who = Principal(person["account_id"], Role.PRISONER, est_id, "demo")
        ids = []
        for visitor in people:
            details = {k: v for k, v in visitor.items() if k != "decision"}
            asked, _ = await visits.visitors.request(who, **details)
            if "decision" not in visitor:
                await visits.visitors.decide(officer, asked.id, approve=True)
                ids.append(asked.id)
            elif visitor["decision"]:
                await visits.visitors.decide(
                    officer, asked.id, approve=False, reason=visitor["decision"]
                )
        approved.append(ids)
    first = Principal(prisoners[0]["account_id"], Role.PRISONER, est_id, "demo")
    second = Principal(prisoners[1]["account_id"], Role.PRISONER, est_id, "demo")
    booked, _ = await visits.book(first, session_id=sessions[0].id, visitors=approved[0])
    await visits.book(second, session_id=sessions[0].id, visitors=approved[1])
    await visits.book(second, session_id=small.id, visitors=approved[1])
    dropped, _ = await visits.book(first, session_id=sessions[2].id, visitors=approved[0][:1])
    await visits.cancel(first, dropped.id)
    return {
        "sessions": len(sessions) + 1,
        "booked": {"prison_number": prisoners[0]["prison_number"], "reference": booked.reference},
        "day": sessions[0].starts_at.astimezone(tz).date().isoformat(),
    }


def describe_visits(data: dict[str, Any]) -> list[str]:
    booked = data["booked"]
    return [
        f"Visits: {data['sessions']} sessions; {booked['prison_number']} has visit"
        f" {booked['reference']} on {data['day']} (staff: /staff/visits)."
    ]
