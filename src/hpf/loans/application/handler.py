"""Housing-loan applications (``LN-APPLY``) as a catalog item: the handler the application engine calls.

- ``evaluate`` reads the payload (a bad field refuses the submission), reads the household's facts
  set-based — borrower and co-borrowers: age, Σ balances, Σ monthly contribution bases, the
  borrower's continuous deposit months, HPF loans used and not yet repaid — and decides with the
  pure rules (``hpf.loans.application.rules``) under the center's loan policy in force on the contract date
  (``hpf.policy.queries.loan_policy_at``, decision 0022): every eligibility refusal is a failed
  rule, plus the requested amount within the maximum, the co-borrowers and the collateral (a
  mortgage needs its 他项权证号, and that certificate must not secure another live loan:
  blind-index lookup), and no unsettled HPF loan of the household at another center, asked of
  the hub through ``hpf.kernel.network`` where the loan policy says so (decision 0031; skipped,
  with a finding, by a center without a hub link). The calculation sheet lists every limit, which one bound, the term
  allowed and the first installment. A loan is never approved straight through: the flag
  ``review.loan`` always sends it to a reviewer (maker-checker: not whoever submitted or
  accepted it).
- ``on_approved`` makes the contract (``hpf.loans.book.service.create_loan``, idempotent by application)
  and reserves the disbursement through settlement: Dr 121 委托贷款 / Cr 21903, payee the seller.
  The payment run (``hpf.settlement.service.send_reserved``) sends it.
- The bank's answer comes back through :func:`disbursement_settled` (the listener of the order's
  final event for owner kind ``"loan"``, ``hpf.settlement.owners``): paid → the loan is activated
  with the *reservation* entry (the one that debits 121), which records ``loan.activated``, and
  :func:`loan_activated` (its listener) marks the application executed; failed → the reservation
  is reversed by settlement, the application fails and the contract stays ``approved`` but void
  (decision 0013). Both listeners are wired in ``hpf.bootstrap``.
- ``on_ended`` cancels a reservation never sent.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from hpf.accounts import queries as accounts_queries
from hpf.contributions.queries import posted_months
from hpf.events import Event
from hpf.kernel import network
from hpf.kernel.codes import code_table
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError
from hpf.kernel.findings import Finding, Severity, Verdict
from hpf.kernel.identifiers import parse_bank_card
from hpf.kernel.money import format_yuan
from hpf.kernel.records import fields_of
from hpf.ledger.service import member_balances
from hpf.loans.application.rules import (
    ELIGIBILITY_RULES,
    LoanLimit,
    LoanPolicy,
    LoanRequest,
    first_installment,
    max_loan_amount,
)
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan, loan_event
from hpf.loans.calculator import rates
from hpf.loans.calculator.schedule import MAX_MONTHS, Method
from hpf.loans.scorecard import model as scorecard
from hpf.loans.scorecard.features import features_of
from hpf.policy.queries import loan_policy_at
from hpf.protection.protect import blind_index
from hpf.services import service as applications
from hpf.services.handlers import Evaluation, Outputs, SheetLine
from hpf.services.payload import Fields, blank
from hpf.services.queries import application_state_of
from hpf.services.service import Application
from hpf.settlement import queries as settlement_queries
from hpf.settlement import service as settlement
from hpf.settlement.owners import PayoutOutcome
from hpf.settlement.rules import AccountClass, OrderState, Payee, PayoutRequest, Source
from hpf.withdrawals.rules import age_on
from hpf.withdrawals.service import continuous_deposit_months

ITEM = "LN-APPLY"
OWNER_KIND = "loan"  # the payouts disbursement_settled hears (hpf.bootstrap.listeners)
DISBURSEMENT_BUSINESS_TYPE = "01"  # DKYWMXLX 贷款发放 (the journal's business type)
DISBURSEMENT_FUND_TYPE = "04"  # ZJYWLX 划拨委贷基金 (the bank message's BusType)
NORMAL = "01"  # GRZHZT 正常
UNREPAID = ("approved", "active", "written_off")  # a live loan in these states is not repaid
REVIEW_LOAN = Finding.risk(
    "review.loan", "贷款申请须经审核", "a loan is never approved straight through (maker-checker review)"
)

METHODS_ZH = {m.value: m.name_zh for m in Method}
SOURCES_ZH = {"hpf_account": "公积金账户还款", "bank_debit": "银行卡扣款"}
# The form's choices are the code tables' values (one source: hpf.kernel.codes).
HOUSE_NATURE_ZH = {c.code: c.name_zh for c in code_table("house_nature")}  # FWXZ
GUARANTEE_ZH = {c.code: c.name_zh for c in code_table("loan_guarantee_type")}  # DKDBLX

# What a passed eligibility rule says (the failed ones speak for themselves).
PASSED_ZH = {
    "deposit_long_enough": ("loan.deposit_months", "连续缴存月数符合要求"),
    "loans_within_count": ("loan.loan_count", "家庭使用住房公积金贷款次数未超过规定"),
    "no_outstanding_loan": ("loan.no_outstanding", "家庭无未结清的住房公积金贷款"),
    "term_within_limit": ("loan.term", "贷款期限未超过最长期限"),
    "age_leaves_a_term": ("loan.age", "借款人年龄符合要求"),
}


# ------------------------------------------------------------------------------------ payload


def _fields(payload: Mapping[str, Any]) -> Fields:
    return Fields(payload, "loan.payload")


def _area(payload: Mapping[str, Any]) -> Decimal:
    value = payload.get("floor_area")
    try:
        if isinstance(value, bool) or blank(value):
            raise InvalidOperation
        area = Decimal(str(value).strip())
    except InvalidOperation:
        raise _fields(payload).bad("floor_area", "建筑面积须为正数（平方米，最多两位小数）") from None
    if not area.is_finite() or not 0 < area < 100_000 or area != area.quantize(Decimal("0.01")):
        raise _fields(payload).bad("floor_area", "建筑面积须为正数（平方米，最多两位小数）")
    return area.quantize(Decimal("0.01"))


def _account_nos(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """Co-borrowers' account numbers: a JSON list, or the form's text separated by commas/spaces."""
    value = payload.get("co_borrower_account_nos")
    if blank(value) or value == []:
        return ()
    items = value if isinstance(value, list) else re.split(r"[\s,，、;；]+", str(value).strip())
    nos = tuple(str(i).strip() for i in items if str(i).strip())
    if len(nos) > 5 or not all(n.isascii() and n.isalnum() and len(n) <= 20 for n in nos):
        raise _fields(payload).bad("co_borrower_account_nos", "共同借款人账号最多5个，每个不超过20位")
    if len(set(nos)) != len(nos):
        raise _fields(payload).bad("co_borrower_account_nos", "共同借款人账号重复")
    return nos


@dataclass(frozen=True)
class LoanForm:
    """What the applicant asks for: the loan, the home and its collateral, who else borrows, who is paid."""

    term_months: int
    method: Method
    repayment_source: loans.RepaymentSource
    house_nature: str
    second_home: bool
    house_price_fen: int
    floor_area: Decimal
    guarantee_type: str
    payee: Payee  # the seller (售房人): a person's card, or a developer's corporate account
    requested_fen: int | None = None  # None: the maximum
    certificate_no: str | None = None  # 他项权证号, normalised upper case
    debit_card: str | None = None  # the borrower's card for 委托扣款 (bare digits)
    appraisal_fen: int | None = None
    co_borrower_account_nos: tuple[str, ...] = ()
    contract_date: date | None = None
    first_due_date: date | None = None


def form_of(payload: Mapping[str, Any]) -> LoanForm:
    """The application's payload as a loan form; the first bad field refuses the submission."""
    f = _fields(payload)
    corporate = bool(payload.get("payee_corporate"))
    payee = Payee(
        f.text("payee_name", required=True) or "",
        f.text("payee_card", required=True, max_len=40) or "",
        f.text("payee_bank", required=True) or "",
        AccountClass.CORPORATE if corporate else AccountClass.PERSONAL,
        f.text("payee_bank_code", max_len=12) or "",
    )
    certificate = f.text("certificate_no", max_len=64)
    source = loans.RepaymentSource(
        f.choice("repayment_source", SOURCES_ZH, loans.RepaymentSource.HPF_ACCOUNT.value)
    )
    debit = f.text("debit_card", required=source is loans.RepaymentSource.BANK_DEBIT, max_len=40)
    return LoanForm(
        term_months=f.integer("term_months", 1, MAX_MONTHS),
        method=Method(f.choice("method", METHODS_ZH, Method.EQUAL_INSTALLMENT.value)),
        repayment_source=source,
        house_nature=f.choice("house_nature", HOUSE_NATURE_ZH, ""),
        second_home=bool(payload.get("second_home")),
        house_price_fen=f.fen("house_price_fen", required=True, positive=True) or 0,
        floor_area=_area(payload),
        guarantee_type=f.choice("guarantee_type", GUARANTEE_ZH, "01"),
        payee=payee,
        requested_fen=f.fen("requested_fen", positive=True),
        certificate_no=certificate.upper() if certificate else None,
        debit_card=parse_bank_card(debit, field="debit_card") if debit else None,
        appraisal_fen=f.fen("appraisal_fen", positive=True),
        co_borrower_account_nos=_account_nos(payload),
        contract_date=f.day("contract_date"),
        first_due_date=f.day("first_due_date"),
    )


def last_day_of_next_month(day: date) -> date:
    """The default first due date: the last day of the month after the contract's.

    At least a month after the contract, so the payment run has time to pay the seller before
    ``activate`` would refuse a disbursement on or after the first due date.
    """
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, calendar.monthrange(year, month)[1])


# ------------------------------------------------------------------------------------ facts


@dataclass(frozen=True)
class Household:
    """The facts of borrower and co-borrowers that the limits and rules read."""

    borrower_id: int
    co_borrower_ids: tuple[int, ...]
    not_found: tuple[str, ...]  # co-borrower account numbers with no open account
    borrower_listed: bool  # the borrower named as their own co-borrower
    age_years: int
    balance_fen: int
    monthly_base_fen: int
    continuous_deposit_months: int
    loans_used: int
    has_outstanding_loan: bool
    risks: tuple[Finding, ...]


def live_loan_clause() -> Any:
    """Loans that count: disbursed (active, settled, written off) or approved and not void.

    An approved contract is void once its application failed (the disbursement came back):
    decision 0013. Loans made outside the engine (no application row) count while approved.
    """
    app_state = application_state_of(loan.c.application_id)
    return or_(
        loan.c.state.in_(("active", "settled", "written_off")),
        and_(loan.c.state == "approved", func.coalesce(app_state, "approved") != "failed"),
    )


def household_loans(
    conn: Connection, member_ids: Sequence[int], *, excluding_application: int | None = None
) -> tuple[int, bool]:
    """(HPF loans the household used, whether one is not yet repaid): borrowed or co-borrowed."""
    ids = list(member_ids)
    unrepaid = case((loan.c.state.in_(UNREPAID), 1), else_=0)
    query = select(func.count(), func.coalesce(func.sum(unrepaid), 0)).where(
        live_loan_clause(),
        or_(loan.c.borrower_id.in_(ids), loans.co_borrowed_clause(conn)),
    )
    if excluding_application is not None:
        query = query.where(loan.c.application_id != excluding_application)
    used, outstanding = conn.execute(query, {"ids": ids}).one()
    return int(used), int(outstanding or 0) > 0


def _co_borrowers(rows: Sequence[Any], borrower_id: int, co_account_nos: Sequence[str]) -> list[Any]:
    """The open co-borrowers named, in the order named, the borrower left out."""
    by_no = {r.account_no: r for r in rows}
    return [by_no[n] for n in co_account_nos if n in by_no and by_no[n].id != borrower_id]


def network_questions(
    conn: Connection, member_id: int | None, payload: Mapping[str, Any]
) -> tuple[network.Question, ...]:
    """The one question ``network_findings`` will ask for this application (purpose 01, borrower
    and co-borrowers), read before the write transaction so that the hub is asked outside it
    (decision 0043). None without a hub link, or when the application cannot be read (its
    evaluation then refuses it as before)."""
    if network.lookup() is None or member_id is None:
        return ()
    try:
        form = form_of(payload)
    except HpfError:
        return ()
    rows = accounts_queries.open_members(conn, ids=[member_id], account_nos=form.co_borrower_account_nos)
    if not any(r.id == member_id for r in rows):
        return ()
    member_ids = [member_id, *(r.id for r in _co_borrowers(rows, member_id, form.co_borrower_account_nos))]
    ids = accounts_queries.resident_ids(conn, member_ids)
    asked = tuple(ids[i] for i in member_ids if i in ids)
    return (network.Question(asked, network.LOAN_APPLICATION),) if asked else ()


def household_facts(
    conn: Connection,
    borrower_id: int,
    co_account_nos: Sequence[str],
    on: date,
    policy: LoanPolicy,
    *,
    application_id: int | None = None,
) -> Household:
    """Read borrower and co-borrowers in a handful of set-based queries (no loop over the database)."""
    rows = accounts_queries.open_members(conn, ids=[borrower_id], account_nos=co_account_nos)
    by_no = {r.account_no: r for r in rows}
    me = next((r for r in rows if r.id == borrower_id), None)
    if me is None:
        raise Conflict(
            "loan.borrower_closed", "借款人个人账户不存在或已销户", f"no open member {borrower_id}"
        )
    co = _co_borrowers(rows, borrower_id, co_account_nos)
    ids = [borrower_id, *(r.id for r in co)]
    balances = member_balances(conn, ids)
    months = posted_months(conn, ids)
    runs = {i: continuous_deposit_months(m, on) for i, m in months.items()}
    used, outstanding = household_loans(conn, ids, excluding_application=application_id)
    risks = []
    for r in co:
        if r.state != NORMAL:
            risks.append(
                Finding.risk(
                    "risk.co_borrower_state",
                    f"共同借款人{r.account_no}的账户不是正常缴存状态",
                    f"co-borrower {r.account_no} is in state {r.state}",
                )
            )
        elif runs[r.id] < policy.min_continuous_deposit_months:
            risks.append(
                Finding.risk(
                    "risk.co_borrower_deposit",
                    f"共同借款人{r.account_no}连续缴存不足{policy.min_continuous_deposit_months}个月",
                    f"{runs[r.id]} months",
                )
            )
    return Household(
        borrower_id=borrower_id,
        co_borrower_ids=tuple(r.id for r in co),
        not_found=tuple(n for n in co_account_nos if n not in by_no),
        borrower_listed=any(by_no[n].id == borrower_id for n in co_account_nos if n in by_no),
        age_years=age_on(me.birth_date, on),
        balance_fen=sum(sum(balances.get(i, (0, 0))) for i in ids),
        monthly_base_fen=sum(int(r.base_fen) for r in (me, *co)),
        continuous_deposit_months=runs[borrower_id],
        loans_used=used,
        has_outstanding_loan=outstanding,
        risks=tuple(risks),
    )


def network_findings(
    conn: Connection, ctx: Context, member_ids: Sequence[int], policy: LoanPolicy
) -> tuple[Finding, ...]:
    """The household's unsettled HPF loans at other centers, asked of the hub (decision 0031).

    One inquiry (purpose 01) for borrower and co-borrowers. Found: a failed rule when the loan
    policy refuses them (``refuse_unsettled_elsewhere``), else a risk for the reviewer. A center
    without a hub link skips the check (an info finding says so); a hub that does not answer is a
    risk: the reviewer checks by hand."""
    lookup = network.lookup()
    if lookup is None:
        return (
            Finding(
                "loan.network_skipped",
                "本中心未接入全国平台，未核查异地住房公积金贷款",
                "no hub link: unsettled loans at other centers were not checked",
                severity=Severity.INFO,
            ),
        )
    ids = accounts_queries.resident_ids(conn, member_ids)
    try:
        asked = [ids[i] for i in member_ids if i in ids]
        answers = network.ask(lookup, conn, ctx, asked, network.LOAN_APPLICATION)
    except HpfError as exc:
        if exc.code != "network.unavailable":
            raise
        return (
            Finding.risk(
                "risk.network_unavailable",
                "全国信息协查暂不可用，请人工核实借款人家庭在其他城市有无未结清的住房公积金贷款",
                exc.detail,
            ),
        )
    return _elsewhere_findings(answers, policy) + _credit_findings(answers, policy)


def _elsewhere_findings(
    answers: Sequence[network.PersonElsewhere], policy: LoanPolicy
) -> tuple[Finding, ...]:
    owed = [x for person in answers for x in person.unsettled_loans]
    if not owed:
        return (
            Finding.rule(
                "loan.none_elsewhere", True, "经全国信息协查，借款人家庭在其他城市无未结清的住房公积金贷款"
            ),
        )
    where = "、".join(dict.fromkeys(x.center_name for x in owed))
    title = f"经全国信息协查，借款人家庭在{where}尚有未结清的住房公积金贷款"
    detail = f"{len(owed)} unsettled HPF loan(s) at other centers: " + ", ".join(x.center for x in owed)
    if policy.refuse_unsettled_elsewhere:
        return (Finding.rule("loan.unsettled_elsewhere", False, title, detail),)
    return (Finding.risk("risk.unsettled_elsewhere", title, detail),)


def _credit_findings(answers: Sequence[network.PersonElsewhere], policy: LoanPolicy) -> tuple[Finding, ...]:
    """A listing in force on the national credit list (decision 0040): refused where the loan
    policy says so (``refuse_credit_listed``), else a risk for the reviewer; none: no finding."""
    listed = [x for person in answers for x in person.listings]
    if not listed:
        return ()
    first = listed[0]
    title = (
        f"经全国信息协查，借款人或共同借款人被{first.center_name}列入住房公积金失信名单"
        f"（{first.grounds_zh}，有效期至{first.until.isoformat()}）"
    )
    detail = f"{len(listed)} credit listing(s) in force: " + ", ".join(
        f"{x.center}/{x.grounds}" for x in listed
    )
    if policy.refuse_credit_listed:
        return (Finding.rule("loan.credit_listed", False, title, detail),)
    return (Finding.risk("risk.credit_listed", title, detail),)


def certificate_pledged(
    conn: Connection, certificate_no: str, *, excluding_application: int | None = None
) -> int:
    """How many live, unrepaid loans the certificate already secures (blind index: no decryption)."""
    query = select(func.count()).where(
        loan.c.certificate_no_bidx == blind_index("loan", "certificate_no", certificate_no),
        loan.c.state.in_(UNREPAID),
        live_loan_clause(),
    )
    if excluding_application is not None:
        query = query.where(loan.c.application_id != excluding_application)
    return int(conn.scalar(query) or 0)


# ------------------------------------------------------------------------------------ decision


@dataclass(frozen=True)
class LoanDecision:
    form: LoanForm
    household: Household
    request: LoanRequest
    limit: LoanLimit
    policy: LoanPolicy
    annual_rate: Decimal
    contract_date: date
    first_due_date: date
    amount_fen: int
    verdict: Verdict  # the rules as checked, then the risks
    sheet: tuple[SheetLine, ...]
    score: scorecard.Score | None = None  # None: no card trained yet, or nothing to lend

    @property
    def eligible(self) -> bool:
        return self.verdict.passed

    def features(self) -> dict[str, float] | None:
        """The scorecard's features of the loan as granted (None when nothing can be lent)."""
        if self.amount_fen <= 0 or self.limit.term_months <= 0:
            return None
        granted = replace(self.request, term_months=self.limit.term_months)
        return features_of(granted, self.amount_fen, len(self.household.co_borrower_ids))

    def terms(self, application_id: int) -> loans.LoanTerms:
        f = self.form
        return loans.LoanTerms(
            application_id=application_id,
            borrower_id=self.household.borrower_id,
            principal_fen=self.amount_fen,
            annual_rate=self.annual_rate,
            term_months=self.limit.term_months,
            method=f.method,
            contract_date=self.contract_date,
            first_due_date=self.first_due_date,
            repayment_source=f.repayment_source,
            house_nature=f.house_nature,
            second_home=f.second_home,
            house_price_fen=f.house_price_fen,
            floor_area=f.floor_area,
            guarantee_type=f.guarantee_type,
            certificate_no=f.certificate_no,
            debit_card=f.debit_card,
            appraisal_fen=f.appraisal_fen,
            co_borrower_ids=self.household.co_borrower_ids,
        )


def _yuan(fen: int) -> str:
    return f"{format_yuan(fen)}元"


def _percent(rate: Decimal) -> str:
    """``0.0285`` → ``2.85%``; finer rates keep their digits (``0.030250`` → ``3.025%``)."""
    pct = rate * 100
    return f"{pct:.2f}%" if pct == pct.quantize(Decimal("0.01")) else f"{pct.normalize():f}%"


def _rules(
    form: LoanForm,
    facts: Household,
    request: LoanRequest,
    limit: LoanLimit,
    policy: LoanPolicy,
    pledged: int,
    contract_date: date,
    first_due: date,
) -> list[Finding]:
    out: list[Finding] = []
    for no in facts.not_found:
        out.append(
            Finding.rule(
                "loan.co_borrower_not_found",
                False,
                f"共同借款人账号{no}不存在或已销户",
                f"no open member account {no}",
            )
        )
    if facts.borrower_listed:
        out.append(
            Finding.rule(
                "loan.co_borrower_is_borrower",
                False,
                "借款人不能同时为共同借款人",
                "the borrower is listed as a co-borrower",
            )
        )
    if form.co_borrower_account_nos and not facts.not_found and not facts.borrower_listed:
        out.append(Finding.rule("loan.co_borrowers", True, "共同借款人均在本中心开立个人账户"))
    for rule in ELIGIBILITY_RULES:
        found = rule(request, policy)
        if found:
            out.extend(found)
        else:
            code, title = PASSED_ZH[rule.__name__]
            out.append(Finding.rule(code, True, title))
    maximum = limit.limits[limit.bound]
    if not limit.refusals:  # a refused request has no maximum worth stating
        within = maximum > 0 and (form.requested_fen is None or form.requested_fen <= maximum)
        if within:
            title = "申请金额不超过可贷最高额度"
        elif maximum == 0:
            title = "可贷最高额度为零（账户余额、缴存基数或房屋价值不足）"
        else:
            title = f"申请金额超过可贷最高额度{_yuan(maximum)}"
        detail = f"requested {form.requested_fen} fen, maximum {maximum} fen"
        out.append(Finding.rule("loan.within_maximum", within, title, detail))
    if form.guarantee_type == "01":
        out.append(
            Finding.rule(
                "loan.certificate_required",
                form.certificate_no is not None,
                "已提供抵押登记他项权证号"
                if form.certificate_no is not None
                else "抵押贷款须提供抵押登记他项权证号",
                "guarantee 01 needs the certificate number",
            )
        )
    if form.certificate_no is not None:
        out.append(
            Finding.rule(
                "loan.certificate_free",
                pledged == 0,
                "他项权证未用于其他未结清贷款" if pledged == 0 else "该他项权证已用于其他未结清的贷款",
                f"the certificate secures {pledged} other live loan(s)",
            )
        )
    out.append(
        Finding.rule(
            "loan.first_due_date",
            contract_date < first_due,
            "首期还款日晚于合同签订日" if contract_date < first_due else "首期还款日须晚于合同签订日",
            f"contract {contract_date}, first due {first_due}",
        )
    )
    return out


def _sheet(d: LoanDecision) -> tuple[SheetLine, ...]:
    request, limit, form = d.request, d.limit, d.form
    value = request.value_fen
    lines = [
        SheetLine("房屋价值（房价与评估价孰低）", _yuan(value)),
        SheetLine("借款人年龄", f"{request.age_years}岁"),
        SheetLine("账户余额合计（含共同借款人）", _yuan(request.balance_fen)),
        SheetLine("月缴存基数合计（含共同借款人）", _yuan(request.monthly_base_fen)),
        SheetLine("连续缴存月数", f"{request.continuous_deposit_months}个月"),
        SheetLine("贷款年利率", _percent(d.annual_rate)),
    ]
    for kind, amount in limit.limits.items():
        lines.append(
            SheetLine(f"按{kind.name_zh}", _yuan(amount) + ("（起决定作用）" if kind == limit.bound else ""))
        )
    shortened = limit.term_months < min(form.term_months, d.policy.max_term_months)
    lines.append(
        SheetLine("可贷期限", f"{limit.term_months}个月" + ("（按年龄与期限之和缩短）" if shortened else ""))
    )
    lines.append(SheetLine("可贷最高额度", _yuan(limit.limits[limit.bound])))
    lines.append(
        SheetLine("申请金额", _yuan(form.requested_fen) if form.requested_fen else "未填（按可贷最高额度）")
    )
    lines.append(SheetLine("核定贷款金额", _yuan(d.amount_fen)))
    if d.amount_fen > 0 and limit.term_months > 0:
        first = first_installment(d.amount_fen, d.annual_rate, limit.term_months, form.method)
        lines.append(SheetLine("首期月供", f"{_yuan(first)}（{form.method.name_zh}）"))
    lines.append(SheetLine("首期还款日", d.first_due_date.isoformat()))
    if d.score is not None:
        lines.append(SheetLine("违约风险评分", f"{d.score.band}级（违约概率{d.score.probability:.1%}）"))
    return tuple(lines)


def decide(conn: Connection, ctx: Context, app: Mapping[str, Any]) -> LoanDecision:
    """Rules, limits, amount and sheet of an application today (reads only)."""
    form = form_of(app["payload"])
    today = ctx.clock.today()
    contract_date = form.contract_date or today
    first_due = form.first_due_date or last_day_of_next_month(contract_date)
    app_id = int(app["id"]) if app.get("id") is not None else None
    policy = loan_policy_at(conn, contract_date)
    facts = household_facts(
        conn,
        int(app["member_id"]),
        form.co_borrower_account_nos,
        contract_date,
        policy,
        application_id=app_id,
    )
    rate = rates.rate_on(contract_date, form.term_months, form.second_home)
    request = LoanRequest(
        house_price_fen=form.house_price_fen,
        appraisal_fen=form.appraisal_fen,
        second_home=form.second_home,
        term_months=form.term_months,
        annual_rate=rate,
        method=form.method,
        age_years=facts.age_years,
        balance_fen=facts.balance_fen,
        monthly_base_fen=facts.monthly_base_fen,
        continuous_deposit_months=facts.continuous_deposit_months,
        loans_used=facts.loans_used,
        has_outstanding_loan=facts.has_outstanding_loan,
    )
    limit = max_loan_amount(request, policy)
    if 0 < limit.term_months < form.term_months:  # shortened for age: the rate of the term granted
        shorter = rates.rate_on(contract_date, limit.term_months, form.second_home)
        if shorter != rate:
            rate, request = shorter, replace(request, annual_rate=shorter)
            limit = max_loan_amount(request, policy)
    pledged = (
        certificate_pledged(conn, form.certificate_no, excluding_application=app_id)
        if form.certificate_no
        else 0
    )
    rules = tuple(_rules(form, facts, request, limit, policy, pledged, contract_date, first_due))
    elsewhere = network_findings(conn, ctx, [facts.borrower_id, *facts.co_borrower_ids], policy)
    rules += tuple(f for f in elsewhere if f.severity is not Severity.WARNING)
    maximum = limit.amount_fen
    amount = min(form.requested_fen, maximum) if form.requested_fen else maximum
    if not all(r.passed for r in rules):
        amount = 0
    decision = LoanDecision(
        form,
        facts,
        request,
        limit,
        policy,
        rate,
        contract_date,
        first_due,
        amount,
        Verdict.of(
            rules, (REVIEW_LOAN, *facts.risks, *(f for f in elsewhere if f.severity is Severity.WARNING))
        ),
        (),
    )
    features = decision.features()
    score = scorecard.assess(conn, features) if features is not None else None
    if score is not None and score.high_risk:
        flag = Finding.risk("risk.loan_default_high", "违约风险评分偏高，请重点审核",
                            f"probability of default {score.probability:.3f}, band {score.band}")  # fmt: skip
        decision = replace(decision, verdict=Verdict.of(decision.verdict.findings, (flag,)))
    decision = replace(decision, score=score)
    return replace(decision, sheet=_sheet(decision))


# ------------------------------------------------------------------------------------ handler


class LoanHandler:
    item_codes: tuple[str, ...] = (ITEM,)

    def network_questions(
        self,
        conn: Connection,
        ctx: Context,
        item_code: str,
        member_id: int | None,
        payload: Mapping[str, Any],
    ) -> tuple[network.Question, ...]:
        return network_questions(conn, member_id, payload)

    def evaluate(self, conn: Connection, ctx: Context, application: Application) -> Evaluation:
        d = decide(conn, ctx, fields_of(application))
        return Evaluation(
            verdict=d.verdict, amount_fen=d.amount_fen, sheet=d.sheet,
            priority=d.score.probability if d.score is not None else None,
        )  # fmt: skip

    def on_approved(
        self, conn: Connection, ctx: Context, application: Application, evaluation: Evaluation
    ) -> Outputs:
        d = decide(conn, ctx, fields_of(application))  # in the approving transaction: the facts of now
        if not d.eligible:
            first = d.verdict.refusals[0]
            raise Conflict(first.code, first.message_zh, first.message_en)
        application_id = application.id
        loan_id = loans.create_loan(conn, ctx, d.terms(application_id))
        order = settlement.reserve(
            conn,
            ctx,
            PayoutRequest(
                owner_kind=OWNER_KIND,
                owner_id=str(loan_id),
                amount_fen=d.amount_fen,
                sources=(Source(loans.ENTRUSTED_LOANS, d.amount_fen),),
                payee=d.form.payee,
                business_type=DISBURSEMENT_BUSINESS_TYPE,
                fund_business_type=DISBURSEMENT_FUND_TYPE,
                idempotency_key=f"loan:{application_id}",
                summary="个人住房公积金贷款发放",
            ),
        )
        contract_no = conn.scalar(select(loan.c.contract_no).where(loan.c.id == loan_id))
        features = d.features()
        assert features is not None  # an eligible decision lends something
        scorecard.record_features(conn, loan_id, features, clock=ctx.clock)  # the scorecard learns from it
        return {
            "loan_id": loan_id,
            "contract_no": contract_no,
            "payment_order_id": order.id,
            "payment_order_no": order.order_no,
            "amount_fen": d.amount_fen,
            "term_months": d.limit.term_months,
            "annual_rate": str(d.annual_rate),
            "features": features,
            "ledger_entry_ids": [order.reserve_entry_id],
            "executed": False,  # the bank's answer completes it (disbursement_settled)
        }

    def on_ended(self, conn: Connection, ctx: Context, application: Application, state: str) -> None:
        loan_id = conn.scalar(select(loan.c.id).where(loan.c.application_id == application.id))
        if loan_id is None:
            return
        unsent = settlement_queries.order_ids(
            conn, owner_kind=OWNER_KIND, owner_id=str(loan_id), state=OrderState.RESERVED
        )
        for order_id in unsent:  # never sent: give the money back to 121 now
            settlement.cancel(conn, ctx, int(order_id), f"申请已{state}")


def _event_once(conn: Connection, ctx: Context, loan_id: int, kind: str, key: str, **detail: Any) -> None:
    if conn.scalar(select(loan_event.c.id).where(loan_event.c.idempotency_key == key)) is None:
        loans.record_event(
            conn,
            ctx,
            loan_id,
            kind,
            detail=detail,
            idempotency_key=key,
            entry_id=detail.pop("entry_id", None),
        )


def disbursement_settled(conn: Connection, ctx: Context, outcome: PayoutOutcome) -> None:
    """Settlement's outcome handler for loans (owner kind ``"loan"``): idempotent.

    Paid: activate the loan with the reservation entry (it debits 121 by the principal; the
    payment entry only moves 21903 → 101); ``loan.activated`` then marks the application
    executed (:func:`loan_activated`). Failed: the
    reservation is already reversed; the application fails and the contract stays ``approved``,
    void. If activation is refused (paid on or after the first due date), the loan is left
    ``approved`` with an ``activation_refused`` event and the application stays approved:
    ``hpf check`` then shows 121 against the loan book, for staff to correct.
    """
    row = conn.execute(
        select(loan.c.id, loan.c.state, loan.c.application_id).where(loan.c.id == int(outcome.owner_id))
    ).first()
    if row is None:
        return
    current = applications.find(conn, int(row.application_id))
    pending = current is not None and current.state == "approved"
    extra = {"payment_order_no": outcome.order_no, "settled_on": outcome.settled_on.isoformat()}
    if outcome.state == "paid":
        entry_id = settlement_queries.reserve_entry_of(conn, outcome.order_id)
        if row.state == "approved":
            try:
                with conn.begin_nested():
                    loans.activate(conn, ctx, int(row.id), outcome.settled_on, entry_id)
            except HpfError as exc:
                _event_once(
                    conn,
                    ctx,
                    int(row.id),
                    "activation_refused",
                    f"loan-activation:{outcome.order_no}",
                    entry_id=entry_id,
                    code=exc.code,
                    reason=exc.title,
                )
        return
    if row.state == "approved":
        _event_once(
            conn,
            ctx,
            int(row.id),
            "disbursement_failed",
            f"loan-disbursement-failed:{outcome.order_no}",
            order_no=outcome.order_no,
            reason=outcome.failure_reason or outcome.failure_code or "",
        )
    if pending:
        reason = outcome.failure_reason or outcome.failure_code or "银行付款失败"
        applications.mark_failed(conn, ctx, int(row.application_id), f"贷款发放失败：{reason}"[:200], extra)


def loan_activated(conn: Connection, ctx: Context, event: Event) -> None:
    """A loan disbursed through settlement is active: its application is executed (idempotent).

    The listener of ``loan.activated``. Only an activation by the reservation entry of a paid
    disbursement order tells an application; a loan activated with an entry of its own (the loan
    book's tests, the bench) has none to tell.
    """
    entry_id = event.payload.get("entry_id")
    order_no = settlement_queries.paid_order_no(
        conn, owner_kind=OWNER_KIND, owner_id=event.object_id, reserve_entry_id=entry_id
    )
    application_id = conn.scalar(select(loan.c.application_id).where(loan.c.id == int(event.object_id)))
    if order_no is None or application_id is None:
        return
    current = applications.find(conn, int(application_id))
    if current is None or current.state != "approved":
        return  # told already, or ended meanwhile
    disbursed_on = str(event.payload["disbursed_on"])
    applications.mark_executed(
        conn,
        ctx,
        int(application_id),
        {"payment_order_no": order_no, "settled_on": disbursed_on, "disbursed_on": disbursed_on,
         "disbursement_entry_id": entry_id},
    )  # fmt: skip


HANDLER = LoanHandler()
