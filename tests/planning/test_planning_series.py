"""The monthly series and the liquidity indicators on a simulated center equal the ledger and the
business tables read directly."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from hpf.db.engine import read_transaction
from hpf.ledger.tables import journal_entry, journal_line, subject_balance
from hpf.loans.book.tables import loan
from hpf.planning import service
from hpf.planning.liquidity import indicators
from hpf.planning.series import COLLECTIONS, DISBURSEMENTS, REPAYMENTS, WITHDRAWALS, monthly_history
from hpf.withdrawals.tables import withdrawal
from planning_city import TODAY


def _net(conn, subjects, *, types=None, sign=None):
    ln, e = journal_line.c, journal_entry.c
    net = func.sum(func.iif(ln.side == "D", ln.amount_fen, -ln.amount_fen)).label("net")
    q = (
        select(ln.entry_id, net)
        .select_from(journal_line.join(journal_entry, e.id == ln.entry_id))
        .where(ln.subject_code.in_(subjects), e.posting_date < TODAY.replace(day=1))
        .group_by(ln.entry_id)
    )
    if types:
        q = q.where(e.business_type.in_(types))
    nets = [int(n) for _, n in conn.execute(q)]
    if sign == "+":
        return sum(n for n in nets if n > 0)
    if sign == "-":
        return -sum(n for n in nets if n < 0)
    return sum(nets)


def test_series_sum_to_the_ledger_and_the_claims(city):
    with read_transaction(city) as conn:
        history = {s.name: s for s in monthly_history(conn, TODAY)}
        collected = -_net(conn, ["201"], types=["01", "02"])
        disbursed = _net(conn, ["121", "122"], sign="+")
        repaid = _net(conn, ["121", "122"], sign="-")
        paid = conn.scalar(select(func.sum(withdrawal.c.allowed_fen)).where(withdrawal.c.state == "paid"))
    months = history[COLLECTIONS].months
    assert months[0] == "2025-01" and months[-1] == "2025-10"  # the month before the business date's
    assert all(len(s.values_fen) == len(months) for s in history.values())
    assert sum(history[COLLECTIONS].values_fen) == collected > 0
    assert sum(history[DISBURSEMENTS].values_fen) == disbursed > 0
    assert sum(history[REPAYMENTS].values_fen) == repaid > 0
    assert sum(history[WITHDRAWALS].values_fen) == int(paid) > 0
    reasons = [s for name, s in history.items() if name.startswith("withdrawals:")]
    assert len(reasons) >= 3
    for i in range(len(months)):
        assert sum(s.values_fen[i] for s in reasons) == history[WITHDRAWALS].values_fen[i]


def test_ten_months_are_too_little_history_to_forecast(city):
    with read_transaction(city) as conn:
        forecasts = service.compute_forecasts(conn, TODAY)
    assert forecasts and all(f.status == "too_little_history" for f in forecasts)
    assert all("历史数据不足：仅有10个月" in f.message_zh for f in forecasts)
    assert all(f.mean_fen == () for f in forecasts)


def _balance(conn, codes):
    sb = subject_balance.c
    return int(
        conn.scalar(select(func.sum(sb.debit_fen - sb.credit_fen)).where(sb.subject_code.in_(codes))) or 0
    )


def test_the_indicators_equal_the_ledger_and_the_loan_book(city):
    with read_transaction(city) as conn:
        ind = indicators(conn, TODAY, [])
        bank = _balance(conn, ["101", "102"])
        loans = _balance(conn, ["121", "122"])
        deposits = -_balance(conn, ["201"])
        sb = subject_balance.c
        debits, credits = conn.execute(
            select(func.sum(sb.debit_fen), func.sum(sb.credit_fen)).where(sb.subject_code == "201")
        ).one()
        overdue = conn.scalar(select(func.sum(loan.c.overdue_principal_fen)).where(loan.c.state == "active"))
        reserved = conn.scalar(
            select(func.sum(withdrawal.c.allowed_fen)).where(withdrawal.c.state == "reserved")
        )
        signed = conn.scalar(select(func.sum(loan.c.principal_fen)).where(loan.c.state == "approved"))
    q = Decimal("0.0001")
    assert ind.bank_fen == bank > 0
    assert ind.loan_balance_fen == loans > 0
    assert ind.deposits_fen == deposits == int(credits) - int(debits)
    assert ind.loan_ratio == (Decimal(loans) / deposits).quantize(q, ROUND_HALF_UP)
    assert ind.usage_ratio == (Decimal(loans + int(debits)) / int(credits)).quantize(q, ROUND_HALF_UP)
    assert ind.overdue_fen == int(overdue or 0)
    assert ind.outflows.withdrawals_reserved_fen == int(reserved or 0)
    assert ind.outflows.loans_signed_fen == int(signed or 0)
    assert not ind.outflows.forecast_known  # no forecast run: the known outflows only
    expected = int(reserved or 0) + int(signed or 0)
    assert ind.coverage_30 == ((Decimal(bank) / expected).quantize(q, ROUND_HALF_UP) if expected else None)
