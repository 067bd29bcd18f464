"""The money ledger: credits from a finance file, balances derived, entries never edited,
corrections by reversal, and who may see or post what. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.errors import ServiceError
from kiosk.money import Posting
from kiosk.money_csv import EntryKind, MoneyAccount, pence, read_credits
from kiosk.money_tables import money_entries
from tests.kiosk.money_world import MoneyWorld, credits_csv
from web.state import DATABASE

A, B, C = "A1234BC", "B2345CD", "C3456DE"


async def balances(mw: MoneyWorld) -> dict[MoneyAccount, int]:
    return (await mw.money.statement(mw.prisoner, mw.prisoner.account_id)).balances


async def entry_count(mw: MoneyWorld) -> int:
    async with mw.app[DATABASE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(money_entries)) or 0)


def test_amounts_are_read_as_whole_pence_never_floats() -> None:
    assert pence("12.50") == 1250
    assert pence("£0.10") == 10
    assert pence("7") == 700
    for bad in ("12.5", "1.234", "-3.00", "1e3", "12,50", "", "0.1"):
        assert pence(bad) is None, bad


def test_every_bad_line_of_a_file_is_named() -> None:
    lines, problems = read_credits(
        credits_csv(
            f"{A},spends,12.50,wages,Week 12",
            f"{A},spends,-1.00,wages,negative",
            f"{A},savings,1.00,wages,no such account",
            f"{A},spends,1.00,order,not a credit",
            f"{A},spends,1.00,wages,<script>alert(1)</script>",
            f"{A},spends,1.00,wages," + "x" * 81,
            "nonsense,spends,1.00,wages,x",
            f"{A},spends,1.00",
            f"{A},spends,1000.01,wages,too much",
        )
    )
    assert [line.line for line in lines] == [2]
    assert [(p.line, p.problem.value) for p in problems] == [
        (3, "amount"),
        (4, "account"),
        (5, "kind"),
        (6, "reference"),
        (7, "reference"),
        (8, "prison_number"),
        (9, "columns"),
        (10, "too_much"),
    ]


def test_a_file_without_the_header_is_refused_at_line_one() -> None:
    _, problems = read_credits(f"{A},spends,1.00,wages,x\n")
    assert [(p.line, p.problem.value) for p in problems] == [(1, "header")]


async def test_finance_posts_a_file_and_the_balance_is_the_sum_of_entries(mw: MoneyWorld) -> None:
    text = credits_csv(
        f"{A},spends,12.50,wages,Week 12",
        f"{A},private,20.00,sent_in,Postal order",
        f"{B},spends,3.00,refund,",
    )
    preview = await mw.money.preview_credits(mw.finance, mw.world.est, text)
    assert preview.problems == [] and preview.total_pence == 3550 and preview.posted_at is None
    assert await entry_count(mw) == 0, "a preview posts nothing"
    batch = await mw.money.post_credits(mw.finance, mw.world.est, text)
    assert (batch.lines, batch.total_pence) == (3, 3550)
    assert await balances(mw) == {MoneyAccount.SPENDS: 1250, MoneyAccount.PRIVATE: 2000}
    statement = await mw.money.statement(mw.prisoner, mw.prisoner.account_id)
    assert [(e.kind, e.amount_pence, e.reference) for e in statement.entries] == [
        (EntryKind.SENT_IN, 2000, "Postal order"),
        (EntryKind.WAGES, 1250, "Week 12"),
    ]
    assert mw.actions.count("ledger_entry") == 3
    assert "money_batch_posted" in mw.actions


async def test_a_file_with_one_bad_line_posts_nothing(mw: MoneyWorld) -> None:
    text = credits_csv(f"{A},spends,12.50,wages,Week 12", f"{C},spends,1.00,wages,elsewhere")
    with pytest.raises(ServiceError) as refused:
        await mw.money.post_credits(mw.finance, mw.world.est, text)
    assert refused.value.code.slug == "invalid_request"
    # C3456DE is a prisoner of the other establishment: "unknown" here, not "elsewhere".
    assert refused.value.extra["problems"] == [{"line": 3, "problem": "unknown_prisoner"}]
    assert await entry_count(mw) == 0
    assert "ledger_entry" not in mw.actions


async def test_the_same_file_posted_twice_is_posted_once(mw: MoneyWorld) -> None:
    text = credits_csv(f"{A},spends,12.50,wages,Week 12")
    await mw.money.post_credits(mw.finance, mw.world.est, text)
    again = text.replace("\n", "\r\n")  # saved again on another machine: the same file
    preview = await mw.money.preview_credits(mw.finance, mw.world.est, again)
    assert preview.posted_at is not None
    with pytest.raises(ServiceError) as refused:
        await mw.money.post_credits(mw.finance, mw.world.est, again)
    assert refused.value.extra["reason"] == "already_posted"
    assert (await balances(mw))[MoneyAccount.SPENDS] == 1250


async def test_the_same_file_posted_twice_at_once_is_posted_once(mw: MoneyWorld) -> None:
    text = credits_csv(f"{A},spends,12.50,wages,Week 12")
    outcomes = await asyncio.gather(
        *(mw.money.post_credits(mw.finance, mw.world.est, text) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(1 for o in outcomes if not isinstance(o, BaseException)) == 1
    assert all(
        isinstance(o, ServiceError) and o.extra["reason"] == "already_posted"
        for o in outcomes
        if isinstance(o, BaseException)
    )
    assert (await balances(mw))[MoneyAccount.SPENDS] == 1250


async def test_only_finance_staff_of_the_establishment_post_credits(mw: MoneyWorld) -> None:
    text = credits_csv(f"{A},spends,12.50,wages,Week 12")
    for who, reason in ((mw.shop, "not_finance"), (mw.officer, None), (mw.prisoner, None)):
        with pytest.raises(ServiceError) as refused:
            await mw.money.post_credits(who, mw.world.est, text)
        assert refused.value.code.slug == "forbidden"
        assert refused.value.extra.get("reason") == reason
    with pytest.raises(ServiceError) as elsewhere:
        await mw.money.post_credits(mw.finance, mw.world.other_est, text)
    assert elsewhere.value.code.slug == "not_found"
    assert await entry_count(mw) == 0


async def test_a_prisoner_reads_only_their_own_money(mw: MoneyWorld) -> None:
    await mw.money.statement(mw.prisoner, mw.prisoner.account_id)
    with pytest.raises(ServiceError) as refused:
        await mw.money.statement(mw.prisoner, mw.prisoner2.account_id)
    assert refused.value.code.slug == "not_found"
    assert "money_viewed" not in mw.actions, "reading one's own money is not a staff reading"


async def test_staff_reading_a_prisoners_money_is_logged(mw: MoneyWorld) -> None:
    found = await mw.money.find(mw.finance, A)
    assert found.prisoner_id == mw.prisoner.account_id
    viewed = [r for r in mw.audit.records if r.action.value == "money_viewed"]
    assert [(r.actor, r.subject) for r in viewed] == [
        (mw.finance.account_id, mw.prisoner.account_id)
    ]
    with pytest.raises(ServiceError):
        await mw.money.find(mw.shop, A)
    with pytest.raises(ServiceError) as elsewhere:
        await mw.money.find(mw.finance, C)
    assert elsewhere.value.code.slug == "not_found"
    assert len([r for r in mw.audit.records if r.action.value == "money_viewed"]) == 1


async def test_a_mistake_is_reversed_by_a_new_entry_once(mw: MoneyWorld) -> None:
    await mw.money.post_credits(mw.finance, mw.world.est, credits_csv(f"{A},spends,50.00,wages,x"))
    wrong = (await mw.money.statement(mw.prisoner, mw.prisoner.account_id)).entries[0]
    await mw.money.reverse(mw.finance, mw.prisoner.account_id, wrong.id)
    statement = await mw.money.statement(mw.prisoner, mw.prisoner.account_id)
    assert statement.balances[MoneyAccount.SPENDS] == 0
    assert [(e.kind, e.amount_pence, e.reversed) for e in statement.entries] == [
        (EntryKind.REVERSAL, -5000, False),
        (EntryKind.WAGES, 5000, True),
    ]
    with pytest.raises(ServiceError) as twice:
        await mw.money.reverse(mw.finance, mw.prisoner.account_id, wrong.id)
    assert twice.value.code.slug == "conflict"
    assert len(statement.entries) == len(
        (await mw.money.statement(mw.prisoner, mw.prisoner.account_id)).entries
    )


async def test_a_transfer_moves_money_and_never_overdraws(mw: MoneyWorld) -> None:
    await mw.money.post_credits(
        mw.finance, mw.world.est, credits_csv(f"{A},private,10.00,sent_in,x")
    )
    await mw.money.transfer(
        mw.finance,
        mw.prisoner.account_id,
        source=MoneyAccount.PRIVATE,
        target=MoneyAccount.SPENDS,
        amount_pence=600,
    )
    assert await balances(mw) == {MoneyAccount.SPENDS: 600, MoneyAccount.PRIVATE: 400}
    with pytest.raises(ServiceError) as refused:
        await mw.money.transfer(
            mw.finance,
            mw.prisoner.account_id,
            source=MoneyAccount.PRIVATE,
            target=MoneyAccount.SPENDS,
            amount_pence=401,
        )
    assert refused.value.extra["reason"] == "not_enough_money"
    assert await balances(mw) == {MoneyAccount.SPENDS: 600, MoneyAccount.PRIVATE: 400}


async def test_debits_at_once_never_take_the_balance_below_zero(mw: MoneyWorld) -> None:
    await mw.money.post_credits(mw.finance, mw.world.est, credits_csv(f"{A},spends,10.00,wages,x"))

    async def spend() -> str:
        try:
            await mw.money.post(
                mw.prisoner,
                mw.prisoner.account_id,
                [Posting(MoneyAccount.SPENDS, EntryKind.ORDER, -300)],
            )
        except ServiceError as error:
            return str(error.extra.get("reason"))
        return "spent"

    outcomes = await asyncio.gather(*(spend() for _ in range(12)))
    assert outcomes.count("spent") == 3
    assert set(outcomes) == {"spent", "not_enough_money"}
    assert (await balances(mw))[MoneyAccount.SPENDS] == 100
    numbers = [e.n for e in (await mw.money.statement(mw.prisoner, mw.prisoner.account_id)).entries]
    assert numbers == [4, 3, 2, 1], "each entry the next number in the prisoner's ledger"


async def test_the_store_refuses_to_edit_or_delete_an_entry(mw: MoneyWorld) -> None:
    await mw.money.post_credits(mw.finance, mw.world.est, credits_csv(f"{A},spends,10.00,wages,x"))
    db = mw.app[DATABASE]
    for statement in (
        update(money_entries).values(amount_pence=99999),
        delete(money_entries),
    ):
        with pytest.raises((DBAPIError, IntegrityError)):
            async with db.begin() as conn:
                await conn.execute(statement)
    assert (await balances(mw))[MoneyAccount.SPENDS] == 1000
