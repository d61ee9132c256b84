"""Unit tests: list files (CSV in UTF-8 and GBK, xlsx) and month arithmetic."""

import pytest

from hpf.contributions import lists
from hpf.contributions.rules import add_months, due_month, month_end, parse_month
from hpf.kernel.errors import InvalidInput

HEADER = ",".join(lists.COLUMNS)


def test_csv_rows_become_fen_and_bad_cells_become_row_errors():
    text = f"{HEADER}\n99000120000000017,张三,8000,960.00,960\n99000120000000025,李四,abc,1,1.001\n"
    rows, errors = lists.read_list("list.csv", text.encode("utf-8"))
    assert [(r.line, r.base_fen, r.employer_fen, r.member_fen) for r in rows] == [
        (1, 800_000, 96_000, 96_000)
    ]
    assert [(e.line, e.code) for e in errors] == [(2, "money.format")]


def test_gbk_csv_from_excel_is_read():
    text = f"{HEADER}\r\n99000120000000017,张三,8000,960,960\r\n"
    rows, errors = lists.read_list("清册.CSV", text.encode("gbk"))
    assert rows[0].name == "张三" and not errors


def test_xlsx_template_round_trips():
    data = lists.template_xlsx(lists.prefilled_rows([("99000120000000017", "张三", 654_321, 78_519, 78_519)]))
    rows, errors = lists.read_list("list.xlsx", data)
    assert not errors
    assert (rows[0].base_fen, rows[0].employer_fen) == (654_321, 78_519)


@pytest.mark.parametrize(("name", "content", "code"), [
    ("list.pdf", b"x", "remittance.file_type"),
    ("list.csv", "姓名,个人账号\n".encode(), "remittance.header"),
    ("list.xlsx", b"not a zip", "remittance.file_unreadable"),
])  # fmt: skip
def test_unreadable_files_are_refused(name, content, code):
    with pytest.raises(InvalidInput) as err:
        lists.read_list(name, content)
    assert err.value.code == code


def test_months():
    assert parse_month("202503") == "2025-03"
    assert add_months("2025-12", 1) == "2026-01"
    assert add_months("2025-01", -1) == "2024-12"
    assert str(month_end("2024-02")) == "2024-02-29"
    assert due_month("2025-06", None) == "2025-07"  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        parse_month("2025-13")
