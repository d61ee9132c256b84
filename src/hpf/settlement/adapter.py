"""The bank behind a ``Protocol``: what settlement may ask a bank, and the HTTP JSON client.

``BankAdapter`` has one method per message of REFERENCE §6.3 the center sends (BDC101 single
payment, BDC103 batch payment, BDC105 loan debit, BDC107 batch result, BDC110 transaction
result, BDC113 statement);
SBDC100 arrival notices come the other way, to ``POST /api/v1/settlement/notices``.
``HttpBank`` speaks ``hpf.settlement.messages`` over HTTP (httpx; the client is injectable, so
tests talk to the fake bank in-process); ``UnconfiguredBank`` refuses everything, which is
what a center without ``HPF_BANK_URL`` gets.

Anything but a well-formed 200 answer — a timeout, a refused connection, a 5xx, a body that
does not parse — raises ``BankNoAnswer``: the outcome of a payment is then *unknown*, never
assumed failed, and is resolved by asking again (BDC110).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from hpf.kernel.clock import CHINA_TZ
from hpf.kernel.errors import HpfError
from hpf.settlement import messages as m

if TYPE_CHECKING:
    from hpf.settings import Settings


class BankNoAnswer(Exception):
    """The bank gave no usable answer: the outcome of what was asked is unknown."""


def bank_unavailable(detail: str) -> HpfError:
    return HpfError("settlement.bank_unavailable", "银行结算接口不可用", detail, status=503)


class BankAdapter(Protocol):
    center_account: str  # the center's settlement account at the bank (101)
    center_name: str  # its holder (DeAcctName)

    def pay(self, payment: m.Payment) -> m.PaymentResult:
        """BDC101 单笔付款. Raises ``BankNoAnswer`` when the outcome is unknown."""
        ...

    def pay_batch(self, batch_no: str, items: list[m.Payment]) -> m.BatchAccepted:
        """BDC103 批量付款: the bank accepts the batch; results come from ``batch_result``."""
        ...

    def batch_result(self, batch_no: str) -> m.BatchResult:
        """BDC107/108 批量业务结果查询/下载."""
        ...

    def debit_loans(self, batch_no: str, items: list[m.LoanDebit]) -> m.LoanDebitAnswer:
        """BDC105 贷款扣款 of a batch of borrowers' cards, answered item by item.

        Raises ``BankNoAnswer`` when the outcome is unknown (send the same numbers again).
        """
        ...

    def query(self, send_seq_no: str, sent_on: date | None = None) -> m.PaymentResult:
        """BDC110 交易结果查询 (``not_found``: the bank never received it)."""
        ...

    def statement(self, day: date) -> m.Statement:
        """BDC113 账户交易明细查询: every movement of the center's account on ``day``."""
        ...


class UnconfiguredBank:
    """No bank endpoint configured: every call refuses with 503 ``settlement.bank_unavailable``."""

    center_account = ""
    center_name = ""

    def _refuse(self) -> HpfError:
        return bank_unavailable("no bank endpoint is configured (HPF_BANK_URL)")

    def pay(self, payment: m.Payment) -> m.PaymentResult:
        raise self._refuse()

    def pay_batch(self, batch_no: str, items: list[m.Payment]) -> m.BatchAccepted:
        raise self._refuse()

    def batch_result(self, batch_no: str) -> m.BatchResult:
        raise self._refuse()

    def debit_loans(self, batch_no: str, items: list[m.LoanDebit]) -> m.LoanDebitAnswer:
        raise self._refuse()

    def query(self, send_seq_no: str, sent_on: date | None = None) -> m.PaymentResult:
        raise self._refuse()

    def statement(self, day: date) -> m.Statement:
        raise self._refuse()


Answer = TypeVar("Answer", bound=BaseModel)


class HttpBank:
    """The settlement platform over HTTP JSON: ``POST {base_url}/bdc/{TxCode}``, signed bodies."""

    def __init__(
        self,
        base_url: str,
        *,
        center_code: str,
        center_account: str,
        center_name: str,
        secret: bytes,
        timeout: float = 10.0,
        client: httpx.Client | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.center_code = center_code
        self.center_account = center_account
        self.center_name = center_name
        self._secret = secret
        self._client = client or httpx.Client(base_url=base_url, timeout=timeout)
        self._now = now or (lambda: datetime.now(CHINA_TZ))  # header dates are the bank's, in China
        self._seq = 0

    def _header(self, tx_code: str, seq_no: str) -> m.Header:
        return m.Header.make(
            tx_code, seq_no, self.center_code, self._now(), sender=self.center_code, receiver="BANK"
        )

    def _query_no(self, tx_code: str) -> str:
        """A serial for a query message (its own 业务流水号; queries move no money)."""
        self._seq += 1
        return f"Q{self._now():%H%M%S%f}{self._seq:04d}"[:32]

    def _call(self, tx_code: str, message: BaseModel, answer: type[Answer]) -> Answer:
        body = message.model_dump_json().encode()
        headers = {"content-type": "application/json", m.SIGNATURE_HEADER: m.sign(body, self._secret)}
        try:
            response = self._client.post(f"/bdc/{tx_code}", content=body, headers=headers)
        except httpx.HTTPError as exc:  # timeouts, refused connections, broken answers
            raise BankNoAnswer(f"{tx_code}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise BankNoAnswer(f"{tx_code}: HTTP {response.status_code}")
        try:
            return answer.model_validate_json(response.content)
        except ValidationError as exc:
            raise BankNoAnswer(f"{tx_code}: unreadable answer") from exc

    def pay(self, payment: m.Payment) -> m.PaymentResult:
        request = m.SinglePaymentRequest(header=self._header(m.BDC101, payment.send_seq_no), body=payment)
        return self._call(m.BDC101, request, m.PaymentResult)

    def pay_batch(self, batch_no: str, items: list[m.Payment]) -> m.BatchAccepted:
        request = m.BatchPaymentRequest(header=self._header(m.BDC103, batch_no), items=items)
        return self._call(m.BDC103, request, m.BatchAccepted)

    def debit_loans(self, batch_no: str, items: list[m.LoanDebit]) -> m.LoanDebitAnswer:
        request = m.LoanDebitRequest(header=self._header(m.BDC105, batch_no), batch_no=batch_no, items=items)
        return self._call(m.BDC105, request, m.LoanDebitAnswer)

    def batch_result(self, batch_no: str) -> m.BatchResult:
        request = m.BatchQuery(header=self._header(m.BDC107, self._query_no(m.BDC107)), batch_no=batch_no)
        return self._call(m.BDC107, request, m.BatchResult)

    def query(self, send_seq_no: str, sent_on: date | None = None) -> m.PaymentResult:
        request = m.ResultQuery(
            header=self._header(m.BDC110, self._query_no(m.BDC110)),
            orig_send_seq_no=send_seq_no,
            orig_send_date=sent_on,
        )
        return self._call(m.BDC110, request, m.PaymentResult)

    def statement(self, day: date) -> m.Statement:
        request = m.StatementQuery(
            header=self._header(m.BDC113, self._query_no(m.BDC113)), acct_no=self.center_account, day=day
        )
        return self._call(m.BDC113, request, m.Statement)


def bank_secret(secret: str | None) -> bytes | None:
    """The shared key as bytes; one shorter than 32 characters is no key."""
    return secret.encode() if secret and len(secret) >= 32 else None


def bank_signature_check(secret: str | None) -> Callable[[bytes, Mapping[str, str]], bool]:
    """Whether a notice's body carries the shared bank key's signature (none without a key)."""
    key = bank_secret(secret)

    def signed(body: bytes, headers: Mapping[str, str]) -> bool:
        return key is not None and m.signature_ok(body, key, headers.get(m.SIGNATURE_HEADER))

    return signed


FAKE_BANK_URL = "fake"  # HPF_BANK_URL=fake: the fake bank inside this process (development only)


def from_settings(settings: Settings) -> BankAdapter:
    """``HttpBank`` when ``HPF_BANK_URL`` and ``HPF_BANK_SECRET`` are set, else ``UnconfiguredBank``.

    ``HPF_BANK_URL=fake`` (development only) talks to a fake bank held in this process's
    memory: payouts are paid at once, and its statement knows only this process's payments.
    """
    if settings.bank_url == FAKE_BANK_URL:
        if settings.env != "development":
            raise HpfError("settlement.fake_bank_refused", "生产环境不能使用模拟银行",
                           "HPF_BANK_URL=fake is for development only", status=500)  # fmt: skip
        import secrets

        from hpf.settlement.fakebank import FakeBank, in_process

        fake = FakeBank(center_account=settings.bank_account, center_name=settings.center_name)
        return in_process(fake, center_code=settings.center_code, secret=secrets.token_bytes(32))
    key = bank_secret(settings.bank_secret)
    if not settings.bank_url or key is None:
        return UnconfiguredBank()
    return HttpBank(
        settings.bank_url, center_code=settings.center_code, center_account=settings.bank_account,
        center_name=settings.center_name, secret=key, timeout=settings.bank_timeout,
    )  # fmt: skip
