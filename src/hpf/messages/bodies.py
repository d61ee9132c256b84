"""The bodies of the messages, one pydantic model per type and direction (request or answer).

The body is what is sealed to the recipient. A receiver opens it and validates it against the
model of its type (``body_model``); a body that does not fit is refused ``message.malformed``.
Adding a message type (BDC901 contact letters, BDC905 transfer-out information, next) is a
model here and a handler declared in ``hpf.bootstrap``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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


# -- cross-center transfer (转移接续, REFERENCE §5; hpf.transfers) ---------------------------------

CertType = Literal["01", "02", "03", "04", "99"]  # 证件类型 (REFERENCE §5.2)
YesNo = Literal["1", "2"]  # 1 是, 2 否
Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]  # YYYY-MM
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
