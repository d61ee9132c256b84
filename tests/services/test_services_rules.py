"""Unit: the state machine, working-day deadlines, material checks, forms and ratings."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.kernel.workdays import add_working_days, working_days_between
from hpf.services import rules
from hpf.services.rules import State
from services_support import JPG, PDF, PNG

ALLOWED = {
    ("submitted", "accepted"), ("accepted", "under_review"), ("under_review", "approved"),
    ("approved", "executed"), ("approved", "failed"),
    ("submitted", "rejected"), ("accepted", "rejected"), ("under_review", "rejected"),
    ("submitted", "withdrawn"), ("accepted", "withdrawn"), ("under_review", "withdrawn"),
}  # fmt: skip


@pytest.mark.parametrize(("current", "target"), list(itertools.product(State, State)))
def test_every_transition_is_allowed_or_refused_as_the_machine_says(current: State, target: State) -> None:
    if (current.value, target.value) in ALLOWED:
        rules.require_transition(1, current, target)
        return
    with pytest.raises(IllegalTransition) as refused:
        rules.require_transition(1, current, target)
    assert refused.value.code == "application.illegal_transition"
    assert refused.value.status == 409 and refused.value.extra["state"] == current


def test_ended_states_go_nowhere() -> None:
    assert {s for s, _ in rules.TRANSITIONS} & rules.TERMINAL == set()


def test_the_time_limit_runs_in_working_days_across_the_national_day_holiday() -> None:
    # Accepted Tuesday 30 September 2025: 1–8 October are holidays, Saturday 11 October a make-up day.
    assert rules.due_on(date(2025, 9, 30), 3) == date(2025, 10, 11)
    assert rules.due_on(date(2025, 3, 14), 3) == date(2025, 3, 19)  # Friday: over a weekend
    assert add_working_days(date(2025, 3, 14), 0) == date(2025, 3, 14)
    assert working_days_between(date(2025, 9, 30), date(2025, 10, 11)) == 3
    assert working_days_between(date(2025, 10, 11), date(2025, 9, 30)) == -3


def test_overdue_only_while_a_decision_is_owed_and_only_after_the_last_day() -> None:
    due = date(2025, 10, 11)
    assert not rules.is_overdue("under_review", due, due)
    assert rules.is_overdue("under_review", due, date(2025, 10, 13))
    assert not rules.is_overdue("approved", due, date(2025, 10, 13))
    assert not rules.is_overdue("submitted", None, date(2025, 10, 13))


MATERIAL = {
    "code": "M-ID",
    "name_zh": "身份证件",
    "required": True,
    "file_types": ["pdf", "png"],
    "max_size_kb": 1,
}


def test_a_file_is_checked_by_its_bytes_its_name_and_its_size() -> None:
    assert rules.check_file("WD-RENT", MATERIAL, "id.png", PNG) == "png"
    assert rules.check_file("WD-RENT", MATERIAL, "ID.PDF", PDF) == "pdf"
    for name, data, code in (
        ("id.jpg", JPG, "application.file_type"),  # a type the material does not accept
        ("id.png", PDF, "application.file_type"),  # a PDF calling itself PNG
        ("id.exe", b"MZ" + b"\x00" * 10, "application.file_type"),
        ("id.png", b"", "application.file_empty"),
        ("id.png", PNG + b"\x00" * 1024, "application.file_too_large"),
    ):
        with pytest.raises(InvalidInput) as refused:
            rules.check_file("WD-RENT", MATERIAL, name, data)
        assert refused.value.code == code, name
        assert refused.value.title and refused.value.detail


def test_the_form_becomes_the_payload_in_fen_and_iso_dates() -> None:
    fields = [
        {"name": "rent_monthly_fen", "label_zh": "月租金", "kind": "yuan", "required": True},
        {"name": "document_date", "label_zh": "日期", "kind": "date", "required": False},
        {"name": "emigrated", "label_zh": "出境", "kind": "bool", "required": False},
        {"name": "method", "label_zh": "还款方式", "kind": "choice", "required": False,
         "options": [{"value": "equal-installment", "label_zh": "等额本息"}]},
    ]  # fmt: skip
    got = rules.payload_from_form(fields, {"rent_monthly_fen": "1,500.5", "document_date": "2025-03-01"})
    assert got == {"rent_monthly_fen": 150050, "document_date": "2025-03-01", "emigrated": False}
    chosen = rules.payload_from_form(fields, {"rent_monthly_fen": "1", "method": "equal-installment"})
    assert chosen["method"] == "equal-installment"
    for form, code in (
        ({}, "application.field_required"),
        ({"rent_monthly_fen": "1.005"}, "application.field_invalid"),
        ({"rent_monthly_fen": "-3"}, "application.field_invalid"),
        ({"rent_monthly_fen": "NaN"}, "application.field_invalid"),
        ({"rent_monthly_fen": "1", "document_date": "2025-02-30"}, "application.field_invalid"),
        ({"rent_monthly_fen": "1", "method": "balloon"}, "application.field_invalid"),  # not an option
    ):
        with pytest.raises(InvalidInput) as refused:
            rules.payload_from_form(fields, form)
        assert refused.value.code == code, form


def test_a_rating_is_one_to_five_with_a_short_comment() -> None:
    assert rules.check_rating(5, "  很  快 ") == (5, "很 快")
    for score, comment in ((0, ""), (6, ""), (True, ""), ("5", ""), (3, "长" * 501)):
        with pytest.raises(InvalidInput):
            rules.check_rating(score, comment)


def test_payload_numbers_beyond_64_bits_are_refused_not_stored() -> None:
    from hpf.kernel.errors import InvalidInput
    from hpf.services.payload import Fields

    fields = Fields({"cost_fen": 10**20, "years": "9" * 5000}, "withdrawal.payload")
    with pytest.raises(InvalidInput) as err:
        fields.fen("cost_fen")
    assert err.value.code == "withdrawal.payload.cost_fen"
    with pytest.raises(InvalidInput) as err:
        fields.integer("years", 1, 30)  # int() of 5,000 digits raised ValueError: a 500
    assert err.value.code == "withdrawal.payload.years"
    assert Fields({"cost_fen": 2**63 - 1}, "p").fen("cost_fen") == 2**63 - 1
