"""The bodies of the messages, one pydantic model per type and direction (request or answer).

The body is what is sealed to the recipient. A receiver opens it and validates it against the
model of its type (``body_model``); a body that does not fit is refused ``message.malformed``.
Adding a message type (BDC901 contact letters, BDC905 transfer-out information, next) is a
model here and a handler declared in ``hpf.bootstrap``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


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


class PersonAnswer(Body):
    """The facts of the query's ``persons[index]`` in other centers than the asker."""

    index: int = Field(ge=0, le=9)
    accounts: list[AccountElsewhere] = Field(max_length=100)
    loans: list[LoanElsewhere] = Field(max_length=100)


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
