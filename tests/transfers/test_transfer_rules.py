"""The pure rules of a cross-center transfer (REFERENCE §5), figures worked by hand."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from hpf.kernel.errors import HpfError
from hpf.messages.bodies import BODIES, TransferOut
from hpf.transfers import rules
from hpf.transfers.rules import OutFacts, Side, State


def test_the_contact_letter_number_is_the_center_the_day_and_a_sequence():
    assert rules.letter_no("330100", date(2026, 12, 7), 1) == "3301002612070001"
    assert rules.letter_no("440300", date(2025, 1, 31), 9999) == "4403002501319999"
    parsed = rules.parse_letter_no("3301002612070042")
    assert (parsed.center_code, parsed.day, parsed.sequence) == ("330100", date(2026, 12, 7), 42)
    for bad in ("330100261207001", "3301002613070001", "3301002612070000", "33010026120700a1"):
        with pytest.raises(HpfError) as refused:
            rules.parse_letter_no(bad)
        assert refused.value.code == "transfer.letter_no"
    with pytest.raises(HpfError):
        rules.letter_no("330100", date(2026, 12, 7), 10_000)  # a day has 9,999 letters at most


def test_states_their_platform_codes_and_feedback():
    assert rules.PLATFORM_STATUS[State.LETTER_SENT] == "01"
    assert rules.PLATFORM_STATUS[State.RECEIVED] == "02"
    assert rules.PLATFORM_STATUS[State.TRANSFERRED] == "08"
    assert rules.PLATFORM_STATUS[State.COMPLETED] == "00"
    assert rules.PLATFORM_STATUS[State.CANCELLED] == "05"
    assert rules.PLATFORM_STATUS[State.REFUSED] == "13"
    assert rules.PLATFORM_STATUS[State.PAYMENT_FAILED] == "40"
    assert [rules.feedback_code(s) for s in (State.COMPLETED, State.REFUSED, State.RECEIVED)] == [
        "0",
        "1",
        "2",
    ]
    assert rules.can_move(Side.OUT, State.RECEIVED, State.TRANSFERRED)
    assert not rules.can_move(Side.OUT, State.TRANSFERRED, State.CANCELLED)  # the money has moved
    assert not rules.can_move(Side.IN, State.INFO_RECEIVED, State.CANCELLED)
    with pytest.raises(HpfError) as refused:
        rules.require_move(Side.IN, State.COMPLETED, State.REFUSED)
    assert refused.value.code == "transfer.illegal_transition"


def _codes(findings):
    return {f.code: f.passed for f in findings}


def test_the_old_centers_checks():
    today = date(2025, 4, 15)
    sealed = OutFacts(True, "02", date(2025, 3, 31), 0, 576_000)
    assert all(f.passed for f in rules.out_checks(sealed, today))
    assert _codes(rules.out_checks(OutFacts(True, "01", None, 0, 1), today))["transfer.sealed"] is False
    frozen = _codes(rules.out_checks(OutFacts(True, "06", None, 0, 1), today))
    assert frozen["transfer.not_frozen"] is False and frozen["transfer.sealed"] is False
    assert (
        _codes(rules.out_checks(OutFacts(True, "02", None, 1, 1), today))["transfer.no_unsettled_loan"]
        is False
    )
    missing = rules.out_checks(OutFacts(False, None, None, 0, 0), today)
    assert [(f.code, f.passed) for f in missing] == [("transfer.account_found", False)]
    # Local extra condition: sealed six months. Sealed 2024-10-15: six whole months on 2025-04-15,
    # not on 2025-04-14.
    long = OutFacts(True, "02", date(2024, 10, 15), 0, 1)
    assert _codes(rules.out_checks(long, date(2025, 4, 15), 6))["transfer.sealed_long_enough"] is True
    assert _codes(rules.out_checks(long, date(2025, 4, 14), 6))["transfer.sealed_long_enough"] is False
    assert "transfer.sealed_long_enough" not in _codes(rules.out_checks(long, today, 0))  # default: none


def test_working_day_limits_and_the_overdue_flag_across_the_national_day():
    # Received 30 September 2025: 1–8 October are holidays, 11 October (Saturday) a make-up
    # working day: five working days are 9, 10, 11, 13, 14 October.
    due = rules.due_on(date(2025, 9, 30), 5)
    assert due == date(2025, 10, 14)
    assert not rules.is_overdue(State.RECEIVED, due, date(2025, 10, 14))
    assert rules.is_overdue(State.RECEIVED, due, date(2025, 10, 15))
    assert not rules.is_overdue(State.COMPLETED, due, date(2025, 10, 15))  # done is never overdue


def test_the_history_summary_and_the_months_that_count_once():
    months = ["2024-10", "2024-11", "2024-12", "2025-01", "2025-02", "2025-03"]
    summary = rules.summarize(date(2024, 10, 8), months)
    assert (summary.opened_month, summary.paid_through, summary.six_months_continuous) == (
        "202410",
        "202503",
        "1",
    )
    gap = rules.summarize(date(2024, 10, 8), [m for m in months if m != "2024-12"])
    assert gap.six_months_continuous == "2"
    assert rules.summarize(date(2025, 1, 2), []).paid_through is None
    # March deposited at both centers (a double payment) counts once.
    assert rules.new_months(["2025-03", "2025-04"], ["2025-01", "2025-02", "2025-03"]) == [
        "2025-01",
        "2025-02",
    ]


def test_the_transfer_out_amount_is_principal_plus_interest():
    body = {
        "letter_no": "3301002504150001", "name": "张三", "cert_no": "370102199003070014",
        "amount_fen": 576_840, "principal_fen": 576_000, "interest_fen": 840, "opened_month": "202501",
        "paid_through": "202503", "six_months_continuous": "2", "loan_count": 0, "unsettled_loan": "2",
        "fraud": "2", "order_no": "4403000000000001", "months": ["2025-01", "2025-02", "2025-03"],
    }  # fmt: skip
    assert TransferOut.model_validate(body).amount_fen == 576_840
    with pytest.raises(ValidationError):
        TransferOut.model_validate({**body, "amount_fen": 576_000})
    with pytest.raises(ValidationError):
        TransferOut.model_validate({**body, "months": ["2025-13"]})
    assert {
        ("BDC901", False),
        ("BDC901", True),
        ("BDC903", False),
        ("BDC905", False),
        ("BDC905", True),
    } <= set(BODIES)
