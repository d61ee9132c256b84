"""Masking golden values, record masking, and the classification registry's completeness."""

from __future__ import annotations

import importlib
import pkgutil
from datetime import date

import pytest

import hpf
from hpf.db.metadata import metadata
from hpf.protection.classification import (
    FIELDS,
    FieldClass,
    Grade,
    UnclassifiedField,
    classify,
    context_of,
    declared_tables,
    encrypted_fields,
)
from hpf.protection.masking import KINDS, mask, mask_record

# -- mask: golden values ------------------------------------------------------------------

GOLDEN = [
    # resident ID: no region, birth date or sequence (decision 0017): the province group and
    # the check character
    ("resident_id", "110101199003071234", "1****************4"),
    ("resident_id", "11010119900307123X", "1****************X"),
    ("resident_id", "110101900307123", "1*************3"),  # 15-digit first generation
    ("resident_id", "810000199003071234", "*****************4"),  # HK: "8" would name the region
    ("resident_id", "830000199003071234", "*****************4"),  # Taiwan residence permit
    ("resident_id", "E12345678", "********8"),  # another certificate: no mainland group
    ("resident_id", "110101********1234", "1****************4"),  # an old mask, re-masked
    ("resident_id", "12345", "****5"),
    ("resident_id", "123", "***"),  # too short: only the last quarter
    ("resident_id", "1", "*"),
    ("resident_id", "", ""),
    # phone: first 3, last 4, at least 4 hidden
    ("phone", "13800000000", "138****0000"),
    ("phone", "+8613812345678", "+861******5678"),
    ("phone", "010-62345678", "010-****5678"),  # separators stay
    ("phone", "0531-8612345", "0531-****345"),  # a landline keeps its area code
    ("phone", "0101234567", "010****567"),  # 010 + seven digits: four hidden
    ("phone", "1234567", "******7"),
    ("phone", "139****9000", "139****9000"),  # masking a mask changes nothing
    # bank card / account: first 4, last 4, at least 8 hidden
    ("bank_card", "6222021234567890123", "6222***********0123"),
    ("bank_card", "6222021234567890", "6222********7890"),
    ("bank_card", "6222 0212 3456 7890", "6222 **** **** 7890"),
    ("bank_card", "622202123456", "*********456"),  # 4 + 4 would leave only 4 hidden
    ("bank_card", "6222***********0123", "6222***********0123"),
    ("bank_account", "110060149018001234567", "1100*************4567"),
    ("bank_account", "12345678", "******78"),
    # name: first and last character
    ("name", "张三丰", "张*丰"),
    ("name", "张三", "张*"),
    ("name", "欧阳娜娜", "欧**娜"),
    ("name", "阿卜杜拉·艾买提", "阿******提"),
    ("name", "王", "*"),
    ("name", "ZHANG SANFENG", "Z***********G"),
    # birth date: the year
    ("birth_date", "1990-03-07", "1990-**-**"),
    ("birth_date", "19900307", "1990****"),
    ("birth_date", "unknown", "****"),
    # address: up to the county-level unit
    ("address", "北京市朝阳区建国路88号院3号楼2单元501室", "北京市朝阳区****"),
    ("address", "上海市浦东新区世纪大道100号", "上海市浦东新区****"),
    ("address", "广东省深圳市南山区科技园南区8栋", "广东省深圳市南山区****"),
    ("address", "新疆维吾尔自治区乌鲁木齐市天山区解放北路1号", "新疆维吾尔自治区乌鲁木齐市天山区****"),
    ("address", "香港特别行政区中西区皇后大道中1号", "香港特别行政区中西区****"),
    ("address", "湖北省长阳土家族自治县龙舟坪镇1号", "湖北省长阳土家族自治县****"),
    ("address", "内蒙古自治区锡林郭勒盟正蓝旗上都镇", "内蒙古自治区锡林郭勒盟正蓝旗****"),
    ("address", "江苏省昆山市玉山镇人民路1号", "江苏省昆山市****"),
    ("address", "深圳市阳光小区3栋201", "深圳市****"),  # 小区 is not a district
    ("address", "浙江省某某镇某某村", "浙江省****"),
    ("address", "某某路8号", "****"),
    ("address", "北京市朝阳区", "北京市朝阳区"),  # nothing below the district to hide
    # account numbers are not masked; full hides everything
    ("account_no", "110100000123", "110100000123"),
    ("full", "anything", "****"),
]


@pytest.mark.parametrize(("kind", "value", "expected"), GOLDEN, ids=[f"{k}-{v}" for k, v, _ in GOLDEN])
def test_mask_golden(kind, value, expected):
    assert mask(value, kind) == expected


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_none_stays_none(kind):
    assert mask(None, kind) is None


def test_dates_and_numbers():
    assert mask(date(1990, 3, 7), "birth_date") == "1990-**-**"
    assert mask(13800000000, "phone") == "138****0000"


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown masking kind"):
        mask("x", "email")


@pytest.mark.parametrize("kind", ["resident_id", "phone", "bank_card", "bank_account"])
@pytest.mark.parametrize("length", range(1, 25))
def test_numbers_never_show_more_than_two_thirds(kind, length):
    value = "".join(str(i % 10) for i in range(length))
    masked = mask(value, kind)
    assert len(masked) == length
    assert masked.count("*") >= max(1, length // 3)


@pytest.mark.parametrize("kind", ["resident_id", "phone", "bank_card", "bank_account"])
@pytest.mark.parametrize("length", range(1, 25))
def test_masking_twice_changes_nothing(kind, length):
    """Stored masks are re-masked by masking them again (migration 0013): a fixed point."""
    masked = mask("".join(str(i % 10) for i in range(1, length + 1)), kind)
    assert mask(masked, kind) == masked


@pytest.mark.parametrize(
    ("kind", "length", "hidden"), [("phone", 11, 4), ("bank_card", 16, 8), ("bank_card", 19, 11)]
)
def test_numbers_keep_their_minimum_hidden(kind, length, hidden):
    for n in range(8, length + 1):
        assert mask("9" * n, kind).count("*") >= (min(hidden, n) if n == length else 4)


def test_an_id_mask_shows_neither_birth_date_nor_region_nor_sequence():
    """Characters 1–17 carry the region, the birth date and the sequence (its parity is the sex):
    only the province group and the check character may show (decision 0017)."""
    for number in ("110101199003071234", "440305198511300061", "65010220000229007X"):
        masked = mask(number, "resident_id")
        assert masked[1:17] == "*" * 16 and masked[0] == number[0] and masked[17] == number[17]


# -- mask_record --------------------------------------------------------------------------

MEMBER = {
    "id": 7,
    "account_no": "110100000123",
    "resident_id": "110101199003071234",
    "name": "张三丰",
    "name_pinyin": "ZHANG SANFENG",
    "birth_date": date(1990, 3, 7),
    "phone": "13800000000",
    "phone_missing": None,
    "base_fen": 800000,
    "employer_name": "示范单位",  # joined: not a member column, passes through
}


def test_mask_record_masks_declared_fields():
    assert mask_record("member", MEMBER, can_unmask=False) == {
        **MEMBER,
        "resident_id": "1****************4",
        "name": "张*丰",
        "name_pinyin": "Z***********G",
        "birth_date": "1990-**-**",
        "phone": "138****0000",
    }
    assert MEMBER["resident_id"] == "110101199003071234"  # the input is not changed


def test_mask_record_with_permission_is_unchanged():
    shown = mask_record("member", MEMBER, can_unmask=True)
    assert shown == MEMBER and shown is not MEMBER


def test_mask_record_null_phone_and_employer():
    assert mask_record("member", {"phone": None}, can_unmask=False) == {"phone": None}
    employer = {
        "name": "示范单位",
        "contact_name": "李四",
        "contact_phone": "13912345678",
        "bank_account_no": "6222021234567890",
        "legal_rep_name": "王五",
    }
    assert mask_record("employer", employer, can_unmask=False) == {
        "name": "示范单位",
        "contact_name": "李*",
        "contact_phone": "139****5678",
        "bank_account_no": "6222********7890",
        "legal_rep_name": "王五",
    }


def test_history_snapshots_are_masked_as_their_subject():
    row = {
        "subject_kind": "member",
        "action": "update",
        "before": {"phone": "13800000000", "base_fen": 1},
        "after": {"phone": "13900000000", "base_fen": 2},
    }
    masked = mask_record("account_history", row, can_unmask=False)
    assert masked["before"] == {"phone": "138****0000", "base_fen": 1}
    assert masked["after"] == {"phone": "139****0000", "base_fen": 2}
    unknown = mask_record("account_history", {**row, "subject_kind": "mystery"}, can_unmask=False)
    assert unknown["after"] == {"phone": "****", "base_fen": "****"}
    assert mask_record("account_history", {**row, "after": None}, can_unmask=False)["after"] is None


def test_unknown_table_refuses_rather_than_leaks():
    with pytest.raises(UnclassifiedField):
        mask_record("member_view", MEMBER, can_unmask=False)


# -- classification -----------------------------------------------------------------------


def load_every_table() -> None:
    """Import every hpf module so every Table is on the shared metadata (import order free)."""
    for module in pkgutil.walk_packages(hpf.__path__, "hpf."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)


def test_every_column_of_every_table_is_classified():
    load_every_table()
    missing_tables = sorted(t.name for t in metadata.tables.values() if t.name not in declared_tables())
    missing_columns = sorted(
        f"{t.name}.{c.name}"
        for t in metadata.tables.values()
        if t.name in declared_tables()
        for c in t.columns
        if (t.name, c.name) not in FIELDS
    )
    assert missing_tables == [], f"declare these tables in hpf.protection.classification: {missing_tables}"
    assert missing_columns == [], f"declare these columns in hpf.protection.classification: {missing_columns}"


def test_no_stale_declarations():
    load_every_table()
    stale = sorted(
        f"{table}.{column}"
        for table, column in FIELDS
        if table not in metadata.tables or column not in metadata.tables[table].columns
    )
    assert stale == [], f"declared but not in the schema: {stale}"


def test_declarations_are_consistent():
    for field in FIELDS.values():
        assert field.label_zh, field
        assert field.masking is None or field.masking in KINDS | {"snapshot"}, field
        assert not field.sensitive or field.personal, f"{field}: sensitive implies personal"
        if field.encrypt:
            assert field.masking and field.column.endswith("_enc"), field
            assert field.sensitive or not field.personal, f"{field}: personal data encrypted is sensitive"


def test_examples_from_the_issue():
    # Stored as a token (resident_id_enc); read and masked under its plaintext name.
    assert classify("member", "resident_id") == FieldClass(
        "member", "resident_id_enc", Grade.CORE, True, True, "resident_id", "证件号码", encrypt=True
    )
    name = classify("member", "name")
    assert (name.grade, name.personal, name.masking) == (Grade.IMPORTANT, True, "name")
    phone = classify("member", "phone")
    assert (phone.grade, phone.personal, phone.sensitive, phone.masking) == (
        Grade.IMPORTANT,
        True,
        True,
        "phone",
    )
    balance = classify("member_balance", "current_fen")
    assert (balance.grade, balance.personal) == (Grade.IMPORTANT, True)
    bank = classify("employer", "bank_account_no")
    assert (bank.grade, bank.masking) == (Grade.IMPORTANT, "bank_account")
    assert Grade.CORE.label_zh == "核心"
    assert {context_of(f) for f in encrypted_fields()} == {
        "member.resident_id",
        "member.phone",
        "employer.contact_phone",
        "employer.bank_account_no",
        "principal.totp_secret",
        "sign_in_challenge.pending_secret",
        "withdrawal.document_no",
        "withdrawal.payee_card",
        "property_record.certificate_no",
        "payment_order.payee_name",
        "payment_order.payee_account_no",
        "bank_notice.counterparty_name",
        "bank_notice.counterparty_acct_no",
        "application_blob.content",
        "application_secret.value",
        "loan.certificate_no",
        "loan.debit_card",
    }
    with pytest.raises(UnclassifiedField):
        classify("member", "shoe_size")


@pytest.mark.parametrize(
    ("landline", "masked"),
    [
        ("0531-88886066", "0531-****6066"),  # the area code stays, the middle is hidden
        ("053188886066", "0531****6066"),
        ("010-12345678", "010-****5678"),
        ("021 87654321", "021 ****4321"),
        ("0531-8888606", "0531-****606"),  # seven digits: still four hidden
        ("0531-****6066", "0531-****6066"),  # masking again changes nothing
    ],
)
def test_a_landline_keeps_its_area_code(landline, masked):
    assert mask(landline, "phone") == masked
    assert mask("13912345678", "phone") == "139****5678"  # a mobile as before
