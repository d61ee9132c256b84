"""The warehouse against the center it is built from (issue 17, acceptance): every dashboard
figure equals the ledger and the business tables for the same months, and the rows behind each
point of a chart add up to it; the build is incremental and members stay pseudonymised."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import duckdb
import pytest
from sqlalchemy import func, select

from hpf.accounts.tables import member
from hpf.db.engine import read_transaction
from hpf.db.periods import month_of
from hpf.ledger.tables import journal_entry, journal_line, member_balance
from hpf.loans.book.tables import loan, loan_event
from hpf.services.tables import application
from hpf.warehouse import dashboards
from hpf.warehouse.build import TAGS, build
from hpf.withdrawals.tables import withdrawal
from warehouse_city import MONTHS, TODAY


def _board(path, key, filters=None):
    with dashboards.opened(path) as con:
        return dashboards.board(con, key, filters or dashboards.Filters())


def _by_month(board):
    """{(month, series): value} of the points that are not zero."""
    return {(m, s.key): v for s in board.series for m, v in zip(board.months, s.values, strict=True) if v}


def test_the_simulator_built_every_month_once(center):
    _, path = center
    con = duckdb.connect(str(path), read_only=True)
    months = [r[0] for r in con.execute("SELECT month FROM build_month ORDER BY 1").fetchall()]
    runs = con.execute("SELECT months FROM build_run ORDER BY run").fetchall()
    con.close()
    assert len(months) == MONTHS and months[0] == "2024-01" and months[-1] == "2025-02"
    assert [r[0] for r in runs] == months  # each nightly build took exactly its new month


def test_collection_equals_the_ledger(center):
    engine, path = center
    ln, je = journal_line.c, journal_entry.c
    signed = func.sum(func.iif(ln.side == "C", ln.amount_fen, -ln.amount_fen))
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(month_of(je.posting_date), je.business_type, signed)
            .join(journal_entry, je.id == ln.entry_id)
            .where(ln.subject_code == "201", ln.member_id.is_not(None), je.business_type.in_(("01", "02")))
            .group_by(month_of(je.posting_date), je.business_type)
        ).all()
    expected = {(m, t): int(v) for m, t, v in rows if v}
    assert expected and _by_month(_board(path, "collection")) == expected


def test_withdrawals_by_reason_equal_the_paid_claims_and_the_ledger(center):
    engine, path = center
    w = withdrawal.c
    ln, je = journal_line.c, journal_entry.c
    out = func.sum(func.iif(ln.side == "D", ln.amount_fen, -ln.amount_fen))
    from_loans = ln.entry_id.in_(select(loan_event.c.entry_id).where(loan_event.c.entry_id.is_not(None)))
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(month_of(w.paid_on), w.reason, func.sum(w.allowed_fen))
            .where(w.state == "paid")
            .group_by(month_of(w.paid_on), w.reason)
        ).all()
        # 提取还贷: a loan's installment taken from the borrower's account, as reason 06
        account_repaid = conn.execute(
            select(month_of(je.posting_date), out)
            .join(journal_entry, je.id == ln.entry_id)
            .where(ln.member_id.is_not(None), je.business_type.in_(("11", "12")), from_loans)
            .group_by(month_of(je.posting_date))
        ).all()
        # 部分/销户提取 out of the members' accounts to the last built month's end
        ledger_out = conn.scalar(
            select(out)
            .join(journal_entry, je.id == ln.entry_id)
            .where(
                ln.member_id.is_not(None),
                je.business_type.in_(("11", "12")),
                je.posting_date <= date(2025, 2, 28),
            )
        )
        in_flight = conn.scalar(  # reserved (debited) by the end of February, not yet paid
            select(func.sum(w.allowed_fen)).where(w.state == "reserved", w.applied_on <= date(2025, 2, 28))
        )
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for m, r, v in rows:
        expected[(m, r)] += int(v)
    for m, v in account_repaid:
        if m <= "2025-02":
            expected[(m, "06")] += int(v)
    board = _board(path, "withdrawals")
    assert account_repaid and len(expected) > 3 and _by_month(board) == dict(expected)
    assert sum(s.total for s in board.series) + (in_flight or 0) == ledger_out


def test_loans_equal_the_book(center):
    engine, path = center
    with read_transaction(engine) as conn:
        disbursed = conn.execute(
            select(month_of(loan.c.disbursed_on), func.sum(loan.c.principal_fen))
            .where(loan.c.disbursed_on.is_not(None))
            .group_by(month_of(loan.c.disbursed_on))
        ).all()
        e = loan_event.c
        repaid = conn.execute(
            select(month_of(e.business_date), func.sum(e.amount_fen))
            .where(e.kind.in_(("collected", "repaid", "prepaid", "paid_off")))
            .group_by(month_of(e.business_date))
        ).all()
        outstanding = conn.scalar(
            select(func.sum(loan.c.outstanding_principal_fen)).where(loan.c.state == "active")
        )
    expected = {(m, "disbursement"): int(v) for m, v in disbursed} | {
        (m, "repayment"): int(v) for m, v in repaid
    }
    assert disbursed and repaid, "the simulated center lends and collects"
    assert _by_month(_board(path, "loans")) == expected
    with dashboards.opened(path) as con:
        month, book = dashboards.loan_book(con, dashboards.Filters())
    assert month == "2025-02" and sum(r.outstanding_fen for r in book) == outstanding


def test_channels_equal_the_applications(center):
    engine, path = center
    a = application.c
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(month_of(a.submitted_on), a.channel, func.count())
            .where(a.submitted_on < TODAY)
            .group_by(month_of(a.submitted_on), a.channel)
        ).all()
    assert rows and _by_month(_board(path, "channels")) == {(m, c): int(n) for m, c, n in rows}


def test_month_end_balances_equal_the_member_accounts(center):
    engine, path = center
    ln, je = journal_line.c, journal_entry.c
    with read_transaction(engine) as conn:
        now = conn.scalar(select(func.sum(member_balance.c.carried_fen + member_balance.c.current_fen)))
        since = conn.scalar(
            select(func.sum(func.iif(ln.side == "C", ln.amount_fen, -ln.amount_fen)))
            .join(journal_entry, je.id == ln.entry_id)
            .where(ln.member_id.is_not(None), je.posting_date > date(2025, 2, 28))
        )
    total = now - (since or 0)  # the accounts at the end of February: today's less what came since
    con = duckdb.connect(str(path), read_only=True)
    (last,) = con.execute("SELECT sum(balance_fen) FROM fact_balance WHERE month = '2025-02'").fetchone()
    con.close()
    assert last == total


@pytest.mark.parametrize("key", list(dashboards.BOARDS))
def test_the_rows_behind_every_point_add_up_to_it(center, key):
    _, path = center
    with dashboards.opened(path) as con:
        opts = dashboards.options(con)
        for filters in (dashboards.Filters(), dashboards.Filters(employer_type=opts.employer_types[0][0])):
            board = dashboards.board(con, key, filters)
            for (month, series), value in _by_month(board).items():
                drill = dashboards.drill(con, key, filters, month=month, series=series, limit=10_000)
                assert drill.total == value == sum(r.value for r in drill.rows), (key, month, series)
                assert drill.count == len(drill.rows)


def test_filters_split_a_chart_without_losing_anything(center):
    _, path = center
    whole = _board(path, "collection")
    with dashboards.opened(path) as con:
        opts = dashboards.options(con)
    parts: dict[tuple[str, str], int] = defaultdict(int)
    for code, _ in opts.employer_types:
        for point, value in _by_month(
            _board(path, "collection", dashboards.Filters(employer_type=code))
        ).items():
            parts[point] += value
    assert dict(parts) == _by_month(whole)
    window = _board(path, "collection", dashboards.Filters(month_from="2024-03", month_to="2024-05"))
    assert window.months == ("2024-03", "2024-04", "2024-05")


def test_a_rebuild_from_nothing_equals_the_nightly_builds(center, tmp_path):
    engine, path = center
    fresh = tmp_path / "fresh.duckdb"
    summary = build(engine, fresh, through=TODAY)
    assert len(summary.months) == MONTHS
    again = build(engine, fresh, through=TODAY)
    assert again.months == ()  # nothing new
    one = build(engine, fresh, through=TODAY, month="2024-06")
    assert one.months == ("2024-06",)
    for key in dashboards.BOARDS:
        assert _board(fresh, key) == _board(path, key)
    sql = "SELECT month, sum(balance_fen), count(*) FROM fact_balance GROUP BY 1 ORDER BY 1"
    a, b = duckdb.connect(str(path), read_only=True), duckdb.connect(str(fresh), read_only=True)
    assert a.execute(sql).fetchall() == b.execute(sql).fetchall()
    a.close()
    b.close()


def test_a_month_not_yet_over_is_refused(center, tmp_path):
    engine, _ = center
    from hpf.kernel.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        build(engine, tmp_path / "w.duckdb", through=TODAY, month="2025-03")
    assert refused.value.code == "warehouse.month_not_complete"


def test_members_are_pseudonymised(center):
    engine, path = center
    with read_transaction(engine) as conn:
        people = conn.execute(select(member.c.id, member.c.name, member.c.account_no)).all()
    con = duckdb.connect(str(path), read_only=True)
    keys = {r[0] for r in con.execute("SELECT member_key FROM dim_member").fetchall()}
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns").fetchall()}
    text = " ".join(
        str(v) for t in ("dim_member", "fact_withdrawal", "fact_member_movement") for row in
        con.execute(f"SELECT * FROM {t} LIMIT 500").fetchall() for v in row
    )  # fmt: skip
    con.close()
    assert len(keys) == len(people)
    assert not keys & {str(p.id) for p in people} and all(len(k) == 24 for k in keys)
    assert not columns & {"name", "member_id", "resident_id", "account_no", "phone"}
    assert not any(p.name in text or p.account_no in text for p in people)


def test_member_tags_follow_their_definitions(center):
    engine, path = center
    con = duckdb.connect(str(path), read_only=True)
    defined = {r[0] for r in con.execute("SELECT tag FROM tag_definition").fetchall()}
    counts = dict(con.execute("SELECT tag, count(*) FROM member_tag GROUP BY 1").fetchall())
    as_of = con.execute("SELECT DISTINCT as_of FROM member_tag").fetchall()
    con.close()
    assert defined == {t for t, _, _ in TAGS} and as_of == [(date(2025, 2, 28),)]
    # 一年内退休, counted again from the member accounts: men reaching 60 and women 55 in the year
    with read_transaction(engine) as conn:
        people = conn.execute(
            select(member.c.gender, member.c.birth_date).where(member.c.state == "01")
        ).all()
    retiring = sum(
        1
        for g, born in people
        if g in ("1", "2")
        and date(2025, 2, 28) < born.replace(year=born.year + (60 if g == "1" else 55)) <= date(2026, 2, 28)
    )
    assert counts.get("retiring_within_year", 0) == retiring
    # 租房提取人, counted again from the claims: a paid rent withdrawal (07) in March 2024 – February 2025
    w = withdrawal.c
    with read_transaction(engine) as conn:
        renting = conn.scalar(
            select(func.count(func.distinct(w.member_id))).where(
                w.state == "paid", w.reason == "07", w.paid_on.between(date(2024, 3, 1), date(2025, 2, 28))
            )
        )
    assert renting and counts.get("renting", 0) == renting
