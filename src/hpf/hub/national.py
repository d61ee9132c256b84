"""National and provincial figures from the warehouse, and the national annual report (decision 0039).

Every statement here is plain SQL over the views of :class:`hpf.hub.warehouse.Warehouse`
(``indicators``, ``members``, ``centers``) that DuckDB and Spark SQL both run unchanged: no
dialect casts, no engine functions, months compared as ``YYYY-MM`` text.

- :func:`month_totals`: every additive indicator of a month summed by nation and by province
  (ratios are not summed: :data:`RATIO_CODES`, recomputed from their summed parts);
- :func:`member_figures`: what only the member-level data answers — persons counted once
  nationally though they hold accounts in several centers (the reporting pseudonym);
- :func:`annual_report`: the national annual report's tables for a year — 缴存额, 提取额 and
  提取率, 发放额, 个贷率, 逾期率, 使用率, 增值收益, 实缴单位/职工 — by center, by province
  and for the nation, each tier from its own statement (so that a test can hold the nation
  and the provinces to the sum of their centers).

Definitions (REFERENCE §7.1): 缴存额 = the year's 实归集额 (汇缴 + 补缴); 提取额 = the year's
提取额; 提取率 = 提取额 ÷ 缴存额; 个贷率 = 贷款余额 ÷ 缴存余额 at the year's last reported
month; 逾期率 = 逾期本金 ÷ 贷款余额, in ‰; 使用率 = (贷款余额 + 累计提取额) ÷ 累计缴存额;
增值收益 = the year's business income less business expenses; 实缴单位/职工 = the employers
and persons that paid in the year (each center's year-to-date count at its last month).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hpf.hub.warehouse import Warehouse, check_month

# The catalogue codes the annual report reads (see hpf.supervision.indicators for all).
DEPOSITS = "0301007201"  # 实归集额 (本期)
WITHDRAWALS = "0301007601"  # 提取额 (本期)
ISSUED = "0302000101"  # 发放额 (本期)
DEPOSIT_BALANCE = "0301008101"  # 归集余额 (期末)
LOAN_BALANCE = "0302000801"  # 贷款余额 (期末)
OVERDUE = "0302000902"  # 目前逾期本金 (期末)
DEPOSITED_TOTAL = "0301010101"  # 历史累计归集额 (期末)
WITHDRAWN_TOTAL = "0301010701"  # 历史累计提取额 (期末)
UNITS_YEAR = "0301000202"  # 实缴单位数(按年), year to date
PERSONS_YEAR = "0301003206"  # 实缴人数(按年), year to date
VALUE_ADDED = "9901000001"  # 增值收益 (本期, a center-local code)
RATIO_CODES = frozenset(
    {"0301020101", "0301020201", "0301020301", "0301020401", "0301020501",
     "0302020101", "0302020201", "0302020301", "0302020401", "0302020501"}
)  # fmt: skip

FLOWS = {"deposits": DEPOSITS, "withdrawals": WITHDRAWALS, "issued": ISSUED, "value_added": VALUE_ADDED}
STOCKS = {
    "deposit_balance": DEPOSIT_BALANCE, "loan_balance": LOAN_BALANCE, "overdue": OVERDUE,
    "deposited_total": DEPOSITED_TOTAL, "withdrawn_total": WITHDRAWN_TOTAL, "units": UNITS_YEAR,
    "persons": PERSONS_YEAR,
}  # fmt: skip
FIGURES = (*FLOWS, *STOCKS)


def _ratio_sql() -> str:
    return ", ".join(f"'{c}'" for c in sorted(RATIO_CODES))


def month_totals_sql(month: str, *, by_province: bool) -> str:
    month = check_month(month)
    if by_province:
        return (
            "SELECT c.province, i.code, i.dim, SUM(i.value) AS value "
            "FROM indicators i JOIN centers c ON c.code = i.center_code "
            f"WHERE i.period = '{month}' AND i.code NOT IN ({_ratio_sql()}) "
            "GROUP BY c.province, i.code, i.dim ORDER BY c.province, i.code, i.dim"
        )
    return (
        "SELECT i.code, i.dim, SUM(i.value) AS value FROM indicators i "
        f"WHERE i.period = '{month}' AND i.code NOT IN ({_ratio_sql()}) "
        "GROUP BY i.code, i.dim ORDER BY i.code, i.dim"
    )


def month_totals(warehouse: Warehouse, month: str) -> dict[tuple[str, str], Decimal]:
    """The nation's total of every additive indicator of ``month``: (code, dim) → value."""
    return {
        (str(c), str(d)): Decimal(v)
        for c, d, v in warehouse.query(month_totals_sql(month, by_province=False))
    }


def province_totals(warehouse: Warehouse, month: str) -> dict[tuple[str, str, str], Decimal]:
    """Each province's total of every additive indicator: (province, code, dim) → value."""
    return {
        (str(p), str(c), str(d)): Decimal(v)
        for p, c, d, v in warehouse.query(month_totals_sql(month, by_province=True))
    }


MEMBER_FIGURES = {  # name: Chinese label (the figures only the member-level data answers)
    "accounts": "缴存人账户数",
    "balance_fen": "缴存余额（明细合计，分）",
    "loan_fen": "贷款余额（明细合计，分）",
    "persons": "缴存人数（全国去重）",
    "paying_persons": "实缴职工（全国去重）",
    "withdrawing_persons": "提取人数（全国去重）",
    "multi_center_persons": "多地开户人数",
    "borrowers_elsewhere": "借款人在多地开户人数",
}


def member_figures_sql(month: str) -> tuple[str, str]:
    """Two statements: the accounts' sums (one scan), and the persons' counts (one grouping by
    pseudonym: a person with accounts in several centers counts once)."""
    month = check_month(month)
    accounts = f"SELECT COUNT(*), SUM(balance_fen), SUM(loan_fen) FROM members WHERE period = '{month}'"
    persons = (
        "SELECT COUNT(*), SUM(paying), SUM(withdrawing), "
        "SUM(CASE WHEN first_center <> last_center THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN first_center <> last_center AND borrower = 1 THEN 1 ELSE 0 END) "
        "FROM (SELECT person_key, "
        "MAX(CASE WHEN paid_fen + back_paid_fen > 0 THEN 1 ELSE 0 END) AS paying, "
        "MAX(CASE WHEN withdrawals > 0 THEN 1 ELSE 0 END) AS withdrawing, "
        "MAX(CASE WHEN loan_fen > 0 THEN 1 ELSE 0 END) AS borrower, "
        "MIN(CAST(center_code AS INT)) AS first_center, MAX(CAST(center_code AS INT)) AS last_center "
        f"FROM members WHERE period = '{month}' GROUP BY person_key) t"
    )
    return accounts, persons


def member_figures(warehouse: Warehouse, month: str) -> dict[str, int]:
    """What only the member-level data answers, for the nation (see :data:`MEMBER_FIGURES`)."""
    accounts_sql, persons_sql = member_figures_sql(month)
    accounts = warehouse.query(accounts_sql)[0]
    persons = warehouse.query(persons_sql)[0]
    values = [*accounts, *persons]
    return {name: int(v or 0) for name, v in zip(MEMBER_FIGURES, values, strict=True)}


def member_sums_by_center_sql(month: str) -> str:
    month = check_month(month)
    return (
        "SELECT center_code, COUNT(*) AS accounts, SUM(balance_fen) AS balance_fen, SUM(paid_fen) AS paid_fen, "
        "SUM(withdrawn_fen) AS withdrawn_fen, SUM(loan_fen) AS loan_fen "
        f"FROM members WHERE period = '{month}' GROUP BY center_code ORDER BY center_code"
    )


# -- the annual report ---------------------------------------------------------------------


def _annual_sql(year: int, tier: str) -> str:
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    sums = ", ".join(
        [
            f"SUM(CASE WHEN i.code = '{code}' THEN i.value ELSE 0 END) AS {name}"
            for name, code in FLOWS.items()
        ]
        + [
            f"SUM(CASE WHEN i.code = '{code}' AND i.period = l.last_period THEN i.value ELSE 0 END) AS {name}"
            for name, code in STOCKS.items()
        ]
    )
    last_period = (
        "(SELECT center_code, MAX(period) AS last_period FROM indicators "
        f"WHERE period >= '{first}' AND period <= '{last}' GROUP BY center_code) l"
    )
    base = (
        f"FROM indicators i JOIN {last_period} ON l.center_code = i.center_code "
        "JOIN centers c ON c.code = i.center_code "
        f"WHERE i.dim = '' AND i.period >= '{first}' AND i.period <= '{last}'"
    )
    if tier == "center":
        return f"SELECT c.code, c.name, c.province, {sums} {base} GROUP BY c.code, c.name, c.province ORDER BY c.code"
    if tier == "province":
        return f"SELECT c.province, {sums} {base} GROUP BY c.province ORDER BY c.province"
    return f"SELECT {sums} {base}"


@dataclass(frozen=True)
class AnnualRow:
    """One line of the annual report: a center, a province or the nation (amounts in fen)."""

    code: str  # the center's code; "" for a province or the nation
    name: str
    province: str
    deposits: int
    withdrawals: int
    issued: int
    value_added: int
    deposit_balance: int
    loan_balance: int
    overdue: int
    deposited_total: int
    withdrawn_total: int
    units: int
    persons: int

    @property
    def withdrawal_rate(self) -> Decimal | None:  # 提取率, %
        return _pct(self.withdrawals, self.deposits)

    @property
    def loan_ratio(self) -> Decimal | None:  # 个贷率, %
        return _pct(self.loan_balance, self.deposit_balance)

    @property
    def overdue_rate(self) -> Decimal | None:  # 逾期率, ‰
        if not self.loan_balance:
            return None
        return (Decimal(self.overdue) * 1000 / Decimal(self.loan_balance)).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )

    @property
    def usage_rate(self) -> Decimal | None:  # 使用率, %
        return _pct(self.loan_balance + self.withdrawn_total, self.deposited_total)


def _pct(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), ROUND_HALF_UP)


@dataclass(frozen=True)
class AnnualReport:
    year: int
    centers: list[AnnualRow]
    provinces: list[AnnualRow]
    nation: AnnualRow


def _row(code: str, name: str, province: str, values: tuple[Any, ...]) -> AnnualRow:
    figures = {f: int(Decimal(v or 0)) for f, v in zip(FIGURES, values, strict=True)}
    return AnnualRow(code=code, name=name, province=province, **figures)


def annual_report(warehouse: Warehouse, year: int) -> AnnualReport:
    """The national annual report of ``year`` from the current reports of its months."""
    centers = [
        _row(str(r[0]), str(r[1]), str(r[2]), r[3:]) for r in warehouse.query(_annual_sql(year, "center"))
    ]
    provinces = [
        _row("", str(r[0]), str(r[0]), r[1:]) for r in warehouse.query(_annual_sql(year, "province"))
    ]
    nation_rows = warehouse.query(_annual_sql(year, "nation"))
    nation = _row("", "全国合计", "", nation_rows[0] if nation_rows else (0,) * len(FIGURES))
    return AnnualReport(year, centers, provinces, nation)


# The columns of the report's tables: (header, how a row gives it, kind: yuan | count | rate).
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("缴存额（元）", "deposits", "yuan"),
    ("提取额（元）", "withdrawals", "yuan"),
    ("提取率（%）", "withdrawal_rate", "rate"),
    ("个贷发放额（元）", "issued", "yuan"),
    ("缴存余额（元）", "deposit_balance", "yuan"),
    ("个贷余额（元）", "loan_balance", "yuan"),
    ("个贷率（%）", "loan_ratio", "rate"),
    ("逾期率（‰）", "overdue_rate", "rate"),
    ("使用率（%）", "usage_rate", "rate"),
    ("增值收益（元）", "value_added", "yuan"),
    ("实缴单位（个）", "units", "count"),
    ("实缴职工（人）", "persons", "count"),
)


def cell(row: AnnualRow, attribute: str, kind: str) -> Decimal | int | None:
    value = getattr(row, attribute)
    if kind == "yuan":
        return (Decimal(value) / 100).quantize(Decimal("0.01"))
    return value  # type: ignore[no-any-return]


def statements(month: str) -> dict[str, str]:
    """Every national statement of a month, by name: what the bench times and what the Spark
    test holds to DuckDB's answers (the same SQL text on each engine)."""
    year = int(check_month(month)[:4])
    out = {
        "nation_totals": month_totals_sql(month, by_province=False),
        "province_totals": month_totals_sql(month, by_province=True),
        "member_sums_by_center": member_sums_by_center_sql(month),
    }
    out["member_accounts"], out["member_persons"] = member_figures_sql(month)
    out |= {f"annual_{tier}": _annual_sql(year, tier) for tier in ("center", "province", "nation")}
    return out


def normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows as comparable across engines: decimals without trailing zeros, in a fixed order."""

    def one(v: Any) -> Any:
        if isinstance(v, Decimal):
            return v.normalize()
        if isinstance(v, float):
            return Decimal(repr(v)).normalize()
        return v

    return sorted((tuple(one(v) for v in row) for row in rows), key=repr)
