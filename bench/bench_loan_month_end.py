"""Benchmark the loan month-end job (``hpf loan month-end``) on a large loan book.

    python bench/bench_loan_month_end.py [--loans 200000] [--months 360] [--postgres] [--chunk-size 50000]

Builds, set-based and outside the timing: one employer, one member per loan (SQL from a
recursive CTE; the personal-data columns hold placeholders, nothing reads them), their HPF
balances (one ``post_set`` entry), the loans (``INSERT … SELECT``), their full schedules
(``hpf.loans.calculator.batch.many_schedules``, bulk inserted) and the disbursement (one entry Dr 121 /
Cr 101, as ``hpf.settlement`` will post it). Half the loans repay from the HPF account, half by
bank debit; one borrower in twenty has too little money and goes overdue. Every loan has an
installment due in the month timed.

Then it times ``run_loan_month_end`` for the month and, in the same run, the baseline: a bare
bulk insert of the same number of journal lines (executemany on SQLite, COPY on PostgreSQL)
into a scratch table shaped like journal_line, with and without its indexes. Target: ≤ 20 s
for 200,000 loans on SQLite on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    Table,
    func,
    literal_column,
    select,
    text,
)

from hpf import bootstrap
from hpf.accounts import service as accounts
from hpf.check import check_center
from hpf.db.bulk import bulk_insert
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.db.testing import start_cluster
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_entry, journal_line
from hpf.loans.book.jobs import run_loan_month_end
from hpf.loans.book.service import INSTALLMENT_COLUMNS
from hpf.loans.calculator.batch import LoanTerms, many_schedules
from hpf.loans.calculator.schedule import Method, due_date
from hpf.schema import upgrade
from hpf.settings import Settings

MONTH = "2025-03"
START = date(2025, 2, 1)
RATES = (Decimal("0.026"), Decimal("0.031"))
BENCH_PG_SETTINGS = {"shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "512MB"}
sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))


def build_members(engine: Engine, ctx: Context, count: int) -> None:
    from factories import employer_payload

    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        conn.execute(
            text(
                "WITH RECURSIVE n(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM n WHERE k < :count) "
                "INSERT INTO member (account_no, certificate_type, resident_id_enc, resident_id_bidx, name, "
                "name_pinyin, gender, birth_date, employer_id, base_fen, state, opened_on, version) "
                "SELECT 'B' || CAST(k AS VARCHAR(12)), '01', 'bench', 'bench' || CAST(k AS VARCHAR(12)), "
                "'张三', 'zhang san', '1', :birth, :employer, 800000, '01', :opened, 1 FROM n"
            ),
            {"count": count, "birth": date(1990, 1, 1), "employer": emp.id, "opened": date(2020, 1, 1)},
        )
        conn.execute(
            text(
                "INSERT INTO member_balance (member_id, carried_fen, current_fen) SELECT id, 0, 0 FROM member"
            )
        )


def build_loans(engine: Engine, ctx: Context, count: int, months: int) -> None:
    """Loans of 300,000–1,200,000 yuan, first due in the benchmark month; schedules in bulk."""
    with write_transaction(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO loan (contract_no, application_id, borrower_id, co_borrower_ids, house_nature, "
                "second_home, house_price_fen, floor_area, guarantee_type, principal_fen, annual_rate, rate_e7, "
                "term_months, method, contract_date, first_due_date, repayment_source, state, disbursed_on, "
                "outstanding_principal_fen, overdue_principal_fen, overdue_interest_fen, days_past_due, "
                "classification, penalty_base, penalty_fen, penalty_accrued_fen, created_at, version) "
                "SELECT 'BENCH' || CAST(id AS VARCHAR(12)), id, id, '[]', '01', "
                "CASE WHEN id % 10 = 0 THEN 1 ELSE 0 END = 1, 150000000, 90, '01', "
                "30000000 + (id * 7919) % 90000000, "
                "CASE WHEN id % 10 = 0 THEN 0.031 ELSE 0.026 END, CASE WHEN id % 10 = 0 THEN 310000 ELSE 260000 END, "
                ":months, CASE WHEN id % 3 = 0 THEN '02' ELSE '01' END, :contract, :contract, "
                "CASE WHEN id % 2 = 0 THEN 'bank_debit' ELSE 'hpf_account' END, 'active', :contract, "
                "30000000 + (id * 7919) % 90000000, 0, 0, 0, '01', 0, 0, 0, :now, 1 FROM member"
            ),
            {"months": months, "contract": START, "now": ctx.clock.now()},
        )
        rows = conn.execute(
            select(text("id"), text("principal_fen"), text("rate_e7"), text("method")).select_from(text("loan"))
            .order_by(text("id"))
        ).all()  # fmt: skip
        conn.execute(
            text("UPDATE loan SET first_due_date = :d WHERE id % 28 = :r"),
            [{"d": date(2025, 3, 1 + r), "r": (r + 1) % 28} for r in range(28)],
        )
        started = time.perf_counter()
        terms = [
            LoanTerms(p, Decimal(r) / 10**7, months, Method.EQUAL_INSTALLMENT if m == "01" else Method.EQUAL_PRINCIPAL)
            for _, p, r, m in rows
        ]  # fmt: skip
        schedules = many_schedules(terms)
        print(f"schedules computed in {time.perf_counter() - started:.1f} s", flush=True)
        # Insert in the table's key order, (due date, loan): period by period, day by day; the
        # (loan, period) index is built once afterwards, sorted, instead of row by row.
        conn.exec_driver_sql("DROP INDEX ix_loan_installment_loan_id_period")
        by_day = [[n for n in range(len(rows)) if (rows[n][0] - 1) % 28 == r] for r in range(28)]
        written = 0
        for period in range(1, months + 1):
            out = []
            for r in range(28):
                due = due_date(date(2025, 3, 1 + r), period)
                for n in by_day[r]:
                    principal, interest, remaining = schedules.row(n, period)
                    out.append(
                        (rows[n][0], period, due, rows[n][2], principal, interest, remaining, 0, 0, 0, "due")
                    )
            bulk_insert(conn, "loan_installment", INSTALLMENT_COLUMNS, out)
            written += len(out)
        conn.exec_driver_sql(
            "CREATE UNIQUE INDEX ix_loan_installment_loan_id_period ON loan_installment (loan_id, period)"
        )
        print(f"schedules: {written} installments in {time.perf_counter() - started:.1f} s", flush=True)
        total = conn.scalar(text("SELECT SUM(principal_fen) FROM loan"))
        header = ledger.EntryHeader("01", "BENCH", "bench-disbursement", START, START, "bench disbursement")
        ledger.post_set(conn, [header], _pair("bench-disbursement", "121", "101", int(total)), ctx.clock)


_COLUMNS = ("k", "s", "side", "a", "m", "e", "p")  # the lines post_set reads, in its order


def _pair(key: str, debit: str, credit: str, amount: int) -> object:
    line = (
        "SELECT '{k}' AS k, '{s}' AS s, '{side}' AS side, {a} AS a, CAST(NULL AS BIGINT) AS m,"
        " CAST(NULL AS BIGINT) AS e, CAST(NULL AS VARCHAR(8)) AS p"
    )
    sql = (
        line.format(k=key, s=debit, side="D", a=amount)
        + " UNION ALL "
        + line.format(k=key, s=credit, side="C", a=amount)
    )
    pair = text(f"({sql}) AS pair")
    return select(*(literal_column(f"pair.{c}").label(c) for c in _COLUMNS)).select_from(pair)


def fund_members(engine: Engine, ctx: Context) -> None:
    """HPF balances of the hpf_account borrowers: enough for the month, except one in twenty."""
    with write_transaction(engine) as conn:
        conn.execute(text(
            "CREATE TEMPORARY TABLE bench_fund AS SELECT l.borrower_id AS member_id, "
            "CASE WHEN l.id % 20 = 1 THEN 100 ELSE 5000000 END AS amount FROM loan l "
            "WHERE l.repayment_source = 'hpf_account'"
        ))  # fmt: skip
        total = conn.scalar(text("SELECT SUM(amount) FROM bench_fund"))
        lines = select(*(literal_column(f"f.{c}").label(c) for c in _COLUMNS)).select_from(
            text(
                "(SELECT 'bench-fund' AS k, '201' AS s, 'C' AS side, amount AS a, member_id AS m, "
                "CAST(NULL AS BIGINT) AS e, 'current' AS p FROM bench_fund "
                f"UNION ALL SELECT 'bench-fund', '101', 'D', {int(total)}, CAST(NULL AS BIGINT), "
                "CAST(NULL AS BIGINT), CAST(NULL AS VARCHAR(8))) AS f"
            )
        )
        header = ledger.EntryHeader("01", "BENCH", "bench-fund", START, START, "bench balances")
        ledger.post_set(conn, [header], lines, ctx.clock)  # type: ignore[arg-type]
        conn.execute(text("DROP TABLE bench_fund"))


def baseline(engine: Engine, lines: int, *, with_indexes: bool) -> float:
    """Seconds to bulk insert ``lines`` rows shaped like journal_line into a scratch table."""
    meta = MetaData()
    columns = [Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)]
    columns += [Column(c.name, c.type, nullable=True) for c in journal_line.columns if c.name != "id"]
    scratch = Table("bench_scratch_line", meta, *columns)
    if with_indexes:
        Index("bench_scratch_entry", scratch.c.entry_id)
        Index("bench_scratch_member", scratch.c.member_id, scratch.c.value_date, scratch.c.id)
        Index("bench_scratch_employer", scratch.c.employer_id)
    with write_transaction(engine) as conn:
        scratch.drop(conn, checkfirst=True)
        scratch.create(conn)
    cols = [c.name for c in scratch.columns if c.name != "id"]
    row = {"entry_id": 1, "subject_code": "201", "side": "D", "amount_fen": 12_345, "employer_id": None,
           "balance_part": "current", "value_date": date(2025, 3, 31), "accrual_days": 91}  # fmt: skip
    data = [tuple(i if c == "member_id" else row[c] for c in cols) for i in range(lines)]
    started = time.perf_counter()
    with write_transaction(engine) as conn:
        bulk_insert(conn, scratch, cols, data)
    seconds = time.perf_counter() - started
    with write_transaction(engine) as conn:
        scratch.drop(conn)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--months", type=int, default=360, help="term of every loan (schedule rows per loan)")
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--postgres", action="store_true", help="use a throwaway local PostgreSQL cluster")
    parser.add_argument(
        "--fast-unsafe",
        action="store_true",
        help="PostgreSQL with fsync, synchronous commit and full-page writes off (not a production figure)",
    )
    parser.add_argument("--keep", help="SQLite: build the book in this file and keep it (profiling)")
    args = parser.parse_args(argv)
    # A development center: the development key ring, the item handlers, the event listeners.
    bootstrap.start(Settings.from_env({"HPF_ENV": "development"}))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
          f"{platform.platform()}", flush=True)  # fmt: skip
    cluster = start_cluster(BENCH_PG_SETTINGS, durable=not args.fast_unsafe) if args.postgres else None
    if cluster is not None:
        print(cluster.durability(), flush=True)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        url = cluster.url() if cluster else f"sqlite:///{args.keep or Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        try:
            upgrade(engine)
            ctx = Context("bench", FixedClock(START), "990001", source="bench")
            t = time.perf_counter()
            build_members(engine, ctx, args.loans)
            build_loans(engine, ctx, args.loans, args.months)
            fund_members(engine, ctx)
            if cluster:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
            else:
                with engine.connect() as conn:
                    conn.exec_driver_sql("ANALYZE")
            print(f"loan book built in {time.perf_counter() - t:.1f} s (outside the timing)", flush=True)
            ctx.clock.set(date(2025, 3, 31))  # type: ignore[attr-defined]
            started = time.perf_counter()
            summary = run_loan_month_end(engine, ctx, MONTH, chunk_size=args.chunk_size)
            seconds = time.perf_counter() - started
            with read_transaction(engine) as conn:
                posted = conn.scalar(
                    select(func.count()).select_from(journal_line).where(
                        journal_line.c.entry_id.in_(
                            select(journal_entry.c.id).where(journal_entry.c.business_id.like("LOAN-ME-%"))
                        )
                    )
                )  # fmt: skip
                installments = conn.scalar(text("SELECT COUNT(*) FROM loan_installment"))
                t = time.perf_counter()
                findings = check_center(conn)
                check_seconds = time.perf_counter() - t
            heap = baseline(engine, int(posted or 0), with_indexes=False)
            indexed = baseline(engine, int(posted or 0), with_indexes=True)
            print(f"engine: {engine.dialect.name}, loans: {args.loans}, schedule rows: {installments}")
            print(
                f"loan month-end: {seconds:.2f} s for {summary['installments_paid']} installments collected "
                f"({summary['collected_fen'] / 100:,.2f} yuan), {summary['became_overdue']} overdue, "
                f"{posted} journal lines ({summary['installments_paid'] / seconds:,.0f} installments/s)"
            )
            print(
                f"baseline: bulk insert of {posted} journal lines with journal_line's indexes: {indexed:.2f} s "
                f"(ratio {seconds / indexed:.1f}x); into a bare heap: {heap:.2f} s (ratio {seconds / heap:.1f}x)"
            )
            print(f"hpf check after the run: {len(findings)} finding(s) in {check_seconds:.1f} s")
        finally:
            engine.dispose()
            if cluster:
                cluster.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
