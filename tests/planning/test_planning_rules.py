"""The planning figures worked by hand: ratios, alerts against the thresholds, the forecast's
back-test error and its refusal on short history, the plan's months and its balance."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.planning.forecast import MIN_MONTHS, Forecast, backtest_error, forecast_series
from hpf.planning.liquidity import Indicators, Outflows, alerts_of, forecast_outflows, ratio
from hpf.planning.plan import Assumption, Assumptions, Plan, parse_assumptions, plan_line, spread
from hpf.planning.series import MonthlySeries, last_complete_month, month_range
from hpf.policy.rules import LIQUIDITY, resolve_liquidity_policy, shipped_entries

POLICY = resolve_liquidity_policy(shipped_entries(LIQUIDITY), date(2026, 1, 1))


def test_ratios_round_half_up_to_four_places():
    assert ratio(2, 3) == Decimal("0.6667")  # 0.66666…
    assert ratio(1, 8) == Decimal("0.1250")
    assert ratio(12_345, 20_000) == Decimal("0.6173")  # 0.61725 → up
    assert ratio(5, 0) is None
    assert ratio(3_000 * 1000, 2_000_000, Decimal("0.01")) == Decimal("1.50")  # ‰


def test_the_shipped_thresholds():
    assert POLICY.loan_ratio_max == Decimal("0.85")
    assert POLICY.coverage_30_min == Decimal("1.5") and POLICY.coverage_90_min == Decimal("1")
    assert POLICY.large_movement_fen == 100_000_000  # 1,000,000.00 yuan


def _indicators(**kw) -> Indicators:
    # bank 3,000,000.00 yuan; outflows: 1,000,000.00 reserved withdrawals, 500,000.00 signed loans,
    # forecast 800,000.00 (30 d) and 2,600,000.00 (90 d)
    base = {
        "on": date(2026, 3, 2), "bank_fen": 300_000_000, "loan_balance_fen": 860_000_000,
        "deposits_fen": 1_000_000_000, "contributed_total_fen": 1_500_000_000, "withdrawn_total_fen": 500_000_000,
        "bonds_fen": 0, "overdue_fen": 2_000_000,
        "outflows": Outflows(100_000_000, 50_000_000, 80_000_000, 260_000_000, True),
        "coverage_30": None, "coverage_90": None, "loan_ratio": None, "usage_ratio": None,
        "overdue_permille": None, "large_movements": (), "policy": POLICY,
    }  # fmt: skip
    base.update(kw)
    o = base["outflows"]
    base["coverage_30"] = ratio(base["bank_fen"], o.within_30_fen)
    base["coverage_90"] = ratio(base["bank_fen"], o.within_90_fen)
    base["loan_ratio"] = ratio(base["loan_balance_fen"], base["deposits_fen"])
    base["usage_ratio"] = ratio(
        base["loan_balance_fen"] + base["withdrawn_total_fen"], base["contributed_total_fen"]
    )
    base["overdue_permille"] = ratio(base["overdue_fen"] * 1000, base["loan_balance_fen"], Decimal("0.01"))
    return Indicators(**base)


def test_alerts_worked_by_hand():
    ind = _indicators()
    # 30 d: 3,000,000 ÷ (1,000,000 + 500,000 + 800,000) = 1.3043 < 1.5 → alert
    assert ind.outflows.within_30_fen == 230_000_000 and ind.coverage_30 == Decimal("1.3043")
    # 90 d: 3,000,000 ÷ 4,100,000 = 0.7317 < 1 → alert
    assert ind.outflows.within_90_fen == 410_000_000 and ind.coverage_90 == Decimal("0.7317")
    # 个贷率 8,600,000 ÷ 10,000,000 = 0.86 ≥ 0.85 → alert
    assert ind.loan_ratio == Decimal("0.8600")
    # 使用率 (8,600,000 + 5,000,000) ÷ 15,000,000 = 0.9067 ≥ 0.6 → none
    assert ind.usage_ratio == Decimal("0.9067")
    # 逾期率 20,000 ÷ 8,600,000 × 1000 = 2.3256‰ → 2.33 > 1.5 → alert
    assert ind.overdue_permille == Decimal("2.33")
    alerts = {a.indicator: a for a in alerts_of(ind)}
    assert set(alerts) == {"coverage_30", "coverage_90", "loan_ratio", "overdue_permille"}
    assert alerts["coverage_30"].message_zh == "30日备付率1.3043倍，低于下限1.5倍"
    assert alerts["loan_ratio"].message_zh == "个贷率86.00%，达到预警线85.00%"
    assert alerts["overdue_permille"].message_zh == "逾期率2.33‰，超过预警线1.5‰"


def test_no_alert_inside_the_thresholds_and_idle_funds_alert():
    quiet = _indicators(bank_fen=700_000_000, loan_balance_fen=700_000_000, overdue_fen=0)
    # 30 d 7,000,000 ÷ 2,300,000 = 3.0435; 90 d 1.7073; 个贷率 0.70; 使用率 12,000,000 ÷ 15,000,000 = 0.80
    assert alerts_of(quiet) == []
    idle = _indicators(bank_fen=700_000_000, loan_balance_fen=100_000_000, overdue_fen=0,
                       withdrawn_total_fen=600_000_000)  # fmt: skip
    # 使用率 (1,000,000 + 6,000,000) ÷ 15,000,000 = 0.4667 < 0.6
    assert [a.indicator for a in alerts_of(idle)] == ["usage_ratio"]
    assert alerts_of(idle)[0].message_zh == "使用率46.67%，低于下限60.00%，资金闲置"


def _forecast(name: str, means: list[int], status: str = "ok") -> Forecast:
    months = month_range("2026-03", "2027-02")
    return Forecast(name, [], [], status, "", months=tuple(months[: len(means)]), mean_fen=tuple(means))


def test_the_forecast_part_of_the_outflows():
    withdrawals = _forecast("withdrawals", [100, 200, 300, 400])
    loans = _forecast("loan_disbursements", [10, 20, 30, 40])
    assert forecast_outflows([withdrawals, loans]) == (110, 660, True)  # 100+10; 600+60
    short = Forecast("loan_disbursements", [], [], "too_little_history", "历史数据不足")
    assert forecast_outflows([withdrawals, short]) == (100, 600, False)


def test_backtest_error_worked_by_hand():
    # errors 10, 20, 30 over actuals 100, 200, 300: WAPE 60 ÷ 600 = 0.1; MAE 20
    assert backtest_error([100, 200, 300], [110, 180, 330]) == ("0.1000", 20)
    # MAE 5 ÷ 2 = 2.5 → 3 (half up); actuals zero: no WAPE
    assert backtest_error([0, 0], [2, 3]) == ("", 3)


def _seasonal(months: int) -> MonthlySeries:
    x = month_range("2022-01", "2030-12")[:months]
    values = [
        round(10_000_000 + 50_000 * i + 2_000_000 * math.sin(2 * math.pi * i / 12)) for i in range(months)
    ]
    return MonthlySeries("collections", tuple(x), tuple(values))


def test_a_short_history_says_so_instead_of_forecasting():
    short = forecast_series(_seasonal(MIN_MONTHS - 1))
    assert short.status == "too_little_history" and short.mean_fen == () and short.backtests == ()
    assert short.message_zh == "历史数据不足：仅有17个月，至少需要18个月才能预测并回测"


def test_a_seasonal_series_is_forecast_with_its_backtest_error():
    f = forecast_series(_seasonal(40))
    assert f.status == "ok" and len(f.mean_fen) == 12 and f.months[0] == "2025-05"
    assert {b.model for b in f.backtests} == {"ets_level", "ets_damped", "ets_seasonal", "sarima"}
    chosen = f.chosen
    assert chosen is not None and chosen.mae_fen == min(b.mae_fen for b in f.backtests)
    assert f.model in {"ets_seasonal", "sarima"}  # the seasonal models win on a seasonal series
    assert Decimal(chosen.wape) < Decimal("0.02") and "回测误差率" in f.message_zh
    for lo95, lo80, mean, hi80, hi95 in zip(
        f.lo95_fen, f.lo80_fen, f.mean_fen, f.hi80_fen, f.hi95_fen, strict=True
    ):
        assert 0 <= lo95 <= lo80 <= mean <= hi80 <= hi95
    assert Forecast.from_json(f.to_json()) == f
    # 20 months: no seasonal model yet (two years needed), the level and damped trend only
    assert {b.model for b in forecast_series(_seasonal(20)).backtests} == {"ets_level", "ets_damped"}


def test_last_complete_month():
    assert last_complete_month(date(2026, 1, 15)) == "2025-12"
    assert last_complete_month(date(2026, 3, 1)) == "2026-02"


def test_a_plan_line_takes_actuals_forecasts_and_the_same_month_a_year_earlier():
    # history to 2025-10, forecast 2025-11 … 2026-10: the plan of 2026 takes January–October
    # from the forecast and November, December from the same months of 2025 (a seasonal carry;
    # here the forecast's first two months, 10,000 and 10,001)
    history = month_range("2024-11", "2025-10")
    forecast = Forecast("collections", history, [1_000 * (i + 1) for i in range(12)], "ok", "",
                        months=tuple(month_range("2025-11", "2026-10")),
                        mean_fen=tuple(10_000 + i for i in range(12)))  # fmt: skip
    line = plan_line("collections", 2026, forecast, Assumption(growth=Decimal("0.05")))
    assert line.basis == ("forecast",) * 10 + ("carry",) * 2
    # January 2026 is the forecast's third month: 10,002 × 1.05 = 10,502.1 → 10,502
    assert line.months_fen[0] == 10_502
    # October: 10,011 × 1.05 = 10,511.55 → 10,512 (half up)
    assert line.months_fen[9] == 10_512
    # 10,000 × 1.05 = 10,500; 10,001 × 1.05 = 10,501.05 → 10,501
    assert line.months_fen[10:] == (10_500, 10_501)
    # 2027: nothing a year earlier beyond October 2026 … the forecast's months carry, the rest none
    line2027 = plan_line("collections", 2027, forecast, Assumption())
    assert line2027.basis == ("carry",) * 10 + ("none",) * 2 and line2027.months_fen[10:] == (0, 0)
    # the plan of 2025: January–October actual (never grown), November, December forecast
    line2025 = plan_line("collections", 2025, forecast, Assumption(growth=Decimal("0.05")))
    assert line2025.basis == ("actual",) * 10 + ("forecast",) * 2
    assert line2025.months_fen[:3] == (3_000, 4_000, 5_000)
    assert line2025.months_fen[10:] == (10_500, 10_501)  # 10,000 × 1.05; 10,001 × 1.05 = 10,501.05


def test_an_amount_set_by_hand_is_spread_in_the_drafted_proportion():
    assert spread(1_000, [1, 1, 2]) == [250, 250, 500]
    assert spread(100, [1, 1, 1]) == [33, 33, 34]  # the rounding's remainder in the last month
    assert spread(12, [0, 0, 0]) == [4, 4, 4]
    line = plan_line("withdrawals:07", 2026, None, Assumption(override_fen=1_200_000))
    assert line.total_fen == 1_200_000 and line.basis == ("override",) * 12 and line.overridden


def test_the_plan_balance_worked_by_hand():
    def flat(key, per_month):
        return plan_line(key, 2026, None, Assumption(override_fen=per_month * 12))

    plan = Plan(
        2026, date(2025, 11, 1), Assumptions(),
        sources=[flat("collections", 1_000_000), flat("loan_repayments", 200_000)],
        uses=[flat("withdrawals:01", 300_000), flat("withdrawals:07", 100_000), flat("loan_disbursements", 700_000)],
        opening_bank_fen=5_000_000, opening_loans_fen=60_000_000, opening_deposits_fen=80_000_000, notes=[],
    )  # fmt: skip
    # sources 5,000,000 + 12,000,000 + 2,400,000 = 19,400,000; uses 3,600,000 + 1,200,000 + 8,400,000
    assert plan.sources_total_fen == 19_400_000 and plan.uses_total_fen == 13_200_000
    assert plan.closing_bank_fen == 6_200_000
    assert plan.total_of("withdrawals") == 4_800_000
    # 个贷率 (60,000,000 + 8,400,000 − 2,400,000) ÷ (80,000,000 + 12,000,000 − 4,800,000) = 0.7569
    assert plan.closing_loan_ratio == Decimal("0.7569")


def test_assumptions_are_checked():
    assert parse_assumptions({"collections": {"growth": "0.05"}})["collections"].growth == Decimal("0.05")
    for bad in ({"nonsense": {}}, {"collections": {"growth": "abc"}}, {"collections": {"growth": "11"}},
                {"collections": {"growth": "0.00001"}}, {"collections": {"override_fen": -1}},
                {"collections": {"override_fen": 1.5}}):  # fmt: skip
        with pytest.raises(InvalidInput):
            parse_assumptions(bad)
