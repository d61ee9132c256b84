"""The HPF chart of accounts (会计科目), after REFERENCE §6.4 (《住房公积金会计核算办法》 style).

Pure data. Codes and names follow the Bijie implementation cited there; ``local`` marks the
few sub-accounts OpenHPF adds where the reference gives no code (e.g. 21901 for receipts
that are not yet allocated to members, 21903 for payouts reserved but not yet paid by the bank).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Side(StrEnum):
    DEBIT = "D"
    CREDIT = "C"


class Category(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    RESERVE = "reserve"  # 准备与增值收益 (equity-like, credit normal)
    INCOME = "income"
    EXPENSE = "expense"


class SubLedger(StrEnum):
    """Which detail ledger a subject keeps, if any."""

    MEMBER = "member"  # 201: one account per member, split carried-over / current-year
    EMPLOYER = "employer"  # 21901: receipts an employer paid that are not yet allocated


@dataclass(frozen=True)
class Subject:
    code: str
    name_zh: str
    name_en: str
    category: Category
    normal_side: Side
    sub_ledger: SubLedger | None = None
    local: bool = False


def _s(
    code: str,
    zh: str,
    en: str,
    category: Category,
    sub: SubLedger | None = None,
    local: bool = False,
) -> Subject:
    normal = Side.DEBIT if category in (Category.ASSET, Category.EXPENSE) else Side.CREDIT
    return Subject(code, zh, en, category, normal, sub, local)


A, L, R, INC, EXP = (
    Category.ASSET,
    Category.LIABILITY,
    Category.RESERVE,
    Category.INCOME,
    Category.EXPENSE,
)

CHART: tuple[Subject, ...] = (
    _s("101", "住房公积金存款", "HPF bank deposits", A),
    _s("102", "增值收益存款", "value-added income deposits", A),
    _s("111", "应收利息", "interest receivable", A),
    _s("119", "其他应收款", "other receivables", A),
    _s("121", "委托贷款", "entrusted loans", A),
    _s("122", "逾期贷款", "overdue loans", A),
    _s("124", "国家债券", "government bonds", A),
    _s("201", "住房公积金", "HPF member deposits (control)", L, SubLedger.MEMBER),
    _s("211", "应付利息", "interest payable", L),
    _s("214", "专项应付款", "special payables", L),
    _s("21402", "城市廉租住房建设补充资金", "public rental housing supplement", L),
    _s("219", "其他应付款", "other payables", L),
    _s("21901", "单位暂收款", "employer receipts awaiting allocation", L, SubLedger.EMPLOYER, True),
    _s("21903", "付款在途", "payments in transit", L, local=True),
    _s("21999", "其他应付款-其他", "other payables, other", L, local=True),
    _s("301", "贷款风险准备", "loan risk reserve", R),
    _s("311", "增值收益", "value-added income", R),
    _s("321", "增值收益分配", "value-added income distribution", R),
    _s("3210102", "提取贷款风险准备金", "appropriation to loan risk reserve", R),
    _s("3210103", "提取管理费用", "appropriation to management expenses", R),
    _s("3210104", "廉租住房补充资金", "appropriation to public rental housing", R),
    _s("32103", "待分配增值收益", "value-added income to distribute", R),
    _s("32104", "待分配增值收益-其他", "value-added income to distribute, other", R),
    _s("401", "业务收入", "operating income", INC),
    _s("40101", "住房公积金利息收入", "interest on HPF deposits", INC),
    _s("40102", "增值收益利息收入", "interest on value-added income deposits", INC),
    _s("40103", "委托贷款利息收入", "interest on entrusted loans", INC),
    _s("40104", "国债利息收入", "interest on government bonds", INC),
    _s("40105", "其他收入", "other income", INC),
    _s("411", "业务支出", "operating expenses", EXP),
    _s("41101", "住房公积金利息支出", "interest paid to members", EXP),
    _s("41102", "归集手续费支出", "collection fees", EXP),
    _s("41103", "委托贷款手续费支出", "entrusted loan fees", EXP),
)

SUBJECTS: dict[str, Subject] = {s.code: s for s in CHART}

MEMBER_CONTROL = "201"
EMPLOYER_SUSPENSE = "21901"
BANK_DEPOSITS = "101"
# Money reserved for a payout and not yet confirmed paid by the bank (hpf.settlement).
PAYMENTS_IN_TRANSIT = "21903"


def parent_of(code: str) -> str | None:
    """The nearest listed ancestor: ``3210102`` → ``321``, ``21901`` → ``219``."""
    for cut in range(len(code) - 1, 2, -1):
        if code[:cut] in SUBJECTS:
            return code[:cut]
    return None


# Only leaf subjects take postings; a parent's balance is the sum of its children.
POSTABLE: frozenset[str] = frozenset(SUBJECTS) - {
    parent for parent in (parent_of(code) for code in SUBJECTS) if parent
}
