"""Notices due together are delivered in batches by a node with workers: each in
its inbox once, its recipient told once, an opted-in clinician mailed once per
notice, as when they are delivered one by one (test_notice_email.py, test_inbox.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

# Importing the app imports aiortc, whose import runs ldconfig: done here, not
# on the event loop inside the first test's fixture (blockbuster refuses it).
import web.app  # noqa: F401
from core.config import Settings
from core.jobs import JobRunner
from scheduling.base import DELIVER_JOB
from tests.scheduling.conftest import Sched, at
from tests.scheduling.test_notice_email import NURSE, ORIGIN, _notice_ids, _opt, _verified
from tests.smtp import Inbox, smtp_server
from web.jobs import register_kinds
from web.state import DATABASE, MAILER, SCHEDULING


@pytest.fixture
async def smtp() -> Any:
    async with smtp_server() as server:
        yield server


@pytest.fixture
def settings(settings: Settings, smtp: Inbox) -> Settings:
    return replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        smtp_from="throughcare@hmp.example",
        public_origins=(ORIGIN,),
    )


class Pushes:
    """The hub's `push_inbox`, remembered."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def push_inbox(self, account_id: str, notice_id: str, kind: str) -> None:
        self.sent.append((account_id, notice_id, kind))


async def test_notices_due_together_are_delivered_told_and_mailed_once_each(
    sched: Sched, client: Any, smtp: Inbox
) -> None:
    await _verified(sched, sched.clinician.account_id)
    await _opt(client, sched, True)
    first = await sched.book(at(4, 10))
    await sched.svc.reschedule(sched.clinician, first.id, at(4, 11))
    await sched.book(at(4, 14))
    pushes = Pushes()
    runner = JobRunner(sched.app[DATABASE], sched.clock, node="batch", workers=8)
    register_kinds(
        runner,
        sched.app[SCHEDULING],
        pushes,  # type: ignore[arg-type]
        db=sched.app[DATABASE],
        mailer=sched.app[MAILER],
        link_base=ORIGIN,
    )
    assert runner.kinds[DELIVER_JOB].batch is not None
    await runner.run_due()
    assert await runner.run_due() == 0, "nothing left, nothing delivered twice"
    clinician = await _notice_ids(sched, sched.clinician.account_id)
    patient = await _notice_ids(sched, sched.patient.account_id)
    assert len(clinician) == len(patient) == 3  # booked, moved, booked
    assert sorted(n for _, n, _ in pushes.sent) == sorted(clinician + patient)
    assert {who for who, _, _ in pushes.sent} == {
        sched.clinician.account_id,
        sched.patient.account_id,
    }
    assert (await sched.svc.inbox(sched.patient))[0] == 3
    assert (await sched.svc.inbox(sched.clinician))[0] == 3
    assert [m["To"] for m in smtp.messages] == [NURSE] * 3
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
        f"<notice.{n}@throughcare.hmp.example>" for n in clinician
    )
