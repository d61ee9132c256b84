"""The borrower's debit card: required for 委托扣款 on LN-APPLY, sealed on the loan, never in plaintext."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import InvalidInput
from hpf.kernel.identifiers import luhn_check_digit
from hpf.loans.application import handler as la
from hpf.loans.book import service as loans
from hpf.loans.book.tables import loan
from hpf.services import service as applications
from hpf.services.tables import application

sys.path.insert(0, str(Path(__file__).parents[1] / "loanapp"))  # the application's helpers

from loanapp_support import build_center, payload, submit

DEBIT_CARD = "62284800246813579" + luhn_check_digit("62284800246813579")


def test_a_bank_debit_application_needs_a_valid_card():
    with pytest.raises(InvalidInput) as missing:
        la.form_of(payload(repayment_source="bank_debit"))
    assert missing.value.code == "loan.payload.debit_card"
    with pytest.raises(InvalidInput):
        la.form_of(
            payload(repayment_source="bank_debit", debit_card=DEBIT_CARD[:-1] + "0")
        )  # bad check digit
    form = la.form_of(
        payload(repayment_source="bank_debit", debit_card=" ".join([DEBIT_CARD[:6], DEBIT_CARD[6:]]))
    )
    assert form.debit_card == DEBIT_CARD
    assert la.form_of(payload()).debit_card is None  # not needed when the HPF account repays


def test_the_card_reaches_the_loan_sealed_and_is_never_stored_in_plaintext(engine, bank):
    center = build_center(engine)
    submitted = submit(center, payload(co_borrower_account_nos="", repayment_source="bank_debit",
                                       debit_card=DEBIT_CARD))  # fmt: skip
    with write_transaction(engine) as conn:
        out = applications.approve(
            conn, center.ctx, center.people["reviewer01"], submitted.id, "核准"
        ).outputs
    with read_transaction(engine) as conn:
        stored = conn.scalar(select(application.c.payload).where(application.c.id == submitted.id))
        token = conn.scalar(select(loan.c.debit_card_enc).where(loan.c.id == out["loan_id"]))
        view = loans.loan_view(conn, out["loan_id"])
    assert stored["debit_card"] != DEBIT_CARD and DEBIT_CARD[-4:] in stored["debit_card"]  # masked
    assert token and DEBIT_CARD not in token
    assert view.repayment_source == "bank_debit" and view.debit_card == DEBIT_CARD
    if engine.dialect.name == "sqlite":
        engine.dispose()  # flush to the file
        path = Path(str(engine.url.database))
        dump = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert DEBIT_CARD.encode() not in dump
