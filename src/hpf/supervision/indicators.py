"""The supervision indicators of a center's month (decision 0039): the catalogue, which of its
indicators this center's data supports, and their set-based computation.

The catalogue is ``catalogue.csv`` (REFERENCE §7.2: 241 indicators, app 0301 归集提取 and 0302
个人贷款). :data:`COMPUTED` lists the codes computed here; every other code has its reason in
:func:`unsupported_reason` (the table of decision 0039 is generated from it). A code beginning
``99`` is center-local: a figure the national annual report needs that the catalogue lacks.

Everything is read through the business packages' published reads (decision 0024): the ledger's
member lines and the 科目余额表 of the month, the member and employer records, the remittance
lists and their rows, the withdrawal claims and the loan book — each a grouped SQL statement,
never a loop over members. Amounts are fen; a ratio is a percentage with four decimals, rounded
half up. Flows are the month's (by value date for member money, by posting date for the
ledger's subjects, by the business date for loans, lists and claims); stocks are at the month's
end: balances, loans and overdue principal where the ledger keeps them; the states of member and
employer accounts read back from their history to the month's last day
(``accounts.queries.member_states_at_subquery``, ``employer_states_at_subquery``); a list counts
as filed when it was by the month's end (``created_on``) and as paid when it was posted by then
(``posted_on``); the loans outstanding are those disbursed by the month's end and not settled by
then (decision 0042). So a month's figures computed later — after members were sealed, employers
deferred, accounts opened or closed, lists filed or posted in the following months — are the
figures computed on its last day. Only 目前逾期户数 and 目前逾期利息 are the loan book as it stands
when computed (the book keeps no history of a loan's overdue amounts; the month-end run computes
the report right after the month closes, and a restatement computed later says so in its reason).
"""

from __future__ import annotations

import csv
from calendar import monthrange
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Subquery, and_, case, distinct, func, literal, or_, select

from hpf.accounts import queries as accounts
from hpf.contributions import queries as contributions
from hpf.ledger import queries as ledger
from hpf.ledger.service import period_trial_balance
from hpf.loans import queries as loans
from hpf.withdrawals import queries as withdrawals

CATALOGUE = Path(__file__).with_name("catalogue.csv")
CLOSED_STATES = ("03", "04", "05")  # GRZHZT 合并销户, 外部转出销户, 提取销户
CONTRIBUTED = ("01", "02", "08", "99")  # 汇缴, 补缴, 外部转入, the stock loaded at opening
LOCAL = {"9901000001": "增值收益（本期）", "9901000002": "业务收入（本期）", "9901000003": "业务支出（本期）"}


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    category: str
    period: str  # 03 月, 06 年, 01 日 …
    dims: tuple[str, ...]
    unit: str


@cache
def catalogue() -> dict[str, Indicator]:
    with CATALOGUE.open(encoding="utf-8") as f:
        return {
            row["code"]: Indicator(
                row["code"], row["name"], row["category"], row["period"],
                tuple(d for d in (row["dim1"], row["dim2"], row["dim3"]) if d), row["unit"],
            )
            for row in csv.DictReader(f)
        }  # fmt: skip


# -- which codes are computed ------------------------------------------------------------------

MEMBER_FLOWS = {
    "0301003201": "实缴人数", "0301003401": "补缴人数", "0301007201": "实归集额", "0301007301": "补缴金额",
    "0301003901": "提取人数", "0301004001": "提取人次", "0301007601": "提取本金", "0301004101": "外部转入人数",
    "0301007801": "外部转入金额", "0301004201": "外部转出人数", "0301007901": "外部转出金额(本金)",
    "0301007602": "提取本金(跨中心转出)", "0301008001": "结转利息额", "0301008101": "归集余额",
    "0301003601": "新增人数",
}  # fmt: skip
ACCOUNT_STOCKS = {
    "0301005201": "开户总人数", "0301011004": "历史累计个人账户数", "0301005101": "实存人数",
    "0301005301": "正常总人数", "0301005401": "封存总人数", "0301005501": "销户总人数", "0301005601": "冻结总人数",
    "0301003801": "销户人数", "0301003701": "封存人数", "0301008004": "非正常账户余额",
}  # fmt: skip
EMPLOYER_STOCKS = {
    "0301002101": "开户总单位数", "0301011003": "历史累计单位账户数", "0301000401": "实存单位数",
    "0301002301": "正常总单位数", "0301002401": "封存总单位数", "0301002201": "销户总单位数",
    "0301000801": "缓缴单位数", "0301000701": "封存单位数", "0301000501": "新增单位数", "0301000601": "销户单位数",
}  # fmt: skip
LISTS = {
    "0301000201": "实缴单位数", "0301000202": "实缴单位数(按年)", "0301003206": "实缴人数(按年)",
    "0301003301": "实缴人次", "0301007101": "应归集额", "0301003101": "应缴人数", "0301000301": "未缴单位数",
    "0301003501": "未缴人数", "0301001101": "补缴单位数",
}  # fmt: skip
HISTORY = {
    "0301010101": "历史累计归集额", "0301010701": "历史累计提取额", "0301010201": "历史累计补缴额",
    "0301010501": "历史累计外部转入额", "0301010601": "历史累计外部转出额", "0301010801": "历史累计归集人数",
    "0301011001": "历史累计提取人数",
}  # fmt: skip
BY_REASON = {
    "0301003911": "提取人数(提取原因)",
    "0301004011": "提取人次(提取原因)",
    "0301007611": "提取本金(提取原因)",
}
LOAN_FLOWS = {
    "0302000101": "发放额", "0302000102": "发放额（5年以内含）", "0302000103": "发放额（5年以上）",
    "0302002001": "发放户数", "0302002002": "发放户数（5年以内含）", "0302002003": "发放户数（5年以上）",
    "0302000301": "结清额", "0302002201": "结清户数", "0302010101": "历史累计发放额",
    "0302010102": "历史累计发放额（5年以内含）", "0302010103": "历史累计发放额（5年以上）",
    "0302012001": "历史累计发放户数", "0302012002": "历史累计发放户数（5年以内含）",
    "0302012003": "历史累计发放户数（5年以上）", "0302010301": "历史累计结清额", "0302012201": "历史累计结清户数",
    "0302000903": "目前逾期利息", "0302002301": "目前逾期户数", "0302012004": "存量贷款笔数",
}  # fmt: skip
LEDGER = {
    "0302000801": "贷款余额", "0302000902": "目前逾期本金", "0302000901": "目前逾期本息", "0302000201": "回收额",
    "0302000401": "回收利息", "0301008102": "暂存款余额", "9901000001": "增值收益（本期）",
    "9901000002": "业务收入（本期）", "9901000003": "业务支出（本期）",
}  # fmt: skip
RATIOS = {
    "0301020401": "提取额占缴存额比重", "0301020501": "住房公积金使用率", "0302020101": "贷款发放占缴存额比重（月）",
    "0302020201": "住房公积金运用率（月）", "0302020301": "住房公积金个贷率（月）",
    "0302020401": "住房公积金个贷逾期率（月）", "0302020501": "住房公积金个贷增长率（月）",
}  # fmt: skip
COMPUTED: dict[str, str] = {
    **MEMBER_FLOWS, **ACCOUNT_STOCKS, **EMPLOYER_STOCKS, **LISTS, **HISTORY, **BY_REASON, **LOAN_FLOWS,
    **LEDGER, **RATIOS,
}  # fmt: skip

# Why a catalogue indicator is not computed: the first pattern its name matches.
REASONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("收入水平",), "职工收入分档：中心只保存缴存基数，国家未定义收入水平的分档口径"),
    (
        ("非本市", "异地贷款"),
        "异地缴存职工的贷款与提取未单独标识（跨中心贷款登记见决定0031，尚未计入本报送）",
    ),
    (("他行回收", "本行回收", "现金", "冲还贷"), "回收渠道（本行、他行、现金、冲还贷）未在贷款账中记录"),
    (
        ("正常还清", "提前还清", "提前还本", "（正常）", "（逾期）", "（提前）"),
        "回收和结清未按还款类型拆分发布（贷款事件未作为公开读取发布）",
    ),
    (
        ("5年以上", "5年以内", "5年以下"),
        "按贷款期限拆分的回收、余额和利息需逐笔还款的期限口径，本期只报发放的拆分",
    ),
    (
        (
            "购房面积",
            "建筑面积",
            "房屋价格",
            "贷款用途",
            "资金来源",
            "新房、二手房",
            "担保方式",
            "贷款次数",
            "借款人年龄",
            "缴存人数",
            "贷款时缴存年限",
            "贷款年限",
            "还款方式",
            "单位性质",
            "缴存状态",
            "共同借款人",
        ),
        "贷款的分维度统计（面积、用途、担保、年龄等）本期未实现：本期只报中心合计",
    ),
    (("期次",), "逾期期次未分档（贷款账只记逾期天数）"),
    (("暂存款笔数", "缴暂存款净额"), "单位暂收款按笔的统计未作为公开读取发布（只有余额）"),
    (("比例超限",), "缴存比例上下限的超限判定属数据质量规则（决定0032），未计入报送"),
    (("按年",), "年度口径的去重统计在12月报送中以年累计给出"),
    (("缴存率", "覆盖率", "归集增长率"), "需要中心以外的数据（城镇从业人员数、上年同期），中心无法计算"),
    (
        ("提取利息", "结转利息额（", "外部转出金额(利息)"),
        "会员分户账不区分提取的本金与利息（按结转/当年部分记账）",
    ),
    (
        (
            "应收",
            "逾期本息（本期发生）",
            "逾期本金（本期发生）",
            "逾期利息（本期发生）",
            "历史累计逾期",
            "历史累计回收",
        ),
        "应收与逾期的本期发生额、历史累计回收需贷款事件流水，未作为公开读取发布",
    ),
)


def unsupported_reason(code: str) -> str | None:
    """Why ``code`` is not computed (None: it is)."""
    if code in COMPUTED:
        return None
    name = catalogue()[code].name
    for patterns, reason in REASONS:
        if any(p in name for p in patterns):
            return reason
    return "本期未实现"


# -- the month ----------------------------------------------------------------------------------


def month_bounds(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year, number, monthrange(year, number)[1])


def member_month_subquery(start: date, end: date, name: str = "member_month") -> Subquery:
    """One row per member account opened by ``end`` and not closed before ``start``: its state at
    ``end``, the month's flows by value date and the balance at ``end``.

    Columns: ``member_id``, ``state``, ``opened`` (0/1), ``paid_fen`` (汇缴), ``back_paid_fen``
    (补缴), ``withdrawn_fen``, ``withdrawals`` (entries), ``transfer_in_fen``, ``transfer_out_fen``,
    ``interest_fen``, ``balance_fen`` (at ``end``)."""
    m = accounts.member_records_subquery("mr")
    st = accounts.member_states_at_subquery(end, "mst")
    p = ledger.member_postings_subquery("mp")
    b = ledger.member_balances_subquery("mb")
    in_month = and_(p.c.value_date >= start, p.c.value_date <= end)

    def flow(types: tuple[str, ...], sign: int = 1) -> Any:
        return func.coalesce(
            func.sum(case((and_(in_month, p.c.business_type.in_(types)), p.c.signed_fen * sign), else_=0)), 0
        )

    lines = (
        select(
            p.c.member_id,
            flow(("01",)).label("paid_fen"),
            flow(("02",)).label("back_paid_fen"),
            flow(("11", "12"), -1).label("withdrawn_fen"),
            func.count(
                distinct(
                    case(
                        (
                            and_(in_month, p.c.business_type.in_(("11", "12")), p.c.signed_fen < 0),
                            p.c.entry_id,
                        )
                    )
                )
            ).label("withdrawals"),
            flow(("08",)).label("transfer_in_fen"),
            flow(("07",), -1).label("transfer_out_fen"),
            flow(("09",)).label("interest_fen"),
            func.coalesce(func.sum(case((p.c.value_date > end, p.c.signed_fen), else_=0)), 0).label(
                "after_fen"
            ),
        )
        .where(p.c.value_date >= start)
        .group_by(p.c.member_id)
        .subquery("ml")
    )
    zero = literal(0)
    return (
        select(
            m.c.id.label("member_id"),
            st.c.state,
            case((m.c.opened_on >= start, 1), else_=0).label("opened"),
            func.coalesce(lines.c.paid_fen, zero).label("paid_fen"),
            func.coalesce(lines.c.back_paid_fen, zero).label("back_paid_fen"),
            func.coalesce(lines.c.withdrawn_fen, zero).label("withdrawn_fen"),
            func.coalesce(lines.c.withdrawals, zero).label("withdrawals"),
            func.coalesce(lines.c.transfer_in_fen, zero).label("transfer_in_fen"),
            func.coalesce(lines.c.transfer_out_fen, zero).label("transfer_out_fen"),
            func.coalesce(lines.c.interest_fen, zero).label("interest_fen"),
            (
                func.coalesce(b.c.carried_fen, zero) + func.coalesce(b.c.current_fen, zero)
                - func.coalesce(lines.c.after_fen, zero)
            ).label("balance_fen"),
        )
        .select_from(
            m.join(st, st.c.member_id == m.c.id)
            .outerjoin(lines, lines.c.member_id == m.c.id)
            .outerjoin(b, b.c.member_id == m.c.id)
        )
        .where(m.c.opened_on <= end, or_(m.c.closed_on.is_(None), m.c.closed_on >= start))
        .subquery(name)
    )  # fmt: skip


def borrower_loans_subquery(name: str = "borrower_loans") -> Subquery:
    """Per borrower (member id): the active loans' principal outstanding and overdue now."""
    lo = loans.loan_facts_subquery("lf")
    return (
        select(
            lo.c.borrower_id,
            func.sum(lo.c.outstanding_principal_fen).label("loan_fen"),
            func.sum(lo.c.overdue_principal_fen).label("overdue_fen"),
        )
        .where(lo.c.state == "active")
        .group_by(lo.c.borrower_id)
        .subquery(name)
    )


Figures = dict[tuple[str, str], Decimal]


def _n(value: Any) -> Decimal:
    return Decimal(int(value or 0))


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    if not whole:
        return Decimal(0)
    return (part * 100 / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def compute(conn: Connection, month: str) -> Figures:
    """Every computed indicator of ``month``: (code, dim) → value (dim ``""``: the center)."""
    start, end = month_bounds(month)
    out: Figures = {}

    def put(code: str, value: Any, dim: str = "") -> None:
        out[(code, dim)] = value if isinstance(value, Decimal) else _n(value)

    # The member accounts' month (one grouped statement over the member lines of the month).
    mm = member_month_subquery(start, end)
    row = conn.execute(
        select(
            func.count(case((mm.c.paid_fen > 0, 1))), func.count(case((mm.c.back_paid_fen > 0, 1))),
            func.sum(mm.c.paid_fen), func.sum(mm.c.back_paid_fen),
            func.count(case((mm.c.withdrawals > 0, 1))), func.sum(mm.c.withdrawals), func.sum(mm.c.withdrawn_fen),
            func.count(case((mm.c.transfer_in_fen > 0, 1))), func.sum(mm.c.transfer_in_fen),
            func.count(case((mm.c.transfer_out_fen > 0, 1))), func.sum(mm.c.transfer_out_fen),
            func.sum(mm.c.interest_fen), func.sum(mm.c.balance_fen), func.sum(mm.c.opened),
            func.sum(case((mm.c.state != "01", mm.c.balance_fen), else_=0)),
        )
    ).one()  # fmt: skip
    (paying, back_paying, paid, back_paid, withdrawing, withdrawals_n, withdrawn, in_n, in_fen, out_n, out_fen,
     interest, balance, opened, abnormal_balance) = row  # fmt: skip
    put("0301003201", paying)
    put("0301003401", back_paying)
    put("0301007201", _n(paid) + _n(back_paid))
    put("0301007301", back_paid)
    put("0301003901", withdrawing)
    put("0301004001", withdrawals_n)
    put("0301007601", withdrawn)
    put("0301004101", in_n)
    put("0301007801", in_fen)
    put("0301004201", out_n)
    put("0301007901", out_fen)
    put("0301007602", out_fen)
    put("0301008001", interest)
    put("0301008101", balance)
    put("0301003601", opened)
    put("0301008004", abnormal_balance)

    # Member accounts (states at the month's end from their history; openings and closings by date).
    m = accounts.member_records_subquery("m")
    ms = accounts.member_states_at_subquery(end, "ms")
    alive = and_(m.c.opened_on <= end, or_(m.c.closed_on.is_(None), m.c.closed_on > end))
    row = conn.execute(
        select(
            func.count(case((m.c.opened_on <= end, 1))), func.count(case((alive, 1))),
            func.count(case((and_(alive, ms.c.state == "01"), 1))), func.count(case((and_(alive, ms.c.state == "02"), 1))),
            func.count(case((m.c.closed_on <= end, 1))), func.count(case((and_(alive, ms.c.state == "06"), 1))),
            func.count(case((and_(m.c.closed_on >= start, m.c.closed_on <= end), 1))),
        ).select_from(m.join(ms, ms.c.member_id == m.c.id))
    ).one()  # fmt: skip
    for code, value in zip(
        ("0301005201", "0301005101", "0301005301", "0301005401", "0301005501", "0301005601", "0301003801"),
        row,
        strict=True,
    ):
        put(code, value)
    put("0301011004", row[0])
    sc = accounts.member_state_changes_subquery("sc")
    put(
        "0301003701",
        conn.scalar(
            select(func.count(distinct(sc.c.member_id))).where(
                sc.c.action == "seal", sc.c.changed_on >= start, sc.c.changed_on <= end
            )
        ),
    )

    # Employers (states at the month's end from their history).
    e = accounts.employer_records_subquery("e")
    es = accounts.employer_states_at_subquery(end, "es")
    e_alive = and_(e.c.opened_on <= end, or_(e.c.closed_on.is_(None), e.c.closed_on > end))
    row = conn.execute(
        select(
            func.count(case((e.c.opened_on <= end, 1))), func.count(case((e_alive, 1))),
            func.count(case((and_(e_alive, es.c.state == "01"), 1))), func.count(case((and_(e_alive, es.c.state == "05"), 1))),
            func.count(case((e.c.closed_on <= end, 1))), func.count(case((and_(e_alive, es.c.state == "03"), 1))),
            func.count(case((and_(e.c.opened_on >= start, e.c.opened_on <= end), 1))),
            func.count(case((and_(e.c.closed_on >= start, e.c.closed_on <= end), 1))),
        ).select_from(e.join(es, es.c.employer_id == e.c.id))
    ).one()  # fmt: skip
    for code, value in zip(
        (
            "0301002101",
            "0301000401",
            "0301002301",
            "0301002401",
            "0301002201",
            "0301000801",
            "0301000501",
            "0301000601",
        ),
        row,
        strict=True,
    ):
        put(code, value)
    put("0301011003", row[0])
    put("0301000701", row[3])

    # Remittance lists (汇缴 of the month, 补缴 posted in the month; the year to date) — as they
    # stood at the month's end: filed by then (created_on), paid if posted by then (posted_on).
    r = contributions.remittances_subquery("r")
    w = contributions.remittance_rows_subquery("w")
    year_start = f"{month[:4]}-01"
    r_paid = and_(r.c.state == "posted", r.c.posted_on <= end)
    r_filed = and_(r.c.state != "cancelled", r.c.created_on <= end)
    w_paid = and_(w.c.state == "posted", w.c.posted_on <= end)
    w_filed = and_(w.c.state != "cancelled", w.c.created_on <= end)
    row = conn.execute(
        select(
            func.count(distinct(case((and_(r.c.kind == "01", r.c.month == month, r_paid), r.c.employer_id)))),
            func.count(distinct(case((and_(r.c.kind == "01", r.c.month >= year_start, r.c.month <= month, r_paid), r.c.employer_id)))),
            func.coalesce(func.sum(case((and_(r.c.kind == "01", r.c.month == month, r_filed), r.c.total_fen), else_=0)), 0),
            func.count(distinct(case((and_(r.c.kind == "02", r.c.state == "posted", r.c.posted_on >= start, r.c.posted_on <= end), r.c.employer_id)))),
        )
    ).one()  # fmt: skip
    put("0301000201", row[0])
    put("0301000202", row[1])
    put("0301007101", row[2])
    put("0301001101", row[3])
    row = conn.execute(
        select(
            func.count(case((and_(w.c.kind == "01", w.c.month == month, w_paid), 1))),
            func.count(distinct(case((and_(w.c.kind == "01", w.c.month >= year_start, w.c.month <= month, w_paid), w.c.member_id)))),
            func.count(distinct(case((and_(w.c.kind == "01", w.c.month == month, w_filed), w.c.member_id)))),
            func.count(distinct(case((and_(w.c.kind == "01", w.c.month == month, w_paid), w.c.member_id)))),
        )
    ).one()  # fmt: skip
    put("0301003301", row[0])
    put("0301003206", row[1])
    put("0301003101", row[2])
    put("0301003501", max(int(row[2]) - int(row[3]), 0))
    paid_employers = select(r.c.employer_id).where(r.c.kind == "01", r.c.month == month, r_paid)
    put(
        "0301000301",
        conn.scalar(
            select(func.count())
            .select_from(e.join(es, es.c.employer_id == e.c.id))
            .where(e_alive, es.c.state == "01", e.c.id.not_in(paid_employers))
        ),
    )

    # History from the member lines (value date up to the month's end), one grouped statement.
    p = ledger.member_postings_subquery("p")
    by_type = {
        str(t): (int(total or 0), int(people or 0))
        for t, total, people in conn.execute(
            select(p.c.business_type, func.sum(p.c.signed_fen), func.count(distinct(p.c.member_id)))
            .where(p.c.value_date <= end)
            .group_by(p.c.business_type)
        )
    }
    put("0301010101", sum(by_type.get(t, (0, 0))[0] for t in CONTRIBUTED))
    put("0301010701", -sum(by_type.get(t, (0, 0))[0] for t in ("11", "12")))
    put("0301010201", by_type.get("02", (0, 0))[0])
    put("0301010501", by_type.get("08", (0, 0))[0])
    put("0301010601", -by_type.get("07", (0, 0))[0])
    people = conn.execute(
        select(
            func.count(distinct(case((p.c.business_type.in_(("01", "02")), p.c.member_id)))),
            func.count(
                distinct(case((and_(p.c.business_type.in_(("11", "12")), p.c.signed_fen < 0), p.c.member_id)))
            ),
        ).where(p.c.value_date <= end)
    ).one()
    put("0301010801", people[0])
    put("0301011001", people[1])

    # Withdrawals by reason (claims paid, by the day applied).
    wd = withdrawals.withdrawals_subquery("wd")
    for reason, persons, claims, amount in conn.execute(
        select(wd.c.reason, func.count(distinct(wd.c.member_id)), func.count(), func.sum(wd.c.allowed_fen))
        .where(wd.c.state == "paid", wd.c.applied_on >= start, wd.c.applied_on <= end)
        .group_by(wd.c.reason)
    ):
        dim = f"bm_gz_tqyy={reason}"
        put("0301003911", persons, dim)
        put("0301004011", claims, dim)
        put("0301007611", amount, dim)

    # The loan book.
    lo = loans.loan_facts_subquery("lo")
    short = lo.c.term_months <= 60
    issued = and_(lo.c.disbursed_on >= start, lo.c.disbursed_on <= end)
    ever = lo.c.disbursed_on <= end
    settled = and_(lo.c.settled_on >= start, lo.c.settled_on <= end)
    active = lo.c.state == "active"
    # outstanding at the month's end: disbursed by then, not settled by then (the count of 0302012004)
    outstanding = and_(ever, or_(active, and_(lo.c.state == "settled", lo.c.settled_on > end)))

    def total(condition: Any, value: Any = None) -> Any:
        return func.coalesce(
            func.sum(case((condition, value if value is not None else lo.c.principal_fen), else_=0)), 0
        )

    row = conn.execute(
        select(
            total(issued), total(and_(issued, short)), total(and_(issued, ~short)),
            func.count(case((issued, 1))), func.count(case((and_(issued, short), 1))), func.count(case((and_(issued, ~short), 1))),
            total(settled), func.count(case((settled, 1))),
            total(ever), total(and_(ever, short)), total(and_(ever, ~short)),
            func.count(case((ever, 1))), func.count(case((and_(ever, short), 1))), func.count(case((and_(ever, ~short), 1))),
            total(lo.c.settled_on <= end), func.count(case((lo.c.settled_on <= end, 1))),
            total(active, lo.c.overdue_interest_fen),
            func.count(case((and_(active, or_(lo.c.overdue_principal_fen > 0, lo.c.overdue_interest_fen > 0)), 1))),
            func.count(case((outstanding, 1))),
        )
    ).one()  # fmt: skip
    for code, value in zip(
        ("0302000101", "0302000102", "0302000103", "0302002001", "0302002002", "0302002003", "0302000301",
         "0302002201", "0302010101", "0302010102", "0302010103", "0302012001", "0302012002", "0302012003",
         "0302010301", "0302012201", "0302000903", "0302002301", "0302012004"),
        row,
        strict=True,
    ):  # fmt: skip
        put(code, value)

    # The ledger: the 科目余额表 of the month.
    tb = {t.code: t for t in period_trial_balance(conn, start, end)}

    def closing(*codes: str) -> int:
        return sum(tb[c].closing_fen for c in codes if c in tb)

    def opening(*codes: str) -> int:
        return sum(tb[c].opening_fen for c in codes if c in tb)

    loan_balance, overdue = closing("121", "122"), closing("122")
    put("0302000801", loan_balance)
    put("0302000902", overdue)
    put("0302000901", overdue + int(out[("0302000903", "")]))
    put("0302000201", opening("121", "122") + int(out[("0302000101", "")]) - loan_balance)
    put("0302000401", tb["40103"].credit_fen - tb["40103"].debit_fen if "40103" in tb else 0)
    put("0301008102", closing("21901"))
    income = tb["401"].credit_fen - tb["401"].debit_fen if "401" in tb else 0
    expense = tb["411"].debit_fen - tb["411"].credit_fen if "411" in tb else 0
    put("9901000002", income)
    put("9901000003", expense)
    put("9901000001", income - expense)

    # Ratios (percent, four decimals).
    deposits, deposit_balance = out[("0301007201", "")], out[("0301008101", "")]
    bonds = Decimal(closing("124"))
    put("0301020401", _pct(out[("0301007601", "")], deposits))
    put(
        "0301020501",
        _pct(Decimal(loan_balance) + out[("0301010701", "")] + bonds, out[("0301010101", "")]),
    )
    put("0302020101", _pct(out[("0302000101", "")], deposits))
    put("0302020201", _pct(Decimal(loan_balance) + bonds, deposit_balance))
    put("0302020301", _pct(Decimal(loan_balance), deposit_balance))
    put("0302020401", _pct(Decimal(overdue), Decimal(loan_balance)))
    before = Decimal(opening("121", "122"))
    put("0302020501", _pct(Decimal(loan_balance) - before, before))
    return out


def member_rows_query(start: date, end: date) -> Any:
    """The member-level data set of the month without the pseudonym: ``member_id`` then the
    columns of ``hpf.messages.bodies.MEMBER_COLUMNS`` from ``state`` on, ordered by member id."""
    mm = member_month_subquery(start, end)
    bl = borrower_loans_subquery()
    return (
        select(
            mm.c.member_id, mm.c.state, mm.c.opened, mm.c.paid_fen, mm.c.back_paid_fen, mm.c.withdrawn_fen,
            mm.c.withdrawals, mm.c.transfer_in_fen, mm.c.transfer_out_fen, mm.c.interest_fen, mm.c.balance_fen,
            func.coalesce(bl.c.loan_fen, 0), func.coalesce(bl.c.overdue_fen, 0),
        )
        .select_from(mm.outerjoin(bl, bl.c.borrower_id == mm.c.member_id))
        .order_by(mm.c.member_id)
    )  # fmt: skip
