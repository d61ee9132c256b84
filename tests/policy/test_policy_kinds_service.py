"""A center's withdrawal and loan parameters on both engines: read for a day, changed from a date
through maker-checker (the proposer cannot approve; nothing changes before approval), refused
with the parameter named (decision 0022)."""

from datetime import date
from decimal import Decimal

import pytest

from hpf.access.permissions import Role
from hpf.approvals import service as approvals
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.policy import queries, service
from hpf.policy.api import summary_of
from signing_in import FAST_PASSWORDS, PASSWORD

D = Decimal
CUT = date(2025, 5, 1)  # the center's change takes effect (the business date is 2025-03-15)


@pytest.fixture
def admins(engine, ctx):
    with write_transaction(engine) as conn:
        return [
            identity.create_staff(conn, ctx, login, name, [Role.ADMIN], PASSWORD, passwords=FAST_PASSWORDS)
            for login, name in (("admin01", "管理员甲"), ("admin02", "管理员乙"))
        ]


def propose(engine, ctx, maker, key, value, effective_from=CUT, reason="管委会〔2025〕3号"):
    payload = {"key": key, "effective_from": effective_from.isoformat(), "value": value, "reason": reason}
    with write_transaction(engine) as conn:
        return approvals.submit(conn, ctx, maker, approvals.POLICY_CHANGE, payload, summary_of(reason))


def decide(engine, ctx, checker, request_id):
    with write_transaction(engine) as conn:
        return approvals.approve(conn, ctx, checker, request_id)


def test_without_changes_the_center_has_the_shipped_defaults(engine):
    with read_transaction(engine) as conn:
        w = queries.withdrawal_policy_at(conn, date(2025, 3, 15))
        loan = queries.loan_policy_at(conn, date(2025, 3, 15))
        rows = service.kind_table(conn, service.WITHDRAWAL, date(2025, 3, 15))
    assert (w.rent_monthly_cap_fen, w.rent_min_deposit_months, w.retirement_age_male) == (60_000, 3, 60)
    assert (loan.max_amount_fen, loan.ltv_first_home, loan.on) == (120_000_000, D("0.8"), date(2025, 3, 15))
    cap = next(r for r in rows if r.key == "withdrawal.rent_monthly_cap_fen")
    assert cap.shown == "600.00元" and cap.source == "default" and cap.next is None
    assert cap.label_zh == "租房提取每月限额" and "广州" in cap.note


def test_a_rent_cap_cut_waits_for_another_administrator_then_applies_from_its_date(engine, ctx, admins):
    maker, checker = admins
    asked = propose(engine, ctx, maker, "withdrawal.rent_monthly_cap_fen", 45_000)
    assert asked.state == "pending"
    assert asked.summary == "租房提取每月限额调整为450.00元，2025-05-01起生效：管委会〔2025〕3号"
    with read_transaction(engine) as conn:  # nothing changes before approval, not even from the date
        assert queries.withdrawal_policy_at(conn, CUT).rent_monthly_cap_fen == 60_000
        assert service.list_changes(conn) == []

    with pytest.raises(HpfError) as same:
        decide(engine, ctx, maker, asked.id)
    assert same.value.code == "approval.same_person" and same.value.status == 403
    with read_transaction(engine) as conn:
        assert queries.withdrawal_policy_at(conn, CUT).rent_monthly_cap_fen == 60_000

    done = decide(engine, ctx, checker, asked.id)
    assert done.state == "approved" and done.result["actor"] == "admin01"  # stored as the maker's
    with read_transaction(engine) as conn:
        assert queries.withdrawal_policy_at(conn, date(2025, 4, 30)).rent_monthly_cap_fen == 60_000
        assert queries.withdrawal_policy_at(conn, CUT).rent_monthly_cap_fen == 45_000
        assert queries.withdrawal_policy_at(conn, date(2026, 1, 1)).rent_monthly_cap_fen == 45_000
        today = {r.key: r for r in service.kind_table(conn, service.WITHDRAWAL, date(2025, 3, 15))}
        later = {r.key: r for r in service.kind_table(conn, service.WITHDRAWAL, CUT)}
        [change] = service.list_changes(conn)
        assert queries.policy_at(conn, CUT).base_cap_fen == 3_000_000  # contributions untouched
    cap = today["withdrawal.rent_monthly_cap_fen"]
    assert cap.shown == "600.00元" and cap.next == service.ScheduledValue(
        effective_from=CUT, value=45_000, shown="450.00元", source="center"
    )
    assert later["withdrawal.rent_monthly_cap_fen"].source == "center"
    assert later["withdrawal.rent_monthly_cap_fen"].shown == "450.00元"
    assert later["withdrawal.rent_interval_months"].source == "default"
    assert change.key == "withdrawal.rent_monthly_cap_fen" and change.label_zh == "租房提取每月限额"
    assert change.shown == "450.00元"


def test_a_loan_ceiling_and_down_payment_from_a_date(engine, ctx, admins):
    maker, checker = admins
    for key, value in (("loan.max_amount_fen", 100_000_000), ("loan.ltv_first_home", "0.7")):
        decide(engine, ctx, checker, propose(engine, ctx, maker, key, value).id)
    with read_transaction(engine) as conn:
        before = queries.loan_policy_at(conn, date(2025, 4, 30))
        after = queries.loan_policy_at(conn, CUT)
        rows = {r.key: r for r in service.kind_table(conn, service.LOAN, CUT)}
    assert (before.max_amount_fen, before.ltv_first_home) == (120_000_000, D("0.8"))
    assert (after.max_amount_fen, after.ltv_first_home, after.ltv_second_home) == (
        100_000_000,
        D("0.7"),
        D("0.8"),
    )
    assert rows["loan.max_amount_fen"].shown == "1,000,000.00元"
    assert rows["loan.ltv_first_home"].shown == "70%（最低首付30%）"


@pytest.mark.parametrize(
    ("key", "value", "field", "words"),
    [
        ("withdrawal.rent_monthly_cap_fen", -100, "withdrawal.rent_monthly_cap_fen", "金额不能为负数"),
        ("loan.ltv_first_home", "1.2", "loan.ltv_first_home", "须在0至1之间"),
        ("loan.repayment_capacity_ratio", 0.5, "loan.repayment_capacity_ratio", "须为字符串形式的小数"),
        ("loan.dunning_days", [90, 30], "loan.dunning_days", "依次递增"),
        ("loan.nope", 1, "key", "未知的政策参数"),
    ],
)
def test_bad_values_are_refused_at_once_naming_the_field(engine, ctx, admins, key, value, field, words):
    with pytest.raises(InvalidInput) as err:
        propose(engine, ctx, admins[0], key, value)
    assert err.value.extra["field"] == field and words in err.value.title
    with read_transaction(engine) as conn:
        assert approvals.list_requests(conn, kind=approvals.POLICY_CHANGE) == []
        assert service.list_changes(conn) == []


def test_a_kind_change_is_never_retroactive_nor_twice_on_a_date(engine, ctx):
    with write_transaction(engine) as conn, pytest.raises(InvalidInput) as err:
        service.schedule_change(conn, ctx, "loan.max_loans", date(2025, 3, 14), 1, "决议")
    assert err.value.code == "policy.retroactive"
    with write_transaction(engine) as conn:
        service.schedule_change(conn, ctx, "loan.max_loans", date(2025, 3, 15), 1, "决议")  # today is fine
    with write_transaction(engine) as conn, pytest.raises(HpfError) as dup:
        service.schedule_change(conn, ctx, "loan.max_loans", date(2025, 3, 15), 3, "决议")
    assert dup.value.code == "policy.duplicate"
    with read_transaction(engine) as conn:
        assert queries.loan_policy_at(conn, date(2025, 3, 15)).max_loans == 1
        assert queries.loan_policy_at(conn, date(2025, 3, 14)).max_loans == 2
