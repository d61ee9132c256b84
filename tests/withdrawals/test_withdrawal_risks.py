"""Facts read for a decision, and the risk checks inside the process (shared contract, registered
home, repeated withdrawals, shared payee card), on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import insert, select

from factories import employer_payload, make_resident_id, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.tables import member
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.protection.protect import seal
from hpf.withdrawals import service
from hpf.withdrawals.rules import Claim, Reason, policy_on
from hpf.withdrawals.service import Identifiers, PropertyNotice, continuous_deposit_months
from hpf.withdrawals.tables import property_record, withdrawal

TODAY = date(2025, 6, 16)
CARD, OTHER_CARD = "6222020200112233445", "6222020200199887766"


@pytest.fixture
def people(engine):
    ctx = Context("tester", FixedClock(TODAY), "990001", source="test")
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        found = [accounts.open_member(conn, ctx, emp.account_no, member_payload(n)) for n in (1, 2, 3)]
    return ctx, found


def _bidx(engine, member_id):
    with read_transaction(engine) as conn:
        return conn.scalar(select(member.c.resident_id_bidx).where(member.c.id == member_id))


def _ids(engine, who, *, family=(), document=None, card=CARD):
    return Identifiers.of(_bidx(engine, who.id), family, document, card)


def _paid(engine, who, reason, ids, amount=100_000, day=date(2025, 3, 1)):
    with write_transaction(engine) as conn:
        conn.execute(
            insert(withdrawal).values(
                member_id=who.id, reason=reason.value, allowed_fen=amount, closes_account="0",
                document_no_enc=seal("withdrawal", "document_no", "X") if ids.document_bidx else None,
                document_no_bidx=ids.document_bidx, payee_name="某某",
                payee_card_enc=seal("withdrawal", "payee_card", CARD), payee_card_bidx=ids.payee_card_bidx,
                family_bidx=list(ids.family_bidx), evidence={}, state="paid", applied_on=day,
                recorded_at=datetime(2025, 3, 1, tzinfo=UTC),
            )
        )  # fmt: skip


def _risks(engine, who, claim, ids):
    with read_transaction(engine) as conn:
        facts = service.member_facts(conn, who.id, TODAY, claim.reason)
        return [r.code for r in service.risk_checks(conn, claim, facts, ids, policy_on(TODAY), TODAY)]


def test_continuous_deposit_months():
    """连续缴存月数 on a day = the run ending at the month before that day's month (decision 0019);
    the current month counts when already deposited, and is not missing when not."""
    assert continuous_deposit_months([], date(2025, 6, 10)) == 0
    run = ["2025-05", "2025-04", "2025-03", "2024-12"]
    # On 10 June 2025: May, April, March in a row (February missing) → 3.
    assert continuous_deposit_months(run, date(2025, 6, 10)) == 3
    # On 10 May 2025 the May list is already in: May, April, March → still 3.
    assert continuous_deposit_months(run, date(2025, 5, 10)) == 3
    assert continuous_deposit_months(["2024-12", "2025-01", "2025-01"], date(2025, 2, 3)) == 2


def test_a_run_that_stopped_long_ago_is_not_continuous():
    """Paid 2023-01 … 2024-06 (18 months in a row), then the employer stopped. Before: 18
    (the run ending at the latest month deposited). On 15 March 2025 the month before is
    2025-02, never deposited → 0. Up to July 2024 it still counted: on 20 July 2024 the run
    ending at 2024-06 is 18 months."""
    months = [f"{y}-{m:02d}" for y in (2023, 2024) for m in range(1, 13) if (y, m) <= (2024, 6)]
    assert len(months) == 18
    assert continuous_deposit_months(months, date(2025, 3, 15)) == 0
    assert continuous_deposit_months(months, date(2024, 7, 20)) == 18
    assert continuous_deposit_months(months, date(2024, 8, 1)) == 0  # July not deposited


def test_nothing_risky_for_a_first_claim(engine, people):
    _, (a, _, _) = people
    claim = Claim(Reason.PURCHASE, document_date=date(2025, 5, 1), cost_fen=100)
    assert _risks(engine, a, claim, _ids(engine, a, document="HT-2025-001")) == []


def test_the_same_contract_by_a_stranger_is_flagged_but_not_by_family(engine, people):
    _, (a, b, c) = people
    _paid(engine, b, Reason.PURCHASE, _ids(engine, b, document="HT-2025-001", card=OTHER_CARD))
    claim = Claim(Reason.PURCHASE, document_date=date(2025, 5, 1), cost_fen=100)
    assert _risks(engine, a, claim, _ids(engine, a, document="ht-2025-001")) == ["risk.shared_document"]
    family = _ids(engine, a, document="HT-2025-001", family=[b.resident_id])
    assert _risks(engine, a, claim, family) == []
    with read_transaction(engine) as conn:
        assert service.family_withdrawn_fen(conn, family) == 100_000
        assert service.family_withdrawn_fen(conn, _ids(engine, c, document="HT-2025-001")) == 0


def test_a_shared_payee_card_is_flagged(engine, people):
    _, (a, b, _) = people
    _paid(engine, b, Reason.ILLNESS, _ids(engine, b))
    claim = Claim(Reason.ILLNESS, cost_fen=100)
    assert _risks(engine, a, claim, _ids(engine, a)) == ["risk.shared_payee_card"]
    assert _risks(engine, a, claim, _ids(engine, a, card=OTHER_CARD)) == []


def test_rent_with_a_registered_home_is_flagged_and_the_feed_is_idempotent(engine, people):
    ctx, (a, _, _) = people
    notice = PropertyNotice(a.resident_id, "鲁(2024)济南市不动产权第0012345号", date(2024, 5, 1), "held")
    with write_transaction(engine) as conn:
        assert service.ingest_registry(conn, ctx, [notice, notice], source="fake-registry") == 2
        rows = conn.execute(select(property_record)).mappings().all()
    assert len(rows) == 1 and rows[0]["status"] == "held"
    claim = Claim(Reason.RENT, rent_monthly_fen=100_000)
    assert _risks(engine, a, claim, _ids(engine, a)) == ["risk.registered_home"]
    with write_transaction(engine) as conn:
        service.ingest_registry(conn, ctx, [replace(notice, status="sold")], source="fake-registry")
    assert _risks(engine, a, claim, _ids(engine, a)) == []


def test_repeated_housing_withdrawals_are_flagged(engine, people):
    _, (a, _, _) = people
    for month in (1, 2, 3, 4):
        _paid(engine, a, Reason.RENT, _ids(engine, a), day=date(2025, month, 1))
    claim = Claim(Reason.LOAN_REPAYMENT, cost_fen=100)
    assert _risks(engine, a, claim, _ids(engine, a)) == ["risk.repeated_withdrawals"]


def test_facts_read_balances_state_and_past_withdrawals(engine, people):
    _, (a, _, _) = people
    _paid(engine, a, Reason.RENT, _ids(engine, a), day=date(2025, 2, 1))
    with read_transaction(engine) as conn:
        facts = service.member_facts(conn, a.id, TODAY, Reason.RETIREMENT)
    assert (facts.state, facts.gender, facts.balance_fen) == ("01", a.gender, 0)
    assert [(p.day, p.reason) for p in facts.past] == [(date(2025, 2, 1), Reason.RENT)]
    assert make_resident_id(1) == a.resident_id
