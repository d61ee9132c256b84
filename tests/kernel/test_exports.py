"""Formula escaping of exported cells (OWASP CSV injection)."""

from decimal import Decimal

import pytest

from hpf.kernel.exports import safe_cell, safe_row


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+cmd|x", "'+1+cmd|x"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("济南=公司", "济南=公司"),
        ("-12.50", "-12.50"),  # a negative amount written as text stays a number
        ("+86", "+86"),
        ("", ""),
    ],
)
def test_text_that_would_run_as_a_formula_is_escaped(value: str, shown: str) -> None:
    assert safe_cell(value) == shown


def test_numbers_stay_numbers() -> None:
    assert safe_row([-5, Decimal("-1.5"), -0.25, None, "ok"]) == [-5, Decimal("-1.5"), -0.25, None, "ok"]
