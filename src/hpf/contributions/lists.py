"""Remittance list files (清册): reading CSV and xlsx uploads, writing the templates.

Amounts in files are in yuan, as employers keep them; they become fen here. Unreadable cells
are reported as row errors with the rest, so a file is never half-accepted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from hpf.contributions.rules import ListRow, RowError
from hpf.kernel.errors import HpfError, InvalidInput, TooLarge
from hpf.kernel.exports import safe_row
from hpf.kernel.money import format_yuan, parse_yuan
from hpf.kernel.uploads import check_zip

COLUMNS = ("个人账号", "姓名", "缴存基数", "单位月缴存额", "个人月缴存额")
MAX_ROWS = 20_000  # the largest employer has ~10,000 staff
MAX_BYTES = 10 * 1024 * 1024


def read_list(filename: str, content: bytes) -> tuple[list[ListRow], list[RowError]]:
    """Rows of an uploaded ``.csv`` or ``.xlsx`` list, or the errors that stop it.

    Blocking and CPU-bound: call it from a worker thread (a sync route), never on the event
    loop. An xlsx file's zip directory is checked before anything is inflated
    (``hpf.kernel.uploads.check_zip``), and both readers stop at ``MAX_ROWS`` data rows, so
    neither a zip bomb nor a file of a million short lines is held in memory.
    """
    if len(content) > MAX_BYTES:
        raise TooLarge("remittance.file_too_large", "文件过大", f"files are limited to {MAX_BYTES} bytes")
    name = filename.lower()
    if name.endswith(".csv"):
        cells = _csv_cells(content)
    elif name.endswith((".xlsx", ".xls")):
        check_zip(content)
        cells = _xlsx_cells(content)
    else:
        raise InvalidInput(
            "remittance.file_type", "仅支持CSV或Excel（xlsx）文件", f"unsupported file {filename!r}"
        )
    return rows_from_cells(cells)


def _too_many_rows() -> InvalidInput:
    return InvalidInput("remittance.too_many_rows", "清册行数过多", f"at most {MAX_ROWS} rows")


def _bounded(rows: Iterable[Sequence[object]]) -> list[list[object]]:
    """The rows, refused as soon as there are more non-empty ones than a list may have."""
    kept: list[list[object]] = []
    filled = 0
    for row in rows:
        kept.append(list(row))
        if any(str(c).strip() for c in row if c is not None):
            filled += 1
            if filled > MAX_ROWS + 1:  # the header and MAX_ROWS data rows
                raise _too_many_rows()
    return kept


def _csv_cells(content: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise InvalidInput("remittance.file_encoding", "文件编码无法识别", "not UTF-8 or GB18030")
    return [[str(c) for c in row] for row in _bounded(csv.reader(io.StringIO(text)))]


def _xlsx_cells(content: bytes) -> list[list[str]]:
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(content))
        sheet = _bounded(book.get_sheet_by_index(0).iter_rows())
    except HpfError:
        raise
    except Exception as exc:  # calamine raises its own error types for broken files
        raise InvalidInput("remittance.file_unreadable", "Excel文件无法读取", str(exc)[:200]) from None
    return [[_cell_text(c) for c in row] for row in sheet]


def _cell_text(cell: object) -> str:
    if isinstance(cell, float):
        # Spreadsheets hold numbers as binary floats; repr gives the shortest exact decimal text.
        text = repr(cell)
        return text[:-2] if text.endswith(".0") else text
    return "" if cell is None else str(cell).strip()


def rows_from_cells(cells: Sequence[Sequence[str]]) -> tuple[list[ListRow], list[RowError]]:
    body = [r for r in cells if any(str(c).strip() for c in r)]
    if not body or [str(c).strip() for c in body[0][: len(COLUMNS)]] != list(COLUMNS):
        raise InvalidInput(
            "remittance.header", "清册表头不符，请使用模板",
            f"the first row must be the header {', '.join(COLUMNS)}",
        )  # fmt: skip
    if len(body) - 1 > MAX_ROWS:
        raise _too_many_rows()
    rows: list[ListRow] = []
    errors: list[RowError] = []
    for line, raw in enumerate(body[1:], start=1):
        cell = [str(c).strip() for c in raw] + [""] * (len(COLUMNS) - len(raw))
        try:
            amounts = [parse_yuan(cell[i], COLUMNS[i]) for i in (2, 3, 4)]
        except HpfError as exc:
            errors.append(
                RowError(line, cell[0], exc.code, f"{exc.title}（{exc.extra.get('field', '')}）", exc.detail)
            )
            continue
        rows.append(ListRow(line, cell[0], cell[1], *amounts))
    return rows, errors


def template_csv(rows: Iterable[Sequence[object]] = ()) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerows(safe_row(row) for row in rows)
    return out.getvalue().encode("utf-8-sig")


def template_xlsx(rows: Iterable[Sequence[object]] = ()) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "清册"
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append(safe_row(row))  # openpyxl would store text starting with "=" as a formula
    for column, width in zip("ABCDE", (22, 12, 14, 16, 16), strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def prefilled_rows(members: Iterable[tuple[str, str, int, int, int]]) -> list[tuple[str, str, str, str, str]]:
    """Template rows for an employer's active members: (account, name, base, parts) in yuan."""
    return [
        (account, name, format_yuan(base, grouping=False), format_yuan(er, grouping=False),
         format_yuan(mr, grouping=False))
        for account, name, base, er, mr in members
    ]  # fmt: skip
