"""The bodies of the messages, one pydantic model per type and direction (request or answer).

The body is what is sealed to the recipient. A receiver opens it and validates it against the
model of its type (``body_model``); a body that does not fit is refused ``message.malformed``.
Adding a message type (BDC901 contact letters, BDC905 transfer-out information, next) is a
model here and a handler declared in ``hpf.bootstrap``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hpf.messages.envelope import CenterCode, CenterInfo

__all__ = ["CenterInfo"]  # (defined with the hop, which carries it too)

# 联系函编号: the transfer-in center's 6-digit code, YYMMDD, a 4-digit sequence (REFERENCE §5.2).
LetterNo = Annotated[str, StringConstraints(pattern=r"^\d{6}\d{6}\d{4}$")]
# 反馈信息代码 (REFERENCE §5.1): 0 已完成, 1 失败, 2 处理中.
FeedbackCode = Literal["0", "1", "2"]
# 平台状态码 (REFERENCE §5.1).
PlatformStatus = Literal["00", "01", "02", "05", "06", "08", "13", "20", "40"]
FEEDBACK_ZH = {"0": "已完成", "1": "失败", "2": "处理中"}


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CenterCodeQuery(Body):
    """BDC909 request: which centers these codes name (to the hub)."""

    codes: list[CenterCode] = Field(min_length=1, max_length=100)


class CenterCodeAnswer(Body):
    """BDC909 answer (from the hub): the centers found, and the codes not registered."""

    centers: list[CenterInfo] = Field(max_length=100)
    unknown: list[CenterCode] = Field(max_length=100)


class StatusQuery(Body):
    """BDC904 request: where does the transfer of this contact letter stand."""

    letter_no: LetterNo


class StatusAnswer(Body):
    """BDC904 answer: the feedback code, its message, and the platform status when known."""

    letter_no: LetterNo
    feedback_code: FeedbackCode
    feedback: str = Field(max_length=200)
    status: PlatformStatus | None = None


BODIES: dict[tuple[str, bool], type[Body]] = {
    ("BDC909", False): CenterCodeQuery,
    ("BDC909", True): CenterCodeAnswer,
    ("BDC904", False): StatusQuery,
    ("BDC904", True): StatusAnswer,
}


def body_model(message_type: str, answer: bool) -> type[Body] | None:
    """The body model of a type and direction; ``None``: no such message is defined yet."""
    return BODIES.get((message_type, answer))


# -- co-investigation and the national registries (decision 0031) --------------------------
#
# XC01 and XC02 go from a center to the hub through the outbox (requests, no answer): the
# center's loan and account events, from which the hub keeps the national loan registry and the
# account index under a pseudonym it computes (HMAC-SM3 under its own key) of the ID number;
# the number itself is sealed to the hub and never stored there. XC03 is the inquiry: a
# question and its answer, synchronous over the hub's HTTP (``/api/v1/hub/inquiries``).

# 居民身份证号码: 17 digits and a check character (the center checked it at registration).
ResidentId = Annotated[str, StringConstraints(pattern=r"^\d{17}[\dX]$")]
# 协查用途: 01 贷款申请, 02 提取风险核查, 03 转移接续, 04 人工查询 (缴存使用证明).
InquiryPurpose = Literal["01", "02", "03", "04"]
INQUIRY_PURPOSE_ZH = {
    "01": "贷款申请",
    "02": "提取风险核查",
    "03": "转移接续",
    "04": "人工查询（缴存使用证明）",
}
RegistryLoanState = Literal["approved", "active", "settled", "written_off", "void"]
LoanRole = Literal["borrower", "co_borrower"]
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]  # YYYY-MM


class LoanPerson(Body):
    resident_id: ResidentId
    role: LoanRole


class LoanNotice(Body):
    """One loan as it stands after a loan event: who owes it, how much was lent, its state.

    ``seq``: the center's event id, increasing: the hub keeps the latest (a notice delivered
    late never overwrites a newer one)."""

    loan_ref: str = Field(min_length=1, max_length=30)  # the center's loan id
    seq: int = Field(ge=1)
    state: RegistryLoanState
    principal_fen: int = Field(ge=0)
    contract_date: date
    disbursed_on: date | None = None
    settled_on: date | None = None
    persons: list[LoanPerson] = Field(min_length=1, max_length=10)


class LoanRegistration(Body):
    """XC01 (to the hub): the loans the center's latest loan events changed."""

    loans: list[LoanNotice] = Field(min_length=1, max_length=500)


class AccountNotice(Body):
    """One member account as it stands after an account event (``seq`` as for a loan)."""

    account_ref: str = Field(min_length=1, max_length=30)  # the center's member id
    seq: int = Field(ge=1)
    resident_id: ResidentId
    state: Annotated[str, StringConstraints(pattern=r"^\d{2}$")]  # GRZHZT
    opened_on: date
    closed_on: date | None = None
    paid_through: Month | None = None  # 缴至年月: the last month posted


class AccountRegistration(Body):
    """XC02 (to the hub): the member accounts the center's latest account events changed."""

    accounts: list[AccountNotice] = Field(min_length=1, max_length=500)


class InquiryQuery(Body):
    """XC03 request: what the network knows of these persons (a household: at most 10), for a
    purpose from the code list; the hub answers only what the purpose needs."""

    purpose: InquiryPurpose
    persons: list[ResidentId] = Field(min_length=1, max_length=10)


class AccountElsewhere(Body):
    center: CenterCode
    center_name: str = Field(max_length=100)
    state: str = Field(max_length=2)
    opened_on: date | None = None  # purposes 03, 04
    paid_through: Month | None = None  # purposes 03, 04


class LoanElsewhere(Body):
    center: CenterCode
    center_name: str = Field(max_length=100)
    state: RegistryLoanState
    role: LoanRole
    contract_date: date | None = None  # purposes 01, 04
    principal_fen: int | None = None  # purpose 04
    settled_on: date | None = None  # purpose 04


class CreditHit(Body):
    """A listing of the person on the national credit list (decision 0040): who listed, why,
    until when — answered to every purpose, the asker's own listings included."""

    center: CenterCode
    center_name: str = Field(max_length=100)
    grounds: str = Field(max_length=4)  # the policy's grounds code
    grounds_zh: str = Field(max_length=100)
    listed_on: date
    until: date
    state: Literal["listed", "appealed"]


class PersonAnswer(Body):
    """The facts of the query's ``persons[index]`` in other centers than the asker."""

    index: int = Field(ge=0, le=9)
    accounts: list[AccountElsewhere] = Field(max_length=100)
    loans: list[LoanElsewhere] = Field(max_length=100)
    listings: list[CreditHit] = Field(default_factory=list, max_length=20)  # decision 0040


class InquiryAnswer(Body):
    """XC03 answer (from the hub)."""

    purpose: InquiryPurpose
    persons: list[PersonAnswer] = Field(max_length=10)


BODIES |= {
    ("XC01", False): LoanRegistration,
    ("XC02", False): AccountRegistration,
    ("XC03", False): InquiryQuery,
    ("XC03", True): InquiryAnswer,
}


# -- cross-center transfer (转移接续, REFERENCE §5; hpf.transfers) ---------------------------------

CertType = Literal["01", "02", "03", "04", "99"]  # 证件类型 (REFERENCE §5.2)
YesNo = Literal["1", "2"]  # 1 是, 2 否
YearMonth = Annotated[str, StringConstraints(pattern=r"^\d{4}(0[1-9]|1[0-2])$")]  # YYYYMM
Fen = Annotated[int, Field(ge=0, le=10**14)]
Text = Annotated[str, StringConstraints(max_length=100)]


class ContactLetter(Body):
    """BDC901 request (in → out), 联系函 (REFERENCE §5.2): 转入发起 (``tx_func`` 0)."""

    letter_no: LetterNo
    tx_func: Literal["0"] = "0"
    out_center_code: CenterCode
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    cert_type: CertType = "01"
    cert_no: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    old_employer_name: Text = ""
    old_account_no: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    in_fund_account_no: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    in_fund_account_name: Text
    in_bank_name: Text
    entrusted_bank: Text = ""  # 委托银行
    in_contact: Annotated[str, StringConstraints(max_length=40)] = ""  # 转入中心联系方式
    created_on: date  # 生成日期


class TransferFeedback(Body):
    """An answer about a letter: BDC901 (转出方确认受理 or 转出审核不通过, with the reason), BDC903
    (the cancellation done or refused), BDC905 (转入确认办结: 00, or 20 after a negotiation; or 06
    协商中 with what to amend)."""

    letter_no: LetterNo
    feedback_code: FeedbackCode
    feedback: str = Field(max_length=200)
    status: PlatformStatus


class TransferOut(Body):
    """BDC905 request (out → in), 转出信息 (REFERENCE §5.2): 新增信息转出 (``tx_func`` 0), or the
    information amended after the new center asked to negotiate (协商, ``tx_func`` 1).

    ``amount_fen`` = ``principal_fen`` + ``interest_fen`` (转移金额 = 本金金额 + 利息金额);
    ``order_no``: the 业务流水号 of the old center's payout, which the bank credit names;
    ``months``: the months the member deposited at the old center (the carried history)."""

    letter_no: LetterNo
    tx_func: Literal["0", "1"] = "0"
    name: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    cert_type: CertType = "01"
    cert_no: Annotated[str, StringConstraints(min_length=1, max_length=30)]
    amount_fen: Fen
    principal_fen: Fen
    interest_fen: Fen
    opened_month: YearMonth  # 开户日期 (YYYYMM)
    paid_through: YearMonth | None  # 缴至年月
    six_months_continuous: YesNo
    loan_count: Annotated[int, Field(ge=0, le=99)]
    unsettled_loan: YesNo
    fraud: YesNo  # 是否存在骗提骗贷行为
    contact_phone: Annotated[str, StringConstraints(max_length=40)] = ""
    order_no: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    months: list[Month] = Field(max_length=1200)

    @model_validator(mode="after")
    def _amount_is_principal_plus_interest(self) -> TransferOut:
        if self.amount_fen != self.principal_fen + self.interest_fen:
            raise ValueError("amount_fen must be principal_fen + interest_fen")
        return self


class CancelRequest(Body):
    """BDC903 request (in → out): 转入申请撤销, before the money moved."""

    letter_no: LetterNo
    reason: str = Field(min_length=1, max_length=200)


BODIES.update(
    {
        ("BDC901", False): ContactLetter,
        ("BDC901", True): TransferFeedback,
        ("BDC903", False): CancelRequest,
        ("BDC903", True): TransferFeedback,
        ("BDC905", False): TransferOut,
        ("BDC905", True): TransferFeedback,
    }
)


# -- reconciliation of transfers at the hub (decision 0035) ------------------------------------
#
# XC04 goes from a center to the hub through the outbox (a request, no answer): the facts of its
# side of each transfer its latest events touched — letter number, side, state and amounts as
# its ledger and its payouts show them. No personal data: no name, ID number or account number.

TransferSide = Literal["in", "out"]


class TransferFact(Body):
    """One side of one transfer as it stands after its latest event (``seq``: the center's event
    id, increasing: the hub keeps the latest)."""

    letter_no: LetterNo
    side: TransferSide
    peer: CenterCode
    seq: int = Field(ge=1)
    state: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,16}$")]
    started_on: date
    as_of: date  # the center's business date when it reported
    amount_fen: Fen | None = None  # the BDC905's 转移金额 (principal + interest), when known
    order_no: Annotated[str, StringConstraints(max_length=32)] | None = None  # the payout's 业务流水号
    paid_fen: Fen | None = None  # out: what the bank paid (the payout order paid), else None
    paid_on: date | None = None
    credited_fen: Fen | None = None  # in: what the ledger credited to the member, else None
    credited_on: date | None = None


class TransferReport(Body):
    """XC04 (to the hub): the sides of the transfers the center's latest events changed."""

    transfers: list[TransferFact] = Field(min_length=1, max_length=500)


BODIES[("XC04", False)] = TransferReport


# -- supervision reporting (监管报送, decision 0039; hpf.supervision → hpf.hub.warehouse) -------
#
# SUP101 (center → hub, no answer): one month of a center, as a numbered version (a restatement
# is the next version and replaces the earlier one at the hub, which keeps it). A version is
# sent in chunks: chunk 0 carries the indicators, every chunk up to ``MEMBER_CHUNK`` rows of the
# member-level data set. A person is named only by the national reporting pseudonym (HMAC-SM3
# of the resident ID under a key the centers share and the hub never holds): no name, no number.

MEMBER_CHUNK = 5000
Pseudonym = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
IndicatorCode = Annotated[str, StringConstraints(pattern=r"^\d{10}$")]
MemberState = Annotated[str, StringConstraints(pattern=r"^\d{2}$")]
Count = Annotated[int, Field(ge=0, le=10**12)]
SignedFen = Annotated[int, Field(ge=-(10**14), le=10**14)]
# One member account: pseudonym, state (GRZHZT at the report), opened in the month, 汇缴 fen,
# 补缴 fen, withdrawn fen, withdrawals (笔), transferred in fen, transferred out fen, interest fen,
# balance at month end, loan principal outstanding (as borrower), loan principal overdue.
MemberRow = tuple[Pseudonym, MemberState, bool, Fen, Fen, Fen, Count, Fen, Fen, Fen, SignedFen, Fen, Fen]
MEMBER_COLUMNS = (
    "person", "state", "opened", "paid_fen", "back_paid_fen", "withdrawn_fen", "withdrawals",
    "transfer_in_fen", "transfer_out_fen", "interest_fen", "balance_fen", "loan_fen", "overdue_fen",
)  # fmt: skip


class IndicatorValue(Body):
    """One figure: the indicator's 10-digit code, its dimension (``""``: the center's total;
    otherwise ``<dimension>=<code>``, e.g. ``bm_gz_tqyy=01``) and its value (fen, a count, or a
    ratio with four decimals)."""

    code: IndicatorCode
    dim: str = Field(default="", max_length=40)
    value: Decimal = Field(max_digits=20, decimal_places=4)


class SupervisionReport(Body):
    """SUP101 (to the hub): one chunk of one version of a center's month."""

    report_id: UUID
    month: Month
    version: int = Field(ge=1, le=999)
    chunk: int = Field(ge=0)
    chunks: int = Field(ge=1, le=100_000)
    members_total: int = Field(ge=0)
    indicators: list[IndicatorValue] = Field(max_length=5000)
    members: list[MemberRow] = Field(max_length=MEMBER_CHUNK)

    @model_validator(mode="after")
    def _chunk_in_range(self) -> SupervisionReport:
        if self.chunk >= self.chunks:
            raise ValueError("chunk must be below chunks")
        if self.chunk and self.indicators:
            raise ValueError("only chunk 0 carries the indicators")
        return self


BODIES[("SUP101", False)] = SupervisionReport


# -- batch forms (BDC902/906, decision 0036) ------------------------------------------------------
#
# A batch envelope carries many items, signed and sealed once. Each item is one single message of
# the family (BDC902: BDC901 items, BDC906: BDC905 items), requests or answers, in either
# direction, with its own id: the receiver takes each as it takes the single message of that id
# (de-duplicated by it, answered by it), and refuses an item alone. The batch is never answered.

BATCH_MAX_ITEMS = 500
BATCH_OF = {"BDC901": "BDC902", "BDC905": "BDC906"}  # the family's single type → its batch type
FAMILY = {batch: single for single, batch in BATCH_OF.items()}


class BatchItem(Body):
    """One message inside a batch: its id, its single type, what it answers, and its body (checked
    against the single type's model when the item is taken, so a bad item fails alone)."""

    item_id: UUID
    type: Literal["BDC901", "BDC905"]
    reply_to: UUID | None = None
    created_at: AwareDatetime
    body: dict[str, Any]


class TransferBatch(Body):
    """BDC902 (联系函 and their answers) / BDC906 (转出信息 and their answers): up to 500 items."""

    items: list[BatchItem] = Field(min_length=1, max_length=BATCH_MAX_ITEMS)


BODIES.update({("BDC902", False): TransferBatch, ("BDC906", False): TransferBatch})


# -- supervision: problems to closure and the credit list (decision 0040) ----------------------
#
# SUP201 (hub → center): a problem the hub's monitoring found, dispatched with a deadline, sent
# back or closed — the problem as it stands after the step. SUP202 (center → hub): the center's
# step (accepted: rectifying; submitted: the rectification with its evidence). SUP211 (center →
# hub): entries of the center's dishonest list (a person's resident ID sealed to the hub, which
# keeps its pseudonym only). SUP212 (hub → center): the national list as it stands (persons
# without any identifier: a center matches its applicants through the XC03 inquiry).

ProblemState = Literal["dispatched", "rectifying", "submitted", "reviewed", "closed"]


class ProblemNotice(Body):
    """SUP201 (from the hub): the problem as it stands after the hub's step."""

    problem_ref: int = Field(ge=1)
    step: Literal["dispatched", "sent_back", "closed", "overdue"]
    month: Month
    rule: str = Field(max_length=40)
    title_zh: str = Field(max_length=200)
    detail_zh: str = Field(max_length=500)
    indicator: str | None = Field(default=None, max_length=12)
    value: str | None = Field(default=None, max_length=30)
    deadline: date
    note: str = Field(default="", max_length=500)


class Evidence(Body):
    name: str = Field(min_length=1, max_length=100)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ProblemReport(Body):
    """SUP202 (to the hub): the center's step on a problem."""

    problem_ref: int = Field(ge=1)
    step: Literal["accepted", "submitted"]
    note: str = Field(default="", max_length=500)
    evidence: list[Evidence] = Field(default_factory=list, max_length=20)


CreditKind = Literal["person", "employer"]
Uscc = Annotated[str, StringConstraints(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$")]


class CreditEntry(Body):
    """One entry of a center's dishonest list as it stands (``seq`` increasing: the hub keeps
    the latest). A person by resident ID (sealed to the hub, kept as its pseudonym), an employer
    by its unified social credit code and name."""

    entry_ref: str = Field(min_length=1, max_length=30)
    seq: int = Field(ge=1)
    kind: CreditKind
    resident_id: ResidentId | None = None
    uscc: Uscc | None = None
    employer_name: str | None = Field(default=None, max_length=100)
    grounds: str = Field(max_length=4)
    grounds_zh: str = Field(max_length=100)
    listed_on: date
    until: date
    state: Literal["listed", "appealed", "removed"]

    @model_validator(mode="after")
    def _one_subject(self) -> CreditEntry:
        if (self.kind == "person") != (self.resident_id is not None) or (self.kind == "employer") != (
            self.uscc is not None
        ):
            raise ValueError("a person entry names a resident ID, an employer entry a USCC (and only that)")
        return self


class CreditListing(Body):
    """SUP211 (to the hub): the center's entries that changed."""

    entries: list[CreditEntry] = Field(min_length=1, max_length=500)


class NationalEntry(Body):
    center: CenterCode
    center_name: str = Field(max_length=100)
    entry_ref: str = Field(max_length=30)
    kind: CreditKind
    uscc: Uscc | None = None  # employers only; persons carry no identifier
    employer_name: str | None = Field(default=None, max_length=100)
    grounds: str = Field(max_length=4)
    grounds_zh: str = Field(max_length=100)
    listed_on: date
    until: date
    state: Literal["listed", "appealed"]


class NationalCreditList(Body):
    """SUP212 (from the hub): the national list in force, whole (it replaces the previous one)."""

    as_of: date
    entries: list[NationalEntry] = Field(max_length=20000)


class SupervisionEvent(Body):
    kind: Literal["transfer_overdue", "audit_finding"]
    ref: str = Field(min_length=1, max_length=40)  # the letter no., the audit rule and case
    detail_zh: str = Field(max_length=300)


class SupervisionEvents(Body):
    """SUP213 (to the hub): the center's events the monitoring reads — transfers past their
    deadline, e-audit cases confirmed — for a month (the hub keeps each once)."""

    month: Month
    events: list[SupervisionEvent] = Field(min_length=1, max_length=500)


BODIES |= {
    ("SUP213", False): SupervisionEvents,
    ("SUP201", False): ProblemNotice,
    ("SUP202", False): ProblemReport,
    ("SUP211", False): CreditListing,
    ("SUP212", False): NationalCreditList,
}
