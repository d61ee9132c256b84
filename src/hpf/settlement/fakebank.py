"""A fake bank for development and tests: the settlement platform's messages over HTTP, in memory.

An ASGI app (``create_fake_bank``) holding the center's settlement account, a ledger of
transfers keyed by the center's 业务流水号 (a number is paid at most once: a repeated BDC101
returns the first result), a statement, batches, and an outbox of SBDC100 account change
notices for the center. Run it as its own process with ``hpf fakebank serve --port N``; in
tests, talk to it in-process.

It can be told to misbehave, for the next payment or for one 业务流水号
(``POST /admin/faults`` or ``FakeBank.arm``):

=============== ==========================================================================
``fail``        refuse the payment (nothing moves)
``timeout``     pay, then give no answer (sleep ``delay`` seconds, then HTTP 504)
``lost``        the request never reached the bank: nothing is paid, HTTP 504
``processing``  pay, but answer "processing"; queries answer success
``twice``       pay and answer, and send the account change notice twice
``late``        pay, answer 504 now; the answer comes later as a notice (``deliver``)
``double_post`` pay once but write the statement line twice (a bank-side error)
=============== ==========================================================================

BDC105 贷款扣款 items (``debit``) credit the center's account (statement line ``C`` with the
item's 业务流水号 as ``ref_seq_no``), at most once per number; ``fail`` refuses one with E3001
余额不足, ``timeout``/``lost`` make the whole batch answer 504 (after debiting, or not).

Every paid transfer and every incoming credit (``POST /admin/credit``) queues a signed SBDC100
notice; ``deliver`` (or ``POST /admin/notices/deliver``, or the background sender when the app
has a ``notify_url``) posts them to the center.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import httpx
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from hpf.kernel.clock import CHINA_TZ
from hpf.settlement import messages as m
from hpf.settlement.adapter import HttpBank
from hpf.settlement.rules import BankStatus

MODES = frozenset({"fail", "timeout", "lost", "processing", "twice", "late", "double_post"})
ANY = "*"


@dataclass
class FakeBank:
    """The bank's state; thread-safe (the app serves requests from a thread pool)."""

    center_account: str = "955880000000000001"
    center_name: str = "示范市住房公积金管理中心"
    opening_fen: int = 10_000_000_000  # the center's account balance at the bank
    secret: bytes | None = None  # verify the center's signatures and sign notices when set
    today: date | None = None  # the bank's business date; None: today in China
    delay: float = 0.0  # seconds a ``timeout`` answer takes
    balance_fen: int = field(init=False)
    transfers: dict[str, m.PaymentResult] = field(default_factory=dict)
    statement: list[m.StatementLine] = field(default_factory=list)
    batches: dict[str, list[str]] = field(default_factory=dict)
    outbox: deque[m.AccountChangeNotice] = field(default_factory=deque)
    held: list[m.AccountChangeNotice] = field(default_factory=list)  # ``late`` answers
    faults: dict[str, deque[str]] = field(default_factory=dict)
    pay_calls: int = 0
    debits: dict[str, m.LoanDebitResult] = field(default_factory=dict)
    debit_calls: int = 0
    # Other centers' accounts at this (fake) bank: a payment to one credits that center's bank
    # (``connect``), as a transfer between two centers' fund accounts does.
    peers: dict[str, FakeBank] = field(default_factory=dict)
    _credited: set[str] = field(default_factory=set)  # the payers' references credited once
    _serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.balance_fen = self.opening_fen

    # ------------------------------------------------------------------------- control

    def arm(self, mode: str, send_seq_no: str = ANY, times: int = 1) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}")
        with self._lock:
            self.faults.setdefault(send_seq_no, deque()).extend([mode] * times)

    def connect(self, other: FakeBank) -> None:
        """Payments between this center's account and ``other``'s move the money both ways."""
        self.peers[other.center_account] = other
        other.peers[self.center_account] = self

    def bank_date(self) -> date:
        return self.today or datetime.now(CHINA_TZ).date()

    def bank_date_time(self) -> datetime:
        """Now, on the bank's business date (message headers)."""
        now = datetime.now(CHINA_TZ)
        return now.replace(year=self.bank_date().year, month=self.bank_date().month, day=self.bank_date().day)

    def _next_serial(self, prefix: str) -> str:
        return f"{prefix}{self.bank_date():%Y%m%d}{next(self._serial):08d}"

    def _fault_for(self, seq_no: str) -> str | None:
        for key in (seq_no, ANY):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def _notice(self, line: m.StatementLine) -> m.AccountChangeNotice:
        at = self.bank_date_time()
        header = m.Header.make(
            m.SBDC100, self._next_serial("N"), "BANK", at, sender="BANK", receiver=self.center_account
        )
        return m.AccountChangeNotice(header=header, acct_no=self.center_account, line=line)

    # ------------------------------------------------------------------------- money

    def pay(self, payment: m.Payment) -> tuple[m.PaymentResult, str | None]:
        """Process one payment; returns the answer and the fault applied (if any). A success to
        a connected center's account credits that center (its notice names our 业务流水号)."""
        result, fault = self._pay(payment)
        peer = self.peers.get(payment.cr_acct_no)
        if (
            peer is not None
            and result.status is not BankStatus.FAILED
            and fault != "lost"
            and result.bank_seq_no
        ):
            peer.credit_once(payment.amt_fen, self.center_account, self.center_name, payment.summary,
                             ref_seq_no=payment.send_seq_no)  # fmt: skip
        return result, fault

    def _pay(self, payment: m.Payment) -> tuple[m.PaymentResult, str | None]:
        with self._lock:
            self.pay_calls += 1
            if payment.send_seq_no in self.transfers:  # the same number is never paid twice
                return self.transfers[payment.send_seq_no], None
            fault = self._fault_for(payment.send_seq_no)
            if fault == "lost":
                return m.PaymentResult(send_seq_no=payment.send_seq_no, status=BankStatus.NOT_FOUND), fault
            day = self.bank_date()
            if fault == "fail" or payment.amt_fen > self.balance_fen:
                code, msg = (
                    ("E2001", "收款账户户名不符") if fault == "fail" else ("E3001", "付款账户余额不足")
                )
                result = m.PaymentResult(
                    send_seq_no=payment.send_seq_no, status=BankStatus.FAILED, bank_date=day,
                    amt_fen=payment.amt_fen, ret_code=code, ret_msg=msg,
                )  # fmt: skip
                self.transfers[payment.send_seq_no] = result
                return result, fault
            self.balance_fen -= payment.amt_fen
            serial = self._next_serial("T")
            result = m.PaymentResult(
                send_seq_no=payment.send_seq_no, status=BankStatus.SUCCESS, bank_seq_no=serial, bank_date=day,
                amt_fen=payment.amt_fen,
            )  # fmt: skip
            self.transfers[payment.send_seq_no] = result
            line = m.StatementLine(
                bank_seq_no=serial, tx_date=day, direction="D", amt_fen=payment.amt_fen,
                ref_seq_no=payment.send_seq_no, counterparty_acct_no=payment.cr_acct_no,
                counterparty_name=payment.cr_acct_name, summary=payment.summary[:60],
            )  # fmt: skip
            self.statement.extend([line, line] if fault == "double_post" else [line])
            notice = self._notice(line)
            if fault == "late":
                self.held.append(notice)
            else:
                self.outbox.extend([notice, notice] if fault == "twice" else [notice])
            if fault == "processing":
                return result.model_copy(update={"status": BankStatus.PROCESSING}), fault
            return result, fault

    def debit(self, item: m.LoanDebit) -> tuple[m.LoanDebitResult | None, str | None]:
        """Debit one borrower's card for the center; the answer (None if lost) and the fault."""
        with self._lock:
            self.debit_calls += 1
            if item.seq_no in self.debits:  # the same number is never debited twice
                return self.debits[item.seq_no], None
            fault = self._fault_for(item.seq_no)
            if fault == "lost":
                return None, fault
            if fault == "fail":
                result = m.LoanDebitResult(seq_no=item.seq_no, status=BankStatus.FAILED,
                                           ret_code="E3001", ret_msg="扣款账户余额不足")  # fmt: skip
                self.debits[item.seq_no] = result
                return result, fault
            self.balance_fen += item.amt_fen
            serial = self._next_serial("K")
            line = m.StatementLine(
                bank_seq_no=serial, tx_date=self.bank_date(), direction="C", amt_fen=item.amt_fen,
                ref_seq_no=item.seq_no, counterparty_acct_no=item.de_acct_no,
                counterparty_name=item.de_acct_name, summary="贷款扣款",
            )  # fmt: skip
            self.statement.append(line)
            self.outbox.append(self._notice(line))
            result = m.LoanDebitResult(seq_no=item.seq_no, status=BankStatus.SUCCESS, bank_seq_no=serial)
            self.debits[item.seq_no] = result
            return result, fault

    def credit(self, amt_fen: int, payer_acct_no: str, payer_name: str, summary: str = "") -> m.StatementLine:
        """Money arrives on the center's account unasked (an employer's remittance)."""
        with self._lock:
            self.balance_fen += amt_fen
            line = m.StatementLine(
                bank_seq_no=self._next_serial("C"), tx_date=self.bank_date(), direction="C", amt_fen=amt_fen,
                counterparty_acct_no=payer_acct_no, counterparty_name=payer_name, summary=summary[:60],
            )  # fmt: skip
            self.statement.append(line)
            self.outbox.append(self._notice(line))
            return line

    def credit_once(
        self, amt_fen: int, payer_acct_no: str, payer_name: str, summary: str, *, ref_seq_no: str
    ) -> m.StatementLine | None:
        """Money from another center's payment ``ref_seq_no``: credited once per reference."""
        with self._lock:
            if ref_seq_no in self._credited:
                return None
            self._credited.add(ref_seq_no)
            self.balance_fen += amt_fen
            line = m.StatementLine(
                bank_seq_no=self._next_serial("C"), tx_date=self.bank_date(), direction="C", amt_fen=amt_fen,
                ref_seq_no=ref_seq_no, counterparty_acct_no=payer_acct_no, counterparty_name=payer_name,
                summary=summary[:60],
            )  # fmt: skip
            self.statement.append(line)
            self.outbox.append(self._notice(line))
            return line

    def query(self, seq_no: str) -> m.PaymentResult:
        with self._lock:
            found = self.transfers.get(seq_no)
        return found or m.PaymentResult(send_seq_no=seq_no, status=BankStatus.NOT_FOUND)

    def statement_of(self, day: date) -> m.Statement:
        with self._lock:
            lines = [x for x in self.statement if x.tx_date == day]
        return m.Statement(acct_no=self.center_account, day=day, lines=lines)

    # ------------------------------------------------------------------------- notices

    def release_late(self) -> int:
        """Put the held (``late``) answers in the outbox."""
        with self._lock:
            count = len(self.held)
            self.outbox.extend(self.held)
            self.held.clear()
        return count

    def deliver_groups(self, post: Callable[[bytes, dict[str, str]], int], group: int = 100) -> int:
        """Post every queued notice in groups of up to ``group`` (``AccountChangeNotices``);
        a group refused stays queued, in order."""
        sent = 0
        while True:
            with self._lock:
                pending = [self.outbox.popleft() for _ in range(min(group, len(self.outbox)))]
            if not pending:
                return sent
            status = self._post_signed(
                post, m.AccountChangeNotices(notices=pending).model_dump_json().encode()
            )
            if not 200 <= status < 300:
                with self._lock:
                    self.outbox.extendleft(reversed(pending))
                return sent
            sent += len(pending)

    def _post_signed(self, post: Callable[[bytes, dict[str, str]], int], body: bytes) -> int:
        """``post``'s status for ``body`` signed as the bank signs its notices; 0 if unreachable."""
        headers = {"content-type": "application/json"}
        if self.secret is not None:
            headers[m.SIGNATURE_HEADER] = m.sign(body, self.secret)
        try:
            return post(body, headers)
        except httpx.HTTPError:
            return 0

    def deliver(self, post: Callable[[bytes, dict[str, str]], int]) -> int:
        """Post every queued notice (``post(body, headers) -> status``); failures stay queued."""
        sent = 0
        while True:
            with self._lock:
                if not self.outbox:
                    return sent
                notice = self.outbox.popleft()
            status = self._post_signed(post, notice.model_dump_json().encode())
            if not 200 <= status < 300:  # down (0) or refused: kept for the next round
                with self._lock:
                    self.outbox.appendleft(notice)
                return sent
            sent += 1


# ----------------------------------------------------------------------------------- the app


class FaultRequest(BaseModel):
    mode: str
    send_seq_no: str = ANY
    times: int = 1


class CreditRequest(BaseModel):
    amt_fen: int
    payer_acct_no: str = "1602000109000123456"
    payer_name: str = "缴存单位"
    summary: str = "住房公积金汇缴"


class DateRequest(BaseModel):
    day: date


def create_fake_bank(
    bank: FakeBank | None = None, *, notify_url: str | None = None, notify_group: int = 1
) -> FastAPI:
    """The bank as an ASGI app; with ``notify_url`` it also sends its notices there by itself,
    one per request, or (``notify_group`` N > 1) up to N per request to ``<notify_url>/batch``."""
    state = bank or FakeBank()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = (
            asyncio.create_task(_send_notices(state, notify_url, group=notify_group)) if notify_url else None
        )
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(title="OpenHPF fake bank", lifespan=lifespan)
    app.state.bank = state

    async def signed(request: Request) -> None:
        body = await request.body()  # cached on the request: the route reads it again
        if state.secret is not None and not m.signature_ok(
            body, state.secret, request.headers.get(m.SIGNATURE_HEADER)
        ):
            raise HTTPException(401, "bad signature")

    bdc = APIRouter(prefix="/bdc", dependencies=[Depends(signed)])

    @bdc.post("/BDC101")
    def single_payment(request: m.SinglePaymentRequest) -> JSONResponse:
        result, fault = state.pay(request.body)
        if fault in ("timeout", "late"):
            time.sleep(state.delay)
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        if fault == "lost":
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        return JSONResponse(result.model_dump(mode="json"))

    @bdc.post("/BDC103")
    def batch_payment(request: m.BatchPaymentRequest) -> JSONResponse:
        batch_no = request.header.send_seq_no
        faults = {state.pay(item)[1] for item in request.items}
        with state._lock:
            state.batches[batch_no] = [i.send_seq_no for i in request.items]
        if faults & {"timeout", "late"}:  # paid, but the answer never comes
            time.sleep(state.delay)
        if faults & {"timeout", "late", "lost"}:  # the whole batch goes unanswered
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        accepted = m.BatchAccepted(batch_no=batch_no, accepted=len(request.items))
        return JSONResponse(accepted.model_dump(mode="json"))

    @bdc.post("/BDC105")
    def loan_debit(request: m.LoanDebitRequest) -> JSONResponse:
        answers = [state.debit(item) for item in request.items]
        faults = {fault for _, fault in answers}
        if faults & {"timeout", "late"}:
            time.sleep(state.delay)
        if faults & {"timeout", "late", "lost"}:  # the whole batch goes unanswered
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        items = [result for result, _ in answers if result is not None]
        return JSONResponse(m.LoanDebitAnswer(batch_no=request.batch_no, items=items).model_dump(mode="json"))

    @bdc.post("/BDC107")
    def batch_result(request: m.BatchQuery) -> m.BatchResult:
        numbers = state.batches.get(request.batch_no, [])
        return m.BatchResult(batch_no=request.batch_no, items=[state.query(n) for n in numbers])

    @bdc.post("/BDC110")
    def result_query(request: m.ResultQuery) -> m.PaymentResult:
        return state.query(request.orig_send_seq_no)

    @bdc.post("/BDC113")
    def statement(request: m.StatementQuery) -> m.Statement:
        if request.acct_no != state.center_account:
            raise HTTPException(404, "no such account")
        return state.statement_of(request.day)

    app.include_router(bdc)

    @app.post("/admin/faults")
    def arm(body: FaultRequest) -> dict[str, str]:
        if body.mode not in MODES:
            raise HTTPException(422, f"mode must be one of {sorted(MODES)}")
        state.arm(body.mode, body.send_seq_no, body.times)
        return {"armed": body.mode}

    @app.post("/admin/credit")
    def credit(body: CreditRequest) -> m.StatementLine:
        return state.credit(body.amt_fen, body.payer_acct_no, body.payer_name, body.summary)

    @app.post("/admin/date")
    def set_date(body: DateRequest) -> dict[str, str]:
        state.today = body.day
        return {"day": body.day.isoformat()}

    @app.post("/admin/notices/release")
    def release() -> dict[str, int]:
        return {"released": state.release_late()}

    @app.get("/admin/state")
    def show() -> dict[str, object]:
        return {
            "balance_fen": state.balance_fen,
            "transfers": len(state.transfers),
            "pay_calls": state.pay_calls,
            "debits": len(state.debits),
            "outbox": len(state.outbox),
            "statement_lines": len(state.statement),
        }

    return app


async def _send_notices(state: FakeBank, url: str, every: float = 0.2, *, group: int = 1) -> None:
    """Background sender of the outbox (the served fake bank); ``group`` > 1: in groups."""
    if group > 1:
        await _send_notice_groups(state, url, every, group)
        return
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            pending = []
            with state._lock:
                while state.outbox:
                    pending.append(state.outbox.popleft())
            for n, notice in enumerate(pending):
                body = notice.model_dump_json().encode()
                headers = {"content-type": "application/json"}
                if state.secret is not None:
                    headers[m.SIGNATURE_HEADER] = m.sign(body, state.secret)
                try:
                    status = (await client.post(url, content=body, headers=headers)).status_code
                except httpx.HTTPError:
                    status = 0
                if not 200 <= status < 300:  # down (0) or refused: this one and the rest next round
                    with state._lock:
                        state.outbox.extendleft(reversed(pending[n:]))
                    break
            await asyncio.sleep(every)


async def _send_notice_groups(state: FakeBank, url: str, every: float, group: int) -> None:
    """Up to ``group`` queued notices per request (``AccountChangeNotices``), in order; a group
    refused or not delivered goes back to the head of the queue, and is sent again next round."""
    async with httpx.AsyncClient(timeout=60) as client:
        while True:
            with state._lock:
                pending = [state.outbox.popleft() for _ in range(min(group, len(state.outbox)))]
            if pending:
                body = m.AccountChangeNotices(notices=pending).model_dump_json().encode()
                headers = {"content-type": "application/json"}
                if state.secret is not None:
                    headers[m.SIGNATURE_HEADER] = m.sign(body, state.secret)
                try:
                    status = (await client.post(f"{url}/batch", content=body, headers=headers)).status_code
                except httpx.HTTPError:
                    status = 0
                if 200 <= status < 300:
                    continue  # the next group at once
                with state._lock:
                    state.outbox.extendleft(reversed(pending))
            await asyncio.sleep(every)


def in_process(
    bank: FakeBank, *, center_code: str, secret: bytes, base_url: str = "http://fakebank"
) -> HttpBank:
    """The center's real adapter talking HTTP to ``bank`` inside this process (no sockets).

    For the simulator, the development server with ``HPF_BANK_URL=fake``, and tests: the
    messages are the same signed JSON as with a served bank; only the transport is in memory
    (starlette's test transport, which needs no running server).
    """
    import warnings

    with warnings.catch_warnings():  # starlette would rather use httpx2; httpx is our client
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    bank.secret = secret
    client = TestClient(create_fake_bank(bank), base_url=base_url)
    return HttpBank(
        base_url, center_code=center_code, center_account=bank.center_account,
        center_name=bank.center_name, secret=secret, client=client,
    )  # fmt: skip
