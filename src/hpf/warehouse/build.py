"""Build the warehouse by month from the center's database (decision 0037).

The source rows are read with SQLAlchemy through the business packages' published reads, in
large chunks turned into Arrow tables and inserted into DuckDB (no DuckDB extension: they download
at run time). The first build takes the whole history; a later one only the complete months not
yet built (``build_month``), or the one month asked for (``month=``), which it rebuilds. Month-end
balances are rolled forward from the month before; dimensions, the loan book's snapshot, member
tags and the thematic data sets are refreshed at every build, as of its last month's end.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import Connection, Engine, Select, String, and_, case, cast, func, select

from hpf.accounts import queries as accounts
from hpf.db.engine import read_transaction
from hpf.kernel.codes import code_table
from hpf.kernel.errors import InvalidInput
from hpf.ledger import queries as ledger
from hpf.loans import queries as loans
from hpf.protection.protect import ring
from hpf.services import queries as services
from hpf.warehouse.schema import CHANNEL_ZH, SECTOR_ZH, WAREHOUSE_FILE, connect, region_names
from hpf.withdrawals import queries as withdrawals

CHUNK = 250_000  # rows per fetch without ADBC
BATCH_ROWS = 131_072  # rows per ADBC SQLite batch (and per type inference)
WITHDRAWAL_TYPES = ("11", "12")  # 部分提取, 销户提取 (归集和提取业务类型)
# 提取还贷 counts as a withdrawal for 偿还购房贷款本息 (TQYY 06), ``withdrawal_key`` 0: it has no
# claim of its own; it is filed at the end of the month it was posted in.
ACCOUNT_REPAYMENT = "06"

TAGS: tuple[tuple[str, str, str], ...] = (
    ("renting", "租房提取人", "截至标签日的 12 个月内有一笔已支付的租房提取（提取原因 07）。"),
    (
        "first_home_waiting",
        "首套房潜在购房人",
        "账户状态正常，标签日前 6 个月每月都有汇缴或补缴入账，从未有公积金贷款，也从未因购房、"
        "建造翻修或偿还购房贷款（提取原因 01、02、06）提取。",
    ),
    (
        "retiring_within_year",
        "一年内退休",
        "账户状态正常，标签日后 12 个月内到达法定退休年龄（男 60 周岁、女 55 周岁，按出生日期计）。",
    ),
    (
        "borrower_at_risk",
        "风险借款人",
        "有一笔还款中的贷款，标签日已逾期（逾期天数大于 0）或五级分类为关注及以下（02–05）。",
    ),
    (
        "dormant",
        "长期未动户",
        "标签日月末余额大于 0，且截至标签日的 12 个月内账户没有任何入账或出账。",
    ),
)


@dataclass(frozen=True)
class BuildSummary:
    """What one build did: the months it (re)built, the as-of month of its snapshot and tags,
    the rows it added per fact table, and how long it took."""

    months: tuple[str, ...]
    as_of: str | None
    rows: dict[str, int]
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per step, in order


def default_path(database_url: str, environ: dict[str, str] | None = None) -> Path:
    """``HPF_WAREHOUSE_PATH`` if set; else ``warehouse.duckdb`` beside an SQLite database file;
    else ``hpf-data/warehouse.duckdb``."""
    import os

    env = os.environ if environ is None else environ
    if env.get("HPF_WAREHOUSE_PATH"):
        return Path(env["HPF_WAREHOUSE_PATH"])
    if database_url.startswith("sqlite:///") and not database_url.endswith(":memory:"):
        return Path(database_url.removeprefix("sqlite:///")).parent / WAREHOUSE_FILE
    return Path("hpf-data") / WAREHOUSE_FILE


def _month_end(month: str) -> date:
    y, m = int(month[:4]), int(month[5:])
    first_next = date(y + m // 12, m % 12 + 1, 1)
    return first_next - timedelta(days=1)


def _next_month(month: str) -> str:
    y, m = int(month[:4]), int(month[5:])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def _months(first: str, last: str) -> list[str]:
    out, m = [], first
    while m <= last:
        out.append(m)
        m = _next_month(m)
    return out


def _check_month(month: str) -> str:
    try:
        datetime.strptime(month, "%Y-%m")  # noqa: DTZ007 - a calendar month, no time
    except ValueError:
        raise InvalidInput("warehouse.bad_month", "月份格式应为 YYYY-MM", "month must be YYYY-MM") from None
    return month


class _Source:
    """The center's database as the build reads it: each published read's statement compiled
    for the engine's dialect (its values, our own dates and codes, written in as literals) and
    its rows streamed as Arrow record batches.

    SQLite and PostgreSQL are read through ADBC (``adbc-driver-sqlite`` /
    ``adbc-driver-postgresql``): the driver fills Arrow columns itself, no Python object per
    value. Its own connection reads in one transaction (SQLite: a read-only one, its snapshot
    taken at the first read; PostgreSQL: ``REPEATABLE READ``), so every statement sees the same
    committed data. Another engine falls back on the SQLAlchemy connection's DB-API cursor, in
    chunks of ``CHUNK`` rows turned into Arrow tables."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self.adbc: Any = _adbc_connect(conn)

    def close(self) -> None:
        if self.adbc is not None:
            try:
                self.adbc.rollback()
            finally:
                self.adbc.close()

    def sql(self, stmt: Select[*tuple[Any, ...]], names: list[str]) -> str:
        labelled = stmt.with_only_columns(
            *(c.label(n) for c, n in zip(stmt.selected_columns, names, strict=True)),
            maintain_column_froms=True,
        )
        return str(labelled.compile(dialect=self.dialect, compile_kwargs={"literal_binds": True}))

    @contextmanager
    def batches(self, stmt: Select[*tuple[Any, ...]], names: list[str]) -> Iterator[pa.RecordBatchReader]:
        """The rows of ``stmt`` as a stream of record batches with columns ``names``."""
        sql = self.sql(stmt, names)
        if self.adbc is not None:
            cursor = self.adbc.cursor()
            try:
                if self.dialect.name == "sqlite":
                    # the driver infers each column's type from the first batch: a large one
                    cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
                cursor.execute(sql)
                yield cursor.fetch_record_batch()
            finally:
                cursor.close()
            return
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            first = cursor.fetchmany(CHUNK)

            def tables() -> Iterator[pa.RecordBatch]:
                part = first
                while part:
                    columns = list(zip(*part, strict=True))
                    yield from pa.table(
                        {n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)}
                    ).to_batches()
                    part = cursor.fetchmany(CHUNK)

            if not first:
                yield pa.RecordBatchReader.from_batches(pa.schema([(n, pa.null()) for n in names]), iter(()))
            else:
                batches = tables()
                head = next(batches)
                yield pa.RecordBatchReader.from_batches(head.schema, itertools.chain([head], batches))
        finally:
            cursor.close()


def _adbc_connect(conn: Connection) -> Any:
    """An ADBC connection to the engine's database in a read transaction, or None (no driver for
    the engine, or an in-memory SQLite database another connection cannot see)."""
    url = conn.engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None
        import adbc_driver_sqlite.dbapi

        return adbc_driver_sqlite.dbapi.connect(f"file:{Path(database).resolve()}?mode=ro")
    if url.get_backend_name() == "postgresql":
        import adbc_driver_postgresql.dbapi

        uri = url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = adbc_driver_postgresql.dbapi.connect(uri)
        cursor = connection.cursor()
        try:  # autocommit is off: the driver's BEGIN is sent; the isolation before any read
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        finally:
            cursor.close()
        return connection
    return None


def _load(
    con: duckdb.DuckDBPyConnection,
    src: _Source,
    stmt: Select[*tuple[Any, ...]],
    names: list[str],
    insert: str,
) -> int:
    """Insert the rows of ``stmt`` through ``insert`` (SQL reading the Arrow stream ``src``):
    DuckDB consumes the stream batch by batch."""
    with src.batches(stmt, names) as reader:
        con.register("src", reader)
        try:
            result = con.execute(insert).fetchone()
        finally:
            con.unregister("src")
    return int(result[0]) if result else 0


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> int:
    """The rows an INSERT added."""
    result = con.execute(sql, params or []).fetchone()
    return int(result[0]) if result else 0


def _text(column: Any) -> Any:
    """A date column as ISO text (no per-row date conversion in Python)."""
    return cast(column, String)


def build(engine: Engine, path: Path, *, through: date, month: str | None = None) -> BuildSummary:
    """Build the warehouse at ``path`` up to the last complete month on ``through`` (the business
    date), or (re)build ``month`` only; see the module's docstring."""
    started = time.perf_counter()
    last_complete = (through.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    if through == _month_end(through.strftime("%Y-%m")):
        last_complete = through.strftime("%Y-%m")
    if month is not None and _check_month(month) > last_complete:
        raise InvalidInput(
            "warehouse.month_not_complete",
            f"{month} 尚未结束（业务日期 {through}），不能入仓",
            f"{month} has not ended on the business date {through}",
        )
    con = connect(path)
    rows: dict[str, int] = {}
    stages: dict[str, float] = {}
    mark = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        stages[stage] = round(now - mark[0], 3)
        mark[0] = now

    con.execute("BEGIN")
    try:
        with read_transaction(engine) as conn, closing(_Source(conn)) as src:
            built = {r[0] for r in con.execute("SELECT month FROM build_month").fetchall()}
            if month is not None:
                todo = [month]
            else:
                # the history's first month, read from the source only by the first build
                first = min(built) if built else _first_month(conn)
                todo = [m for m in _months(first, last_complete) if m not in built] if first else []
            key = ring().blind_index("hpf.warehouse.member", context="hpf.warehouse.pseudonym")
            lap("plan")
            _static_dimensions(con, min([*todo, *built], default=last_complete), last_complete)
            _members(con, src, key, _month_end(last_complete))
            lap("members")
            _employers(con, src)
            lap("employers")
            if todo:
                start, end = todo[0], todo[-1]
                for table in (
                    "fact_member_movement",
                    "fact_withdrawal",
                    "fact_loan_movement",
                    "fact_service",
                ):
                    con.execute(f"DELETE FROM {table} WHERE month BETWEEN ? AND ?", [start, end])
                lap("delete")
                rows.update(_facts(con, src, _month_end(start).replace(day=1), _month_end(end)))
                lap("facts")
                rows["fact_balance"] = _balances(con, start, end)
                con.execute("DROP TABLE _moves")
                lap("balances")
            as_of = max([*todo, *built], default=None)
            if as_of is not None:
                rows["fact_loan_snapshot"] = _loan_snapshot(con, src, as_of)
                lap("loan_snapshot")
                rows["member_tag"] = _tags(con, as_of)
                lap("tags")
                _themes(con, todo[0] if todo else as_of)
                lap("themes")
            now = datetime.now(UTC).replace(tzinfo=None)
            for m in todo:
                con.execute(
                    "INSERT INTO build_month VALUES (?, ?) ON CONFLICT DO UPDATE SET built_at = excluded.built_at",
                    [m, now],
                )
            seconds = round(time.perf_counter() - started, 3)
            run = con.execute("SELECT coalesce(max(run), 0) + 1 FROM build_run").fetchone()
            con.execute(
                "INSERT INTO build_run VALUES (?, ?, ?, ?, ?)",
                [run[0] if run else 1, now, _month_end(as_of or last_complete), ",".join(todo), seconds],
            )
            con.execute("DROP TABLE IF EXISTS _member_map")
            con.execute("COMMIT")
            lap("commit")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return BuildSummary(tuple(todo), as_of, rows, round(time.perf_counter() - started, 3), stages)


def _first_month(conn: Connection) -> str | None:
    """The first month of the center's history: its first member posting, withdrawal or loan."""
    lines = ledger.member_postings_subquery()
    first = conn.scalar(select(func.min(_text(lines.c.posting_date))))
    return None if first is None else str(first)[:7]


def _static_dimensions(con: duckdb.DuckDBPyConnection, first: str, last: str) -> None:
    con.execute("DELETE FROM dim_date")
    con.execute(
        "INSERT INTO dim_date SELECT d::DATE, strftime(d, '%Y-%m'), year(d), quarter(d), last_day(d) "
        "FROM range(?::DATE, ?::DATE + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)",
        [f"{first}-01", _month_end(last)],
    )
    for table, pairs in (
        ("dim_reason", [(c.code, c.name_zh) for c in code_table("withdrawal_reason").codes]),
        ("dim_business_type", [(c.code, c.name_zh) for c in code_table("business_type").codes]),
        ("dim_employer_type", [(c.code, c.name_zh) for c in code_table("employer_economic_type").codes]),
        ("dim_channel", list(CHANNEL_ZH.items())),
        ("dim_region", list(region_names().items())),
    ):
        con.execute(f"DELETE FROM {table}")
        con.executemany(f"INSERT INTO {table} VALUES (?, ?)", pairs)


def _members(con: duckdb.DuckDBPyConnection, src: _Source, key: str, as_of: date) -> None:
    """dim_member as of ``as_of``, and the temporary map of member id → pseudonym the facts use."""
    m = accounts.member_records_subquery("m")
    stmt = select(
        m.c.id,
        m.c.gender,
        _text(m.c.birth_date),
        m.c.employer_id,
        m.c.base_fen,
        m.c.state,
        _text(m.c.opened_on),
    )
    names = ["id", "gender", "birth_date", "employer_id", "base_fen", "state", "opened_on"]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _member_src (id BIGINT, gender VARCHAR, birth_date DATE, "
        "employer_id BIGINT, base_fen BIGINT, state VARCHAR, opened_on DATE)"
    )
    _load(con, src, stmt, names, "INSERT INTO _member_src SELECT * FROM src")
    # The keyed pseudonym: SHA-256 of the warehouse's secret (derived from the center's
    # blind-index key) and the account's id; without the key it cannot be recomputed.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _member_map AS "
        "SELECT id AS member_id, substr(sha256(? || ':' || id::VARCHAR), 1, 24) AS member_key, "
        "employer_id AS employer_key FROM _member_src",
        [key],
    )
    con.execute("DELETE FROM dim_member")
    con.execute(
        """
        INSERT INTO dim_member
        SELECT mm.member_key, s.employer_id, s.gender,
          CASE WHEN age < 25 THEN '25岁以下' WHEN age < 35 THEN '25–34岁' WHEN age < 45 THEN '35–44岁'
               WHEN age < 55 THEN '45–54岁' ELSE '55岁及以上' END,
          CASE WHEN s.base_fen < 300000 THEN '3000元以下' WHEN s.base_fen < 600000 THEN '3000–5999元'
               WHEN s.base_fen < 1000000 THEN '6000–9999元' WHEN s.base_fen < 2000000 THEN '1万–2万元'
               ELSE '2万元及以上' END,
          CASE WHEN years < 1 THEN '不足1年' WHEN years < 5 THEN '1–4年' WHEN years < 10 THEN '5–9年'
               WHEN years < 20 THEN '10–19年' ELSE '20年及以上' END,
          s.state, ?::DATE
        FROM (SELECT *, date_sub('year', birth_date, ?::DATE) AS age,
                        date_sub('year', opened_on, ?::DATE) AS years FROM _member_src) s
        JOIN _member_map mm ON mm.member_id = s.id
        """,
        [as_of, as_of, as_of],
    )


def _employers(con: duckdb.DuckDBPyConnection, src: _Source) -> None:
    e = accounts.employer_records_subquery("e")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _employer_src (id BIGINT, uscc VARCHAR, economic_type VARCHAR, state VARCHAR)"
    )
    _load(
        con,
        src,
        select(e.c.id, e.c.uscc, e.c.economic_type, e.c.state),
        ["id", "uscc", "economic_type", "state"],
        "INSERT INTO _employer_src SELECT * FROM src",
    )
    sector = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in SECTOR_ZH.items())
    con.execute("DELETE FROM dim_employer")
    con.execute(
        f"""
        INSERT INTO dim_employer
        SELECT e.id, coalesce(e.economic_type, '007'),
               CASE substr(e.uscc, 1, 1) {sector} ELSE '其他登记' END,
               CASE WHEN n < 10 THEN '微型（10人以下）' WHEN n < 50 THEN '小型（10–49人）'
                    WHEN n < 300 THEN '中型（50–299人）' ELSE '大型（300人及以上）' END,
               substr(e.uscc, 3, 6), n, e.state
        FROM _employer_src e
        LEFT JOIN (SELECT employer_id, count(*) AS cnt FROM _member_src WHERE state = '01'
                   GROUP BY employer_id) c ON c.employer_id = e.id,
        LATERAL (SELECT coalesce(c.cnt, 0)::INTEGER AS n)
        """
    )
    con.execute(
        "INSERT INTO dim_region SELECT DISTINCT region, '行政区划' || region FROM dim_employer "
        "WHERE region NOT IN (SELECT code FROM dim_region)"
    )


def _facts(con: duckdb.DuckDBPyConnection, src: _Source, first_day: date, last_day: date) -> dict[str, int]:
    rows: dict[str, int] = {}
    # Every member line, streamed as stored (no GROUP BY in the source database: SQLite would
    # sort them all in a temporary B-tree); DuckDB sums them by member, month and business type.
    # A 部分/销户提取 line of an entry that a loan event points at is 提取还贷: a loan's
    # installment taken from the borrower's account (``ACCOUNT_REPAYMENT``).
    lines = ledger.member_postings_subquery("l")
    lm = loans.loan_movements_subquery("lm")
    from_loan = case(
        (
            and_(
                lines.c.business_type.in_(WITHDRAWAL_TYPES),
                lines.c.entry_id.in_(select(lm.c.entry_id).where(lm.c.entry_id.is_not(None))),
            ),
            1,
        ),
        else_=0,
    )
    stmt = select(
        func.substr(_text(lines.c.posting_date), 1, 7), lines.c.member_id, lines.c.business_type,
        lines.c.signed_fen, from_loan,
    ).where(lines.c.posting_date.between(first_day, last_day))  # fmt: skip
    # DuckDB sums the stream as it arrives (no copy of the lines), then files the sums under the
    # members' pseudonyms.
    _load(
        con, src, stmt, ["month", "member_id", "business_type", "fen", "from_loan"],
        "CREATE OR REPLACE TEMP TABLE _moves AS SELECT month, member_id, business_type, sum(fen)::BIGINT AS fen, "
        "sum(fen) FILTER (WHERE from_loan = 1)::BIGINT AS loan_fen FROM src GROUP BY month, member_id, business_type",
    )  # fmt: skip
    # month by month (one scan of the sums each, no sort of them all): a month's rows are
    # contiguous in the file, which is what the drill-downs filter on
    rows["fact_member_movement"] = sum(
        _count(
            con,
            "INSERT INTO fact_member_movement SELECT s.month, m.member_key, m.employer_key, s.business_type, s.fen "
            "FROM _moves s JOIN _member_map m ON m.member_id = s.member_id WHERE s.month = ?",
            [month],
        )
        for month in _months(first_day.strftime("%Y-%m"), last_day.strftime("%Y-%m"))
    )
    con.execute(
        "INSERT INTO fact_withdrawal SELECT s.month, last_day((s.month || '-01')::DATE), 0, m.member_key, "
        f"m.employer_key, '{ACCOUNT_REPAYMENT}', false, -sum(s.loan_fen)::BIGINT FROM _moves s "
        "JOIN _member_map m ON m.member_id = s.member_id WHERE s.loan_fen IS NOT NULL "
        "GROUP BY s.month, m.member_key, m.employer_key HAVING sum(s.loan_fen) <> 0 ORDER BY s.month"
    )
    w = withdrawals.paid_withdrawals_subquery("w")
    stmt = (
        select(w.c.id, w.c.member_id, w.c.reason, w.c.closes_account, _text(w.c.paid_on), w.c.amount_fen)
        .where(w.c.paid_on.between(first_day, last_day))
        .order_by(w.c.paid_on)
    )
    rows["fact_withdrawal"] = _load(
        con,
        src,
        stmt,
        ["id", "member_id", "reason", "closes", "day", "amount_fen"],
        "INSERT INTO fact_withdrawal SELECT strftime(s.day::DATE, '%Y-%m'), s.day::DATE, s.id, m.member_key, "
        "m.employer_key, s.reason, s.closes = '1', s.amount_fen FROM src s "
        "JOIN _member_map m ON m.member_id = s.member_id",
    )
    lm = loans.loan_movements_subquery("lm")
    stmt = (
        select(lm.c.loan_id, lm.c.borrower_id, lm.c.kind, _text(lm.c.business_date), lm.c.amount_fen)
        .where(lm.c.business_date.between(first_day, last_day))
        .order_by(lm.c.business_date)
    )
    kinds = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in loans.LOAN_MOVEMENT_KINDS.items())
    rows["fact_loan_movement"] = _load(
        con,
        src,
        stmt,
        ["loan_id", "member_id", "kind", "day", "amount_fen"],
        "INSERT INTO fact_loan_movement SELECT strftime(s.day::DATE, '%Y-%m'), s.day::DATE, s.loan_id, "
        f"m.member_key, m.employer_key, CASE s.kind {kinds} END, s.amount_fen FROM src s "
        "JOIN _member_map m ON m.member_id = s.member_id",
    )
    a = services.applications_by_channel_subquery("a")
    stmt = (
        select(
            a.c.id,
            a.c.item_code,
            a.c.channel,
            a.c.state,
            _text(a.c.submitted_on),
            a.c.member_id,
            a.c.employer_id,
        )
        .where(a.c.submitted_on.between(first_day, last_day))
        .order_by(a.c.submitted_on)
    )
    rows["fact_service"] = _load(
        con,
        src,
        stmt,
        ["id", "item_code", "channel", "state", "day", "member_id", "employer_id"],
        "INSERT INTO fact_service SELECT strftime(s.day::DATE, '%Y-%m'), s.day::DATE, s.id, s.item_code, "
        "s.channel, s.state, m.member_key, coalesce(s.employer_id, m.employer_key) FROM src s "
        "LEFT JOIN _member_map m ON m.member_id = s.member_id",
    )
    return rows


def _balances(con: duckdb.DuckDBPyConnection, start: str, built_to: str) -> int:
    """Month-end balances from ``start`` to the last month with movements or balances: each the
    month before's, plus the month's movements (every business type), kept where it is not 0 or
    the member moved that month.

    The months are rolled on the members' integer ids (the pseudonyms, 24 characters, only on
    the rows written): this build's movements are the sums ``_facts`` left in ``_moves``; the
    movements of later months (a past month rebuilt) are read back from the facts."""
    last = con.execute(
        "SELECT greatest((SELECT max(month) FROM fact_member_movement), (SELECT max(month) FROM build_month))"
    ).fetchone()
    end = max(str(last[0]), start) if last and last[0] else start
    con.execute("DELETE FROM fact_balance WHERE month >= ?", [start])
    previous = con.execute("SELECT max(month) FROM fact_balance WHERE month < ?", [start]).fetchone()
    prev = (previous[0] if previous else None) or ""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _mv AS SELECT month, member_id, sum(fen)::BIGINT AS fen FROM _moves "
        "WHERE member_id IN (SELECT member_id FROM _member_map) GROUP BY month, member_id"
    )
    if end > built_to:
        con.execute(
            "INSERT INTO _mv SELECT f.month, m.member_id, sum(f.amount_fen)::BIGINT FROM fact_member_movement f "
            "JOIN _member_map m ON m.member_key = f.member_key WHERE f.month > ? AND f.month <= ? "
            "GROUP BY f.month, m.member_id",
            [built_to, end],
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _bal AS SELECT m.member_id, b.balance_fen AS fen FROM fact_balance b "
        "JOIN _member_map m ON m.member_key = b.member_key WHERE b.month = ?",
        [prev],
    )
    count = 0
    for month in _months(start, end):
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _bal_next AS
            SELECT coalesce(p.member_id, v.member_id) AS member_id,
                   (coalesce(p.fen, 0) + coalesce(v.fen, 0))::BIGINT AS fen
            FROM _bal p FULL JOIN (SELECT member_id, fen FROM _mv WHERE month = ?) v ON v.member_id = p.member_id
            WHERE coalesce(p.fen, 0) + coalesce(v.fen, 0) <> 0 OR v.member_id IS NOT NULL
            """,
            [month],
        )
        con.execute("DROP TABLE _bal")
        con.execute("ALTER TABLE _bal_next RENAME TO _bal")
        count += _count(
            con,
            "INSERT INTO fact_balance SELECT ?, m.member_key, m.employer_key, b.fen FROM _bal b "
            "JOIN _member_map m ON m.member_id = b.member_id",
            [month],
        )
    con.execute("DROP TABLE _bal")
    con.execute("DROP TABLE _mv")
    return count


def _loan_snapshot(con: duckdb.DuckDBPyConnection, src: _Source, as_of: str) -> int:
    """The loan book as it stands at the build, filed under ``as_of`` (the last built month)."""
    b = loans.loan_book_subquery("b")
    stmt = select(
        b.c.id, b.c.borrower_id, b.c.state, b.c.principal_fen, b.c.outstanding_principal_fen,
        b.c.overdue_principal_fen, b.c.days_past_due, b.c.classification,
    ).where(b.c.state.in_(("active", "settled", "written_off")))  # fmt: skip
    con.execute("DELETE FROM fact_loan_snapshot WHERE month = ?", [as_of])
    return _load(
        con,
        src,
        stmt,
        ["id", "member_id", "state", "principal", "outstanding", "overdue", "dpd", "cls"],
        f"INSERT INTO fact_loan_snapshot SELECT '{as_of}', s.id, m.member_key, m.employer_key, s.state, "
        "s.principal, s.outstanding, s.overdue, s.dpd, s.cls FROM src s "
        "JOIN _member_map m ON m.member_id = s.member_id",
    )


def _tags(con: duckdb.DuckDBPyConnection, as_of: str) -> int:
    """The member tags as of the end of ``as_of``; their definitions are ``TAGS``."""
    day = _month_end(as_of)
    year_ago = _months_back(as_of, 11)
    half_year = _months_back(as_of, 5)
    # the six months as the bits 0–5 of a mask (every one of them: 63)
    first_of_six = int(half_year[:4]) * 12 + int(half_year[5:])
    con.execute("DELETE FROM tag_definition")
    con.executemany("INSERT INTO tag_definition VALUES (?, ?, ?)", list(TAGS))
    con.execute("DELETE FROM member_tag")
    con.execute(
        """
        INSERT INTO member_tag
        SELECT DISTINCT member_key, 'renting', ?::DATE FROM fact_withdrawal
          WHERE reason = '07' AND month BETWEEN ? AND ?
        UNION ALL
        SELECT member_key, 'first_home_waiting', ?::DATE FROM (
            SELECT member_key FROM fact_member_movement
            WHERE business_type IN ('01', '02') AND month BETWEEN ? AND ? AND amount_fen > 0
            GROUP BY member_key
            HAVING bit_or(1 << (substr(month, 1, 4)::INTEGER * 12 + substr(month, 6, 2)::INTEGER - ?)) = 63)
          WHERE member_key IN (SELECT member_key FROM dim_member WHERE state = '01')
            AND member_key NOT IN (SELECT member_key FROM fact_loan_snapshot)
            AND member_key NOT IN (SELECT member_key FROM fact_loan_movement)
            AND member_key NOT IN (SELECT member_key FROM fact_withdrawal WHERE reason IN ('01', '02', '06'))
        UNION ALL
        SELECT mm.member_key, 'retiring_within_year', ?::DATE FROM _member_src s
          JOIN _member_map mm ON mm.member_id = s.id
          WHERE s.state = '01' AND s.gender IN ('1', '2')
            AND s.birth_date + to_years(CASE s.gender WHEN '1' THEN 60 ELSE 55 END)
                BETWEEN ?::DATE + INTERVAL 1 DAY AND ?::DATE + INTERVAL 1 YEAR
        UNION ALL
        SELECT DISTINCT member_key, 'borrower_at_risk', ?::DATE FROM fact_loan_snapshot
          WHERE month = ? AND state = 'active' AND (days_past_due > 0 OR classification <> '01')
        UNION ALL
        SELECT member_key, 'dormant', ?::DATE FROM fact_balance
          WHERE month = ? AND balance_fen > 0
            AND member_key NOT IN (SELECT member_key FROM fact_member_movement WHERE month BETWEEN ? AND ?)
        """,
        [
            day,
            year_ago,
            as_of,
            day,
            half_year,
            as_of,
            first_of_six,
            day,
            day,
            day,
            day,
            as_of,
            day,
            as_of,
            year_ago,
            as_of,
        ],
    )
    count = con.execute("SELECT count(*) FROM member_tag").fetchone()
    return int(count[0]) if count else 0


def _months_back(month: str, n: int) -> str:
    y, m = int(month[:4]), int(month[5:]) - n
    while m < 1:
        y, m = y - 1, m + 12
    return f"{y:04d}-{m:02d}"


# Thematic data sets: the dashboards' charts read these (by month × employer type × region);
# their drill-downs read the facts behind them. A member has one fact_member_movement row per
# month and business type (the build sums them so), so the collection's members are its rows.
THEMES = {
    "theme_collection": """
        SELECT f.month, e.employer_type, e.region, f.business_type,
               count(*) AS members, sum(f.amount_fen)::BIGINT AS amount_fen
        FROM fact_member_movement f JOIN dim_employer e ON e.employer_key = f.employer_key
        WHERE f.business_type IN ('01', '02') AND {window} GROUP BY ALL""",
    "theme_withdrawal": """
        SELECT f.month, e.employer_type, e.region, f.reason,
               count(*) AS withdrawals, sum(f.amount_fen)::BIGINT AS amount_fen
        FROM fact_withdrawal f JOIN dim_employer e ON e.employer_key = f.employer_key WHERE {window}
        GROUP BY ALL""",
    "theme_loan": """
        SELECT f.month, e.employer_type, e.region, f.kind,
               count(*) AS movements, sum(f.amount_fen)::BIGINT AS amount_fen
        FROM fact_loan_movement f JOIN dim_employer e ON e.employer_key = f.employer_key WHERE {window}
        GROUP BY ALL""",
    "theme_loan_book": """
        SELECT f.month, e.employer_type, e.region, f.classification,
               count(*) FILTER (WHERE f.state = 'active') AS active_loans,
               sum(f.outstanding_fen)::BIGINT AS outstanding_fen,
               sum(f.overdue_principal_fen)::BIGINT AS overdue_principal_fen,
               count(*) FILTER (WHERE f.days_past_due > 0) AS overdue_loans
        FROM fact_loan_snapshot f JOIN dim_employer e ON e.employer_key = f.employer_key WHERE {window}
        GROUP BY ALL""",
    "theme_service": """
        SELECT f.month, coalesce(e.employer_type, '') AS employer_type, coalesce(e.region, '') AS region,
               f.channel, split_part(f.item_code, '-', 1) AS family, count(*) AS applications
        FROM fact_service f LEFT JOIN dim_employer e ON e.employer_key = f.employer_key WHERE {window}
        GROUP BY ALL""",
    "theme_balance": """
        SELECT f.month, e.employer_type, e.region, count(*) AS members, sum(f.balance_fen)::BIGINT AS balance_fen
        FROM fact_balance f JOIN dim_employer e ON e.employer_key = f.employer_key WHERE {window}
        GROUP BY ALL""",
    "theme_tags": """
        SELECT t.tag, e.employer_type, e.region, m.age_band, m.income_band, count(*) AS members
        FROM member_tag t JOIN dim_member m ON m.member_key = t.member_key
        JOIN dim_employer e ON e.employer_key = m.employer_key GROUP BY ALL""",
}


def _themes(con: duckdb.DuckDBPyConnection, start: str) -> None:
    """The thematic data sets from ``start`` on (every month before it is unchanged); the tags' whole."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for name, sql in THEMES.items():
        if "{window}" not in sql or name not in tables:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS {sql.replace('{window}', 'TRUE')} ORDER BY 1")
            continue
        con.execute(f"DELETE FROM {name} WHERE month >= ?", [start])
        con.execute(f"INSERT INTO {name} {sql.replace('{window}', 'f.month >= ?')} ORDER BY 1", [start])
