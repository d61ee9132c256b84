"""Correct list rows for the test center."""

from hpf.contributions.rules import ListRow


def list_rows(members, *, months_factor: int = 1, tweak=None) -> list[ListRow]:
    """Correct rows at 12% / 12% rounded to fen (the default policy)."""
    from decimal import ROUND_HALF_UP, Decimal

    rows = []
    for n, m in enumerate(members, start=1):
        part = int((Decimal(m.base_fen) * Decimal("0.12")).quantize(Decimal(1), ROUND_HALF_UP))
        rows.append(ListRow(n, m.account_no, m.name, m.base_fen, part, part))
    return [tweak(r) if tweak else r for r in rows]
