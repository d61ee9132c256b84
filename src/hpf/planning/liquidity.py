"""Fund operation and liquidity (D2): the day's indicators, alerts and who saw them.

Definitions (REFERENCE §7.1; decision 0038 says where they are UNVERIFIED):

- bank balances: the fund's bank subjects, 101 住房公积金存款 + 102 增值收益存款;
- expected outflows of the next 30 / 90 days: the withdrawals approved and reserved but not yet
  paid, the loans signed and not yet disbursed (both due within 30 days), and the forecast's
  withdrawals and loan disbursements of the next one / three months (the latest forecast run;
  none when the history is too short) — known and forecast added, erring on the safe side;
  coverage = bank balances ÷ expected outflows;
- 个贷率 = loan balance (121 + 122) ÷ 缴存余额 (the members' accounts, 201, credit balance);
- 使用率 = (loan balance + 提取总额 + 国债余额 124) ÷ 缴存总额, where 提取总额 and 缴存总额 are
  the debits and credits ever posted to 201 (so 缴存总额 − 提取总额 = 缴存余额);
- 逾期率 (‰) = overdue principal of the active loans ÷ loan balance × 1000;
- large movements: the entries of the last ``LARGE_DAYS`` days whose movement on the bank
  subjects is at least the policy's amount.

Ratios are Decimal to 4 places (‰ to 2), ROUND_HALF_UP; money is fen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Connection, func, select, update

from hpf.db.upsert import insert_new
from hpf.kernel.context import Context
from hpf.kernel.errors import NotFound
from hpf.kernel.money import format_yuan
from hpf.ledger.chart import MEMBER_CONTROL
from hpf.ledger.queries import subject_debit_balance, subject_entries_subquery, subject_totals_subquery
from hpf.loans.queries import active_loans_subquery, unsettled_loans_subquery
from hpf.planning.forecast import Forecast
from hpf.planning.series import DISBURSEMENTS, WITHDRAWALS
from hpf.planning.tables import liquidity_alert
from hpf.policy.queries import LiquidityPolicy, liquidity_policy_at
from hpf.withdrawals.queries import withdrawals_subquery

BANK_SUBJECTS = ("101", "102")
LOAN_SUBJECTS = ("121", "122")
BOND_SUBJECTS = ("124",)
LARGE_DAYS = 7
_RATIO = Decimal("0.0001")
_PERMILLE = Decimal("0.01")

INDICATOR_ZH = {
    "coverage_30": "30日备付率",
    "coverage_90": "90日备付率",
    "loan_ratio": "个贷率",
    "usage_ratio": "使用率",
    "overdue_permille": "逾期率",
    "large_movement": "大额资金变动",
}


def ratio(numerator: int, denominator: int, places: Decimal = _RATIO) -> Decimal | None:
    """``numerator ÷ denominator`` to ``places``, ROUND_HALF_UP; None when the denominator is 0."""
    if denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(places, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Movement:
    entry_id: int
    business_type: str
    business_id: str
    posting_date: date
    net_fen: int  # + money came in, − money went out


@dataclass(frozen=True)
class Outflows:
    withdrawals_reserved_fen: int
    loans_signed_fen: int
    forecast_30_fen: int
    forecast_90_fen: int
    forecast_known: bool  # False: no forecast run or too little history

    @property
    def within_30_fen(self) -> int:
        return self.withdrawals_reserved_fen + self.loans_signed_fen + self.forecast_30_fen

    @property
    def within_90_fen(self) -> int:
        return self.withdrawals_reserved_fen + self.loans_signed_fen + self.forecast_90_fen


@dataclass(frozen=True)
class Alert:
    indicator: str
    value: str
    threshold: str
    message_zh: str
    acknowledged_by: str | None = None
    acknowledged_at: object = None
    alert_id: int | None = None


@dataclass(frozen=True)
class Indicators:
    on: date
    bank_fen: int
    loan_balance_fen: int
    deposits_fen: int  # 缴存余额
    contributed_total_fen: int  # 缴存总额
    withdrawn_total_fen: int  # 提取总额
    bonds_fen: int
    overdue_fen: int
    outflows: Outflows
    coverage_30: Decimal | None
    coverage_90: Decimal | None
    loan_ratio: Decimal | None
    usage_ratio: Decimal | None
    overdue_permille: Decimal | None
    large_movements: tuple[Movement, ...]
    policy: LiquidityPolicy


def forecast_outflows(forecasts: list[Forecast]) -> tuple[int, int, bool]:
    """(next month's, next three months') forecast withdrawals + loan disbursements, and whether
    both series had a forecast."""
    by_name = {f.name: f for f in forecasts}
    m1 = m3 = 0
    known = True
    for name in (WITHDRAWALS, DISBURSEMENTS):
        found = by_name.get(name)
        if found is None or found.status != "ok":
            known = False
            continue
        m1 += found.mean_fen[0]
        m3 += sum(found.mean_fen[:3])
    return m1, m3, known


def _sum(conn: Connection, column: object, where: object) -> int:
    return int(conn.scalar(select(func.coalesce(func.sum(column), 0)).where(where)) or 0)  # type: ignore[arg-type]


def indicators(conn: Connection, on: date, forecasts: list[Forecast]) -> Indicators:
    """The day's indicators (see the module's definitions)."""
    policy = liquidity_policy_at(conn, on)
    bank = subject_debit_balance(conn, BANK_SUBJECTS)
    loans = subject_debit_balance(conn, LOAN_SUBJECTS)
    bonds = subject_debit_balance(conn, BOND_SUBJECTS)
    totals = subject_totals_subquery("t")
    row = conn.execute(
        select(totals.c.debit_fen, totals.c.credit_fen).where(totals.c.subject_code == MEMBER_CONTROL)
    ).first()
    withdrawn, contributed = (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)
    deposits = contributed - withdrawn
    active = active_loans_subquery("a")
    overdue = _sum(conn, active.c.overdue_principal_fen, active.c.id.is_not(None))
    w = withdrawals_subquery("w")
    reserved = _sum(conn, w.c.allowed_fen, w.c.state == "reserved")
    unsettled = unsettled_loans_subquery("u")
    signed = _sum(conn, unsettled.c.principal_fen, unsettled.c.state == "approved")
    f30, f90, known = forecast_outflows(forecasts)
    outflows = Outflows(reserved, signed, f30, f90, known)
    moves = subject_entries_subquery(BANK_SUBJECTS, "bank_moves")
    large = conn.execute(
        select(
            moves.c.entry_id,
            moves.c.business_type,
            moves.c.business_id,
            moves.c.posting_date,
            moves.c.net_debit_fen,
        )
        .where(
            moves.c.posting_date > on - timedelta(days=LARGE_DAYS),
            moves.c.posting_date <= on,
            func.abs(moves.c.net_debit_fen) >= policy.large_movement_fen,
        )
        .order_by(moves.c.posting_date.desc(), moves.c.entry_id.desc())
        .limit(100)
    )
    return Indicators(
        on=on,
        bank_fen=bank,
        loan_balance_fen=loans,
        deposits_fen=deposits,
        contributed_total_fen=contributed,
        withdrawn_total_fen=withdrawn,
        bonds_fen=bonds,
        overdue_fen=overdue,
        outflows=outflows,
        coverage_30=ratio(bank, outflows.within_30_fen),
        coverage_90=ratio(bank, outflows.within_90_fen),
        loan_ratio=ratio(loans, deposits),
        usage_ratio=ratio(loans + withdrawn + bonds, contributed),
        overdue_permille=ratio(overdue * 1000, loans, _PERMILLE),
        large_movements=tuple(Movement(int(r[0]), r[1], r[2], r[3], int(r[4])) for r in large),
        policy=policy,
    )


def _pct(value: Decimal) -> str:
    return f"{(value * 100).quantize(_PERMILLE, rounding=ROUND_HALF_UP)}%"


def alerts_of(ind: Indicators) -> list[Alert]:
    """The indicators beyond their thresholds (pure: the stored acknowledgements come later)."""
    p = ind.policy
    out: list[Alert] = []
    for key, value, low in (("coverage_30", ind.coverage_30, p.coverage_30_min),
                            ("coverage_90", ind.coverage_90, p.coverage_90_min)):  # fmt: skip
        if value is not None and value < low:
            out.append(Alert(key, str(value), str(low),
                             f"{INDICATOR_ZH[key]}{value}倍，低于下限{low.normalize():f}倍"))  # fmt: skip
    if ind.loan_ratio is not None and ind.loan_ratio >= p.loan_ratio_max:
        out.append(Alert("loan_ratio", str(ind.loan_ratio), str(p.loan_ratio_max),
                         f"个贷率{_pct(ind.loan_ratio)}，达到预警线{_pct(p.loan_ratio_max)}"))  # fmt: skip
    if ind.usage_ratio is not None and ind.usage_ratio < p.usage_ratio_min:
        out.append(Alert("usage_ratio", str(ind.usage_ratio), str(p.usage_ratio_min),
                         f"使用率{_pct(ind.usage_ratio)}，低于下限{_pct(p.usage_ratio_min)}，资金闲置"))  # fmt: skip
    if ind.overdue_permille is not None and ind.overdue_permille > p.overdue_permille_max:
        out.append(Alert("overdue_permille", str(ind.overdue_permille), str(p.overdue_permille_max),
                         f"逾期率{ind.overdue_permille}‰，超过预警线{p.overdue_permille_max.normalize():f}‰"))  # fmt: skip
    if ind.large_movements:
        biggest = max(ind.large_movements, key=lambda m: abs(m.net_fen))
        out.append(Alert("large_movement", str(abs(biggest.net_fen)), str(p.large_movement_fen),
                         f"近{LARGE_DAYS}日大额资金变动{len(ind.large_movements)}笔，"
                         f"最大一笔{format_yuan(abs(biggest.net_fen))}元"))  # fmt: skip
    return out


def current_alerts(conn: Connection, ind: Indicators) -> list[Alert]:
    """The day's alerts with who acknowledged them (from the stored rows of that day)."""
    stored = {
        r.indicator: r
        for r in conn.execute(select(liquidity_alert).where(liquidity_alert.c.business_date == ind.on))
    }
    out = []
    for a in alerts_of(ind):
        row = stored.get(a.indicator)
        if row is None:
            out.append(a)
        else:
            out.append(Alert(a.indicator, a.value, a.threshold, a.message_zh,
                             row.acknowledged_by, row.acknowledged_at, int(row.id)))  # fmt: skip
    return out


def record_alerts(conn: Connection, ctx: Context, ind: Indicators) -> int:
    """Store the day's alerts not stored yet (the daily run, ``hpf liquidity``); how many new."""
    new = 0
    for a in alerts_of(ind):
        new += insert_new(conn, liquidity_alert, {
            "business_date": ind.on, "indicator": a.indicator, "value": a.value, "threshold": a.threshold,
            "message_zh": a.message_zh[:200], "raised_at": ctx.clock.now(),
        })  # fmt: skip
    return new


def acknowledge(conn: Connection, ctx: Context, ind: Indicators, indicator: str) -> Alert:
    """Note that ``ctx.actor`` saw the day's alert on ``indicator`` (stored first if need be).
    The first acknowledgement stands; a later one by someone else does not overwrite it."""
    alert = next((a for a in alerts_of(ind) if a.indicator == indicator), None)
    if alert is None:
        raise NotFound("planning.no_such_alert", "当日无此项告警", f"no alert on {indicator} on {ind.on}")
    record_alerts(conn, ctx, ind)
    conn.execute(
        update(liquidity_alert)
        .where(
            liquidity_alert.c.business_date == ind.on,
            liquidity_alert.c.indicator == indicator,
            liquidity_alert.c.acknowledged_by.is_(None),
        )
        .values(acknowledged_by=ctx.actor, acknowledged_at=ctx.clock.now())
    )
    return next(a for a in current_alerts(conn, ind) if a.indicator == indicator)


@dataclass(frozen=True)
class AlertRow:
    id: int
    business_date: date
    indicator: str
    message_zh: str
    acknowledged_by: str | None
    acknowledged_at: object


def alert_history(conn: Connection, *, limit: int = 50) -> list[AlertRow]:
    a = liquidity_alert.c
    rows = conn.execute(select(a.id, a.business_date, a.indicator, a.message_zh, a.acknowledged_by,
                               a.acknowledged_at).order_by(a.business_date.desc(), a.id.desc()).limit(limit))  # fmt: skip
    return [AlertRow(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]


def alert_by_id(conn: Connection, alert_id: int) -> AlertRow:
    for row in conn.execute(select(liquidity_alert).where(liquidity_alert.c.id == alert_id)):
        return AlertRow(int(row.id), row.business_date, row.indicator, row.message_zh,
                        row.acknowledged_by, row.acknowledged_at)  # fmt: skip
    raise NotFound("planning.no_such_alert", "无此告警", f"no liquidity alert {alert_id}")
