"""The decision on a loan application from stored facts: the calculation sheet with each limit
binding in turn (golden), and every refusal with its message."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from loanapp_support import application_of, build_center, payload

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import InvalidInput
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import JournalEntry, Line
from hpf.loans.application import handler as la
from hpf.loans.application.rules import LimitKind, first_installment
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import Method

A_BALANCE = 14 * 192_000  # 14 months of 8,000 yuan × (12% + 12%)
COMMON = [
    ("借款人年龄", "35岁"),
    ("账户余额合计（含共同借款人）", "26,880.00元"),
    ("月缴存基数合计（含共同借款人）", "8,000.00元"),
    ("连续缴存月数", "14个月"),
]


def _sheet(decision: la.LoanDecision) -> list[tuple[str, str]]:
    return [(s.label_zh, s.value) for s in decision.sheet]


GOLDEN = {
    # house price 300,000: 80% of it is the least
    "ltv": ("a", {"house_price_fen": 30_000_000}, LimitKind.LTV, [
        ("房屋价值（房价与评估价孰低）", "300,000.00元"), *COMMON, ("贷款年利率", "2.85%"),
        ("按最高贷款比例", "240,000.00元（起决定作用）"), ("按最高贷款额度", "1,200,000.00元"),
        ("按账户余额倍数", "403,200.00元"), ("按还款能力", "967,218.85元"), ("可贷期限", "360个月"),
        ("可贷最高额度", "240,000.00元"), ("申请金额", "未填（按可贷最高额度）"), ("核定贷款金额", "240,000.00元"),
        ("首期月供", "992.54元（等额本息）"), ("首期还款日", "2025-04-30"),
    ]),
    # a 1,000,000 home: 15 × the balance is the least
    "balance": ("a", {}, LimitKind.BALANCE_MULTIPLE, [
        ("房屋价值（房价与评估价孰低）", "1,000,000.00元"), *COMMON, ("贷款年利率", "2.85%"),
        ("按最高贷款比例", "800,000.00元"), ("按最高贷款额度", "1,200,000.00元"),
        ("按账户余额倍数", "403,200.00元（起决定作用）"), ("按还款能力", "967,218.85元"), ("可贷期限", "360个月"),
        ("可贷最高额度", "403,200.00元"), ("申请金额", "未填（按可贷最高额度）"), ("核定贷款金额", "403,200.00元"),
        ("首期月供", "1,667.46元（等额本息）"), ("首期还款日", "2025-04-30"),
    ]),
    # five years: the first installment may be at most half the base (4,000 yuan)
    "capacity": ("a", {"term_months": 60, "requested_fen": 20_000_000}, LimitKind.REPAYMENT_CAPACITY, [
        ("房屋价值（房价与评估价孰低）", "1,000,000.00元"), *COMMON, ("贷款年利率", "2.35%"),
        ("按最高贷款比例", "800,000.00元"), ("按最高贷款额度", "1,200,000.00元"),
        ("按账户余额倍数", "403,200.00元"), ("按还款能力", "226,227.99元（起决定作用）"), ("可贷期限", "60个月"),
        ("可贷最高额度", "226,227.99元"), ("申请金额", "200,000.00元"), ("核定贷款金额", "200,000.00元"),
        ("首期月供", "3,536.26元（等额本息）"), ("首期还款日", "2025-04-30"),
    ]),
    # base 30,000 yuan, a 2,000,000 home: the absolute cap
    "cap": ("rich", {"house_price_fen": 200_000_000, "term_months": 300}, LimitKind.CAP, [
        ("房屋价值（房价与评估价孰低）", "2,000,000.00元"), ("借款人年龄", "40岁"),
        ("账户余额合计（含共同借款人）", "100,800.00元"), ("月缴存基数合计（含共同借款人）", "30,000.00元"),
        ("连续缴存月数", "14个月"), ("贷款年利率", "2.85%"),
        ("按最高贷款比例", "1,600,000.00元"), ("按最高贷款额度", "1,200,000.00元（起决定作用）"),
        ("按账户余额倍数", "1,512,000.00元"), ("按还款能力", "3,215,804.77元"), ("可贷期限", "300个月"),
        ("可贷最高额度", "1,200,000.00元"), ("申请金额", "未填（按可贷最高额度）"), ("核定贷款金额", "1,200,000.00元"),
        ("首期月供", "5,597.36元（等额本息）"), ("首期还款日", "2025-04-30"),
    ]),
    # 63 years old: 65 − 63 leaves 24 months, at the ≤ 5-year rate
    "age_term": ("old", {}, LimitKind.AGE_TERM, [
        ("房屋价值（房价与评估价孰低）", "1,000,000.00元"), ("借款人年龄", "63岁"), *COMMON[1:],
        ("贷款年利率", "2.35%"), ("按最高贷款比例", "800,000.00元"), ("按最高贷款额度", "1,200,000.00元"),
        ("按账户余额倍数", "403,200.00元"), ("按还款能力", "1,032,615.41元"),
        ("按年龄与期限", "93,689.48元（起决定作用）"), ("可贷期限", "24个月（按年龄与期限之和缩短）"),
        ("可贷最高额度", "93,689.48元"), ("申请金额", "未填（按可贷最高额度）"), ("核定贷款金额", "93,689.48元"),
        ("首期月供", "4,000.00元（等额本息）"), ("首期还款日", "2025-04-30"),
    ]),
}  # fmt: skip


@pytest.mark.parametrize("case", list(GOLDEN))
def test_each_limit_binds_in_turn(engine, case):
    who, changes, bound, sheet = GOLDEN[case]
    center = build_center(engine)
    with read_transaction(engine) as conn:
        decision = la.decide(conn, center.ctx, application_of(center, who, payload(**changes)))
    assert decision.limit.bound is bound
    assert decision.eligible, decision.verdict.refusals
    assert _sheet(decision) == sheet
    limits, rate, term = decision.limit.limits, decision.annual_rate, decision.limit.term_months
    # the golden figures, re-derived from the facts without the rules module's arithmetic
    price = min(decision.form.house_price_fen, decision.form.appraisal_fen or decision.form.house_price_fen)
    assert limits[LimitKind.LTV] == price * 8 // 10
    assert limits[LimitKind.CAP] == 120_000_000
    balance = decision.household.balance_fen
    assert balance == (A_BALANCE if who != "rich" else 14 * 720_000)
    assert limits[LimitKind.BALANCE_MULTIPLE] == 15 * balance
    most = decision.household.monthly_base_fen // 2
    capacity = limits.get(LimitKind.AGE_TERM, limits[LimitKind.REPAYMENT_CAPACITY])
    assert first_installment(capacity, rate, term, Method.EQUAL_INSTALLMENT) <= most
    assert first_installment(capacity + 1, rate, term, Method.EQUAL_INSTALLMENT) > most
    assert decision.amount_fen == min(decision.form.requested_fen or limits[bound], limits[bound])
    assert decision.verdict.risks[0].code == "review.loan"  # never straight through


def _failed(decision: la.LoanDecision) -> dict[str, str]:
    return {r.code: r.message_zh for r in decision.verdict.refusals}


def _active_loan(conn, ctx, borrower_id: int, co_ids: tuple[int, ...], certificate: str) -> int:
    """A loan disbursed outside the engine (as the loan book's own tests make them)."""
    terms = loans.LoanTerms(
        application_id=900_001, borrower_id=borrower_id, principal_fen=10_000_000, annual_rate=Decimal("0.0285"),
        term_months=120, method=Method.EQUAL_INSTALLMENT, contract_date=date(2025, 3, 14),
        first_due_date=date(2025, 4, 30), repayment_source=loans.RepaymentSource.HPF_ACCOUNT, house_nature="01",
        second_home=False, house_price_fen=50_000_000, floor_area=Decimal("70.00"), guarantee_type="01",
        certificate_no=certificate, co_borrower_ids=co_ids,
    )  # fmt: skip
    loan_id = loans.create_loan(conn, ctx, terms)
    today = ctx.clock.today()
    entry = ledger.post(
        conn,
        JournalEntry("01", f"LOAN-{loan_id}", f"disburse:{loan_id}", today, today,
                     (Line("121", Side.DEBIT, 10_000_000), Line("101", Side.CREDIT, 10_000_000))),
        ctx.clock,
    )  # fmt: skip
    loans.activate(conn, ctx, loan_id, today, entry)
    return loan_id


def test_refusals_say_why(engine):
    center = build_center(engine)
    with read_transaction(engine) as conn:
        short = la.decide(conn, center.ctx, application_of(center, "new", payload()))
        senior = la.decide(conn, center.ctx, application_of(center, "senior", payload()))
        ghost = la.decide(
            conn, center.ctx, application_of(center, "a", payload(co_borrower_account_nos="999999999"))
        )
        too_much = la.decide(conn, center.ctx, application_of(center, "a", payload(requested_fen=50_000_000)))
        no_certificate = la.decide(
            conn, center.ctx, application_of(center, "a", payload(certificate_no=None))
        )
    assert _failed(short) == {"loan.deposit_too_short": "申请前须连续足额缴存住房公积金满6个月"}
    assert short.household.continuous_deposit_months == 3 and short.amount_fen == 0
    assert _failed(senior) == {"loan.age_limit": "借款人年龄与贷款期限之和不得超过65年"}
    assert senior.amount_fen == 0 and senior.limit.term_months == 0
    assert _failed(ghost) == {"loan.co_borrower_not_found": "共同借款人账号999999999不存在或已销户"}
    assert _failed(too_much) == {"loan.within_maximum": "申请金额超过可贷最高额度403,200.00元"}
    assert too_much.amount_fen == 0
    assert _failed(no_certificate) == {"loan.certificate_required": "抵押贷款须提供抵押登记他项权证号"}


def test_an_outstanding_loan_of_the_household_refuses_and_its_certificate_is_taken(engine):
    center = build_center(engine)
    a, c = center.members["a"], center.members["c"]
    with write_transaction(engine) as conn:
        _active_loan(conn, center.ctx, a.id, (c.id,), "鲁(2020)济南市不动产证明第0000001号")
    with read_transaction(engine) as conn:
        again = la.decide(conn, center.ctx, application_of(center, "a", payload()))
        # C only co-borrowed A's loan: found through the JSON list of co-borrowers
        co = la.decide(conn, center.ctx, application_of(center, "c", payload()))
        reused = la.decide(
            conn,
            center.ctx,
            application_of(center, "rich", payload(certificate_no="鲁(2020)济南市不动产证明第0000001号")),
        )
    assert _failed(again) == {"loan.outstanding_loan": "尚有未结清的住房公积金贷款"}
    assert again.household.loans_used == 1
    assert _failed(co) == {"loan.outstanding_loan": "尚有未结清的住房公积金贷款"}
    assert _failed(reused) == {"loan.certificate_free": "该他项权证已用于其他未结清的贷款"}


def test_co_borrowers_add_up_and_are_checked(engine):
    center = build_center(engine)
    c = center.members["c"]
    with read_transaction(engine) as conn:
        both = la.decide(
            conn, center.ctx, application_of(center, "a", payload(co_borrower_account_nos=c.account_no))
        )
        mixed = la.decide(conn, center.ctx, application_of(center, "a", payload(
            co_borrower_account_nos=[center.members["a"].account_no, center.members["new"].account_no])))  # fmt: skip
    assert both.household.balance_fen == 2 * A_BALANCE and both.household.monthly_base_fen == 1_600_000
    assert both.limit.bound is LimitKind.LTV and both.amount_fen == 80_000_000  # 15 × balance no longer binds
    assert "loan.co_borrowers" in {r.code for r in both.verdict.rules if r.passed}
    assert _failed(mixed) == {"loan.co_borrower_is_borrower": "借款人不能同时为共同借款人"}
    assert [f.code for f in mixed.verdict.risks] == ["review.loan", "risk.co_borrower_deposit"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"term_months": 0}, "term_months"),
        ({"method": "balloon"}, "method"),
        ({"house_nature": "03"}, "house_nature"),
        ({"floor_area": "89.555"}, "floor_area"),
        ({"house_price_fen": -1}, "house_price_fen"),
        ({"co_borrower_account_nos": "1,1"}, "co_borrower_account_nos"),
        ({"payee_card": None}, "payee_card"),
        ({"first_due_date": "2025-02-30"}, "first_due_date"),
    ],
)
def test_a_payload_it_cannot_read_is_refused(changes, field):
    with pytest.raises(InvalidInput) as caught:
        la.form_of(payload(**changes))
    assert caught.value.code == f"loan.payload.{field}"


def test_a_bad_payee_card_is_refused():
    with pytest.raises(InvalidInput):
        la.form_of(payload(payee_card="6222020200001234563"))  # wrong check digit


def test_default_first_due_date_is_the_last_day_of_next_month():
    assert la.last_day_of_next_month(date(2025, 1, 31)) == date(2025, 2, 28)
    assert la.last_day_of_next_month(date(2025, 12, 1)) == date(2026, 1, 31)
    assert la.last_day_of_next_month(date(2024, 1, 15)) == date(2024, 2, 29)
