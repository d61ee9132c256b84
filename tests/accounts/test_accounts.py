"""Integration tests (SQLite and PostgreSQL): employer and member account life cycles."""

from datetime import date

import pytest

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.rules import CloseKind
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict, IllegalTransition, InvalidInput
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line


@pytest.fixture
def employer(engine, ctx):
    with write_transaction(engine) as conn:
        return accounts.register_employer(conn, ctx, employer_payload())


def open_member(engine, ctx, employer_no, seq=1, **kw):
    with write_transaction(engine) as conn:
        return accounts.open_member(conn, ctx, employer_no, member_payload(seq, **kw))


def test_registering_an_employer_numbers_it_and_keeps_history(engine, ctx, employer):
    assert employer.account_no.startswith("9900011") and len(employer.account_no) == 17
    assert employer.state == "02"
    with read_transaction(engine) as conn:
        rows = accounts.history(conn, "employer", employer.id)
    assert [r.action for r in rows] == ["open"]
    assert rows[0].actor == "tester" and rows[0].business_type == "03"


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("uscc", "91370102000000051X", "uscc.checksum"),
        ("employer_rate", "0.13", "rate.out_of_range"),
        ("member_rate", 0.12, "rate.format"),
        ("payday", 32, "payday.range"),
        ("contact_phone", "12345", "phone.format"),
        ("bank_account_no", "12ab", "bank_account.format"),
    ],
)
def test_bad_employer_input_is_refused_and_changes_nothing(engine, ctx, field, value, code):
    with pytest.raises(InvalidInput) as err, write_transaction(engine) as conn:
        accounts.register_employer(conn, ctx, employer_payload(**{field: value}))
    assert err.value.code == code
    with read_transaction(engine) as conn:
        assert accounts.find_employers(conn) == []


def test_a_uscc_registers_once(engine, ctx, employer):
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        accounts.register_employer(conn, ctx, employer_payload())


def test_member_open_derives_gender_birth_and_pinyin(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no, name="张三")
    assert m.state == "01" and m.gender == "1" and m.birth_date == date(1990, 3, 7)
    assert m.name_pinyin == "ZHANG SAN" and m.balance_fen == 0


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("resident_id", "370102199003070076", "resident_id.checksum"),
        ("resident_id", "37010219900307007", "resident_id.length"),
        ("name", "张3", "name.format"),
        ("base_fen", 0, "base.invalid"),
        ("base_fen", 5000.0, "base.invalid"),
    ],
)
def test_bad_member_input_is_refused(engine, ctx, employer, field, value, code):
    with pytest.raises(InvalidInput) as err:
        open_member(engine, ctx, employer.account_no, **{field: value})
    assert err.value.code == code


def test_one_person_one_account_and_reopening_reuses_it(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no)
    with pytest.raises(Conflict) as err:
        open_member(engine, ctx, employer.account_no)
    assert err.value.code == "member.already_open"
    with write_transaction(engine) as conn:
        accounts.close_member(conn, ctx, m.account_no, CloseKind.WITHDRAWN, "离职销户")
    again = open_member(engine, ctx, employer.account_no, base_fen=900_000)
    assert again.account_no == m.account_no and again.state == "01"
    assert again.base_fen == 900_000 and again.closed_on is None


def test_seal_unseal_freeze_unfreeze_and_illegal_moves(engine, ctx, employer):
    no = open_member(engine, ctx, employer.account_no).account_no
    with write_transaction(engine) as conn:
        assert accounts.seal_member(conn, ctx, no, "离职").state == "02"
        assert accounts.freeze_member(conn, ctx, no, "法院冻结").state == "06"
    for action in (accounts.seal_member, accounts.unseal_member):
        with pytest.raises(IllegalTransition), write_transaction(engine) as conn:
            action(conn, ctx, no, "x")
    with write_transaction(engine) as conn:
        assert accounts.unfreeze_member(conn, ctx, no, "解除冻结").state == "02"  # back to sealed
        assert accounts.unseal_member(conn, ctx, no, "复职").state == "01"
    with pytest.raises(IllegalTransition) as err, write_transaction(engine) as conn:
        accounts.unfreeze_member(conn, ctx, no, "x")
    assert err.value.code == "member.illegal_transition.unfreeze"
    with read_transaction(engine) as conn:
        m = accounts.get_member(conn, no)
        actions = [h.action for h in accounts.history(conn, "member", m.id)]
    assert actions == ["unseal", "unfreeze", "freeze", "seal", "open"]


def test_a_reason_is_required_for_changes(engine, ctx, employer):
    no = open_member(engine, ctx, employer.account_no).account_no
    with pytest.raises(InvalidInput), write_transaction(engine) as conn:
        accounts.seal_member(conn, ctx, no, "  ")


def test_internal_transfer_keeps_the_account(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no)
    with write_transaction(engine) as conn:
        other = accounts.register_employer(conn, ctx, employer_payload(2))
        moved = accounts.transfer_member(conn, ctx, m.account_no, other.account_no, "调动", 700_000)
    assert moved.account_no == m.account_no and moved.employer_id == other.id
    assert moved.base_fen == 700_000
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        accounts.transfer_member(conn, ctx, m.account_no, other.account_no, "again")


def test_change_history_keeps_before_and_after(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no)
    with write_transaction(engine) as conn:
        accounts.change_member(conn, ctx, m.account_no, {"phone": "13700137000"}, "职工更换手机")
        with pytest.raises(InvalidInput):
            accounts.change_member(conn, ctx, m.account_no, {"resident_id": "x"}, "nope")
        row = accounts.history(conn, "member", m.id)[0]
    # History shows that the phone changed, masked: the full number lives only in the row, encrypted.
    assert row.before == {"phone": "139****9000"} and row.after == {"phone": "137****7000"}
    assert row.reason == "职工更换手机"


def _fund(engine, ctx, member_id, fen):
    with write_transaction(engine) as conn:
        ledger.post(
            conn,
            JournalEntry(
                "01",
                "R1",
                f"fund-{member_id}",
                ctx.clock.today(),
                ctx.clock.today(),
                (
                    Line("101", Side.DEBIT, fen),
                    Line("201", Side.CREDIT, fen, member_id=member_id, part=BalancePart.CURRENT),
                ),
            ),
            ctx.clock,
        )


def test_closing_needs_a_zero_balance(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no)
    _fund(engine, ctx, m.id, 100)
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        accounts.close_member(conn, ctx, m.account_no, CloseKind.WITHDRAWN, "销户")
    assert err.value.code == "member.balance_not_zero"


def test_employer_close_only_at_zero_balance(engine, ctx, employer):
    no = employer.account_no
    m = open_member(engine, ctx, no)
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        accounts.close_employer(conn, ctx, no, "注销")
    assert err.value.code == "employer.has_active_members"
    _fund(engine, ctx, m.id, 100)
    with write_transaction(engine) as conn:
        sealed = accounts.seal_employer(conn, ctx, no, "停业")
        assert sealed.state == "05"
        assert accounts.get_member(conn, m.account_no).state == "02"  # sealed with it
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        accounts.close_employer(conn, ctx, no, "注销")
    assert err.value.code == "employer.balance_not_zero"


def test_employer_deferral_and_close(engine, ctx, employer):
    no = employer.account_no
    with write_transaction(engine) as conn:
        deferred = accounts.defer_employer(conn, ctx, no, "2025-03", "2025-12", "经营困难")
        assert deferred.state == "03"
        with pytest.raises(IllegalTransition):
            accounts.defer_employer(conn, ctx, no, "2025-03", "2025-12", "again")
        assert accounts.end_deferral(conn, ctx, no, "恢复缴存").state == "01"
        closed = accounts.close_employer(conn, ctx, no, "注销")
    assert closed.state == "04"
    with pytest.raises(IllegalTransition), write_transaction(engine) as conn:
        accounts.open_member(conn, ctx, no, member_payload(9))


def test_search_by_name_id_and_account(engine, ctx, employer):
    m = open_member(engine, ctx, employer.account_no, name="欧阳娜娜")
    with read_transaction(engine) as conn:
        for q in ("欧阳", m.resident_id, m.account_no):
            assert [r.account_no for r in accounts.find_members(conn, q)] == [m.account_no]
        assert accounts.find_members(conn, "李") == []
