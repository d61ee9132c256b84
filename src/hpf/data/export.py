"""The center's data in the tables and field names of JGJ/T 320-2014 (``hpf data export
--standard --month YYYY-MM``): one Parquet and one CSV file per standard table, and
``manifest.json`` (each file: table, rows, SHA-256; the standard, the month, the center code).

What "as of the month-end" means here (decision 0028):

- information tables (4.0.2 缴存单位信息, 4.0.3 个人信息, 5.0.2 单位账户信息, 5.0.4 个人账户信息,
  6.0.2 借款合同, 6.0.5 贷款账户, 8.0.2 科目) list the records that existed at the month-end
  (opened, signed or disbursed on or before it) with their attributes as stored at export time;
  the member balances of 5.0.4 are those of the month-end, summed from the member sub-ledger's
  lines by value date (上年结转 = everything up to the last interest year end plus the year's
  carried-part lines; 当年归集 = the year's current-part lines);
- detail tables (5.0.3 单位业务明细, 5.0.5 个人业务明细, 8.0.5 记账凭证, 银行结算流水) hold the
  month's movements (posting, or bank, date within the month).

Which stored column fills which standard field is read from the data element registry
(``hpf.data.registry``): a column mapped there to a field of the table, whose table is among
the export's sources, is exported; the few fields the registry cannot express (joins, sums,
signs) are defined below with the SQL that computes them.

Personal data: the export carries what the standard defines, protected as the classification
says — a column stored encrypted (ID numbers, phones, bank cards, certificate numbers) is
exported as its stored SM4 token, never decrypted; whoever receives the files and holds the key
ring may decrypt it. Names stay as stored (in clear, masked only on screens). The export reads
the whole schema (``hpf.schema.metadata``), like the migrations: it only reads, in one read
transaction, set-based (one SELECT per standard table, streamed in chunks).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection, Engine, and_, case, func, literal, select
from sqlalchemy.sql import ColumnElement, FromClause

from hpf.data.layout import EXPORT_SOURCES
from hpf.data.registry import STANDARD, load
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import InvalidInput
from hpf.ledger.chart import Side
from hpf.ledger.queries import member_lines_subquery
from hpf.ledger.rules import BalancePart
from hpf.schema import metadata

CHUNK = 50_000
PROTECTION = (
    "encrypted columns exported as their stored SM4 tokens (not decrypted, not pseudonymised); "
    "other personal fields as stored"
)


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` → (first day, last day); refused with the field named otherwise."""
    try:
        year, month = (int(p) for p in text.split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise InvalidInput(
            "data.export.month", "月份格式应为YYYY-MM", f"month: {text!r} is not YYYY-MM", field="month"
        ) from None
    if len(text) != 7:
        raise InvalidInput(
            "data.export.month", "月份格式应为YYYY-MM", f"month: {text!r} is not YYYY-MM", field="month"
        )
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


# ------------------------------------------------------------------------------ value kinds


def _kind(field_code: str, std_type: str, stored: ColumnElement[Any] | None) -> str:
    if field_code in ("CSNY", "JZNY", "HBJNY"):
        return "yyyymm"
    if std_type == "DATE":
        return "date"
    if std_type == "NUMERIC(18,2)":
        name = getattr(stored, "name", "") or ""
        return "fen" if name.endswith("_fen") or stored is None else "decimal2"
    if std_type == "NUMERIC(8,7)":
        return "rate"
    if std_type == "NUMERIC(4,2)":
        return "ratio"
    if std_type.startswith("NUMERIC("):
        return "int"
    if std_type == "VARCHAR(2)" and field_code == "DWFXR":
        return "day"
    return "text"


_ARROW = {
    "yyyymm": pa.string(),
    "date": pa.date32(),
    "fen": pa.decimal128(18, 2),
    "decimal2": pa.decimal128(18, 2),
    "rate": pa.decimal128(8, 7),
    "ratio": pa.decimal128(6, 4),  # stored to 4 places (a 7.5% rate fits); the standard says (4,2)
    "int": pa.int64(),
    "day": pa.string(),
    "text": pa.string(),
}
_CENT = Decimal("0.01")


def _convert(kind: str, value: Any) -> Any:
    """A stored value as the standard's value (Python object for Arrow; CSV prints it)."""
    if value is None:
        return None
    if kind == "fen":
        return (Decimal(int(value)) / 100).quantize(_CENT)
    if kind == "decimal2":
        return Decimal(value).quantize(_CENT)
    if kind == "rate":
        return Decimal(value).quantize(Decimal("0.0000001"))
    if kind == "ratio":
        return Decimal(value).quantize(Decimal("0.0001"))
    if kind == "int":
        return int(value)
    if kind == "yyyymm":
        if isinstance(value, date):
            return f"{value.year:04d}{value.month:02d}"
        return str(value).replace("-", "")[:6]
    if kind == "day":
        return f"{int(value):02d}"
    if kind == "date":
        return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return str(value)


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


# ---------------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class Source:
    """How one standard table is read: the FROM clause, the filter for the month, the order."""

    table: str  # standard table id, e.g. "4.0.3"
    tables: tuple[str, ...]  # center tables whose mapped columns are taken
    from_: Callable[[], FromClause]
    where: Callable[[date, date], ColumnElement[bool]]
    order_by: Callable[[], Sequence[ColumnElement[Any]]]
    derived: Callable[[date, date], list[tuple[str, ColumnElement[Any]]]] = field(
        default=lambda first, last: []
    )
    """Fields the registry cannot express, ``(field code, expression)``; a derived field
    replaces a registry column of the same field."""


def _t(name: str) -> Any:
    return metadata.tables[name]


def _interest_year_end_before(day: date) -> date:
    """The last 30 June strictly before the interest year holding ``day`` (REFERENCE §2.2)."""
    return date(day.year - (0 if day >= date(day.year, 7, 1) else 1), 6, 30)


def _balances(last: date) -> Any:
    """Every member's balance parts at ``last``, from the member sub-ledger (published read)."""
    lines = member_lines_subquery("ml")
    year_end = _interest_year_end_before(last)
    in_year = and_(lines.c.value_date > year_end, lines.c.value_date <= last)
    carried = func.sum(
        case(
            (lines.c.value_date <= year_end, lines.c.signed_fen),
            (and_(in_year, lines.c.balance_part == BalancePart.CARRIED.value), lines.c.signed_fen),
            else_=0,
        )
    )
    current = func.sum(
        case((and_(in_year, lines.c.balance_part == BalancePart.CURRENT.value), lines.c.signed_fen), else_=0)
    )
    return (
        select(lines.c.member_id, carried.label("carried_fen"), current.label("current_fen"))
        .where(lines.c.value_date <= last)
        .group_by(lines.c.member_id)
        .subquery("bal")
    )


def _month(column: ColumnElement[Any], first: date, last: date) -> ColumnElement[bool]:
    return and_(column >= first, column <= last)


def _sources(last_for_balances: date) -> list[Source]:
    emp, mem, rem = _t("employer"), _t("member"), _t("remittance")
    je, jl, subj, loan, po = (
        _t("journal_entry"),
        _t("journal_line"),
        _t("ledger_subject"),
        _t("loan"),
        _t("payment_order"),
    )
    bal = _balances(last_for_balances)
    return [
        Source(
            "4.0.2",
            ("employer",),
            lambda: emp,
            lambda first, last: emp.c.opened_on <= last,
            lambda: [emp.c.id],
        ),
        Source(
            "4.0.3",
            ("member",),
            lambda: mem,
            lambda first, last: mem.c.opened_on <= last,
            lambda: [mem.c.id],
        ),
        Source(
            "5.0.2",
            ("employer",),
            lambda: emp,
            lambda first, last: emp.c.opened_on <= last,
            lambda: [emp.c.id],
        ),
        Source(
            "5.0.3",
            ("remittance",),
            lambda: rem.join(emp, emp.c.id == rem.c.employer_id),
            lambda first, last: _month(rem.c.posted_on, first, last),
            lambda: [rem.c.posted_on, rem.c.id],
            lambda first, last: [("DWZH", emp.c.account_no)],
        ),
        Source(
            "5.0.4",
            ("member",),
            lambda: mem.outerjoin(bal, bal.c.member_id == mem.c.id),
            lambda first, last: mem.c.opened_on <= last,
            lambda: [mem.c.id],
            lambda first, last: [
                ("GRZHYE", func.coalesce(bal.c.carried_fen, 0) + func.coalesce(bal.c.current_fen, 0)),
                ("GRZHSNJZYE", func.coalesce(bal.c.carried_fen, 0)),
                ("GRZHDNGJYE", func.coalesce(bal.c.current_fen, 0)),
            ],
        ),
        Source(
            "5.0.5",
            ("journal_entry", "journal_line"),
            lambda: jl.join(je, je.c.id == jl.c.entry_id).join(mem, mem.c.id == jl.c.member_id),
            lambda first, last: and_(jl.c.member_id.is_not(None), _month(je.c.posting_date, first, last)),
            lambda: [je.c.posting_date, jl.c.id],
            lambda first, last: [
                ("GRZH", mem.c.account_no),
                ("FSE", case((jl.c.side == Side.CREDIT.value, jl.c.amount_fen), else_=-jl.c.amount_fen)),
                (
                    "DNGJFSE",
                    case(
                        (jl.c.balance_part != BalancePart.CURRENT.value, 0),
                        (jl.c.side == Side.CREDIT.value, jl.c.amount_fen),
                        else_=-jl.c.amount_fen,
                    ),
                ),
                (
                    "SNJZFSE",
                    case(
                        (jl.c.balance_part != BalancePart.CARRIED.value, 0),
                        (jl.c.side == Side.CREDIT.value, jl.c.amount_fen),
                        else_=-jl.c.amount_fen,
                    ),
                ),
                ("CZBZ", case((je.c.reverses_entry_id.is_(None), literal("01")), else_=literal("02"))),
            ],
        ),
        Source(
            "6.0.2",
            ("loan",),
            lambda: loan.join(mem, mem.c.id == loan.c.borrower_id),
            lambda first, last: loan.c.contract_date <= last,
            lambda: [loan.c.id],
            lambda first, last: [
                ("JKRGJJZH", mem.c.account_no),
                ("JKRXM", mem.c.name),
                ("JKRZJH", mem.c.resident_id_enc),
            ],
        ),
        Source(
            "6.0.5",
            ("loan",),
            lambda: loan,
            lambda first, last: and_(loan.c.disbursed_on.is_not(None), loan.c.disbursed_on <= last),
            lambda: [loan.c.id],
        ),
        Source(
            "8.0.2",
            ("ledger_subject",),
            lambda: subj,
            lambda first, last: literal(True),
            lambda: [subj.c.code],
        ),
        Source(
            "8.0.5",
            ("journal_entry", "journal_line"),
            lambda: jl.join(je, je.c.id == jl.c.entry_id),
            lambda first, last: _month(je.c.posting_date, first, last),
            lambda: [je.c.posting_date, jl.c.id],
            lambda first, last: [
                ("JFFSE", case((jl.c.side == Side.DEBIT.value, jl.c.amount_fen), else_=0)),
                ("DFFSE", case((jl.c.side == Side.CREDIT.value, jl.c.amount_fen), else_=0)),
            ],
        ),
        Source(
            "JSLS",
            ("payment_order",),
            lambda: po,
            lambda first, last: and_(po.c.bank_date.is_not(None), _month(po.c.bank_date, first, last)),
            lambda: [po.c.bank_date, po.c.id],
        ),
    ]


@dataclass(frozen=True)
class Column:
    field: str
    kind: str
    expr: ColumnElement[Any]


def columns_of(source: Source, first: date, last: date) -> list[Column]:
    """The standard table's columns: the registry's mapped columns, then the derived ones."""
    registry = load()
    derived = dict(source.derived(first, last))
    cols: list[Column] = []
    seen: set[str] = set()
    for element, ref in registry.mapped_to(source.table):
        if element.table not in source.tables or ref.field in seen:
            continue
        seen.add(ref.field)
        stored = _t(element.table).c[element.column]
        expr = derived.get(ref.field, stored)
        cols.append(Column(ref.field, _kind(ref.field, registry.fields[ref.field].type, stored), expr))
    for code, expr in derived.items():
        if code not in seen:
            seen.add(code)
            std_type = registry.fields[code].type
            cols.append(
                Column(code, _kind(code, std_type, None if std_type == "NUMERIC(18,2)" else expr), expr)
            )
    return cols


# ---------------------------------------------------------------------------------- writing


class ManifestFile(TypedDict):
    """One file of the export as ``manifest.json`` lists it."""

    file: str
    table: str
    name_zh: str
    format: str
    rows: int
    sha256: str
    columns: list[str]


class Manifest(TypedDict):
    """``manifest.json``: what was exported, of which center and month, under which protection."""

    standard: str
    standard_title_zh: str
    center_code: str
    month: str
    month_end: str
    protection: str
    files: list[ManifestFile]


@dataclass(frozen=True)
class ExportedFile:
    file: str
    table: str
    name_zh: str
    format: str
    rows: int
    sha256: str
    columns: list[str]


def _rows(
    conn: Connection, source: Source, cols: list[Column], first: date, last: date
) -> Iterator[list[Any]]:
    query = (
        select(*(c.expr.label(c.field) for c in cols))
        .select_from(source.from_())
        .where(source.where(first, last))
        .order_by(*source.order_by())
    )
    result = conn.execution_options(stream_results=True, yield_per=CHUNK).execute(query)
    for chunk in result.partitions(CHUNK):
        yield [[_convert(c.kind, v) for c, v in zip(cols, row, strict=True)] for row in chunk]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_table(conn: Connection, source: Source, out: Path, first: date, last: date) -> list[ExportedFile]:
    cols = columns_of(source, first, last)
    schema = pa.schema([pa.field(c.field, _ARROW[c.kind]) for c in cols])
    parquet_path, csv_path = out / f"{source.table}.parquet", out / f"{source.table}.csv"
    rows = 0
    with (
        pq.ParquetWriter(parquet_path, schema, compression="zstd") as pw,
        csv_path.open("w", encoding="utf-8", newline="") as cf,
    ):
        writer = csv.writer(cf, lineterminator="\r\n")
        writer.writerow([c.field for c in cols])
        for chunk in _rows(conn, source, cols, first, last):
            rows += len(chunk)
            arrays = [pa.array([r[i] for r in chunk], type=_ARROW[c.kind]) for i, c in enumerate(cols)]
            pw.write_table(pa.Table.from_arrays(arrays, schema=schema))
            writer.writerows([_csv_text(v) for v in r] for r in chunk)
        if rows == 0:
            pw.write_table(schema.empty_table())
    name = load().standard_tables[source.table]
    names = [c.field for c in cols]
    return [
        ExportedFile(parquet_path.name, source.table, name, "parquet", rows, _sha256(parquet_path), names),
        ExportedFile(csv_path.name, source.table, name, "csv", rows, _sha256(csv_path), names),
    ]


def export_standard(engine: Engine, month: str, out: Path, *, center_code: str) -> Manifest:
    """Write the month's standard tables into ``out`` (created) and return the manifest."""
    first, last = parse_month(month)
    layout = {s.table: s.tables for s in _sources(last)}
    assert layout == EXPORT_SOURCES, "hpf.data.layout.EXPORT_SOURCES is the sources' summary"
    out.mkdir(mode=0o700, parents=True, exist_ok=True)  # names and protected tokens inside
    files: list[ExportedFile] = []
    # One snapshot for every table, so that 5.0.4's balances agree with 5.0.5 and 8.0.5 while the
    # center keeps posting: PostgreSQL's default READ COMMITTED takes a new one per statement; a
    # SQLite read transaction is one snapshot already.
    repeatable = engine.dialect.name == "postgresql"
    snapshot = engine.execution_options(isolation_level="REPEATABLE READ") if repeatable else engine
    with read_transaction(snapshot) as conn:
        for source in _sources(last):
            files += _write_table(conn, source, out, first, last)
    manifest = Manifest(
        standard=STANDARD,
        standard_title_zh="住房公积金基础数据标准",
        center_code=center_code,
        month=month,
        month_end=last.isoformat(),
        protection=PROTECTION,
        files=[
            ManifestFile(
                file=f.file, table=f.table, name_zh=f.name_zh, format=f.format, rows=f.rows,
                sha256=f.sha256, columns=f.columns,
            )
            for f in files
        ],
    )  # fmt: skip
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=False) + "\n"
    (out / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


def record_export(engine: Engine, ctx: Any, manifest: Manifest, out: Path) -> None:
    """The export's row in the audit log: who exported which month, how many rows, the manifest's hash."""
    from hpf.audit import trail

    digest = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    with write_transaction(engine) as conn:
        trail.append(
            conn,
            ctx,
            role="cli",
            source_ip=None,
            action="data.export",
            object_type="standard_export",
            object_id=manifest["month"],
            purpose="基础数据标准导出",
            detail={
                "rows": {f["file"]: f["rows"] for f in manifest["files"]},
                "manifest_sha256": digest,
            },
        )


def manifest_text(manifest: Manifest) -> str:
    buf = io.StringIO()
    for f in manifest["files"]:
        buf.write(f"{f['file']:<16} {f['name_zh']:<16} {f['rows']:>10}\n")
    return buf.getvalue()
