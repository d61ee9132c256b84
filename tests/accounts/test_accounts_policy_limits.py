"""The contribution base and the rates are checked against the center's policy wherever set.

National defaults: base 2,000.00–30,000.00 yuan, rates 5%–12%. A center that schedules a
narrower range gets it enforced from its effective date (not fixed numbers in the code).
"""

from datetime import date

import pytest

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.db.engine import write_transaction
from hpf.kernel.errors import InvalidInput
from hpf.policy import service as policy


@pytest.fixture
def employer(engine, ctx):
    with write_transaction(engine) as conn:
        return accounts.register_employer(conn, ctx, employer_payload())


@pytest.mark.parametrize(
    ("base_fen", "code"),
    [
        (2**62, "policy.base_above_cap"),
        (3_000_001, "policy.base_above_cap"),
        (199_999, "policy.base_below_floor"),
    ],
)
def test_opening_a_member_outside_floor_and_cap_is_refused(engine, ctx, employer, base_fen, code):
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.open_member(conn, ctx, employer.account_no, member_payload(base_fen=base_fen))
    assert err.value.code == code and err.value.extra["field"] == "base_fen"
    assert "2,000.00元" in err.value.title and "30,000.00元" in err.value.title


@pytest.mark.parametrize("base_fen", [200_000, 3_000_000])
def test_the_floor_and_the_cap_themselves_are_accepted(engine, ctx, employer, base_fen):
    with write_transaction(engine) as conn:
        m = accounts.open_member(conn, ctx, employer.account_no, member_payload(base_fen=base_fen))
    assert m.base_fen == base_fen


def test_changing_or_transferring_with_a_base_beyond_the_cap_is_refused(engine, ctx, employer):
    with write_transaction(engine) as conn:
        other = accounts.register_employer(conn, ctx, employer_payload(2))
        m = accounts.open_member(conn, ctx, employer.account_no, member_payload())
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.change_member(conn, ctx, m.account_no, {"base_fen": 3_000_001}, "调整基数")
    assert err.value.code == "policy.base_above_cap"
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.transfer_member(conn, ctx, m.account_no, other.account_no, "转移", base_fen=100)
    assert err.value.code == "policy.base_below_floor"


def test_the_centers_own_floor_applies_from_its_effective_date(engine, ctx, clock, employer):
    with write_transaction(engine) as conn:
        policy.schedule_change(conn, ctx, "base_floor_fen", date(2025, 4, 1), 250_000, "2025年最低工资调整")
        ok = accounts.open_member(conn, ctx, employer.account_no, member_payload(1, base_fen=240_000))
    assert ok.base_fen == 240_000  # before 1 April the national floor applies
    clock.set(date(2025, 4, 1))
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.open_member(conn, ctx, employer.account_no, member_payload(2, base_fen=240_000))
    assert err.value.code == "policy.base_below_floor" and "2,500.00元" in err.value.title


def test_employer_rates_follow_the_centers_policy(engine, ctx, clock):
    with write_transaction(engine) as conn:
        policy.schedule_change(conn, ctx, "employer_rate_max", date(2025, 4, 1), "0.10", "本市上限10%")
        accounts.register_employer(conn, ctx, employer_payload(1, employer_rate="0.11"))  # national: 12%
    clock.set(date(2025, 4, 1))
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.register_employer(conn, ctx, employer_payload(2, employer_rate="0.11"))
    assert err.value.code == "rate.out_of_range" and err.value.extra["field"] == "employer_rate"
    assert "单位缴存比例须在5%至10%之间" in err.value.title
    with write_transaction(engine) as conn:
        no = accounts.register_employer(conn, ctx, employer_payload(3, employer_rate="0.10")).account_no
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.change_employer(conn, ctx, no, {"employer_rate": "0.11"}, "调比")
    assert err.value.code == "rate.out_of_range"
