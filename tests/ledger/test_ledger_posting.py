"""Integration tests (SQLite and PostgreSQL): posting, idempotency, reversal, periods, check."""

from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import BigInteger, String, text
from sqlalchemy.exc import DBAPIError

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line

D, C = Side.DEBIT, Side.CREDIT


@pytest.fixture
def members(engine, ctx):
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        ids = [accounts.open_member(conn, ctx, emp.account_no, member_payload(i)).id for i in range(1, 4)]
    return emp, ids


def deposit(member_id: int, fen: int, key: str, day: date = date(2025, 3, 15), part=BalancePart.CURRENT):
    return JournalEntry(
        "01",
        f"R-{key}",
        key,
        day,
        day,
        (Line("101", D, fen), Line("201", C, fen, member_id=member_id, part=part)),
    )


def test_posting_updates_every_materialised_balance(engine, ctx, members):
    _, (m1, m2, _) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 10_000, "a"), ctx.clock)
        ledger.post(conn, deposit(m2, 2_500, "b", part=BalancePart.CARRIED), ctx.clock)
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1, m2]) == {m1: (0, 10_000), m2: (2_500, 0)}
        balances = {s.code: s.balance_fen for s in ledger.subject_balances(conn)}
        assert balances["101"] == 12_500 and balances["201"] == 12_500
        assert check_center(conn) == []


def test_replaying_an_entry_posts_it_once(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        first = ledger.post(conn, deposit(m1, 10_000, "same"), ctx.clock)
    with write_transaction(engine) as conn:
        again = ledger.post(conn, deposit(m1, 10_000, "same"), ctx.clock)
    assert first == again
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1])[m1] == (0, 10_000)


def test_a_used_key_with_a_different_entry_is_refused(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 10_000, "k"), ctx.clock)
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 99_999, "k"), ctx.clock)
    assert err.value.code == "ledger.idempotency_conflict"


def test_an_overdraft_is_refused_and_changes_nothing(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 1_000, "in"), ctx.clock)
    withdraw = JournalEntry(
        "11",
        "W1",
        "out",
        ctx.clock.today(),
        ctx.clock.today(),
        (Line("201", D, 1_001, member_id=m1, part=BalancePart.CURRENT), Line("101", C, 1_001)),
    )
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        ledger.post(conn, withdraw, ctx.clock)
    assert err.value.code == "ledger.insufficient_balance"
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1])[m1] == (0, 1_000)
        assert check_center(conn) == []


def test_batch_posting_uses_the_staging_path_and_balances(engine, ctx, members, monkeypatch):
    _, ids = members
    from hpf.ledger import posting

    monkeypatch.setattr(posting, "_IN_LIST_LIMIT", 1)  # force the staging-table path on a small batch
    entries = [deposit(m, 100 * (n + 1), f"batch-{n}") for n, m in enumerate(ids * 3)]
    with write_transaction(engine) as conn:
        ledger.post_many(conn, entries, ctx.clock)
    with read_transaction(engine) as conn:
        got = ledger.member_balances(conn, ids)
        assert got[ids[0]] == (0, 100 + 400 + 700)
        assert check_center(conn) == []


def test_reversal_restores_balances_and_happens_once(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        entry_id = ledger.post(conn, deposit(m1, 5_000, "x"), ctx.clock)
    with write_transaction(engine) as conn:
        rev = ledger.reverse(conn, entry_id, reason="错缴", actor="t", clock=ctx.clock)
    with write_transaction(engine) as conn:  # replay returns the same reversal
        assert ledger.reverse(conn, entry_id, reason="错缴", actor="t", clock=ctx.clock) == rev
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        ledger.reverse(conn, entry_id, reason="again", actor="t", clock=ctx.clock, idempotency_key="other")
    assert err.value.code == "ledger.already_reversed"
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        ledger.reverse(conn, rev, reason="undo undo", actor="t", clock=ctx.clock)
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1])[m1] == (0, 0)
        assert check_center(conn) == []


def test_closed_periods_refuse_postings(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        ledger.close_period(conn, replace(ctx, actor="t"), "2025-02")
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 100, "late", day=date(2025, 2, 27)), ctx.clock)
    assert err.value.code == "ledger.period_closed"
    with pytest.raises(Conflict), write_transaction(engine) as conn:
        ledger.close_period(conn, replace(ctx, actor="t"), "2025-03")  # not yet ended


def test_journal_rows_cannot_be_updated_or_deleted(engine, ctx, members):
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 100, "fixed"), ctx.clock)
    for sql in ("UPDATE journal_line SET amount_fen = 1", "DELETE FROM journal_entry"):
        with pytest.raises(DBAPIError), write_transaction(engine) as conn:
            conn.execute(text(sql))


def test_check_names_the_first_broken_account(engine, ctx, members):
    _, (m1, m2, _) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 100, "p1"), ctx.clock)
        ledger.post(conn, deposit(m2, 100, "p2"), ctx.clock)
        conn.execute(text("UPDATE member_balance SET current_fen = 90 WHERE member_id = :m"), {"m": m2})
    with read_transaction(engine) as conn:
        findings = check_center(conn)
    assert findings[0].subject == f"member {m2}"
    assert {f.code for f in findings} == {"member_balance", "control_total", "accrual"}


def test_accrual_follows_value_dates(engine, ctx, members):
    """积数 by the 预计积数 method (REFERENCE §2.5): change × days to the year end (06-30)."""
    _, (m1, *_) = members
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 100_000, "sep", day=date(2024, 9, 15)), ctx.clock)
        ledger.post(
            conn, deposit(m1, 50_000, "mar", day=date(2025, 3, 10), part=BalancePart.CARRIED), ctx.clock
        )
    with read_transaction(engine) as conn:
        row = conn.execute(
            text("SELECT accrual_current, accrual_carried FROM member_balance WHERE member_id = :m"),
            {"m": m1},
        ).one()
        assert tuple(row) == (100_000 * 288, 50_000 * 112)
        assert check_center(conn) == []
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:  # next interest year
        ledger.post(conn, deposit(m1, 1, "july", day=date(2025, 7, 1)), ctx.clock)
    assert err.value.code == "ledger.value_date_outside_interest_year"


def test_post_set_posts_lines_from_sql_and_replays(engine, ctx, members):
    from sqlalchemy import literal, select, union_all

    from hpf.accounts.tables import member
    from hpf.ledger.posting import EntryHeader

    emp, ids = members
    day = ctx.clock.today()
    header = EntryHeader("01", "MONTH-END", "set-1", day, day, memo="批量")
    credits = select(
        literal("set-1").label("entry_key"),
        literal("201").label("subject_code"),
        literal("C").label("side"),
        (member.c.id * 100).label("amount_fen"),
        member.c.id.label("member_id"),
        literal(None, BigInteger).label("employer_id"),
        literal("current").label("balance_part"),
    ).where(member.c.employer_id == emp.id)
    debit = select(
        literal("set-1"),
        literal("101"),
        literal("D"),
        literal(sum(ids) * 100),
        literal(None, BigInteger),
        literal(None, BigInteger),
        literal(None, String),
    )
    with write_transaction(engine) as conn:
        first = ledger.post_set(conn, [header], union_all(credits, debit), ctx.clock)
    with write_transaction(engine) as conn:
        assert ledger.post_set(conn, [header], union_all(credits, debit), ctx.clock) == first
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, ids) == {m: (0, m * 100) for m in ids}
        assert check_center(conn) == []


def test_post_set_refuses_unbalanced_lines(engine, ctx, members):
    from sqlalchemy import literal, select

    from hpf.accounts.tables import member
    from hpf.ledger.posting import EntryHeader

    emp, ids = members
    day = ctx.clock.today()
    lines = select(
        literal("bad").label("entry_key"),
        literal("201"),
        literal("C"),
        literal(100),
        member.c.id,
        literal(None, BigInteger),
        literal("current"),
    ).where(member.c.employer_id == emp.id)
    from hpf.kernel.errors import InvalidInput

    with pytest.raises(InvalidInput), write_transaction(engine) as conn:
        ledger.post_set(conn, [EntryHeader("01", "X", "bad", day, day)], lines, ctx.clock)
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, ids) == dict.fromkeys(ids, (0, 0))


def test_many_entries_at_once_get_their_own_ids(engine, ctx, members):
    """Above the IN-list limit entries take the bulk path (ids from the sequence + COPY on PostgreSQL)."""
    _, ids = members
    entries = [deposit(ids[n % 3], 100 + n, f"many-{n}") for n in range(700)]
    with write_transaction(engine) as conn:
        posted = ledger.post_many(conn, entries, ctx.clock)
    assert len(set(posted)) == 700
    with read_transaction(engine) as conn:
        for entry_id, entry in zip(posted[::97], entries[::97], strict=True):
            assert ledger.load_entry(conn, entry_id)[0].idempotency_key == entry.idempotency_key
        assert check_center(conn) == []
    with write_transaction(engine) as conn:  # and the sequence moved on past them
        later = ledger.post(conn, deposit(ids[0], 1, "after"), ctx.clock)
    assert later > max(posted)


def _set_lines(*lines: tuple[str, str, str, int, int | None, str | None]):
    """``post_set`` lines from literals: (entry key, subject, side, fen, member id, balance part)."""
    from sqlalchemy import literal, select, union_all

    return union_all(*(
        select(literal(key), literal(subject), literal(side), literal(fen, BigInteger),
               literal(member_id, BigInteger), literal(None, BigInteger), literal(part, String))
        for key, subject, side, fen, member_id, part in lines
    ))  # fmt: skip


def test_post_set_sums_several_lines_of_one_member_and_skips_replayed_entries(engine, ctx, members):
    from hpf.ledger.posting import EntryHeader

    _, (m1, m2, _) = members
    day = ctx.clock.today()
    a, b = (EntryHeader("01", "X", key, day, day) for key in ("set-a", "set-b"))
    lines_a = [("set-a", "201", "C", 100, m1, "current"), ("set-a", "101", "D", 100, None, None)]
    lines_b = [("set-b", "201", "C", 50, m1, "carried"), ("set-b", "201", "C", 30, m1, "carried"),
               ("set-b", "201", "C", 20, m2, "carried"), ("set-b", "101", "D", 100, None, None)]  # fmt: skip
    with write_transaction(engine) as conn:
        first = ledger.post_set(conn, [a], _set_lines(*lines_a), ctx.clock)
    with write_transaction(engine) as conn:  # "set-a" is replayed: its lines are not posted again
        both = ledger.post_set(conn, [a, b], _set_lines(*lines_a, *lines_b), ctx.clock)
    assert both["set-a"] == first["set-a"] and both["set-b"] != first["set-a"]
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1, m2]) == {m1: (80, 100), m2: (20, 0)}
        assert check_center(conn) == []


def test_post_set_and_roll_folds_the_new_lines_into_the_year_roll(engine, ctx, members):
    from hpf.ledger.posting import EntryHeader

    _, (m1, m2, m3) = members
    year_end, next_end = date(2025, 6, 30), date(2026, 6, 30)
    with write_transaction(engine) as conn:
        ledger.post(conn, deposit(m1, 1_000, "before"), ctx.clock)
    # an interest-like credit to m1's carried part, and two lines of m2 in the current part
    lines = [("close-c", "201", "C", 10, m1, "carried"), ("close-c", "41101", "D", 10, None, None),
             ("close-u", "201", "C", 4, m2, "current"), ("close-u", "201", "C", 6, m2, "current"),
             ("close-u", "101", "D", 10, None, None)]  # fmt: skip
    headers = [EntryHeader("09", "Y", key, year_end, ctx.clock.today()) for key in ("close-c", "close-u")]
    with write_transaction(engine) as conn:
        _, rolled_to, moved, moved_fen = ledger.post_set_and_roll(
            conn, headers, _set_lines(*lines), year_end, ctx.clock
        )
    assert (rolled_to, moved, moved_fen) == (next_end, 2, 1_010)  # current parts carried over
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, [m1, m2, m3]) == {m1: (1_010, 0), m2: (10, 0), m3: (0, 0)}
        accrual = conn.execute(
            text(
                "SELECT member_id, accrual_carried, accrual_current FROM member_balance WHERE member_id IN (:a, :b)"
            ),
            {"a": m1, "b": m2},
        ).all()
        assert sorted(map(tuple, accrual)) == sorted([(m1, 1_010 * 365, 0), (m2, 10 * 365, 0)])
        assert check_center(conn) == []
    with pytest.raises(Conflict) as err, write_transaction(engine) as conn:  # the year is closed now
        ledger.post(conn, deposit(m3, 1, "late", day=date(2025, 6, 1)), ctx.clock)
    assert err.value.code == "ledger.value_date_outside_interest_year"


def test_post_set_refuses_lines_it_cannot_read_by_position(engine, ctx):
    from sqlalchemy import literal_column, select

    from hpf.ledger.posting import EntryHeader

    day = ctx.clock.today()
    unlabelled = select(
        *(literal_column(sql) for sql in ("'k'", "'101'", "'D'", "1", "NULL", "NULL", "NULL"))
    )
    with pytest.raises(TypeError), write_transaction(engine) as conn:
        ledger.post_set(conn, [EntryHeader("01", "X", "k", day, day)], unlabelled, ctx.clock)


def test_concurrent_postings_to_one_subject_do_not_wait_for_each_other(engine, ctx, members):
    """Two open transactions each post to subjects 101 and 201 (different members): the second
    posts at once rather than waiting for the first's commit on the subject's row (decision 0034);
    the totals are both postings' once both commit."""
    if engine.dialect.name != "postgresql":
        pytest.skip("one writer at a time on this engine: no row lock to wait on")
    _, (m1, m2, m3) = members
    with write_transaction(engine) as conn:  # the interest year opened by a first posting, committed
        ledger.post(conn, deposit(m3, 100, "opening"), ctx.clock)
    first, second = engine.connect(), engine.connect()
    try:
        with first.begin():
            ledger.post(first, deposit(m1, 10_000, "first"), ctx.clock)
            with second.begin():
                second.execute(text("SET LOCAL lock_timeout = '2s'"))  # a wait would fail, not hang
                ledger.post(second, deposit(m2, 2_500, "second"), ctx.clock)
    finally:
        first.close()
        second.close()
    with read_transaction(engine) as conn:
        balances = {s.code: s.balance_fen for s in ledger.subject_balances(conn)}
        assert balances["101"] == 12_600 and balances["201"] == 12_600
        assert check_center(conn) == []


def test_every_subject_has_all_its_stripes(engine):
    """The migration's stripes and the posting code's are the same 16 (decision 0034): a posting
    to a stripe without its row would add nothing to the subject's total."""
    from hpf.ledger.tables import SUBJECT_STRIPES

    with read_transaction(engine) as conn:
        subjects = conn.scalar(text("SELECT COUNT(*) FROM ledger_subject"))
        per_subject = conn.execute(
            text(
                "SELECT COUNT(DISTINCT stripe), MIN(stripe), MAX(stripe) FROM subject_balance GROUP BY subject_code"
            )
        ).all()
    assert subjects and len(per_subject) == subjects
    assert set(per_subject) == {(SUBJECT_STRIPES, 0, SUBJECT_STRIPES - 1)}


def test_crediting_every_member_rewrites_each_balance_in_place(engine, ctx):
    """A posting to every member (month-end, the interest settlement) updates each balance row
    where it is: a HOT update, with no new index entry or page (decision 0048). 150 members fill
    more than one page; at the old fill factor of 80 only 48 of the 150 updates were HOT."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no fill factor")
    from hpf.ledger.posting import EntryHeader

    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        ids = [accounts.open_member(conn, ctx, emp.account_no, member_payload(i)).id for i in range(1, 151)]
    day = ctx.clock.today()
    lines = _set_lines(
        *(("all", "201", "C", 100, m, "current") for m in ids),
        ("all", "101", "D", 100 * len(ids), None, None),
    )
    with write_transaction(engine) as conn:
        ledger.post_set(conn, [EntryHeader("01", "MONTH-END", "all", day, day)], lines, ctx.clock)
        updated, hot = conn.execute(
            text(
                "SELECT pg_stat_get_xact_tuples_updated(c.oid), pg_stat_get_xact_tuples_hot_updated(c.oid) "
                "FROM pg_class c WHERE c.relname = 'member_balance'"
            )
        ).one()
    assert (updated, hot) == (150, 150)
    with read_transaction(engine) as conn:
        assert ledger.member_balances(conn, ids) == dict.fromkeys(ids, (0, 100))
