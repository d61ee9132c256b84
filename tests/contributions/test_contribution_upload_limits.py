"""Limits on uploaded list files: a zip bomb disguised as xlsx is refused before it is parsed.

An xlsx file is a zip archive. A 1 MB file can hold a sheet that inflates to gigabytes; the
reader must look at the archive's directory (the declared uncompressed sizes and the ratio)
and refuse it before calamine inflates anything: fast, and with little memory.
"""

from __future__ import annotations

import inspect
import io
import time
import tracemalloc
import zipfile

import pytest
from fastapi.testclient import TestClient

from hpf.app import create_app
from hpf.contributions import api as contribution_api
from hpf.contributions import lists
from hpf.kernel import uploads
from hpf.kernel.errors import HpfError
from hpf.settings import Settings

SHEET = "xl/worksheets/sheet1.xml"
HEAD = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>'
)
TAIL = b"</t></is></c></row></sheetData></worksheet>"


def bomb(megabytes: int) -> bytes:
    """The list template with its sheet replaced by one cell of ``megabytes`` MB of 'A'."""
    template = zipfile.ZipFile(io.BytesIO(lists.template_xlsx()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in template.infolist():
            if info.filename != SHEET:
                zf.writestr(info.filename, template.read(info.filename))
        with zf.open(SHEET, "w", force_zip64=True) as sheet:  # streamed: the test stays small too
            sheet.write(HEAD)
            chunk = b"A" * (1 << 20)
            for _ in range(megabytes):
                sheet.write(chunk)
            sheet.write(TAIL)
    return out.getvalue()


@pytest.fixture(scope="module")
def big_bomb() -> bytes:
    return bomb(200)


def test_the_bomb_is_small_on_the_wire(big_bomb: bytes) -> None:
    assert len(big_bomb) < 1_000_000 < 200 * (1 << 20)


def test_a_zip_bomb_is_refused_fast_and_with_little_memory(big_bomb: bytes) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(HpfError) as err:
            lists.read_list("清册.xlsx", big_bomb)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.code == "upload.too_large" and err.value.status == 413
    assert "解压" in err.value.title
    assert elapsed < 1.0
    assert peak < 20 * (1 << 20)  # the file itself is < 1 MB; nothing was inflated


def test_a_member_below_the_size_cap_but_compressed_too_well_is_refused() -> None:
    data = bomb(8)  # 8 MB of one letter: a ratio of about 1000
    with pytest.raises(HpfError) as err:
        lists.read_list("清册.xlsx", data)
    assert err.value.code == "upload.compression_ratio"


def test_the_template_with_many_rows_passes_the_zip_check() -> None:
    rows = [(f"9900012000{i:07d}", "张三", "8000", "960", "960") for i in range(lists.MAX_ROWS)]
    data = lists.template_xlsx(rows)
    uploads.check_zip(data)  # does not raise
    parsed, errors = lists.read_list("清册.xlsx", data)
    assert len(parsed) == lists.MAX_ROWS and not errors


def test_too_many_members_or_total_size_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for i in range(uploads.MAX_MEMBERS + 1):
            zf.writestr(f"f{i}", b"")
    with pytest.raises(HpfError) as err:
        uploads.check_zip(out.getvalue())
    assert err.value.code == "upload.too_many_members"

    with pytest.raises(HpfError) as err:
        uploads.check_zip(lists.template_xlsx(), max_total=1000)
    assert err.value.code == "upload.too_large"


def test_a_csv_with_too_many_rows_is_refused_while_reading() -> None:
    header = ",".join(lists.COLUMNS) + "\n"
    body = header + "99000120000000017,张三,8000,960,960\n" * (lists.MAX_ROWS + 1)
    with pytest.raises(HpfError) as err:
        lists.read_list("清册.csv", body.encode())
    assert err.value.code == "remittance.too_many_rows"


def test_the_upload_routes_do_not_parse_on_the_event_loop() -> None:
    assert not inspect.iscoroutinefunction(contribution_api.upload_list)


@pytest.fixture
def client(engine, clock, center, sign_in):
    app = create_app(Settings(database_url=str(engine.url), env="development"), engine=engine, clock=clock)
    with TestClient(app) as c:
        sign_in(c)
        yield c


def test_the_api_answers_413_problem_json(client: TestClient, center, big_bomb: bytes) -> None:
    emp, _ = center
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    answer = client.post(
        f"/api/v1/employers/{emp.account_no}/remittances/upload",
        files={"file": ("清册.xlsx", big_bomb, kind)},
        data={"month": "2025-01"},
    )
    assert answer.status_code == 413, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "upload.too_large"
