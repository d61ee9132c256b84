"""Pure policy rules: resolving entries, contribution parts, checks, deposit rate segments."""

from datetime import date
from decimal import Decimal

import pytest

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding, require_ok
from hpf.kernel.money import RoundingUnit
from hpf.policy import rules
from hpf.policy.rules import DepositRate, Policy
from hpf.policy.service import defaults

D = Decimal


def policy(**overrides: object) -> Policy:
    values: dict[str, object] = {
        "on": date(2025, 3, 15),
        "base_floor_fen": 200_000,
        "base_cap_fen": 3_000_000,
        "monthly_amount_min_fen": None,
        "monthly_amount_max_fen": None,
        "employer_rate_min": D("0.05"),
        "employer_rate_max": D("0.12"),
        "member_rate_min": D("0.05"),
        "member_rate_max": D("0.12"),
        "rounding_unit": RoundingUnit.FEN,
        "day_basis": 360,
        "contribution_year_start": (7, 1),
    }
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def entries(**overrides: list[tuple[date, object]]) -> dict[str, list[tuple[date, object]]]:
    base: dict[str, list[tuple[date, object]]] = {
        "base_floor_fen": [(date(1999, 4, 3), 200_000)],
        "base_cap_fen": [(date(1999, 4, 3), 3_000_000)],
        "monthly_amount_min_fen": [(date(1999, 4, 3), None)],
        "monthly_amount_max_fen": [(date(1999, 4, 3), None)],
        "employer_rate_min": [(date(1999, 4, 3), "0.05")],
        "employer_rate_max": [(date(1999, 4, 3), "0.12")],
        "member_rate_min": [(date(1999, 4, 3), "0.05")],
        "member_rate_max": [(date(1999, 4, 3), "0.12")],
        "rounding_unit": [(date(1999, 4, 3), "fen")],
        "day_basis": [(date(1999, 4, 3), 360)],
        "contribution_year_start": [(date(1999, 4, 3), "07-01")],
    }
    base.update(overrides)
    return base


# ------------------------------------------------------------------------------------ resolve


def test_resolve_gives_typed_values():
    p = rules.resolve(entries(), date(2025, 3, 15))
    assert p == policy()
    assert isinstance(p.employer_rate_max, Decimal) and p.rounding_unit is RoundingUnit.FEN


def test_resolve_picks_the_latest_entry_in_force():
    cap = [
        (date(2024, 7, 1), 3_300_000),
        (date(1999, 4, 3), 3_000_000),  # order of the list does not matter
        (date(2025, 7, 1), 3_600_000),
    ]
    e = entries(base_cap_fen=cap)
    assert rules.resolve(e, date(2024, 6, 30)).base_cap_fen == 3_000_000
    assert rules.resolve(e, date(2024, 7, 1)).base_cap_fen == 3_300_000  # effective on its own day
    assert rules.resolve(e, date(2025, 6, 30)).base_cap_fen == 3_300_000
    assert rules.resolve(e, date(2025, 7, 1)).base_cap_fen == 3_600_000


def test_resolve_on_a_shared_date_the_later_listed_wins():
    e = entries(rounding_unit=[(date(1999, 4, 3), "fen"), (date(1999, 4, 3), "yuan")])
    assert rules.resolve(e, date(2025, 1, 1)).rounding_unit is RoundingUnit.YUAN


def test_resolve_before_any_entry_is_refused():
    with pytest.raises(InvalidInput) as err:
        rules.resolve(entries(), date(1999, 4, 2))
    assert err.value.code == "policy.no_value"
    e = entries()
    del e["day_basis"]
    with pytest.raises(InvalidInput) as err:
        rules.resolve(e, date(2025, 1, 1))
    assert err.value.code == "policy.no_value" and err.value.extra["field"] == "day_basis"


def test_shipped_defaults_resolve():
    shipped = {k: [(e.effective_from, e.value) for e in v.entries] for k, v in defaults().items()}
    p = rules.resolve(shipped, date(2025, 3, 15))
    assert p == policy()
    history = rules.deposit_history(shipped["deposit_rate"])
    assert history[-1] == DepositRate(date(2016, 2, 21), D("0.015"), D("0.015"))
    assert rules.deposit_rate_on(history, date(2016, 2, 20)).carried_rate == D("0.0110")


# --------------------------------------------------------------------------- contribution parts

GOLDEN = [
    # base fen, employer rate, member rate, unit, (employer part, member part)
    (800_000, "0.12", "0.12", RoundingUnit.FEN, (96_000, 96_000)),
    (123_456, "0.05", "0.12", RoundingUnit.FEN, (6_173, 14_815)),  # 6172.8 → 6173, 14814.72 → 14815
    (123_450, "0.07", "0.075", RoundingUnit.FEN, (8_642, 9_259)),  # 8641.5 → 8642 (half up)
    (10, "0.05", "0.05", RoundingUnit.FEN, (1, 1)),  # 0.5 fen → 1 (banker's rounding would give 0)
    (50, "0.05", "0.07", RoundingUnit.FEN, (3, 4)),  # 2.5 → 3, 3.5 → 4
    (800_000, "0.12", "0.12", RoundingUnit.YUAN, (96_000, 96_000)),
    (123_456, "0.05", "0.12", RoundingUnit.YUAN, (6_200, 14_800)),  # 61.728 → 62, 148.1472 → 148
    (1_000, "0.05", "0.05", RoundingUnit.YUAN, (100, 100)),  # 0.50 yuan → 1 yuan (half up)
    (503_000, "0.05", "0.05", RoundingUnit.YUAN, (25_200, 25_200)),  # 251.50 → 252
    (502_990, "0.05", "0.12", RoundingUnit.YUAN, (25_100, 60_400)),  # 251.495 → 251: rounded once
    (501_000, "0.07", "0.05", RoundingUnit.YUAN, (35_100, 25_100)),  # 350.70 → 351, 250.50 → 251
]


@pytest.mark.parametrize(("base", "er", "mr", "unit", "expected"), GOLDEN)
def test_contribution_parts_golden(base, er, mr, unit, expected):
    assert rules.contribution_parts(base, D(er), D(mr), policy(rounding_unit=unit)) == expected


# ---------------------------------------------------------------------------------- checks


def test_check_base():
    p = policy()
    assert rules.check_base(200_000, p) == [] and rules.check_base(3_000_000, p) == []
    [low] = rules.check_base(199_999, p)
    assert low.code == "policy.base_below_floor" and "2,000.00元" in low.message_zh
    [high] = rules.check_base(3_000_001, p)
    assert high.code == "policy.base_above_cap" and "30,000.00元" in high.message_zh
    assert isinstance(high, Finding) and high.subject == "base_fen"


def test_check_rates():
    p = policy()
    assert rules.check_rates(D("0.05"), D("0.12"), p) == []
    found = rules.check_rates(D("0.13"), D("0.04"), p)
    assert [f.code for f in found] == ["policy.employer_rate_out_of_range", "policy.member_rate_out_of_range"]
    assert found[0].message_zh == "单位缴存比例须在5%至12%之间"
    assert rules.check_rates(D("0.075"), D("0.12"), policy(employer_rate_min=D("0.08"))) != []


def test_check_monthly_amounts():
    assert rules.check_monthly_amounts(1, 1, policy()) == []  # limits not used
    p = policy(monthly_amount_min_fen=20_000, monthly_amount_max_fen=720_000)
    assert rules.check_monthly_amounts(10_000, 10_000, p) == []
    assert rules.check_monthly_amounts(360_000, 360_000, p) == []
    assert [f.code for f in rules.check_monthly_amounts(9_999, 10_000, p)] == [
        "policy.monthly_amount_below_min"
    ]
    assert [f.code for f in rules.check_monthly_amounts(360_001, 360_000, p)] == [
        "policy.monthly_amount_above_max"
    ]


def test_require_ok_refuses_with_every_finding():
    require_ok([])
    found = rules.check_rates(D("0.13"), D("0.04"), policy())
    with pytest.raises(InvalidInput) as err:
        require_ok(found)
    assert err.value.code == "policy.employer_rate_out_of_range" and len(err.value.extra["findings"]) == 2


def test_consistency():
    assert rules.consistency(policy()) == []
    [f] = rules.consistency(policy(base_floor_fen=3_000_001))
    assert f.code == "policy.invalid_value" and f.subject == "base_floor_fen"
    assert len(rules.consistency(policy(member_rate_min=D("0.2"), employer_rate_min=D("0.13")))) == 2
    assert rules.consistency(policy(monthly_amount_min_fen=5, monthly_amount_max_fen=4)) != []


# --------------------------------------------------------------------------- contribution year


@pytest.mark.parametrize(
    ("day", "start", "expected"),
    [
        (date(2025, 3, 15), (7, 1), (date(2024, 7, 1), date(2025, 6, 30))),
        (date(2025, 6, 30), (7, 1), (date(2024, 7, 1), date(2025, 6, 30))),
        (date(2025, 7, 1), (7, 1), (date(2025, 7, 1), date(2026, 6, 30))),
        (date(2025, 12, 31), (1, 1), (date(2025, 1, 1), date(2025, 12, 31))),
        (date(2024, 3, 1), (3, 1), (date(2024, 3, 1), date(2025, 2, 28))),
        (date(2024, 2, 29), (3, 1), (date(2023, 3, 1), date(2024, 2, 29))),
    ],
)
def test_contribution_year(day, start, expected):
    assert rules.contribution_year(day, start) == expected
    assert policy(contribution_year_start=start).contribution_year(day) == expected


# ------------------------------------------------------------------------------ deposit rates

OLD = DepositRate(date(2015, 1, 1), D("0.0035"), D("0.011"))  # simplified history: two entries
NEW = DepositRate(date(2016, 2, 21), D("0.015"), D("0.015"))


def days(segments):
    return [(b - a).days for a, b, _ in segments]


def test_segments_split_at_2016_02_21():
    segs = rules.deposit_rate_segments([NEW, OLD], date(2015, 6, 30), date(2016, 6, 30))
    assert segs == [
        (date(2015, 6, 30), date(2016, 2, 20), OLD),  # 2015-07-01 … 2016-02-20
        (date(2016, 2, 20), date(2016, 6, 30), NEW),  # 2016-02-21 … 2016-06-30
    ]
    assert days(segs) == [235, 131] and sum(days(segs)) == 366


def test_segments_for_the_interest_year_2015_16_with_the_shipped_history():
    shipped = rules.deposit_history([(e.effective_from, e.value) for e in defaults()["deposit_rate"].entries])
    segs = rules.deposit_rate_segments(shipped, date(2015, 6, 30), date(2016, 6, 30))
    assert [(a, b, r.current_rate, r.carried_rate) for a, b, r in segs] == [
        (date(2015, 6, 30), date(2015, 8, 25), D("0.0035"), D("0.0160")),
        (date(2015, 8, 25), date(2015, 10, 23), D("0.0035"), D("0.0135")),
        (date(2015, 10, 23), date(2016, 2, 20), D("0.0035"), D("0.0110")),
        (date(2016, 2, 20), date(2016, 6, 30), D("0.015"), D("0.015")),
    ]
    assert sum(days(segs)) == 366
    # since 2016 an interest year is one segment at 1.50%
    [(a, b, r)] = rules.deposit_rate_segments(shipped, date(2024, 6, 30), date(2025, 6, 30))
    assert (a, b, r) == (date(2024, 6, 30), date(2025, 6, 30), NEW)


def test_segment_edges():
    hist = [OLD, NEW]
    # a change on the first day of the interval does not split it
    assert rules.deposit_rate_segments(hist, date(2016, 2, 20), date(2016, 3, 1)) == [
        (date(2016, 2, 20), date(2016, 3, 1), NEW)
    ]
    # a change on the last day gives a one-day segment
    segs = rules.deposit_rate_segments(hist, date(2016, 1, 31), date(2016, 2, 21))
    assert segs == [(date(2016, 1, 31), date(2016, 2, 20), OLD), (date(2016, 2, 20), date(2016, 2, 21), NEW)]
    assert rules.deposit_rate_segments(hist, date(2016, 1, 1), date(2016, 1, 1)) == []
    # two entries on one date: the later listed wins, no empty segment
    other = DepositRate(date(2016, 2, 21), D("0.02"), D("0.02"))
    segs = rules.deposit_rate_segments([OLD, NEW, other], date(2016, 1, 31), date(2016, 3, 1))
    assert [r for _, _, r in segs] == [OLD, other]
    with pytest.raises(InvalidInput) as err:
        rules.deposit_rate_segments(hist, date(2014, 10, 1), date(2015, 12, 1))
    assert err.value.code == "policy.no_value"
    with pytest.raises(InvalidInput):
        rules.deposit_rate_segments(hist, date(2016, 3, 1), date(2016, 2, 1))


# ----------------------------------------------------------------------------- validate_value


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("base_cap_fen", 3_600_000, 3_600_000),
        ("base_floor_fen", "210000", 210_000),
        ("monthly_amount_max_fen", None, None),
        ("employer_rate_max", "0.12", D("0.12")),
        ("member_rate_min", "0", D("0")),
        ("rounding_unit", "yuan", RoundingUnit.YUAN),
        ("day_basis", 365, 365),
        ("day_basis", "360", 360),
        ("contribution_year_start", "01-01", (1, 1)),
        ("deposit_rate", {"current_rate": "0.015", "carried_rate": "0.015"}, (D("0.015"), D("0.015"))),
    ],
)
def test_validate_value_accepts(key, raw, expected):
    assert rules.validate_value(key, raw) == expected
    assert rules.validate_value(key, rules.to_json(key, expected)) == expected


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("base_cap_fen", -1),
        ("base_cap_fen", True),
        ("base_cap_fen", 3_600_000.0),
        ("base_cap_fen", None),
        ("base_floor_fen", "2000.00"),
        ("employer_rate_max", 0.12),
        ("employer_rate_max", 12),
        ("employer_rate_max", "1.2"),
        ("employer_rate_max", "-0.01"),
        ("employer_rate_max", "abc"),
        ("employer_rate_max", "NaN"),
        ("member_rate_max", "0.123456789"),
        ("rounding_unit", "jiao"),
        ("rounding_unit", 1),
        ("day_basis", 364),
        ("day_basis", "365.0"),
        ("contribution_year_start", "7-1"),
        ("contribution_year_start", "02-29"),
        ("contribution_year_start", "13-01"),
        ("deposit_rate", {"current_rate": "0.015"}),
        ("deposit_rate", {"current_rate": "0.015", "carried_rate": 0.015}),
        ("deposit_rate", "0.015"),
    ],
)
def test_validate_value_refuses(key, raw):
    with pytest.raises(InvalidInput) as err:
        rules.validate_value(key, raw)
    assert err.value.code == "policy.invalid_value"
    assert err.value.extra["field"] == key and err.value.title.startswith(rules.LABELS_ZH[key])


def test_unknown_key_is_refused():
    with pytest.raises(InvalidInput) as err:
        rules.validate_value("loan_rate", "0.031")
    assert err.value.code == "policy.unknown_key"


def test_describe():
    assert rules.describe("employer_rate_max", D("0.075")) == "7.5%"
    assert rules.describe("base_cap_fen", 3_000_000) == "30,000.00元"
    assert rules.describe("monthly_amount_min_fen", None) == "不限"
    assert rules.describe("deposit_rate", (D("0.0035"), D("0.011"))) == "当年归集0.35%，上年结转1.1%"
    assert rules.describe("contribution_year_start", (7, 1)) == "7月1日"


# -- alert thresholds (G4) --------------------------------------------------------------------


def test_alert_thresholds_resolve_from_defaults_and_changes():
    from hpf.policy.rules import AlertPolicy, resolve_alerts
    from hpf.policy.service import defaults

    entries = {key: [(e.effective_from, e.value) for e in spec.entries] for key, spec in defaults().items()}
    assert resolve_alerts(entries, date(2025, 1, 1)) == AlertPolicy(5, 50, 15, 1000, (480, 1080))
    entries["alert_working_hours"].append((date(2025, 6, 1), "07:30-19:00"))
    assert resolve_alerts(entries, date(2025, 6, 1)).working_hours == (450, 1140)


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("alert_failed_sign_ins", 0),
        ("alert_member_reads", "many"),
        ("alert_window_minutes", -5),
        ("alert_working_hours", "18:00-08:00"),
        ("alert_working_hours", "8-18"),
        ("alert_working_hours", "08:00-25:00"),
    ],
)
def test_bad_alert_thresholds_are_refused(key, raw):
    from hpf.policy.rules import validate_value

    with pytest.raises(InvalidInput) as caught:
        validate_value(key, raw)
    assert caught.value.code == "policy.invalid_value"


def test_a_policy_amount_beyond_64_bits_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        rules.canonical("base_cap_fen", 10**20)
    assert err.value.code == "policy.invalid_value"
    assert rules.canonical("base_cap_fen", 2**63 - 1) == 2**63 - 1
