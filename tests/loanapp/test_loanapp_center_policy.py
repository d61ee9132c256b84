"""A center lowers its loan ceiling and its first-home loan-to-value ratio (raises the minimum
down payment) from a date (decision 0022): loan applications decided before the date get the
old limits, those decided on or after it the new ones — through the application engine, the
change made by one administrator and approved by another.

Figures (worked by hand; the other limits as in ``test_loanapp_limits.GOLDEN``). From 2025-03-20
the ceiling is 1,000,000.00 yuan (was 1,200,000.00) and a first home may be lent 70% of its
value (was 80%: the minimum down payment goes from 20% to 30%).

- ``rich`` (base 30,000.00, balance 100,800.00) buys a 2,000,000.00 home over 300 months:
  before, 80% = 1,600,000.00 and the ceiling 1,200,000.00 binds → 1,200,000.00; after,
  70% = 1,400,000.00 and the ceiling 1,000,000.00 binds → 1,000,000.00 (15 × 100,800.00 =
  1,512,000.00 and the repayment capacity 3,215,804.77 are higher either way).
- ``a`` buys a 300,000.00 home: before, 80% = 240,000.00; after, 70% = 210,000.00 — the
  loan-to-value binds both times (15 × 26,880.00 = 403,200.00 is higher).
"""

from __future__ import annotations

from datetime import date

import pytest
from loanapp_support import build_center, payload, submit

from hpf.access.permissions import Role
from hpf.approvals import service as approvals
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.errors import HpfError
from hpf.policy import queries
from hpf.policy.api import summary_of
from signing_in import FAST_PASSWORDS, PASSWORD

CUT = date(2025, 3, 20)
CHANGES = {"loan.max_amount_fen": 100_000_000, "loan.ltv_first_home": "0.7"}


def _sheet(app) -> dict[str, str]:
    return {line["label_zh"]: line["value"] for line in app.evaluation["sheet"]}


@pytest.fixture
def center(engine):
    center = build_center(engine)  # business date 2025-03-14
    with write_transaction(engine) as conn:
        for login in ("admin01", "admin02"):
            center.people[login] = identity.create_staff(
                conn, center.ctx, login, login, [Role.ADMIN], PASSWORD, passwords=FAST_PASSWORDS
            )
    return center


def _propose(center) -> list[approvals.ApprovalRequest]:
    asked = []
    with write_transaction(center.engine) as conn:
        for key, value in CHANGES.items():
            body = {"key": key, "effective_from": CUT.isoformat(), "value": value, "reason": "管委会决议"}
            asked.append(
                approvals.submit(
                    conn,
                    center.ctx,
                    center.people["admin01"],
                    approvals.POLICY_CHANGE,
                    body,
                    summary_of("决议"),
                )
            )
    return asked


def test_a_lower_ceiling_and_down_payment_ratio_apply_from_their_date(center):
    asked = _propose(center)
    with write_transaction(center.engine) as conn, pytest.raises(HpfError) as same:
        approvals.approve(conn, center.ctx, center.people["admin01"], asked[0].id)
    assert same.value.code == "approval.same_person"
    with write_transaction(center.engine) as conn:
        for request in asked:
            approvals.approve(conn, center.ctx, center.people["admin02"], request.id)

    rich = {"house_price_fen": 200_000_000, "term_months": 300}
    cap_before = submit(center, payload(**rich), member="rich", key="rich-1")
    ltv_before = submit(center, payload(house_price_fen=30_000_000), member="a", key="a-1")
    center.clock.set(CUT)
    cap_after = submit(center, payload(**rich), member="rich", key="rich-2")
    ltv_after = submit(center, payload(house_price_fen=30_000_000), member="a", key="a-2")

    assert cap_before.amount_fen == 120_000_000 and cap_after.amount_fen == 100_000_000
    assert _sheet(cap_before)["按最高贷款额度"] == "1,200,000.00元（起决定作用）"
    assert _sheet(cap_before)["按最高贷款比例"] == "1,600,000.00元"
    assert _sheet(cap_after)["按最高贷款额度"] == "1,000,000.00元（起决定作用）"
    assert _sheet(cap_after)["按最高贷款比例"] == "1,400,000.00元"
    assert _sheet(cap_after)["核定贷款金额"] == "1,000,000.00元"

    assert ltv_before.amount_fen == 24_000_000 and ltv_after.amount_fen == 21_000_000
    assert _sheet(ltv_before)["按最高贷款比例"] == "240,000.00元（起决定作用）"
    assert _sheet(ltv_after)["按最高贷款比例"] == "210,000.00元（起决定作用）"
    assert _sheet(ltv_after)["按最高贷款额度"] == "1,000,000.00元"


def test_nothing_changes_before_approval(center):
    _propose(center)
    center.clock.set(CUT)
    app = submit(center, payload(house_price_fen=200_000_000, term_months=300), member="rich", key="rich")
    assert app.amount_fen == 120_000_000
    with read_transaction(center.engine) as conn:
        policy = queries.loan_policy_at(conn, CUT)
    assert (policy.max_amount_fen, str(policy.ltv_first_home)) == (120_000_000, "0.8")
