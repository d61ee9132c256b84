"""The annual 归集使用计划 (collection and use plan) drafted from the forecasts (D1).

Each month of the plan year takes, per series, in this order: the actual figure when the month
is already history, else the forecast's mean when the forecast covers it, else the same month a
year earlier (actual or forecast: a seasonal carry) — each line says which it used. The
assumptions then adjust each series: an annual amount set by hand replaces the drafted one
(spread over the months in the drafted proportion), else the growth rate scales every month not
yet history (``amount × (1 + growth)``, whole fen ROUND_HALF_UP). The assumptions are stored per
year, one version per save, never overwritten (``plan_assumption``).

The plan: sources (年初银行存款, 归集, 贷款回收), uses (提取 by reason, 贷款发放), the year-end
balance and the year-end 个贷率 they imply. Exported as xlsx (openpyxl) and PDF (reportlab).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from hpf.jobs import JSONValue
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.kernel.exports import safe_cell
from hpf.kernel.money import format_yuan
from hpf.ledger.chart import MEMBER_CONTROL
from hpf.ledger.queries import subject_debit_balance
from hpf.planning.forecast import Forecast
from hpf.planning.liquidity import BANK_SUBJECTS, LOAN_SUBJECTS, ratio
from hpf.planning.series import (
    COLLECTIONS,
    DISBURSEMENTS,
    REPAYMENTS,
    WITHDRAWALS,
    MonthlySeries,
    monthly_history,
    series_zh,
)
from hpf.planning.tables import plan_assumption
from hpf.web.pdf_font import cjk_font

PLANNED = (COLLECTIONS, REPAYMENTS, WITHDRAWALS, DISBURSEMENTS)
GROWTH_LIMIT = Decimal(10)
BASIS_ZH = {
    "actual": "实际数",
    "forecast": "预测数",
    "carry": "上年同月数",
    "none": "无数据",
    "override": "人工设定",
}


@dataclass(frozen=True)
class Assumption:
    growth: Decimal = Decimal(0)  # applied to the months not yet history
    override_fen: int | None = None  # the year's amount set by hand


@dataclass(frozen=True)
class Assumptions:
    by_series: dict[str, Assumption] = field(default_factory=dict)
    version: int = 0  # 0: the defaults, never saved
    note: str = ""
    actor: str = ""

    def of(self, name: str) -> Assumption:
        return self.by_series.get(name, Assumption())

    def to_json(self) -> dict[str, JSONValue]:
        return {
            name: {"growth": str(a.growth), "override_fen": a.override_fen}
            for name, a in self.by_series.items()
        }


def parse_assumptions(raw: dict[str, Any]) -> dict[str, Assumption]:
    """Assumptions from JSON (``{series: {"growth": "0.05", "override_fen": null}}``), checked."""
    out: dict[str, Assumption] = {}
    for name, spec in raw.items():
        if name not in PLANNED and not name.startswith(f"{WITHDRAWALS}:"):
            raise InvalidInput("planning.unknown_series", f"未知的计划项目：{name}", f"unknown series {name!r}",
                               field=name)  # fmt: skip
        try:
            growth = Decimal(str(spec.get("growth") or "0"))
        except ArithmeticError:
            raise InvalidInput("planning.invalid_growth", "增长率格式错误", f"{spec!r}", field=name) from None
        if not -1 <= growth <= GROWTH_LIMIT or growth.as_tuple().exponent < -4:  # type: ignore[operator]
            raise InvalidInput("planning.invalid_growth", "增长率须在-100%至1000%之间，最多四位小数",
                               f"growth {growth} out of range", field=name)  # fmt: skip
        override = spec.get("override_fen")
        if override is not None and (
            isinstance(override, bool) or not isinstance(override, int) or override < 0
        ):
            raise InvalidInput(
                "planning.invalid_override", "设定金额须为非负整数（分）", f"{override!r}", field=name
            )
        out[name] = Assumption(growth, override)
    return out


def save_assumptions(
    conn: Connection, ctx: Context, year: int, raw: dict[str, Any], note: str = ""
) -> Assumptions:
    """Store a new version of ``year``'s assumptions (the previous ones stay)."""
    parsed = parse_assumptions(raw)
    version = int(conn.scalar(select(func.coalesce(func.max(plan_assumption.c.version), 0))
                              .where(plan_assumption.c.year == year)) or 0) + 1  # fmt: skip
    saved = Assumptions(parsed, version, note[:200], ctx.actor)
    conn.execute(plan_assumption.insert().values(
        year=year, version=version, assumptions=saved.to_json(), note=saved.note, actor=ctx.actor, saved_at=ctx.clock.now(),
    ))  # fmt: skip
    return saved


def assumptions_of(conn: Connection, year: int, version: int | None = None) -> Assumptions:
    """``year``'s assumptions: the given version, else the latest; the defaults when none saved."""
    a = plan_assumption.c
    query = select(plan_assumption).where(a.year == year)
    query = query.where(a.version == version) if version else query.order_by(a.version.desc()).limit(1)
    row = conn.execute(query).first()
    if row is None:
        if version:
            raise InvalidInput("planning.no_such_version", f"{year}年度计划无第{version}版假设",
                               f"no version {version} for {year}", field="version")  # fmt: skip
        return Assumptions()
    return Assumptions(parse_assumptions(row.assumptions), int(row.version), row.note, row.actor)


def assumption_versions(conn: Connection, year: int) -> list[tuple[int, str, str, object]]:
    a = plan_assumption.c
    rows = conn.execute(
        select(a.version, a.note, a.actor, a.saved_at).where(a.year == year).order_by(a.version.desc())
    )
    return [(int(r[0]), r[1], r[2], r[3]) for r in rows]


@dataclass(frozen=True)
class PlanLine:
    key: str
    zh: str
    months_fen: tuple[int, ...]  # January … December
    basis: tuple[str, ...]  # per month: actual, forecast, carry, none, override
    growth: Decimal
    overridden: bool

    @property
    def total_fen(self) -> int:
        return sum(self.months_fen)

    @property
    def basis_zh(self) -> str:
        counts: dict[str, int] = {}
        for b in self.basis:
            counts[b] = counts.get(b, 0) + 1
        return "，".join(f"{BASIS_ZH[b]}{n}个月" for b, n in counts.items())


@dataclass(frozen=True)
class Plan:
    year: int
    drafted_on: date
    assumptions: Assumptions
    sources: list[PlanLine]  # collections, repayments
    uses: list[PlanLine]  # withdrawals by reason, disbursements
    opening_bank_fen: int
    opening_loans_fen: int
    opening_deposits_fen: int
    notes: list[str]

    @property
    def sources_total_fen(self) -> int:
        return self.opening_bank_fen + sum(line.total_fen for line in self.sources)

    @property
    def uses_total_fen(self) -> int:
        return sum(line.total_fen for line in self.uses)

    @property
    def closing_bank_fen(self) -> int:
        return self.sources_total_fen - self.uses_total_fen

    def total_of(self, key: str) -> int:
        """A series' year total; ``withdrawals`` sums the reasons' lines."""
        lines = (*self.sources, *self.uses)
        if key == WITHDRAWALS:
            return sum(ln.total_fen for ln in lines if ln.key.split(":")[0] == WITHDRAWALS)
        return sum(ln.total_fen for ln in lines if ln.key == key)

    @property
    def closing_loan_ratio(self) -> Decimal | None:
        """Year-end 个贷率: (loans + disbursed − repaid) ÷ (deposits + collected − withdrawn)."""
        loans = self.opening_loans_fen + self.total_of(DISBURSEMENTS) - self.total_of(REPAYMENTS)
        deposits = self.opening_deposits_fen + self.total_of(COLLECTIONS) - self.total_of(WITHDRAWALS)
        return ratio(loans, deposits)


def _grow(fen: int, growth: Decimal) -> int:
    return int((Decimal(fen) * (1 + growth)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def spread(total_fen: int, weights: list[int]) -> list[int]:
    """``total_fen`` over the months in proportion to ``weights`` (equal when they sum to 0); the
    remainder of the rounding goes to the last month, so the months sum to the total exactly."""
    n = len(weights)
    base = sum(weights)
    if base <= 0:
        weights, base = [1] * n, n
    parts = [
        int((Decimal(total_fen) * w / base).quantize(Decimal(1), rounding=ROUND_HALF_UP)) for w in weights
    ]
    parts[-1] += total_fen - sum(parts)
    return parts


def plan_line(
    key: str,
    year: int,
    forecast: Forecast | None,
    assumption: Assumption,
    history: MonthlySeries | None = None,
) -> PlanLine:
    """One line of the plan (see the module's rule for each month); the actuals are ``history``'s
    when given, else the forecast's."""
    known: dict[str, tuple[int, str]] = {}
    if forecast is not None:
        known.update(
            {m: (v, "actual") for m, v in zip(forecast.history_months, forecast.history_fen, strict=True)}
        )
        known.update({m: (v, "forecast") for m, v in zip(forecast.months, forecast.mean_fen, strict=True)})
    if history is not None:
        known.update({m: (v, "actual") for m, v in zip(history.months, history.values_fen, strict=True)})
    months: list[int] = []
    basis: list[str] = []
    for mon in range(1, 13):
        month = f"{year}-{mon:02d}"
        earlier = f"{year - 1}-{mon:02d}"
        if month in known:
            value, how = known[month]
        elif earlier in known:
            value, how = known[earlier][0], "carry"
        else:
            value, how = 0, "none"
        months.append(value if how == "actual" else _grow(value, assumption.growth))
        basis.append(how)
    if assumption.override_fen is not None:
        months = spread(assumption.override_fen, months)
        basis = ["override"] * 12
    return PlanLine(key, series_zh(key), tuple(months), tuple(basis), assumption.growth,
                    assumption.override_fen is not None)  # fmt: skip


def draft(conn: Connection, year: int, on: date, forecasts: list[Forecast], assumptions: Assumptions) -> Plan:
    """The plan of ``year`` drafted on ``on`` from ``forecasts`` under ``assumptions``."""
    by_name = {f.name: f for f in forecasts}
    actual = {s.name: s for s in monthly_history(conn, on)}

    def line(key: str) -> PlanLine:
        return plan_line(key, year, by_name.get(key), assumptions.of(key), actual.get(key))

    reasons = sorted(n for n in {*by_name, *actual} if n.startswith(f"{WITHDRAWALS}:"))
    sources = [line(k) for k in (COLLECTIONS, REPAYMENTS)]
    uses = [line(k) for k in reasons] or [line(WITHDRAWALS)]  # no withdrawal yet: the total as one line
    uses.append(line(DISBURSEMENTS))
    notes = [
        f"{series_zh(f.name)}：{f.message_zh}" for f in forecasts if f.name in PLANNED or f.name in reasons
    ]
    deposits = -subject_debit_balance(conn, [MEMBER_CONTROL])
    return Plan(year, on, assumptions, sources, uses, subject_debit_balance(conn, BANK_SUBJECTS),
                subject_debit_balance(conn, LOAN_SUBJECTS), deposits, notes)  # fmt: skip


# ----------------------------------------------------------------------------------- exports

MONTHS_ZH = [f"{m}月" for m in range(1, 13)]


def _rows(plan: Plan) -> list[tuple[str, list[int], str]]:
    rows: list[tuple[str, list[int], str]] = [("年初银行存款", [plan.opening_bank_fen], "")]
    rows += [(f"资金来源：{ln.zh}", list(ln.months_fen), ln.basis_zh) for ln in plan.sources]
    rows += [(f"资金运用：{ln.zh}", list(ln.months_fen), ln.basis_zh) for ln in plan.uses]
    return rows


def to_xlsx(plan: Plan) -> bytes:
    """The plan as an xlsx workbook: one sheet of lines by month, one of assumptions and notes."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = f"{plan.year}年归集使用计划"
    sheet.append(
        [f"{plan.year}年度住房公积金归集使用计划（草案，编制日期{plan.drafted_on.isoformat()}，单位：元）"]
    )
    sheet.append(["项目", *MONTHS_ZH, "全年合计", "依据"])
    for label, months, basis in _rows(plan):
        values = [Decimal(v) / 100 for v in months]
        if len(values) == 1:
            sheet.append([label, *([None] * 12), values[0], basis])
        else:
            sheet.append([safe_cell(label), *values, Decimal(sum(months)) / 100, safe_cell(basis)])
    sheet.append(["资金来源合计", *([None] * 12), Decimal(plan.sources_total_fen) / 100])
    sheet.append(["资金运用合计", *([None] * 12), Decimal(plan.uses_total_fen) / 100])
    sheet.append(["年末预计银行存款", *([None] * 12), Decimal(plan.closing_bank_fen) / 100])
    loan_ratio = plan.closing_loan_ratio
    sheet.append(
        ["年末预计个贷率", *([None] * 12), f"{loan_ratio * 100:.2f}%" if loan_ratio is not None else "—"]
    )
    for row in sheet.iter_rows(min_row=3, min_col=2, max_col=14):
        for cell in row:
            cell.number_format = "#,##0.00"
    notes = book.create_sheet("假设与说明")
    notes.append(["假设版本", plan.assumptions.version or "默认", safe_cell(plan.assumptions.note)])
    notes.append(["项目", "增长率", "人工设定全年金额（元）"])
    for ln in (*plan.sources, *plan.uses):
        notes.append([ln.zh, str(ln.growth), format_yuan(ln.total_fen) if ln.overridden else ""])
    notes.append([])
    for note in plan.notes:
        notes.append([safe_cell(note)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(plan: Plan) -> bytes:
    """The plan as a PDF: lines by quarter with the year's total, the balance, the notes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = cjk_font()
    title = ParagraphStyle("t", fontName=font, fontSize=14, leading=20)
    body = ParagraphStyle("b", fontName=font, fontSize=8, leading=11)
    data: list[list[str]] = [["项目", "一季度", "二季度", "三季度", "四季度", "全年合计", "依据"]]
    for label, months, basis in _rows(plan):
        if len(months) == 1:
            data.append([label, "", "", "", "", format_yuan(months[0]), basis])
        else:
            quarters = [format_yuan(sum(months[q * 3 : q * 3 + 3])) for q in range(4)]
            data.append([label, *quarters, format_yuan(sum(months)), basis])
    loan_ratio = plan.closing_loan_ratio
    data += [
        ["资金来源合计", "", "", "", "", format_yuan(plan.sources_total_fen), ""],
        ["资金运用合计", "", "", "", "", format_yuan(plan.uses_total_fen), ""],
        ["年末预计银行存款", "", "", "", "", format_yuan(plan.closing_bank_fen), ""],
        ["年末预计个贷率", "", "", "", "", f"{loan_ratio * 100:.2f}%" if loan_ratio is not None else "—", ""],
    ]
    table = Table(data, repeatRows=1)
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8),
        ("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("ALIGN", (1, 1), (5, -1), "RIGHT"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
    ]))  # fmt: skip
    version = f"第{plan.assumptions.version}版" if plan.assumptions.version else "默认"
    story = [
        Paragraph(f"{plan.year}年度住房公积金归集使用计划（草案）", title),
        Paragraph(f"编制日期：{plan.drafted_on.isoformat()}；假设：{version}；单位：元", body),
        Spacer(1, 6), table, Spacer(1, 8),
        *[Paragraph(note, body) for note in plan.notes],
    ]  # fmt: skip
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=landscape(A4), title=f"{plan.year}年度归集使用计划").build(story)
    return out.getvalue()
