"""Unit tests (no database): payout requests refuse bad input; the order state table."""

from __future__ import annotations

from datetime import date

import pytest

from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.ledger.rules import BalancePart
from hpf.settlement.rules import (
    TRANSITIONS,
    AccountClass,
    OrderState,
    Payee,
    Source,
    check_transition,
    reservation_entry,
)
from settlement_support import payout


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"fen": 300.0}, "money.not_integer_fen"),
        ({"fen": 0}, "settlement.amount"),
        ({"key": ""}, "settlement.idempotency_key"),
        ({"card": "6222020200001234560"}, "bank_card.checksum"),
        ({"owner_id": ""}, "settlement.owner"),
        ({"fund_business_type": "99"}, "settlement.fund_business_type"),
    ],
)
def test_a_bad_request_is_refused_with_a_code_and_a_chinese_title(change, code):
    args = {"member_id": 1, "fen": 30_000, "key": "k", **change}
    with pytest.raises(InvalidInput) as err:
        payout(args.pop("member_id"), args.pop("fen"), args.pop("key"), **args)
    assert err.value.code == code and err.value.title and err.value.detail


def test_sources_must_add_up_to_the_amount():
    request = payout(1, 30_000, "k")
    with pytest.raises(InvalidInput) as err:
        type(request)(**{**request.__dict__, "sources": (Source("201", 29_999, 1, BalancePart.CURRENT),)})
    assert err.value.code == "settlement.sources_total"
    with pytest.raises(InvalidInput) as err:
        type(request)(**{**request.__dict__, "sources": (Source("101", 30_000),)})
    assert err.value.code == "settlement.source_subject"


def test_a_corporate_payee_needs_digits_only():
    assert (
        Payee("某开发公司", "1602-0001-0900-0123", "工行", AccountClass.CORPORATE).account_no
        == "1602000109000123"
    )
    with pytest.raises(InvalidInput):
        Payee("某开发公司", "ABC123", "工行", AccountClass.CORPORATE)


def test_the_reservation_debits_the_sources_and_credits_payments_in_transit():
    entry = reservation_entry(payout(7, 30_000, "k"), "990001P000000000001", date(2025, 3, 15), "t")
    assert [(ln.subject, ln.side.value, ln.amount_fen, ln.member_id) for ln in entry.lines] == [
        ("201", "D", 30_000, 7),
        ("21903", "C", 30_000, None),
    ]
    assert entry.idempotency_key == "settlement:990001P000000000001:reserve"


def test_final_states_are_final_and_only_listed_transitions_pass():
    for state in OrderState:
        for target in OrderState:
            if (state, target) in TRANSITIONS:
                check_transition(state, target)
            else:
                with pytest.raises(IllegalTransition):
                    check_transition(state, target)
    assert not any(old in (OrderState.PAID, OrderState.FAILED) for old, _ in TRANSITIONS)


def test_the_reservation_memo_reads_as_a_sentence():
    import dataclasses

    request = dataclasses.replace(payout(7, 30_000, "k"), summary="大病医疗提取")
    entry = reservation_entry(request, "990001P000000000001", date(2025, 3, 15), "t")
    assert entry.memo == "大病医疗提取 付款在途" and "冻结" not in entry.memo
