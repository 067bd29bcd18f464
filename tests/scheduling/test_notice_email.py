"""Staff who opt in get an email for each new notice, through a real SMTP server
(aiosmtpd): "You have a new message in Throughcare" and a link, never the notice.
Before this, notices reached only the inbox; nobody away from the desk knew."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import insert, select

# Importing the app imports aiortc, whose import runs ldconfig: done here, not
# on the event loop inside the first test's fixture (blockbuster refuses it).
import web.app  # noqa: F401
from core.clock import FakeClock
from core.config import Settings
from core.db.schema import jobs, staff_emails
from core.jobs import JobRunner, JobStatus
from core.mail import SmtpMailer
from scheduling.tables import notifications
from tests.scheduling.conftest import Sched, at
from tests.smtp import Inbox, smtp_server
from tests.world import bearer, sign_in_staff
from web.jobs import EMAIL_BACKOFF, register_kinds
from web.state import DATABASE, JOBS, MAILER, SCHEDULING

NURSE = "nurse.one@nhs.example"
ORIGIN = "https://throughcare.hmp.example"


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


async def _verified(sched: Sched, account_id: str, email: str = NURSE) -> None:
    async with sched.app[DATABASE].begin() as conn:
        await conn.execute(
            insert(staff_emails).values(
                account_id=account_id, email=email, verified_at=sched.clock.now()
            )
        )


async def _opt(
    client: Any, sched: Sched, opted_in: bool, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    if headers is None:
        headers = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    resp = await client.put("/api/me/notice-email", json={"opted_in": opted_in}, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def _notice_ids(sched: Sched, account_id: str) -> list[str]:
    async with sched.app[DATABASE].connect() as conn:
        rows = await conn.execute(
            select(notifications.c.id)
            .where(notifications.c.recipient_id == account_id)
            .order_by(notifications.c.created_at, notifications.c.id)
        )
        return [str(r) for r in rows.scalars()]


def _text(message: Any) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    return f"{message['Subject']}\n{body.decode()}"


async def test_an_opted_in_clinician_gets_one_mail_per_notice_with_no_health_in_it(
    sched: Sched, client: Any, smtp: Inbox
) -> None:
    await _verified(sched, sched.clinician.account_id)
    assert await _opt(client, sched, True) == {"email": NURSE, "opted_in": True}
    booked = await sched.book(at(4, 10))
    await sched.svc.reschedule(sched.clinician, booked.id, at(4, 11))
    await sched.app[JOBS].run_due()
    await sched.app[JOBS].run_due()  # again: nothing more is sent
    notices = await _notice_ids(sched, sched.clinician.account_id)
    assert len(notices) == 2  # booked, then moved
    assert [m["To"] for m in smtp.messages] == [NURSE, NURSE]
    assert sorted(m["Message-ID"] for m in smtp.messages) == sorted(
        f"<notice.{n}@throughcare.hmp.example>" for n in notices
    )
    for message in smtp.messages:
        text = _text(message)
        assert message["Subject"] == "You have a new message in Throughcare"
        assert f"{ORIGIN}/" in text
        assert "Mae gennych neges newydd yn Throughcare" in text
        # Nothing of the notice: no service, no kind, no time, no person.
        for word in ("GP", "appointment", "booked", "moved", "health", "10:00", "11:00"):
            assert word.lower() not in text.lower(), word
        assert "Prisoner" not in text
    # The prisoner, who has no address, gets their notices in the inbox only.
    assert (await sched.svc.inbox(sched.patient))[0] == 2


async def test_opted_out_staff_and_those_without_an_address_get_no_mail(
    sched: Sched, client: Any, smtp: Inbox
) -> None:
    headers = bearer(await sign_in_staff(client, sched.world.staff["clinician"]))
    resp = await client.put("/api/me/notice-email", json={"opted_in": True}, headers=headers)
    assert resp.status == 409  # no verified address yet: refused, nothing changed
    assert (await resp.json())["detail"] == (
        "Add and confirm an email address before choosing email."
    )
    resp = await client.put("/api/me/notice-email", json={"opted_in": "yes"}, headers=headers)
    assert resp.status == 400
    await _verified(sched, sched.clinician.account_id)
    resp = await client.get("/api/me/notice-email", headers=headers)
    assert await resp.json() == {"email": NURSE, "opted_in": False}
    await _opt(client, sched, True, headers)
    assert await _opt(client, sched, False, headers) == {"email": NURSE, "opted_in": False}
    await sched.book(at(4, 10))
    await sched.app[JOBS].run_due()
    assert smtp.messages == []
    assert (await sched.svc.inbox(sched.clinician))[0] == 1
    # A prisoner has no email setting at all.
    from tests.world import sign_in_prisoner

    prisoner = bearer(await sign_in_prisoner(client, sched.world.prisoners[0]))
    assert (await client.get("/api/me/notice-email", headers=prisoner)).status == 400


async def test_a_refusing_server_is_retried_with_back_off_and_the_mail_sent_once(
    sched: Sched, client: Any, smtp: Inbox, clock: FakeClock
) -> None:
    await _verified(sched, sched.clinician.account_id)
    await _opt(client, sched, True)
    smtp.refuse = True
    await sched.book(at(12, 10))  # no reminder falls due meanwhile
    await sched.app[JOBS].run_due()
    # The notice is in the inbox whatever the mail server says.
    assert (await sched.svc.inbox(sched.clinician))[0] == 1
    [email_job] = await sched.app[JOBS].jobs(kind="notifications.email")
    assert (email_job.status, email_job.attempts) == (JobStatus.PENDING, 1)
    assert email_job.last_error == "MailRefused"
    assert smtp.messages == []
    smtp.refuse = False
    await sched.app[JOBS].run_due()
    assert smtp.messages == []  # not before its back-off
    clock.advance(EMAIL_BACKOFF.delay(1).total_seconds() + 1)
    await sched.app[JOBS].run_due()
    await sched.app[JOBS].run_due()
    [notice] = await _notice_ids(sched, sched.clinician.account_id)
    [message] = smtp.messages
    assert message["Message-ID"] == f"<notice.{notice}@throughcare.hmp.example>"
    [email_job] = await sched.app[JOBS].jobs(kind="notifications.email")
    assert (email_job.status, email_job.attempts) == (JobStatus.DONE, 2)


async def test_an_address_that_always_refuses_ends_as_a_failed_job_an_admin_sees(
    sched: Sched, client: Any, smtp: Inbox, clock: FakeClock
) -> None:
    await _verified(sched, sched.clinician.account_id)
    await _opt(client, sched, True)
    smtp.refuse = True
    await sched.book(at(12, 10))  # no reminder falls due meanwhile
    for _ in range(12):
        await sched.app[JOBS].run_due()
        clock.advance(hours=1, seconds=1)
    [email_job] = await sched.app[JOBS].jobs(kind="notifications.email")
    assert (email_job.status, email_job.last_error) == (JobStatus.FAILED, "MailRefused")
    admin = bearer(await sign_in_staff(client, sched.world.staff["admin"]))
    resp = await client.get("/api/admin/jobs", params={"status": "failed"}, headers=admin)
    assert resp.status == 200, await resp.text()
    found = (await resp.json())["jobs"]
    assert [(j["kind"], j["last_error"], j["attempts"]) for j in found] == [
        ("notifications.email", "MailRefused", 10)
    ]
    assert smtp.messages == []


async def test_a_node_that_dies_mid_delivery_leaves_the_mail_to_another(
    sched: Sched, client: Any, smtp: Inbox, clock: FakeClock
) -> None:
    """The email is a row, not a task in a process: a node killed while talking
    to the mail server leaves its job to the next node, which sends it once."""
    await _verified(sched, sched.clinician.account_id)
    await _opt(client, sched, True)
    await sched.book(at(12, 10))  # no reminder falls due meanwhile
    app = sched.app
    # Node A puts the notices in their inboxes and starts on the email ...
    hold = smtp.hold = asyncio.Event()
    node_a = asyncio.create_task(app[JOBS].run_due())
    await asyncio.wait_for(smtp.held.wait(), 10)
    # ... and dies there: its task gone, its lease held until it lapses.
    node_a.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await node_a
    smtp.hold = None
    hold.set()  # the server answers a sender that is no longer there
    assert smtp.messages == []
    node_b = JobRunner(app[DATABASE], clock, node="node-b", workers=1)
    register_kinds(
        node_b, app[SCHEDULING], None, db=app[DATABASE], mailer=app[MAILER], link_base=ORIGIN
    )
    await node_b.run_due()
    assert smtp.messages == []  # A's lease still holds the email
    clock.advance(minutes=10)
    await node_b.run_due()
    [notice] = await _notice_ids(sched, sched.clinician.account_id)
    [message] = smtp.messages
    assert message["Message-ID"] == f"<notice.{notice}@throughcare.hmp.example>"
    async with app[DATABASE].connect() as conn:
        status = await conn.scalar(
            select(jobs.c.status).where(jobs.c.kind == "notifications.email")
        )
    assert status == "done"


async def test_a_silent_server_times_out_and_is_retried(
    sched: Sched, client: Any, clock: FakeClock, smtp: Inbox
) -> None:
    """A server that takes the connection and never answers fails the attempt in its
    timeout; the job waits for its retry and nothing else waits for it."""
    await _verified(sched, sched.clinician.account_id)
    await _opt(client, sched, True)
    await sched.book(at(12, 10))

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never a greeting
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = sched.app
    node = JobRunner(app[DATABASE], clock, node="node-quiet", workers=1)
    quiet = SmtpMailer(
        host="127.0.0.1",
        port=port,
        tls="none",
        user=None,
        password=None,
        sender="throughcare@hmp.example",
        timeout_s=0.5,
    )
    register_kinds(node, app[SCHEDULING], None, db=app[DATABASE], mailer=quiet, link_base=ORIGIN)
    try:
        await node.run_due()
    finally:
        server.close()
    [email_job] = await node.jobs(kind="notifications.email")
    assert (email_job.status, email_job.last_error) == (JobStatus.PENDING, "MailUnreachable")
    # The server answers again: the retry, after its back-off, sends it.
    clock.advance(EMAIL_BACKOFF.delay(1).total_seconds() + 1)
    await app[JOBS].run_due()
    [message] = smtp.messages
    [notice] = await _notice_ids(sched, sched.clinician.account_id)
    assert message["Message-ID"] == f"<notice.{notice}@throughcare.hmp.example>"
