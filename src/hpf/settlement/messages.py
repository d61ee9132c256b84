"""The center↔bank messages of REFERENCE §6.3, as JSON over HTTP, and their signature.

Owns the wire shapes shared by the adapter (``hpf.settlement.adapter``) and the fake bank
(``hpf.settlement.fakebank``). Every message carries the common header of the settlement
platform (``CenterHeadIn``: SendDate, SendTime, SendSeqNo = 业务流水号, TxUnitNo, SendNode,
TxCode, ReceiveNode, CustNo, OperNo) in snake case. Deviations from the TCP original, on
purpose: amounts are integer fen (``amt_fen``), never decimal yuan; BDC107 answers with the
items of the batch (what BDC108 downloads as a file); a result's ``status`` is one of
``BankStatus`` instead of a bank-specific return code (which is kept in ``ret_code``).

**Signature.** Both directions sign the exact body bytes with HMAC-SHA256 under the shared key
(``HPF_BANK_SECRET``): header ``X-HPF-Signature: sha256=<hex>``; the receiver recomputes and
compares in constant time (``hmac.compare_digest``). A repeated message is harmless (every
handler is idempotent by serial number), so no timestamp window is needed.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field

from hpf.settlement.rules import AccountClass, BankStatus, SettleType

SIGNATURE_HEADER = "X-HPF-Signature"

# Transaction codes (TxCode) used here.
BDC101 = "BDC101"  # 单笔付款
BDC103 = "BDC103"  # 批量付款
BDC105 = "BDC105"  # 贷款扣款 (委托扣款 of a borrower's card, as a batch)
BDC107 = "BDC107"  # 批量业务结果查询 (and BDC108 download)
BDC110 = "BDC110"  # 交易结果查询
BDC113 = "BDC113"  # 账户交易明细查询
SBDC100 = "SBDC100"  # 账户变动通知 (bank → center)

RET_OK = "0000"


def sign(body: bytes, key: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def signature_ok(body: bytes, key: bytes, given: str | None) -> bool:
    """Constant-time comparison of the given signature with the body's."""
    return given is not None and hmac.compare_digest(sign(body, key).encode(), given.encode())


class Header(BaseModel):
    send_date: date
    send_time: str = Field(pattern=r"^\d{6}$", max_length=6)  # HHMMSS
    send_seq_no: str = Field(min_length=1, max_length=32)  # 业务流水号
    tx_code: str = Field(max_length=16)
    tx_unit_no: str = Field(max_length=32)  # the center's code
    send_node: str = Field(max_length=32)
    receive_node: str = Field(max_length=32)
    cust_no: Annotated[str, Field(max_length=32)] = ""
    oper_no: Annotated[str, Field(max_length=32)] = ""

    @classmethod
    def make(
        cls, tx_code: str, seq_no: str, unit: str, at: datetime, *, sender: str, receiver: str
    ) -> Header:
        return cls(
            send_date=at.date(), send_time=at.strftime("%H%M%S"), send_seq_no=seq_no, tx_code=tx_code,
            tx_unit_no=unit, send_node=sender, receive_node=receiver,
        )  # fmt: skip


class Payment(BaseModel):
    """BDC101 body, also one item of BDC103 (SinglePaymentIn)."""

    send_seq_no: str = Field(min_length=1, max_length=32)  # the item's own 业务流水号
    settle_type: SettleType
    bus_type: str  # 资金业务类型
    de_acct_no: str  # the center's account paid from
    de_acct_name: str
    de_acct_class: AccountClass = AccountClass.CORPORATE
    cr_acct_no: str
    cr_acct_name: str
    cr_acct_class: AccountClass
    cr_bank_name: str
    cr_chg_no: str = ""  # 联行号
    amt_fen: int = Field(gt=0, strict=True)
    ref_seq_no1: str = ""  # the owner's reference (withdrawal:W1)
    summary: str = ""


class SinglePaymentRequest(BaseModel):
    header: Header
    body: Payment


class BatchPaymentRequest(BaseModel):
    header: Header  # send_seq_no = the batch number
    items: list[Payment]


class BatchAccepted(BaseModel):
    batch_no: str
    accepted: int
    ret_code: str = RET_OK
    ret_msg: str = ""


class ResultQuery(BaseModel):
    """BDC110 body: which earlier transaction (by its 业务流水号)."""

    header: Header
    orig_send_seq_no: str
    orig_send_date: date | None = None


class BatchQuery(BaseModel):
    header: Header
    batch_no: str


class PaymentResult(BaseModel):
    """The answer to BDC101 and BDC110, and one item of BDC107."""

    send_seq_no: str
    status: BankStatus
    bank_seq_no: str = ""  # the bank's serial of the transfer
    bank_date: date | None = None
    amt_fen: int = 0
    ret_code: str = RET_OK
    ret_msg: str = ""


class BatchResult(BaseModel):
    batch_no: str
    items: list[PaymentResult]


class LoanDebit(BaseModel):
    """One item of BDC105 贷款扣款: take an installment from the borrower's card.

    ``seq_no`` is the center's 业务流水号 of the debit; the bank debits a number at most once.
    """

    seq_no: str = Field(min_length=1, max_length=32)
    contract_no: str  # 借款合同编号
    de_acct_no: str  # the borrower's card (debited)
    de_acct_name: str
    amt_fen: int = Field(gt=0, strict=True)
    cap_amt_fen: int = Field(ge=0, strict=True)  # of which principal
    int_amt_fen: int = Field(ge=0, strict=True)  # of which interest


class LoanDebitRequest(BaseModel):
    header: Header  # send_seq_no = the batch number
    batch_no: str
    items: list[LoanDebit]


class LoanDebitResult(BaseModel):
    seq_no: str
    status: BankStatus
    bank_seq_no: str = ""
    ret_code: str = RET_OK
    ret_msg: str = ""


class LoanDebitAnswer(BaseModel):
    batch_no: str
    items: list[LoanDebitResult]


class StatementQuery(BaseModel):
    header: Header
    acct_no: str = Field(max_length=40)
    day: date


class StatementLine(BaseModel):
    """One line of BDC113 (账户交易明细): D = money out of the center's account, C = in."""

    bank_seq_no: str = Field(min_length=1, max_length=40)
    tx_date: date
    direction: str = Field(pattern="^[DC]$", max_length=1)
    amt_fen: int = Field(gt=0, le=2**63 - 1, strict=True)
    # the center's 业务流水号 when the center ordered it
    ref_seq_no: Annotated[str, Field(max_length=40)] = ""
    counterparty_acct_no: Annotated[str, Field(max_length=40)] = ""
    counterparty_name: Annotated[str, Field(max_length=200)] = ""
    summary: Annotated[str, Field(max_length=200)] = ""


class Statement(BaseModel):
    acct_no: str = Field(max_length=40)
    day: date
    lines: list[StatementLine]


class AccountChangeNotice(BaseModel):
    """SBDC100 (账户变动通知), bank → center: money moved on the center's account."""

    header: Header  # send_seq_no = the notice's serial: a repeated notice is a no-op
    acct_no: str = Field(max_length=40)
    line: StatementLine


class AccountChangeNotices(BaseModel):
    """SBDC100 notices in a group, bank → center: one request for many movements (the bank
    sends what it has queued; the center applies the group in one transaction)."""

    notices: list[AccountChangeNotice] = Field(min_length=1, max_length=500)
