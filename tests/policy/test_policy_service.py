"""Policy use cases on both engines: overlay of defaults, scheduling, refusals."""

from datetime import date
from decimal import Decimal

import pytest

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.kernel.money import RoundingUnit
from hpf.policy import service
from hpf.policy.rules import DepositRate, deposit_rate_segments

D = Decimal


def schedule(engine, ctx, key, effective_from, value, reason="管委会决议"):
    with write_transaction(engine) as conn:
        return service.schedule_change(conn, ctx, key, effective_from, value, reason)


def test_defaults_without_any_center_row(engine):
    with read_transaction(engine) as conn:
        p = service.policy_at(conn, date(2025, 3, 15))
        rates = service.deposit_rates(conn)
        table = service.policy_table(conn, date(2025, 3, 15))
        assert service.list_changes(conn) == []
    assert (p.base_floor_fen, p.base_cap_fen) == (200_000, 3_000_000)
    assert (p.employer_rate_min, p.employer_rate_max) == (D("0.05"), D("0.12"))
    assert p.rounding_unit is RoundingUnit.FEN and p.day_basis == 360 and p.contribution_year_start == (7, 1)
    assert rates[-1] == DepositRate(date(2016, 2, 21), D("0.015"), D("0.015"))
    assert [r.key for r in table][:2] == ["base_floor_fen", "base_cap_fen"]
    assert all(r.source == "default" and r.next is None for r in table)
    assert {r.label_zh for r in table} >= {"缴存基数上限", "住房公积金存款利率"}


def test_a_scheduled_change_applies_from_its_date(engine, ctx):
    row = schedule(engine, ctx, "base_cap_fen", date(2025, 7, 1), 3_600_000, "2024年度职工月平均工资公布")
    assert row.key == "base_cap_fen" and row.value == 3_600_000 and row.actor == "tester"
    assert row.label_zh == "缴存基数上限"
    with read_transaction(engine) as conn:
        assert service.policy_at(conn, date(2025, 6, 30)).base_cap_fen == 3_000_000
        assert service.policy_at(conn, date(2025, 7, 1)).base_cap_fen == 3_600_000
        assert service.policy_at(conn, date(2026, 1, 1)).base_cap_fen == 3_600_000
        [change] = service.list_changes(conn)
        table = {r.key: r for r in service.policy_table(conn, date(2025, 3, 15))}
        later = {r.key: r for r in service.policy_table(conn, date(2025, 7, 1))}
    assert change.effective_from == date(2025, 7, 1) and change.reason == "2024年度职工月平均工资公布"
    cap = table["base_cap_fen"]
    assert cap.source == "default" and cap.shown == "30,000.00元"
    assert cap.next == service.ScheduledValue(
        effective_from=date(2025, 7, 1), value=3_600_000, shown="36,000.00元", source="center"
    )
    assert later["base_cap_fen"].source == "center" and later["base_cap_fen"].next is None
    assert later["base_cap_fen"].effective_from == date(2025, 7, 1)


def test_a_change_may_take_effect_on_the_business_date(engine, ctx):
    schedule(engine, ctx, "rounding_unit", date(2025, 3, 15), "yuan")
    with read_transaction(engine) as conn:
        assert service.policy_at(conn, date(2025, 3, 15)).rounding_unit is RoundingUnit.YUAN
        assert service.policy_at(conn, date(2025, 3, 14)).rounding_unit is RoundingUnit.FEN


def test_retroactive_change_is_refused(engine, ctx):
    with pytest.raises(InvalidInput) as err:
        schedule(engine, ctx, "base_cap_fen", date(2025, 3, 14), 3_600_000)
    assert err.value.code == "policy.retroactive"
    with read_transaction(engine) as conn:
        assert service.list_changes(conn) == []


def test_duplicate_change_is_refused(engine, ctx):
    schedule(engine, ctx, "day_basis", date(2025, 7, 1), 365)
    with pytest.raises(Conflict) as err:
        schedule(engine, ctx, "day_basis", date(2025, 7, 1), 360)
    assert err.value.code == "policy.duplicate"
    schedule(engine, ctx, "day_basis", date(2026, 7, 1), 360)  # another date is fine
    with read_transaction(engine) as conn:
        assert len(service.list_changes(conn)) == 2
        assert service.policy_at(conn, date(2025, 12, 31)).day_basis == 365
        assert service.policy_at(conn, date(2026, 7, 1)).day_basis == 360


@pytest.mark.parametrize(
    ("key", "value", "reason", "code"),
    [
        ("loan_rate", "0.031", "x", "policy.unknown_key"),
        ("day_basis", 364, "x", "policy.invalid_value"),
        ("employer_rate_max", 0.12, "x", "policy.invalid_value"),
        ("base_floor_fen", 3_000_001, "x", "policy.invalid_value"),  # above the cap in force
        ("employer_rate_min", "0.13", "x", "policy.invalid_value"),  # above the maximum
        ("base_cap_fen", 3_600_000, "  ", "policy.reason_required"),
    ],
)
def test_bad_changes_are_refused_and_change_nothing(engine, ctx, key, value, reason, code):
    with pytest.raises(InvalidInput) as err:
        schedule(engine, ctx, key, date(2025, 7, 1), value, reason)
    assert err.value.code == code
    with read_transaction(engine) as conn:
        assert service.list_changes(conn) == []


def test_a_change_must_agree_with_later_scheduled_changes(engine, ctx):
    schedule(engine, ctx, "base_cap_fen", date(2025, 9, 1), 250_000)
    schedule(engine, ctx, "base_floor_fen", date(2025, 7, 1), 240_000)  # below the later cap: fine
    with pytest.raises(InvalidInput) as err:  # on 2025-09-01 the floor would be above the cap
        schedule(engine, ctx, "base_floor_fen", date(2025, 8, 1), 260_000)
    assert err.value.code == "policy.invalid_value"


def test_a_deposit_rate_change_extends_the_history(engine, ctx):
    schedule(
        engine, ctx, "deposit_rate", date(2025, 7, 1), {"current_rate": "0.0125", "carried_rate": "0.0125"}
    )
    with read_transaction(engine) as conn:
        history = service.deposit_rates(conn)
        shown = service.deposit_rate_history(conn)
    new = DepositRate(date(2025, 7, 1), D("0.0125"), D("0.0125"))
    assert history[-2:] == [DepositRate(date(2016, 2, 21), D("0.015"), D("0.015")), new]
    assert shown[-1].source == "center" and shown[-1].current_rate == "0.0125"
    assert shown[-2].source == "default" and shown[-2].source_ref == "W-R2016"
    [(_, _, r)] = deposit_rate_segments(history, date(2025, 6, 30), date(2026, 6, 30))
    assert r == new
