"""Unit tests: a journal entry cannot exist unbalanced or malformed."""

from datetime import date

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.ledger.chart import POSTABLE, SUBJECTS, Side, parent_of
from hpf.ledger.rules import BalancePart, JournalEntry, Line, member_deltas, reversal

D, C = Side.DEBIT, Side.CREDIT
DAY = date(2025, 3, 15)


def entry(*lines: Line, key: str = "k1") -> JournalEntry:
    return JournalEntry("01", "B1", key, DAY, DAY, tuple(lines))


def test_a_balanced_entry_is_built():
    e = entry(Line("101", D, 500), Line("201", C, 500, member_id=1, part=BalancePart.CURRENT))
    assert e.total_fen == 500
    assert len(e.fingerprint) == 64


@pytest.mark.parametrize(
    "lines",
    [
        (Line("101", D, 500), Line("201", C, 400, member_id=1, part=BalancePart.CURRENT)),
        (Line("101", D, 500),),
    ],
)
def test_unbalanced_or_single_line_entries_are_refused(lines):
    with pytest.raises(InvalidInput) as err:
        entry(*lines)
    assert err.value.code == "ledger.invalid_entry"


@pytest.mark.parametrize(
    "make",
    [
        lambda: Line("101", D, 0),
        lambda: Line("101", D, -5),
        lambda: Line("101", D, 1.5),  # type: ignore[arg-type]
        lambda: Line("999", D, 5),
        lambda: Line("219", D, 5),  # a parent subject takes no postings
        lambda: Line("201", C, 5),  # member control line without a member
        lambda: Line("201", C, 5, member_id=1),  # ... or without a balance part
        lambda: Line("21901", C, 5, member_id=1),  # employer sub-ledger with a member
        lambda: Line("101", D, 5, member_id=1),  # bank line with sub-ledger detail
    ],
)
def test_malformed_lines_are_refused(make):
    with pytest.raises(InvalidInput):
        make()


def test_reversal_swaps_sides_and_cancels_member_deltas():
    e = entry(
        Line("101", D, 700),
        Line("201", C, 300, member_id=1, part=BalancePart.CURRENT),
        Line("201", C, 400, member_id=2, part=BalancePart.CARRIED),
    )
    r = reversal(e, 9, idempotency_key="rev", posting_date=DAY, memo="wrong", actor="t")
    assert r.reverses_entry_id == 9
    total = member_deltas(e.lines)
    for key, delta in member_deltas(r.lines).items():
        assert total[key] + delta == 0


def test_chart_parents_and_leaves():
    assert parent_of("21901") == "219"
    assert parent_of("3210102") == "321"
    assert "219" not in POSTABLE and "21901" in POSTABLE and "201" in POSTABLE
    assert SUBJECTS["201"].normal_side is C and SUBJECTS["101"].normal_side is D
