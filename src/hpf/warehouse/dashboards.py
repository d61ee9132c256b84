"""The managers' dashboards over the warehouse: each board's chart by month from a thematic data
set, and the rows behind one point of it (drill-down) from the fact table the data set sums, so
that the rows always add up to the point. Filters: a month range, the employer type
(单位经济类型) and the region (行政区划). Every row names a member only by its pseudonym."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import duckdb

from hpf.kernel.errors import HpfError, NotFound

PAGE_SIZE = 50


@dataclass(frozen=True)
class Filters:
    month_from: str | None = None
    month_to: str | None = None
    employer_type: str | None = None
    region: str | None = None

    def where(self, prefix: str = "") -> tuple[str, list[Any]]:
        """The SQL condition of the filters on a table with ``month``, ``employer_type`` and
        ``region`` columns (``prefix``: its alias and a dot), with its parameters."""
        parts, params = ["TRUE"], []
        for column, op, value in (
            ("month", ">=", self.month_from),
            ("month", "<=", self.month_to),
            ("employer_type", "=", self.employer_type),
            ("region", "=", self.region),
        ):
            if value:
                parts.append(f"{prefix}{column} {op} ?")
                params.append(value)
        return " AND ".join(parts), params


@dataclass(frozen=True)
class BoardSpec:
    """One dashboard: its thematic data set, what splits it into series, what it sums, and the
    fact table behind it for the drill-down."""

    key: str
    title_zh: str
    unit: str  # fen | count
    theme: str
    series_column: str
    value_column: str
    series_names: str  # SQL: code → Chinese name (a dimension table with code, name_zh)
    fact: str
    fact_series: str
    fact_value: str  # SQL over the fact's alias f: what one row adds to its point
    fact_detail: str  # SQL: the row's description
    note_zh: str


BOARDS: dict[str, BoardSpec] = {
    b.key: b
    for b in (
        BoardSpec(
            "collection", "归集（汇缴与补缴）", "fen", "theme_collection", "business_type", "amount_fen",
            "SELECT code, name_zh FROM dim_business_type", "fact_member_movement", "f.business_type",
            "f.amount_fen", "'个人账户入账'",
            "按入账日期所在月份统计个人账户的汇缴、补缴入账金额（冲账已抵减），与总账一致。",
        ),
        BoardSpec(
            "withdrawals", "按原因的提取", "fen", "theme_withdrawal", "reason", "amount_fen",
            "SELECT code, name_zh FROM dim_reason", "fact_withdrawal", "f.reason", "f.amount_fen",
            "CASE WHEN f.withdrawal_key = 0 THEN '提取还贷（月内合计）' WHEN f.closes_account THEN '销户提取' "
            "ELSE '部分提取' END || '，' || f.day",
            "按银行支付日所在月份统计已支付的提取金额，按提取原因分列；从借款人账户扣收的贷款本息（提取还贷）"
            "按入账月份计入“偿还购房贷款本息”。",
        ),
        BoardSpec(
            "loans", "贷款发放与回收", "fen", "theme_loan", "kind", "amount_fen",
            "SELECT * FROM (VALUES ('disbursement', '发放'), ('repayment', '回收本息')) t(code, name_zh)",
            "fact_loan_movement", "f.kind", "f.amount_fen", "'贷款 #' || f.loan_key || '，' || f.day",
            "发放按放款日、回收按还款日所在月份统计；回收含按月扣收、柜台还款、部分提前还款和提前结清的本息。",
        ),
        BoardSpec(
            "channels", "服务渠道", "count", "theme_service", "channel", "applications",
            "SELECT code, name_zh FROM dim_channel", "fact_service", "f.channel", "1",
            "f.item_code || '，' || f.day",
            "按提交日期所在月份统计各渠道受理的业务申请笔数。",
        ),
    )
}  # fmt: skip


class Series(NamedTuple):
    key: str
    name_zh: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class Board:
    spec: BoardSpec
    months: tuple[str, ...]
    series: tuple[Series, ...]

    def value(self, month: str, series: str) -> int:
        """The chart's value at one point (0 where nothing happened)."""
        for s in self.series:
            if s.key == series and month in self.months:
                return s.values[self.months.index(month)]
        return 0


class LoanBookRow(NamedTuple):
    classification: str
    name_zh: str
    active_loans: int
    outstanding_fen: int
    overdue_loans: int
    overdue_principal_fen: int


class DrillRow(NamedTuple):
    month: str
    member_key: str | None
    employer_type: str
    region: str
    detail_zh: str
    value: int


@dataclass(frozen=True)
class Drill:
    spec: BoardSpec
    month: str
    series: str
    series_zh: str
    rows: tuple[DrillRow, ...]
    count: int
    total: int  # the sum over every row behind the point, not only this page
    offset: int


@dataclass(frozen=True)
class Options:
    months: tuple[str, ...]
    employer_types: tuple[tuple[str, str], ...]
    regions: tuple[tuple[str, str], ...]
    as_of: str | None


class WarehouseMissing(HpfError):
    """No warehouse file yet: nothing to show until the first build."""

    status = 404


class WarehouseBusy(WarehouseMissing):
    """The file is held by a build: try again shortly."""

    status = 503


@contextmanager
def opened(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only; a Chinese refusal when it is not built or is being built."""
    if not path.exists():
        raise WarehouseMissing(
            "warehouse.missing", "数据仓库尚未构建（hpf warehouse build）", f"no warehouse at {path}"
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as error:
        raise WarehouseBusy(
            "warehouse.busy", "数据仓库正在构建，请稍后再试", f"warehouse not readable: {error}"
        ) from None
    try:
        yield con
    finally:
        con.close()


def spec_of(key: str) -> BoardSpec:
    spec = BOARDS.get(key)
    if spec is None:
        raise NotFound("dashboard.unknown", "没有这个看板", f"no dashboard {key!r}")
    return spec


def options(con: duckdb.DuckDBPyConnection) -> Options:
    months = tuple(r[0] for r in con.execute("SELECT month FROM build_month ORDER BY month").fetchall())
    types = con.execute(
        "SELECT DISTINCT t.code, t.name_zh FROM dim_employer e JOIN dim_employer_type t ON t.code = e.employer_type "
        "ORDER BY 1"
    ).fetchall()
    regions = con.execute(
        "SELECT DISTINCT r.code, r.name_zh FROM dim_employer e JOIN dim_region r ON r.code = e.region ORDER BY 1"
    ).fetchall()
    return Options(months, tuple(types), tuple(regions), months[-1] if months else None)


def board(con: duckdb.DuckDBPyConnection, key: str, filters: Filters) -> Board:
    """The board's chart: one series per code of its split, one value per built month."""
    spec = spec_of(key)
    where, params = filters.where("t.")
    months_where, months_params = Filters(filters.month_from, filters.month_to).where()
    months = tuple(
        r[0]
        for r in con.execute(
            f"SELECT month FROM build_month WHERE {months_where} ORDER BY month",
            months_params,
        ).fetchall()
    )
    rows = con.execute(
        f"""
        SELECT t.{spec.series_column}, coalesce(n.name_zh, t.{spec.series_column}), t.month,
               sum(t.{spec.value_column})::BIGINT
        FROM {spec.theme} t LEFT JOIN ({spec.series_names}) n ON n.code = t.{spec.series_column}
        WHERE {where} GROUP BY ALL ORDER BY 1, 3
        """,
        params,
    ).fetchall()
    by_series: dict[str, tuple[str, dict[str, int]]] = {}
    for code, name, month, value in rows:
        by_series.setdefault(code, (name, {}))[1][month] = int(value)
    series = tuple(
        Series(code, name, tuple(values.get(m, 0) for m in months))
        for code, (name, values) in by_series.items()
    )
    return Board(spec, months, series)


def loan_book(con: duckdb.DuckDBPyConnection, filters: Filters) -> tuple[str | None, tuple[LoanBookRow, ...]]:
    """The loan book by five-level class at the last snapshot month within the filters."""
    where, params = filters.where("t.")
    last = con.execute(f"SELECT max(month) FROM theme_loan_book t WHERE {where}", params).fetchone()
    month = last[0] if last else None
    if month is None:
        return None, ()
    names = {"01": "正常", "02": "关注", "03": "次级", "04": "可疑", "05": "损失"}
    rows = con.execute(
        f"""SELECT t.classification, sum(active_loans)::BIGINT, sum(outstanding_fen)::BIGINT,
                   sum(overdue_loans)::BIGINT, sum(overdue_principal_fen)::BIGINT
            FROM theme_loan_book t WHERE {where} AND t.month = ? GROUP BY 1 ORDER BY 1""",
        [*params, month],
    ).fetchall()
    return month, tuple(
        LoanBookRow(c, names.get(c, c), int(a), int(o), int(n), int(p)) for c, a, o, n, p in rows
    )


def drill(
    con: duckdb.DuckDBPyConnection,
    key: str,
    filters: Filters,
    *,
    month: str,
    series: str,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> Drill:
    """The fact rows behind the board's point (``month``, ``series``) under the filters: the
    employer-type and region filters apply, the month range is the point's own month."""
    spec = spec_of(key)
    # The employer filters as a semi-join on the fact's employer (a small set of keys); the
    # fact's rows of one month are contiguous (the build writes them sorted by month).
    where, params = Filters(None, None, filters.employer_type, filters.region).where("e.")
    base = f"FROM {spec.fact} f WHERE f.month = ? AND {spec.fact_series} = ?"
    args: list[Any] = [month, series]
    if params:
        base += f" AND f.employer_key IN (SELECT e.employer_key FROM dim_employer e WHERE {where})"
        args += params
    totals = con.execute(
        f"SELECT count(*), coalesce(sum({spec.fact_value}), 0)::BIGINT {base}", args
    ).fetchone()
    count, total = (int(totals[0]), int(totals[1])) if totals else (0, 0)
    # the page first (the largest values, top-N over the fact alone), then its names
    rows = con.execute(
        f"""SELECT f.month, f.member_key, coalesce(t.name_zh, e.employer_type, ''), coalesce(r.name_zh, e.region, ''),
                   {spec.fact_detail}, f.value_
            FROM (SELECT f.*, ({spec.fact_value})::BIGINT AS value_ {base}
                  ORDER BY value_ DESC, f.member_key LIMIT ? OFFSET ?) f
            LEFT JOIN dim_employer e ON e.employer_key = f.employer_key
            LEFT JOIN dim_employer_type t ON t.code = e.employer_type
            LEFT JOIN dim_region r ON r.code = e.region
            ORDER BY f.value_ DESC, f.member_key""",
        [*args, limit, offset],
    ).fetchall()
    names = dict(con.execute(spec.series_names).fetchall())
    return Drill(
        spec,
        month,
        series,
        str(names.get(series, series)),
        tuple(DrillRow(m, k, t, r, str(d), int(v)) for m, k, t, r, d, v in rows),
        count,
        total,
        offset,
    )
