"""Tests for the code tables shipped as package data (hpf.kernel.codes)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from hpf.kernel.codes import (
    Code,
    CodeTable,
    UnknownCodeTable,
    code_table,
    load_code_tables,
    lookup,
)
from hpf.kernel.errors import InvalidInput

EXPECTED_TABLES = {
    "member_account_state",
    "employer_account_state",
    "certificate_type",
    "business_type",
    "withdrawal_reason",
    "withdrawal_method",
    "reversal_flag",
    "loan_repayment_method",
    "loan_guarantee_type",
    "loan_risk_class",
    "loan_business_type",
    "fund_business_type",
    "rate_type",
    "employer_economic_type",
    "house_nature",
    "gender",
}


def codes_of(table_id: str) -> list[str]:
    return [c.code for c in code_table(table_id).codes]


def raw_json() -> dict[str, object]:
    text = resources.files("hpf.kernel").joinpath("code_tables.json").read_text("utf-8")
    data: dict[str, object] = json.loads(text)
    return data


def test_json_is_package_data_with_docs() -> None:
    data = raw_json()
    assert "UNVERIFIED" in str(data["docs"])
    tables = data["tables"]
    assert isinstance(tables, list)
    ids = [t["id"] for t in tables]
    assert len(ids) == len(set(ids))


def test_expected_tables_present() -> None:
    assert set(load_code_tables()) == EXPECTED_TABLES


@pytest.mark.parametrize("table_id", sorted(EXPECTED_TABLES))
def test_every_table_well_formed(table_id: str) -> None:
    table = code_table(table_id)
    assert table.id == table_id
    assert table.name_zh and table.source and table.docs
    codes = codes_of(table_id)
    assert codes, "empty table"
    assert len(codes) == len(set(codes)), "duplicate codes"
    assert len({len(c) for c in codes}) == 1, "codes of one table have one width"
    for entry in table.codes:
        assert entry.code.isascii() and entry.code.isalnum()
        assert entry.name_zh and entry.name_en
        assert table.get(entry.code) is entry
        assert entry.code in table


def test_member_account_state_exact() -> None:
    table = code_table("member_account_state")
    assert codes_of("member_account_state") == [
        "01",
        "02",
        "03",
        "04",
        "05",
        "06",
        "99",
    ]
    assert table.field == "GRZHZT"
    assert table.source == "C-BJ"
    assert table.get("02").name_zh == "封存"


def test_employer_account_state_exact() -> None:
    assert codes_of("employer_account_state") == ["01", "02", "03", "04", "05", "99"]
    assert code_table("employer_account_state").field == "DWZHZT"


def test_business_type_standard_and_local_extensions() -> None:
    table = code_table("business_type")
    standard = [c.code for c in table.codes if not c.local_extension]
    local = [c.code for c in table.codes if c.local_extension]
    assert standard == [f"{n:02d}" for n in range(1, 16)] + ["99"]
    assert local == ["70", "71", "72", "73", "74", "75", "76"]
    assert table.get("01").name_zh == "汇缴"
    assert table.get("73").name_zh == "错缴更正"
    assert "local" in table.docs.lower()


def test_withdrawal_reason_codes() -> None:
    assert codes_of("withdrawal_reason") == [f"{n:02d}" for n in range(1, 10)] + ["99"]
    assert code_table("withdrawal_reason").field == "TQYY"


def test_gender_gb_t_2261_1() -> None:
    assert [(c.code, c.name_zh) for c in code_table("gender").codes] == [
        ("1", "男"),
        ("2", "女"),
        ("9", "未说明"),
    ]


def test_employer_economic_type_is_mohurd_code() -> None:
    table = code_table("employer_economic_type")
    assert table.source == "C-YL"
    assert codes_of("employer_economic_type")[0] == "001"
    assert table.get("010").name_zh == "事业单位"


def test_lookup() -> None:
    assert lookup("loan_risk_class", "03") == Code("03", "次级", "substandard")
    assert lookup("loan_repayment_method", "01").name_en == "equal installment"


def test_unknown_code() -> None:
    with pytest.raises(InvalidInput) as info:
        lookup("member_account_state", "07")
    err = info.value
    assert err.code == "code_table.unknown_code"
    assert err.extra == {"table": "member_account_state", "value": "07"}
    assert err.status == 422
    assert "个人账户状态" in err.title


def test_unknown_code_non_string() -> None:
    table = code_table("gender")
    assert 1 not in table
    with pytest.raises(InvalidInput, check=lambda e: e.code == "code_table.unknown_code"):
        table.get(1)  # type: ignore[arg-type]


def test_unknown_table() -> None:
    with pytest.raises(InvalidInput) as info:
        code_table("no_such_table")
    assert info.value.code == "code_table.unknown_table"
    assert info.value.extra == {"table": "no_such_table"}
    # also catchable as a KeyError, as for any mapping
    with pytest.raises(KeyError):
        lookup("no_such_table", "01")
    assert isinstance(info.value, UnknownCodeTable)


def test_contains() -> None:
    table = code_table("withdrawal_method")
    assert "02" in table
    assert "2" not in table
    assert None not in table


def test_tables_cached_and_read_only() -> None:
    tables = load_code_tables()
    assert load_code_tables() is tables
    with pytest.raises(TypeError):
        tables["x"] = tables["gender"]  # type: ignore[index]


def test_duplicate_code_refused() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        CodeTable("t", "表", None, "test", (Code("01", "甲", "a"), Code("01", "乙", "b")))
