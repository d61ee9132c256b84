"""On a simulated center: the early-warning rules measured (loans that went 90+ days past due,
warned before and how early), and a policy what-if run on copies of the database."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from hpf.db.engine import read_transaction
from hpf.loans.book.tables import loan
from hpf.loans.calculator import rates
from hpf.planning import warning
from hpf.planning.tables import early_warning, whatif_run
from hpf.planning.whatif import check_params
from hpf.sim.planning import measure_early_warning, run_whatif
from planning_city import CENTER, TODAY


def test_the_rules_warn_loans_before_they_are_90_days_overdue(city):
    measure = measure_early_warning(city, CENTER, months=6, seed=11)
    report = measure.report()
    assert report["serious_loans"] == len(measure.serious) >= 1, report
    # every loan that went 90+ days past due was warned before, at least one month-end earlier:
    # the missed-installment rule sees it at 30 and 60 days
    assert report["serious_warned"] == report["serious_loans"], report
    assert report["min_lead_days"] >= 28
    missed = report["by_rule"]["EW-MISSED-INSTALLMENT"]
    assert missed["serious_warned"] == report["serious_loans"]
    # the figures are those of the stored queue: each warned loan once per rule, on its first day
    with read_transaction(city) as conn:
        stored = conn.execute(
            select(early_warning.c.loan_id, early_warning.c.rule, early_warning.c.warned_on)
        ).all()
        over_90 = {
            int(i)
            for (i,) in conn.execute(select(loan.c.id).where(loan.c.days_past_due >= warning.SERIOUS_DAYS))
        }
    assert len(stored) == len({(i, r) for i, r, _ in stored})
    assert {int(i) for i, _, _ in stored} == set(measure.warned)
    assert over_90 <= set(measure.serious)  # those still 90+ at the end were seen
    for loan_id, first in measure.serious.items():
        assert measure.warned_before(loan_id) is not None and measure.warned_before(loan_id) < first
    assert report["warned_loans"] == len(measure.warned) >= report["serious_warned"]


def test_a_whatif_runs_on_copies_and_leaves_the_center_as_it_was(city):
    with read_transaction(city) as conn:
        before = conn.scalar(select(func.count()).select_from(loan))
    params = {"parameter": "loan.max_amount_fen", "value": 100_000, "months": 2, "seed": 3}
    result = run_whatif(city, CENTER, params)  # type: ignore[arg-type]
    base, changed = result["base"], result["changed"]
    assert base["start"] == changed["start"] == TODAY.isoformat() and base["end"] == changed["end"]
    # a ceiling of 1,000 yuan: loans are refused or tiny, so less is lent
    assert changed["loans_made_fen"] < base["loans_made_fen"]
    assert changed["people_served"] == changed["loans_made"] + changed["withdrawers"]
    with read_transaction(city) as conn:
        assert conn.scalar(select(func.count()).select_from(loan)) == before  # the center untouched
        assert conn.scalar(select(func.count()).select_from(whatif_run)) == 0


def test_a_loan_rate_whatif_moves_the_rate_of_the_loans_made_in_the_copy(city):
    """The loan rate is national (not a center's policy): the copy supposes it moved by 100 bp from
    the first simulated day; every loan made there carries it, the unchanged run does not."""
    params = {"parameter": "loan.rate_change_bp", "value": "100", "months": 2, "seed": 3}
    result = run_whatif(city, CENTER, check_params(params))
    base, changed = result["base"], result["changed"]
    assert base["loans_made"] >= 1 and changed["loans_made"] >= 1, result
    assert base["new_loans_rate"] is not None and changed["new_loans_rate"] is not None
    moved = Decimal(changed["new_loans_rate"]) - Decimal(base["new_loans_rate"])
    # the same seed, nearly the same loans: the mix of terms may differ a little (≤ 5 years and
    # longer differ by half a point), the move of a whole point may not
    assert Decimal("0.5") < moved < Decimal("1.5"), result
    assert rates.rate_on(TODAY, 360, False) == rates.national_rates()[-1].rate(360, False)  # nothing leaked
