"""Release as one step that modules add to, its hand-over Bundle, and transfer that moves
consults as bookings (issue 14 item 6). Before: release left the account active with its
consents in force, the hand-over was a list of ids, and transfer cancelled every consult."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from core.db.schema import accounts, jobs, sessions, staff_establishments
from core.errors import ServiceError
from scheduling import Status
from scheduling.release_steps import ReleaseContext, TransferContext
from scheduling.tables import appointments, consents, handovers, health_requests, notifications
from tests.scheduling.conftest import Sched, at


def validate(resource: dict[str, Any]) -> Any:
    """Validate with fhir.resources' R4B models, as the FHIR API's tests do."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind).model_validate(resource)


async def _give(sched: Sched, scope: str) -> None:
    await sched.svc.record_consent(
        sched.patient,
        prisoner_id=sched.patient.account_id,
        scope_value=scope,
        version=1,
        decision="given",
    )


async def _count(sched: Sched, table: Any) -> int:
    async with sched.svc._db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def _jobs(sched: Sched, kind: str) -> int:
    async with sched.svc._db.connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(jobs).where(jobs.c.kind == kind))
            or 0
        )


async def test_release_disables_the_account_ends_custody_consents_and_hands_care_over(
    sched: Sched,
) -> None:
    booked = await sched.book(at(4, 10))
    await _give(sched, "telehealth")
    await _give(sched, "community_sharing")
    request = await sched.svc.make_request(
        sched.patient, category="dental", text_value="Tooth ache for a week"
    )
    async with sched.svc._db.begin() as conn:
        await conn.execute(
            insert(sessions).values(
                id="s-device",
                account_id=sched.patient.account_id,
                device_id=sched.patient.device_id,
                created_at=sched.clock.now(),
            )
        )

    done = await sched.svc.release(sched.officer, sched.patient.account_id)
    # With a community-sharing consent the consult goes to the community provider.
    assert (done.closed, [f.fate for f in done.appointments], done.locale) == (
        1,
        ["handed_over"],
        "en",
    )

    async with sched.svc._db.connect() as conn:
        active = await conn.scalar(
            select(accounts.c.active).where(accounts.c.id == sched.patient.account_id)
        )
        revoked = (
            await conn.execute(select(sessions.c.revoked_at, sessions.c.revoked_reason))
        ).one()
        ended = {
            r.scope: (r.withdrawn_at is not None, r.ended_reason)
            for r in await conn.execute(select(consents))
        }
        request_status = await conn.scalar(
            select(health_requests.c.status).where(health_requests.c.id == request.id)
        )
        row = (await conn.execute(select(handovers))).one()
    assert active is False
    assert revoked.revoked_at is not None and revoked.revoked_reason == "released"
    # Telehealth ends with custody; sharing with community services is what release needs.
    assert ended == {"telehealth": (True, "released"), "community_sharing": (False, None)}
    assert request_status == "closed"
    closed = await sched.svc.appointment(sched.manager, booked.id)
    assert (closed.status, closed.outcome_code) == (Status.CANCELLED, "release")

    # The Bundle is sealed: neither the name nor the prison number is readable at rest.
    assert b"A1234BC" not in row.bundle_enc and b"Prisoner" not in row.bundle_enc
    assert (row.status, row.shared) == ("sending", True)
    assert await _jobs(sched, "scheduling.handover_send") == 1

    bundle = await sched.svc.handover_bundle(sched.manager, row.id)
    parsed = validate(bundle)
    assert parsed.type == "collection" and parsed.identifier.value == row.id
    entries = {e["resource"]["resourceType"]: e["resource"] for e in bundle["entry"]}
    for resource in entries.values():
        validate(resource)
    assert set(entries) == {"Patient", "Appointment", "ServiceRequest", "Consent"}
    assert entries["Patient"]["identifier"][0]["value"] == "A1234BC"
    assert entries["Appointment"]["status"] == "proposed"
    assert entries["Appointment"]["serviceType"][0]["coding"][0]["code"] == "gp"
    assert entries["ServiceRequest"]["category"][0]["coding"][0]["code"] == "dental"
    assert entries["Consent"]["category"][0]["coding"][0]["code"] == "community_sharing"
    # The request's own words stay sealed in the prison's record.
    assert "Tooth" not in str(bundle)
    assert [r.action.value for r in sched.audit.records][-2:] == [
        "released",
        "handover_downloaded",
    ]


async def test_without_a_sharing_consent_the_hand_over_is_kept_not_sent(sched: Sched) -> None:
    await sched.book(at(4, 10))
    done = await sched.svc.release(sched.officer, sched.patient.account_id)
    assert [f.fate for f in done.appointments] == ["cancelled"]
    [kept] = await sched.svc.handover_list(sched.manager, sched.world.est)
    assert (kept.status, kept.community_sharing, kept.name) == ("held", False, "Prisoner A1234BC")
    assert await _jobs(sched, "scheduling.handover_send") == 0
    bundle = await sched.svc.handover_bundle(sched.manager, kept.id)
    assert "Consent" not in {e["resource"]["resourceType"] for e in bundle["entry"]}


async def test_releasing_twice_is_refused_and_changes_nothing(sched: Sched) -> None:
    await sched.svc.release(sched.officer, sched.patient.account_id)
    before = (
        await _count(sched, handovers),
        await _count(sched, notifications),
        len(sched.audit.records),
    )
    with pytest.raises(ServiceError) as caught:
        await sched.svc.release(sched.officer, sched.patient.account_id)
    assert caught.value.code.status == 409
    assert caught.value.detail == "This prisoner has already been released."
    after = (
        await _count(sched, handovers),
        await _count(sched, notifications),
        len(sched.audit.records),
    )
    assert after == before


async def test_a_module_adds_a_step_to_release_and_a_failing_step_undoes_all_of_it(
    sched: Sched,
) -> None:
    booked = await sched.book(at(4, 10))
    seen: list[tuple[str, bool]] = []

    async def pay_out(ctx: ReleaseContext) -> None:
        # Runs after the built-in steps, in their transaction: the account is already off.
        active = await ctx.conn.scalar(
            select(accounts.c.active).where(accounts.c.id == ctx.prisoner_id)
        )
        seen.append((ctx.prisoner_id, bool(active)))
        ctx.summary["paid_out_pence"] = 1250

    sched.svc.release_steps.register("kiosk_payout", pay_out)
    assert sched.svc.release_steps.names[-1] == "kiosk_payout"
    with pytest.raises(ValueError):
        sched.svc.release_steps.register("kiosk_payout", pay_out)

    async def broken(ctx: ReleaseContext) -> None:
        raise RuntimeError("the ledger is unavailable")

    sched.svc.release_steps.register("campus_claim", broken)
    with pytest.raises(RuntimeError):
        await sched.svc.release(sched.officer, sched.patient.account_id)
    # Nothing of the release stands: the account, the consult, the hand-over.
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.BOOKED
    assert await _count(sched, handovers) == 0
    async with sched.svc._db.connect() as conn:
        assert await conn.scalar(
            select(accounts.c.active).where(accounts.c.id == sched.patient.account_id)
        )
    sched.svc.release_steps._steps.pop("campus_claim")
    await sched.svc.release(sched.officer, sched.patient.account_id)
    assert seen[-1] == (sched.patient.account_id, False)
    released = [r for r in sched.audit.records if r.action.value == "released"][-1]
    assert released.details["paid_out_pence"] == 1250
    assert released.details["steps"][-1] == "kiosk_payout"


async def test_a_module_adds_a_step_to_transfer_and_a_failing_step_undoes_all_of_it(
    sched: Sched,
) -> None:
    seen: list[tuple[str, str, str | None]] = []

    async def move_balance(ctx: TransferContext) -> None:
        # Runs in the transfer's transaction, after the account has moved.
        where = await ctx.conn.scalar(
            select(accounts.c.establishment_id).where(accounts.c.id == ctx.prisoner_id)
        )
        seen.append((ctx.from_establishment_id, ctx.to_establishment_id, where))
        ctx.summary["moved_pence"] = 700

    async def broken(ctx: TransferContext) -> None:
        raise RuntimeError("the visits book is unavailable")

    sched.svc.transfer_steps.register("kiosk_move", move_balance)
    assert sched.svc.transfer_steps.names[-1] == "kiosk_move"
    with pytest.raises(ValueError):
        sched.svc.transfer_steps.register("kiosk_move", move_balance)
    sched.svc.transfer_steps.register("visits_move", broken)
    with pytest.raises(RuntimeError):
        await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.other_est)
    async with sched.svc._db.connect() as conn:
        assert (
            await conn.scalar(
                select(accounts.c.establishment_id).where(accounts.c.id == sched.patient.account_id)
            )
            == sched.world.est
        )
    assert "transferred" not in sched.audit_actions
    sched.svc.transfer_steps._steps.pop("visits_move")
    await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.other_est)
    assert seen[-1] == (sched.world.est, sched.world.other_est, sched.world.other_est)
    moved = [r for r in sched.audit.records if r.action.value == "transferred"][-1]
    assert moved.details["moved_pence"] == 700
    assert moved.details["steps"][-1] == "kiosk_move"


async def _gp_at_other(sched: Sched) -> Any:
    gp = await sched.svc.create_service(
        sched.admin, sched.world.other_est, code="gp", name="GP", minutes=20, buffer_minutes=5
    )
    return gp


async def _serve_other(sched: Sched, account_id: str) -> None:
    async with sched.svc._db.begin() as conn:
        await conn.execute(
            insert(staff_establishments).values(
                account_id=account_id,
                establishment_id=sched.world.other_est,
                created_at=sched.clock.now(),
            )
        )


async def _available(sched: Sched, clinician_id: str, service_id: str, end: str = "17:00") -> None:
    for day in range(5):
        await sched.svc.add_availability(
            sched.admin,
            clinician_id=clinician_id,
            service_id=service_id,
            weekday_value=day,
            start="09:00",
            end=end,
        )


async def _kinds_for(sched: Sched, who: str) -> list[str]:
    async with sched.svc._db.connect() as conn:
        rows = await conn.execute(
            select(notifications.c.kind)
            .where(notifications.c.recipient_id == who)
            .order_by(notifications.c.created_at, notifications.c.kind)
        )
        return [r.kind for r in rows]


async def test_a_consult_moves_with_the_prisoner_when_its_clinician_serves_both(
    sched: Sched,
) -> None:
    gp_there = await _gp_at_other(sched)
    await _serve_other(sched, sched.clinician.account_id)
    # There, the clinician works mornings only.
    await _available(sched, sched.clinician.account_id, gp_there.id, end="12:00")
    kept = await sched.book(at(4, 10))
    late = await sched.book(at(5, 14))

    done = await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.other_est)

    assert (done.moved, done.requested) == (1, 1)
    assert [(f.appointment_id, f.fate) for f in done.appointments] == [
        (kept.id, "moved"),
        (late.id, "reoffered"),
    ]
    async with sched.svc._db.connect() as conn:
        moved = (await conn.execute(select(appointments).where(appointments.c.id == kept.id))).one()
        requests = list(
            await conn.execute(
                select(health_requests.c.establishment_id, health_requests.c.status).where(
                    health_requests.c.prisoner_id == sched.patient.account_id
                )
            )
        )
    assert (moved.status, moved.establishment_id, moved.service_id, moved.clinician_id) == (
        "booked",
        sched.world.other_est,
        gp_there.id,
        sched.clinician.account_id,
    )
    assert (await sched.svc.appointment(sched.admin, late.id)).status == Status.CANCELLED
    assert [(r.establishment_id, r.status) for r in requests] == [
        (sched.world.other_est, "received")
    ]
    told = await _kinds_for(sched, sched.patient.account_id)
    assert "transfer_moved" in told and "cancelled" in told and "transferred" in told


async def test_another_clinician_there_takes_the_slot_when_the_own_one_cannot(
    sched: Sched,
) -> None:
    gp_there = await _gp_at_other(sched)
    identity = importlib.import_module("web.state").IDENTITY
    other_clinician, _ = await sched.app[identity].create_staff(
        role=sched.clinician.role,
        establishment_id=sched.world.other_est,
        username="clinician.two",
        display_name="Clinician Two",
        password="correct horse battery",
    )
    await _available(sched, other_clinician, gp_there.id)
    booked = await sched.book(at(4, 10))

    done = await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.other_est)

    assert (done.moved, done.requested) == (1, 0)
    moved = await sched.svc.appointment(sched.admin, booked.id)
    assert (moved.status, moved.clinician_id) == (Status.BOOKED, other_clinician)
    assert "booked" in await _kinds_for(sched, other_clinician)
    assert "patient_transferred" in await _kinds_for(sched, sched.clinician.account_id)


async def test_a_transfer_to_the_same_establishment_is_refused_and_changes_nothing(
    sched: Sched,
) -> None:
    booked = await sched.book(at(4, 10))
    before = await _count(sched, notifications)
    with pytest.raises(ServiceError) as caught:
        await sched.svc.transfer(sched.officer, sched.patient.account_id, sched.world.est)
    assert (caught.value.code.status, caught.value.detail) == (
        400,
        "The prisoner is already there.",
    )
    assert (await sched.svc.appointment(sched.manager, booked.id)).status == Status.BOOKED
    assert await _count(sched, notifications) == before
