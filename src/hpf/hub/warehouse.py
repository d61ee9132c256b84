"""The national warehouse: the centers' monthly reports (SUP101) kept as Parquet, answered with
DuckDB by default and with the same SQL on Apache Spark (decision 0039).

**Taking** (:func:`take`, in the transaction that takes the message at the hub): a chunk of a
version of a center's month is written as Parquet under the warehouse directory, partitioned by
center and month::

    <dir>/indicators/center=<code>/month=<YYYY-MM>/v<version>.parquet           (chunk 0)
    <dir>/members/center=<code>/month=<YYYY-MM>/v<version>/part-<chunk>.parquet

and registered in ``hub_report``/``hub_report_chunk``. When every chunk of a version arrived it
becomes ``current`` and the version it restates ``superseded`` (its files stay: the history). A
version already taken under another report id, or older than the current one, is refused. A
file is written before the transaction commits: a transaction that fails leaves a file no row
names, which a retry of the same chunk overwrites.

**Answering** (:class:`Warehouse`): three views over the current files — ``indicators``
(``center_code``, ``period``, ``code``, ``dim``, ``value``), ``members`` (``center_code``,
``period``, the columns of ``hpf.messages.bodies.MEMBER_COLUMNS`` and ``person_key``, the
pseudonym's first 64 bits as an integer to group by) and ``centers`` (``code``,
``name``, ``province``) — and plain SQL over them that DuckDB and Spark SQL both run
(:mod:`hpf.hub.national`). ``engine="spark"`` reads the same files through PySpark (the optional
extra ``spark``); ``spark_master`` names the cluster (``local[2]``, ``spark://host:7077`` …).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, insert, select, update

from hpf.hub import registry
from hpf.hub.tables import hub_report, hub_report_chunk
from hpf.kernel.errors import HpfError
from hpf.messages.bodies import MEMBER_COLUMNS, SupervisionReport
from hpf.messages.envelope import Envelope

REPORT_TYPES = frozenset({"SUP101"})
STATE_ZH = {"receiving": "接收中", "current": "现行", "superseded": "已被更正替代"}

INDICATOR_SCHEMA = pa.schema(
    [
        ("center_code", pa.string()),
        ("period", pa.string()),
        ("code", pa.string()),
        ("dim", pa.string()),
        ("value", pa.decimal128(20, 4)),
    ]
)
MEMBER_SCHEMA = pa.schema(
    [("center_code", pa.string()), ("period", pa.string()), ("person", pa.string()), ("person_key", pa.int64()),
     ("state", pa.string()), ("opened", pa.bool_())]
    + [(name, pa.int64()) for name in MEMBER_COLUMNS[3:]]
)  # fmt: skip
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def report_refused(code: str, zh: str, detail: str) -> HpfError:
    return HpfError(f"hub.{code}", zh, detail, status=409)


def indicator_file(directory: Path, center: str, month: str, version: int) -> Path:
    return directory / "indicators" / f"center={center}" / f"month={month}" / f"v{version}.parquet"


def member_file(directory: Path, center: str, month: str, version: int, chunk: int) -> Path:
    return (
        directory
        / "members"
        / f"center={center}"
        / f"month={month}"
        / f"v{version}"
        / f"part-{chunk:05d}.parquet"
    )


def write_indicators(path: Path, center: str, month: str, rows: Sequence[tuple[str, str, Decimal]]) -> None:
    table = pa.table(
        {
            "center_code": [center] * len(rows),
            "period": [month] * len(rows),
            "code": [r[0] for r in rows],
            "dim": [r[1] for r in rows],
            "value": [Decimal(r[2]).quantize(Decimal("0.0001")) for r in rows],
        },
        schema=INDICATOR_SCHEMA,
    )
    _write(table, path)


def write_members(path: Path, center: str, month: str, rows: Sequence[Sequence[Any]]) -> None:
    columns: dict[str, list[Any]] = {"center_code": [center] * len(rows), "period": [month] * len(rows)}
    for i, name in enumerate(MEMBER_COLUMNS):
        columns[name] = [r[i] for r in rows]
    columns["person_key"] = [person_key(p) for p in columns["person"]]
    _write(pa.table(columns, schema=MEMBER_SCHEMA), path)


def person_key(pseudonym: str) -> int:
    """The person's grouping key: the pseudonym's first 64 bits, shifted into a signed BIGINT.
    Counting persons groups by it (an integer groups many times faster than 64 hex characters);
    two of 170 million persons share a key with a chance of about one in a thousand."""
    return int(pseudonym[:16], 16) >> 1


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial, compression="zstd")
    partial.replace(path)  # readers never see half a file


def take(
    conn: Connection, directory: Path | None, envelope: Envelope, body: SupervisionReport, now: datetime
) -> int | None:
    """Keep one SUP101 chunk (see the module docstring); the version that became the month's
    current one with this chunk, if it did (its last chunk, and no newer version current)."""
    if directory is None:
        raise HpfError(
            "hub.warehouse_unconfigured",
            "平台未配置监管数据仓库",
            "set HPF_WAREHOUSE_DIR on the hub",
            status=503,
        )
    center, month, report_id = envelope.sender, body.month, str(body.report_id)
    r = hub_report.c
    row = conn.execute(
        select(r.center, r.month, r.version, r.chunks, r.state).where(r.report_id == report_id)
    ).first()
    if row is None:
        taken = conn.execute(
            select(r.report_id, r.version, r.state).where(r.center == center, r.month == month)
        ).all()
        if any(t.version == body.version for t in taken):
            raise report_refused(
                "report_version_taken",
                "该月份的此版本已报送",
                f"{center} {month} v{body.version} was taken already",
            )
        current = max((t.version for t in taken if t.state == "current"), default=0)
        if body.version < current:
            raise report_refused(
                "report_stale",
                "报送版本早于现行版本",
                f"{center} {month}: v{current} is current, v{body.version} is older",
            )
        conn.execute(
            insert(hub_report).values(
                report_id=report_id, center=center, month=month, version=body.version, chunks=body.chunks,
                chunks_received=0, members_total=body.members_total, indicators=0, state="receiving",
                first_message_id=str(envelope.message_id), received_at=now,
            )
        )  # fmt: skip
    elif (row.center, row.month, row.version, row.chunks) != (center, month, body.version, body.chunks):
        raise report_refused(
            "report_mismatch", "报送分片与报告不符", f"report {report_id} is another month or version"
        )
    seen = conn.execute(
        select(hub_report_chunk.c.chunk).where(
            hub_report_chunk.c.report_id == report_id, hub_report_chunk.c.chunk == body.chunk
        )
    ).first()
    if seen is not None:
        raise report_refused(
            "report_chunk_taken", "该分片已接收", f"chunk {body.chunk} of {report_id} was taken"
        )
    if body.chunk == 0:
        write_indicators(
            indicator_file(directory, center, month, body.version),
            center,
            month,
            [(i.code, i.dim, i.value) for i in body.indicators],
        )
        conn.execute(
            update(hub_report).where(r.report_id == report_id).values(indicators=len(body.indicators))
        )
    write_members(
        member_file(directory, center, month, body.version, body.chunk), center, month, body.members
    )
    conn.execute(
        insert(hub_report_chunk).values(
            report_id=report_id, chunk=body.chunk, message_id=str(envelope.message_id), rows=len(body.members),
            received_at=now,
        )
    )  # fmt: skip
    received = int(conn.scalar(select(r.chunks_received).where(r.report_id == report_id)) or 0) + 1
    values: dict[str, Any] = {"chunks_received": received}
    if received == body.chunks:
        conn.execute(
            update(hub_report)
            .where(r.center == center, r.month == month, r.state == "current", r.version < body.version)
            .values(state="superseded")
        )
        newer = conn.scalar(
            select(r.version).where(r.center == center, r.month == month, r.state == "current").limit(1)
        )
        values |= {"completed_at": now, "state": "superseded" if newer is not None else "current"}
    conn.execute(update(hub_report).where(r.report_id == report_id).values(**values))
    return body.version if values.get("state") == "current" else None


def indicator_totals(directory: Path, center: str, month: str, version: int) -> dict[str, Decimal]:
    """A version's indicators at the center's total (no dimension), code → value, as reported."""
    table = pq.read_table(indicator_file(directory, center, month, version), columns=["code", "dim", "value"])
    return {
        code: Decimal(value)
        for code, dim, value in zip(
            *(table.column(c).to_pylist() for c in ("code", "dim", "value")), strict=True
        )
        if dim == ""
    }


# -- reads of the register ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    report_id: str
    center: str
    month: str
    version: int
    chunks: int
    chunks_received: int
    members_total: int
    indicators: int
    state: str
    received_at: datetime
    completed_at: datetime | None


def reports(conn: Connection, *, limit: int = 200) -> list[ReportRow]:
    """The latest reports taken, newest first."""
    r = hub_report.c
    rows = conn.execute(
        select(
            r.report_id, r.center, r.month, r.version, r.chunks, r.chunks_received, r.members_total,
            r.indicators, r.state, r.received_at, r.completed_at,
        ).order_by(r.received_at.desc(), r.center, r.month, r.version.desc()).limit(limit)
    ).all()  # fmt: skip
    return [ReportRow(**row._mapping) for row in rows]


@dataclass(frozen=True)
class CurrentFiles:
    indicators: list[str]
    members: list[str]
    centers: list[tuple[str, str, str]]  # code, name, province


def current_files(conn: Connection, directory: Path, *, months: Sequence[str] | None = None) -> CurrentFiles:
    """The files of every current report (of ``months`` only, when given), and the registry's centers."""
    r = hub_report.c
    query = select(r.report_id, r.center, r.month, r.version, r.chunks).where(r.state == "current")
    if months is not None:
        query = query.where(r.month.in_(list(months)))
    indicators, members = [], []
    for row in conn.execute(query.order_by(r.center, r.month)):
        indicators.append(str(indicator_file(directory, row.center, row.month, row.version)))
        members += [
            str(member_file(directory, row.center, row.month, row.version, chunk))
            for chunk in range(row.chunks)
        ]
    centers = [(c.code, c.name, c.province) for c in registry.centers(conn)]
    return CurrentFiles(indicators, members, centers)


def check_month(month: str) -> str:
    if not _MONTH.match(month):
        raise HpfError("hub.month_invalid", "月份格式应为 YYYY-MM", f"not a month: {month!r}", status=422)
    return month


# -- the engines ---------------------------------------------------------------------------


class Warehouse:
    """The views ``indicators``, ``members`` and ``centers`` over the given files, on DuckDB
    (default, in process) or Spark; :meth:`query` runs one SQL text on either."""

    def __init__(
        self,
        files: CurrentFiles,
        *,
        engine: str = "duckdb",
        spark_master: str = "local[2]",
        threads: int | None = None,
    ) -> None:
        self.engine = engine
        if engine == "duckdb":
            self._duck = _duckdb(files, threads)
        elif engine == "spark":
            self._spark = _spark(files, spark_master)
        else:
            raise HpfError("hub.warehouse_engine", "数据仓库引擎应为 duckdb 或 spark", engine, status=500)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.engine == "duckdb":
            return [tuple(row) for row in self._duck.execute(sql).fetchall()]
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def close(self) -> None:
        if self.engine == "duckdb":
            self._duck.close()


def _sql_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _duckdb(files: CurrentFiles, threads: int | None) -> Any:
    import duckdb

    con = duckdb.connect(":memory:")
    con.execute("SET preserve_insertion_order = false")  # no statement here relies on file order
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if files.indicators:
        con.execute(
            "CREATE VIEW indicators AS SELECT center_code, period, code, dim, value "
            f"FROM read_parquet({_sql_list(files.indicators)}, hive_partitioning = false)"
        )
    else:
        con.execute(
            "CREATE VIEW indicators AS SELECT CAST(NULL AS VARCHAR) AS center_code, CAST(NULL AS VARCHAR) AS period, "
            "CAST(NULL AS VARCHAR) AS code, CAST(NULL AS VARCHAR) AS dim, CAST(NULL AS DECIMAL(20,4)) AS value WHERE false"
        )
    names = ", ".join(MEMBER_SCHEMA.names)
    if files.members:
        con.execute(
            f"CREATE VIEW members AS SELECT {names} "
            f"FROM read_parquet({_sql_list(files.members)}, hive_partitioning = false)"
        )
    else:
        empty = ", ".join(
            f"CAST(NULL AS {'BOOLEAN' if f.type == pa.bool_() else 'BIGINT' if f.type == pa.int64() else 'VARCHAR'}) AS {f.name}"
            for f in MEMBER_SCHEMA
        )
        con.execute(f"CREATE VIEW members AS SELECT {empty} WHERE false")
    con.execute("CREATE TABLE centers (code VARCHAR, name VARCHAR, province VARCHAR)")
    if files.centers:
        con.executemany("INSERT INTO centers VALUES (?, ?, ?)", files.centers)
    return con


def spark_session(master: str) -> Any:
    """A Spark session on ``master`` (the optional extra ``spark``: ``pip install 'openhpf[spark]'``)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as missing:  # pragma: no cover - depends on the installed extra
        raise HpfError(
            "hub.spark_missing",
            "未安装 Spark 组件",
            "install the extra: pip install 'openhpf[spark]'",
            status=500,
        ) from missing
    return (
        SparkSession.builder.master(master)
        .appName("hpf-national-warehouse")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .getOrCreate()
    )


def _spark(files: CurrentFiles, master: str) -> Any:
    from pyspark.sql.types import (
        BooleanType,
        DecimalType,
        LongType,
        StringType,
        StructField,
        StructType,
    )

    spark = spark_session(master)

    def struct(schema: pa.Schema) -> StructType:
        def kind(t: pa.DataType) -> Any:
            if t == pa.bool_():
                return BooleanType()
            if t == pa.int64():
                return LongType()
            if pa.types.is_decimal(t):
                return DecimalType(20, 4)
            return StringType()

        return StructType([StructField(f.name, kind(f.type), True) for f in schema])

    for name, schema, paths in (
        ("indicators", INDICATOR_SCHEMA, files.indicators),
        ("members", MEMBER_SCHEMA, files.members),
    ):
        frame = (
            spark.read.schema(struct(schema)).parquet(*paths)
            if paths
            else spark.createDataFrame([], struct(schema))
        )
        frame.select(*schema.names).createOrReplaceTempView(name)
    centers_schema = StructType([StructField(n, StringType(), True) for n in ("code", "name", "province")])
    spark.createDataFrame(files.centers, centers_schema).createOrReplaceTempView("centers")
    return spark
