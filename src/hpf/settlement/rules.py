"""Payouts as values: the request, its payee, the order's states and the two ledger entries.

Pure: standard library, the kernel and the ledger's rules only. A ``PayoutRequest`` checks on
construction that its amount is positive integer fen, that what it pays from adds up to that
amount, and that its payee is complete; ``reservation_entry`` and ``payment_entry`` are the
journal entries of the two phases (decision 0008).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from hpf.kernel.codes import code_table
from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.kernel.identifiers import parse_bank_card
from hpf.kernel.money import require_fen
from hpf.ledger.chart import BANK_DEPOSITS, PAYMENTS_IN_TRANSIT, POSTABLE, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line


class OrderState(StrEnum):
    """Where a payment order stands (付款指令状态)."""

    RESERVED = "reserved"  # money moved to 21903; nothing sent to the bank yet
    SENT = "sent"  # handed to the bank; its answer not applied yet
    UNKNOWN = "unknown"  # the bank did not answer (timeout, error): resolve by BDC110
    PAID = "paid"  # the bank paid it (final)
    FAILED = "failed"  # the bank refused it, or it was cancelled; the money is back (final)


STATE_ZH = {
    OrderState.RESERVED: "已冻结待发送",
    OrderState.SENT: "已发送银行",
    OrderState.UNKNOWN: "结果未明",
    OrderState.PAID: "已支付",
    OrderState.FAILED: "支付失败已退回",
}

# The businesses that pay out through settlement, as finance names them; each has its listener
# of the orders' outcome (``hpf.bootstrap.listeners``, checked at start).
OWNER_KIND_ZH = {"withdrawal": "提取", "loan": "贷款发放", "transfer": "异地转移接续转出"}

# Every transition an order may take. ``sent`` is written (and committed) *before* the bank is
# called, so a crash between the call and its answer leaves ``sent``, which is resolved like
# ``unknown``: by asking the bank, never by paying again.
TRANSITIONS: frozenset[tuple[OrderState, OrderState]] = frozenset(
    {
        (OrderState.RESERVED, OrderState.SENT),
        (OrderState.RESERVED, OrderState.FAILED),  # cancelled before sending
        (OrderState.SENT, OrderState.PAID),
        (OrderState.SENT, OrderState.FAILED),
        (OrderState.SENT, OrderState.UNKNOWN),
        (OrderState.UNKNOWN, OrderState.PAID),
        (OrderState.UNKNOWN, OrderState.FAILED),
    }
)
FINAL = frozenset({OrderState.PAID, OrderState.FAILED})
OPEN_WITH_BANK = frozenset({OrderState.SENT, OrderState.UNKNOWN})


def check_transition(current: OrderState, target: OrderState) -> None:
    if (current, target) not in TRANSITIONS:
        raise IllegalTransition(
            "settlement.illegal_transition",
            f"付款指令状态为“{STATE_ZH[current]}”，不能变为“{STATE_ZH[target]}”",
            f"a payment order cannot go from {current.value} to {target.value}",
            state=current.value,
        )


class AccountClass(StrEnum):
    """DeAcctClass / CrAcctClass of BDC101 (REFERENCE §6.3)."""

    PERSONAL = "1"  # 对私
    CORPORATE = "2"  # 对公


class SettleType(StrEnum):
    """SettleType of BDC101."""

    SAME_BANK = "1"  # 同行
    INTERBANK_REALTIME = "2"  # 跨行实时
    INTERBANK_DEFERRED = "3"  # 跨行非实时


class BankStatus(StrEnum):
    """What the bank says about one payment (BDC101/103/107/110 answers)."""

    SUCCESS = "success"
    FAILED = "failed"
    PROCESSING = "processing"
    NOT_FOUND = "not_found"


def _bad(code: str, title: str, detail: str) -> InvalidInput:
    return InvalidInput(f"settlement.{code}", title, detail)


@dataclass(frozen=True)
class Payee:
    """Who receives the money: 收款人 (CrAcctName/No/Class, bank name, 联行号 CrChgNo)."""

    name: str
    account_no: str
    bank_name: str
    account_class: AccountClass = AccountClass.PERSONAL
    bank_code: str = ""  # 联行号; empty for a payee of the center's own bank

    def __post_init__(self) -> None:
        if not (1 <= len(self.name.strip()) <= 60):
            raise _bad("payee_name", "收款人户名必填（最长60字）", "payee name must be 1..60 characters")
        if not (1 <= len(self.bank_name.strip()) <= 60):
            raise _bad("payee_bank", "收款银行必填（最长60字）", "payee bank name must be 1..60 characters")
        if self.bank_code and not (
            self.bank_code.isascii() and self.bank_code.isdigit() and len(self.bank_code) <= 12
        ):
            raise _bad("payee_bank_code", "联行号应为不超过12位的数字", "bank code must be up to 12 digits")
        if self.account_class is AccountClass.PERSONAL:
            object.__setattr__(self, "account_no", parse_bank_card(self.account_no, field="payee.account_no"))
        else:
            number = self.account_no.replace(" ", "").replace("-", "")
            if not (number.isascii() and number.isdigit() and 6 <= len(number) <= 32):
                raise _bad("payee_account", "对公账号应为6至32位数字", "a corporate account is 6..32 digits")
            object.__setattr__(self, "account_no", number)


@dataclass(frozen=True)
class Source:
    """One ledger account the payout is taken from (debited at reservation).

    Member deposits: ``Source("201", fen, member_id=…, part=BalancePart.CURRENT)``; a loan
    disbursement: ``Source("121", fen)``.
    """

    subject: str
    amount_fen: int
    member_id: int | None = None
    part: BalancePart | None = None

    def line(self) -> Line:
        return Line(self.subject, Side.DEBIT, self.amount_fen, member_id=self.member_id, part=self.part)


@dataclass(frozen=True)
class PayoutRequest:
    """What an owner (a withdrawal, a loan) asks settlement to pay.

    ``owner`` names the business object told of the outcome, e.g. ``("withdrawal", "W123")``;
    ``business_type`` is the ledger's (归集和提取业务类型, e.g. ``11`` partial withdrawal),
    ``fund_business_type`` the bank's BusType (资金业务类型, e.g. ``02``).
    """

    owner_kind: str
    owner_id: str
    amount_fen: int
    sources: tuple[Source, ...]
    payee: Payee
    business_type: str
    fund_business_type: str
    idempotency_key: str
    summary: str = ""
    settle_type: SettleType = SettleType.INTERBANK_REALTIME

    def __post_init__(self) -> None:
        require_fen(self.amount_fen, "amount_fen")
        if self.amount_fen <= 0:
            raise _bad("amount", "付款金额须大于零", "amount_fen must be positive")
        if not (1 <= len(self.idempotency_key) <= 60):
            raise _bad(
                "idempotency_key", "幂等键必填（最长60位）", "idempotency key must be 1..60 characters"
            )
        if not (self.owner_kind and len(self.owner_kind) <= 20 and 1 <= len(self.owner_id) <= 40):
            raise _bad("owner", "付款业务归属不完整", "owner kind (≤20) and id (1..40) are required")
        if not (len(self.business_type) == 2 and self.business_type.isdigit()):
            raise _bad("business_type", "业务类型应为两位代码", "business_type is a two-digit code")
        if self.fund_business_type not in code_table("fund_business_type"):
            raise _bad(
                "fund_business_type",
                "资金业务类型代码不存在",
                f"no fund business type {self.fund_business_type!r}",
            )
        if len(self.summary) > 60:
            raise _bad("summary", "摘要最长60字", "summary is at most 60 characters")
        if not self.sources:
            raise _bad("sources", "须指明付款资金来源", "name at least one ledger account to pay from")
        for source in self.sources:
            require_fen(source.amount_fen, "sources.amount_fen")
            if source.subject in (BANK_DEPOSITS, PAYMENTS_IN_TRANSIT) or source.subject not in POSTABLE:
                raise _bad(
                    "source_subject", "付款资金来源科目不合法", f"cannot pay from subject {source.subject}"
                )
        total = sum(s.amount_fen for s in self.sources)
        if total != self.amount_fen:
            raise _bad(
                "sources_total",
                "资金来源合计与付款金额不符",
                f"sources add up to {total} fen, the payout is {self.amount_fen} fen",
            )

    def fingerprint(self, payee_digest: str) -> str:
        """What makes a replay "the same request" (same key, same facts).

        The payee's name and account enter only as ``payee_digest``, a keyed digest the caller
        computes (a plain hash of a card number could be reversed by trying every number).
        """
        payload = [
            self.owner_kind, self.owner_id, self.amount_fen, self.business_type, self.fund_business_type,
            [[s.subject, s.amount_fen, s.member_id, s.part] for s in self.sources],
            [payee_digest, self.payee.account_class.value, self.payee.bank_code],
        ]  # fmt: skip
        return hashlib.sha256(json.dumps(payload, default=str, ensure_ascii=False).encode()).hexdigest()


def reservation_entry(request: PayoutRequest, order_no: str, today: date, actor: str) -> JournalEntry:
    """Phase 1: debit what is paid from, credit 21903 (the member's balance drops at once)."""
    lines = (
        *(s.line() for s in request.sources),
        Line(PAYMENTS_IN_TRANSIT, Side.CREDIT, request.amount_fen),
    )
    return JournalEntry(
        business_type=request.business_type,
        business_id=order_no,
        idempotency_key=f"settlement:{order_no}:reserve",
        value_date=today,
        posting_date=today,
        lines=lines,
        memo=f"{request.summary} 付款在途"[:200],
        actor=actor,
    )


def payment_entry(
    business_type: str, order_no: str, amount_fen: int, today: date, actor: str
) -> JournalEntry:
    """Phase 2 success: the bank paid, so the money leaves 101 (debit 21903, credit 101)."""
    return JournalEntry(
        business_type=business_type,
        business_id=order_no,
        idempotency_key=f"settlement:{order_no}:paid",
        value_date=today,
        posting_date=today,
        lines=(
            Line(PAYMENTS_IN_TRANSIT, Side.DEBIT, amount_fen),
            Line(BANK_DEPOSITS, Side.CREDIT, amount_fen),
        ),
        memo="银行付款成功",
        actor=actor,
    )


def order_no_of(center_code: str, order_id: int) -> str:
    """The 业务流水号 (SendSeqNo) of an order: center code + ``P`` + 12-digit id."""
    return f"{center_code}P{order_id:012d}"


class DifferenceKind(StrEnum):
    """What reconciliation found (对账差异)."""

    BANK_ONLY = "bank_only"  # 银行有、账务无
    LEDGER_ONLY = "ledger_only"  # 账务有、银行无
    AMOUNT_MISMATCH = "amount_mismatch"  # 金额不符
    DUPLICATE = "duplicate"  # 银行重复记录


DIFFERENCE_ZH = {
    DifferenceKind.BANK_ONLY: "银行有账务无",
    DifferenceKind.LEDGER_ONLY: "账务有银行无",
    DifferenceKind.AMOUNT_MISMATCH: "金额不符",
    DifferenceKind.DUPLICATE: "银行重复记录",
}
