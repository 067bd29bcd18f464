"""Applications on both stores: receipts, queues per department, replies, escalation,
confidential complaints, lockdown, idempotency, and bad input that changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import Code, ServiceError
from core.identity import Principal, Role
from kiosk.application_tables import kiosk_applications
from scheduling.tables import notifications
from tests.kiosk.conftest import Kiosk
from tests.scheduling.conftest import at
from web.state import DATABASE


async def _count(k: Kiosk) -> int:
    async with k.sched.app[DATABASE].connect() as conn:
        return len(list(await conn.execute(select(kiosk_applications.c.id))))


async def _refused(code: Code, call: Any) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        await call
    assert caught.value.code == code
    return caught.value


async def test_a_prisoner_gets_a_receipt_and_the_wing_office_answers_from_its_queue(
    kiosk: Kiosk,
) -> None:
    wing = kiosk.departments["wing-office"]
    sent, new = await kiosk.apps.send(
        kiosk.patient, department_id=wing, text="Please may I have a second pillow?"
    )
    assert new and sent.status == "open" and sent.stage == "application"
    assert sent.receipt.startswith("A") and len(sent.receipt) == 8
    assert sent.target_at == sent.created_at + timedelta(days=7)
    assert [a.receipt for a in await kiosk.apps.mine(kiosk.patient)] == [sent.receipt]

    queue = await kiosk.apps.queue(kiosk.wing, wing)
    assert [(a.receipt, a.text, a.prison_number) for a in queue] == [
        (sent.receipt, "Please may I have a second pillow?", "A1234BC")
    ]
    # The chaplain is not in the wing office: the queue does not exist for them.
    await _refused(Code.NOT_FOUND, kiosk.apps.queue(kiosk.chaplain, wing))
    await _refused(Code.NOT_FOUND, kiosk.apps.get(kiosk.chaplain, sent.id))

    kiosk.sched.clock.advance(hours=30)
    answered = await kiosk.apps.answer(kiosk.wing, sent.id, reply="Yes, collect it at 5pm.")
    assert answered.status == "answered" and answered.reply == "Yes, collect it at 5pm."
    assert answered.taken_hours == 30.0 and not answered.overdue
    (mine,) = await kiosk.apps.mine(kiosk.patient)
    assert mine.reply == "Yes, collect it at 5pm." and mine.taken_hours == 30.0
    assert await kiosk.apps.queue(kiosk.wing, wing) == []
    await _refused(Code.CONFLICT, kiosk.apps.answer(kiosk.wing, sent.id, reply="Again"))
    assert kiosk.actions == [
        "application_sent",
        "applications_read",
        "application_answered",
    ]
    read = kiosk.audit.records[1]
    assert read.actor == kiosk.wing.account_id and read.subject == kiosk.patient.account_id
    async with kiosk.sched.app[DATABASE].connect() as conn:
        (notice,) = list(
            await conn.execute(
                select(notifications).where(
                    notifications.c.recipient_id == kiosk.patient.account_id
                )
            )
        )
    assert notice.kind == "application_answered"
    assert "pillow" not in notice.payload and "5pm" not in notice.payload
    assert sent.receipt in notice.payload


async def test_the_words_are_sealed_under_the_prisoners_key(kiosk: Kiosk) -> None:
    sent, _ = await kiosk.apps.send(
        kiosk.patient, department_id=kiosk.departments["chaplaincy"], text="Visit from the imam"
    )
    async with kiosk.sched.app[DATABASE].connect() as conn:
        row = (
            await conn.execute(select(kiosk_applications).where(kiosk_applications.c.id == sent.id))
        ).one()
    assert b"imam" not in row.text_enc


async def test_escalation_to_a_confidential_complaint_goes_to_the_governor_not_the_wing(
    kiosk: Kiosk,
) -> None:
    wing = kiosk.departments["wing-office"]
    sent, _ = await kiosk.apps.send(
        kiosk.patient, department_id=wing, text="My cell bell is broken"
    )
    await _refused(Code.CONFLICT, kiosk.apps.escalate(kiosk.patient, sent.id, text="Still broken"))
    await kiosk.apps.answer(kiosk.wing, sent.id, reply="Reported to works.")
    complaint, _ = await kiosk.apps.escalate(
        kiosk.patient, sent.id, text="An officer ignores my bell", confidential=True
    )
    assert complaint.stage == "complaint" and complaint.confidential
    assert complaint.target_at == complaint.created_at + timedelta(days=5)
    assert complaint.parent_id == sent.id
    assert (await kiosk.apps.get(kiosk.patient, sent.id)).escalated_to == complaint.id
    # Hidden from the wing office, whose department it came from.
    assert await kiosk.apps.queue(kiosk.wing, wing) == []
    await _refused(Code.NOT_FOUND, kiosk.apps.get(kiosk.wing, complaint.id))
    await _refused(Code.NOT_FOUND, kiosk.apps.answer(kiosk.wing, complaint.id, reply="No"))
    await _refused(Code.FORBIDDEN, kiosk.apps.queue(kiosk.wing, "confidential"))
    (seen,) = await kiosk.apps.queue(kiosk.governor, "confidential")
    assert seen.text == "An officer ignores my bell"
    await kiosk.apps.answer(kiosk.governor, complaint.id, reply="I have spoken to the wing.")
    # A second escalation of the same stage is refused: one complaint per application.
    await _refused(Code.CONFLICT, kiosk.apps.escalate(kiosk.patient, sent.id, text="Again please"))
    appeal, _ = await kiosk.apps.escalate(kiosk.patient, complaint.id, text="Not good enough")
    assert appeal.stage == "appeal" and appeal.confidential
    assert appeal.target_at == appeal.created_at + timedelta(days=10)
    await kiosk.apps.answer(kiosk.governor, appeal.id, reply="Upheld.")
    await _refused(Code.CONFLICT, kiosk.apps.escalate(kiosk.patient, appeal.id, text="More"))


async def test_targets_per_department_set_by_the_governor(kiosk: Kiosk) -> None:
    chaplaincy = kiosk.departments["chaplaincy"]
    days = {"application": 2, "complaint": 3, "appeal": 4}
    assert await kiosk.apps.set_targets(kiosk.governor, chaplaincy, days) == days
    sent, _ = await kiosk.apps.send(kiosk.patient, department_id=chaplaincy, text="Rosary please")
    assert sent.target_at == sent.created_at + timedelta(days=2)
    await _refused(
        Code.INVALID_REQUEST,
        kiosk.apps.set_targets(kiosk.governor, chaplaincy, {**days, "appeal": 0}),
    )
    await _refused(Code.FORBIDDEN, kiosk.apps.set_targets(kiosk.wing, chaplaincy, days))
    kiosk.sched.clock.advance(days=3)
    (late,) = await kiosk.apps.queue(kiosk.chaplain, chaplaincy)
    assert late.overdue


async def test_a_double_tap_with_one_key_is_one_application(kiosk: Kiosk) -> None:
    wing = kiosk.departments["wing-office"]
    first, new1 = await kiosk.apps.send(
        kiosk.patient, department_id=wing, text="Phone credit", key="tap-0001-abcd"
    )
    again, new2 = await kiosk.apps.send(
        kiosk.patient, department_id=wing, text="Phone credit", key="tap-0001-abcd"
    )
    assert new1 and not new2 and again.id == first.id
    assert await _count(kiosk) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "<script>alert(1)</script>",
        "Hello <b>there</b>",
        "<!-- hidden -->",
        "x" * 100_000,
        42,
        None,
    ],
)
async def test_bad_text_is_refused_and_changes_nothing(kiosk: Kiosk, text: object) -> None:
    await _refused(
        Code.INVALID_REQUEST,
        kiosk.apps.send(kiosk.patient, department_id=kiosk.departments["finance"], text=text),
    )
    assert await _count(kiosk) == 0


async def test_text_that_mentions_angle_brackets_in_words_is_fine(kiosk: Kiosk) -> None:
    sent, _ = await kiosk.apps.send(
        kiosk.patient, department_id=kiosk.departments["finance"], text="I get < 5 pounds & > 2"
    )
    assert sent.text == "I get < 5 pounds & > 2"


async def test_a_department_that_does_not_exist_or_is_elsewhere_is_refused(
    kiosk: Kiosk,
) -> None:
    from web.state import ACCESS

    other = await kiosk.sched.app[ACCESS].departments.of_establishment(
        kiosk.sched.admin, kiosk.world.other_est
    )
    for department_id in ("no-such-department", other[0].id):
        await _refused(
            Code.NOT_FOUND,
            kiosk.apps.send(kiosk.patient, department_id=department_id, text="Hello"),
        )
    assert await _count(kiosk) == 0


async def test_a_lockdown_stops_new_applications_but_reading_works(kiosk: Kiosk) -> None:
    wing = kiosk.departments["wing-office"]
    sent, _ = await kiosk.apps.send(kiosk.patient, department_id=wing, text="Before lockdown")
    lockdown = await kiosk.sched.svc.declare_lockdown(
        kiosk.sched.officer, kiosk.world.est, starts_at=at(3, 9), ends_at=at(3, 18)
    )
    await _refused(Code.LOCKDOWN, kiosk.apps.send(kiosk.patient, department_id=wing, text="During"))
    assert [a.id for a in await kiosk.apps.mine(kiosk.patient)] == [sent.id]
    await kiosk.apps.answer(kiosk.wing, sent.id, reply="Answered in lockdown")
    await _refused(Code.LOCKDOWN, kiosk.apps.escalate(kiosk.patient, sent.id, text="Further"))
    await kiosk.sched.svc.lift_lockdown(kiosk.sched.officer, lockdown.id)
    again, _ = await kiosk.apps.send(kiosk.patient, department_id=wing, text="After")
    assert again.status == "open"


async def test_nobody_else_sees_a_prisoners_applications(kiosk: Kiosk) -> None:
    sent, _ = await kiosk.apps.send(
        kiosk.patient, department_id=kiosk.departments["wing-office"], text="Mine only"
    )
    await _refused(Code.NOT_FOUND, kiosk.apps.get(kiosk.sched.patient2, sent.id))
    await _refused(
        Code.NOT_FOUND, kiosk.apps.escalate(kiosk.sched.patient2, sent.id, text="Not mine")
    )
    await _refused(Code.FORBIDDEN, kiosk.apps.get(kiosk.sched.clinician, sent.id))
    await _refused(Code.FORBIDDEN, kiosk.apps.answer(kiosk.sched.clinician, sent.id, reply="x"))
    await _refused(
        Code.FORBIDDEN,
        kiosk.apps.send(kiosk.wing, department_id=kiosk.departments["wing-office"], text="Staff"),
    )
    # A wing officer of another establishment, even if asking by id.
    s2 = kiosk.world.staff["officer2"]
    elsewhere = Principal(s2.account_id, Role.OFFICER, kiosk.world.other_est, "test")
    await _refused(Code.NOT_FOUND, kiosk.apps.get(elsewhere, sent.id))
    assert (await kiosk.apps.get(kiosk.patient, sent.id)).text == "Mine only"


async def test_two_taps_at_once_with_one_key_make_one_application(kiosk: Kiosk) -> None:
    wing = kiosk.departments["wing-office"]
    results = await asyncio.gather(
        *(
            kiosk.apps.send(
                kiosk.patient, department_id=wing, text="Canteen sheet", key="race-key-1"
            )
            for _ in range(4)
        )
    )
    assert len({made.id for made, _ in results}) == 1
    assert sum(new for _, new in results) == 1
    assert await _count(kiosk) == 1


async def test_two_staff_answering_at_once_one_reply_wins(kiosk: Kiosk) -> None:
    wing = kiosk.departments["wing-office"]
    sent, _ = await kiosk.apps.send(kiosk.patient, department_id=wing, text="Laundry")
    results = await asyncio.gather(
        kiosk.apps.answer(kiosk.wing, sent.id, reply="Tuesday"),
        kiosk.apps.answer(kiosk.wing, sent.id, reply="Thursday"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, ServiceError)]
    assert len(refused) == 1 and refused[0].code == Code.CONFLICT
    (mine,) = await kiosk.apps.mine(kiosk.patient)
    assert mine.reply in {"Tuesday", "Thursday"}
    assert kiosk.actions.count("application_answered") == 1
