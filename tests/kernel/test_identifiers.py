"""Golden and refusal tests for hpf.kernel.identifiers (resident ID, USCC, bank card)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn
from stdnum.cn import ric, uscc
from stdnum.exceptions import InvalidComponent

from hpf.kernel.errors import InvalidInput
from hpf.kernel.identifiers import (
    ResidentId,
    luhn_check_digit,
    parse_bank_card,
    parse_resident_id,
    parse_uscc,
    resident_id_check_digit,
    uscc_check_char,
)


def refused(code: str) -> pytest.RaisesExc[InvalidInput]:
    """Expect an InvalidInput with exactly this code."""
    return pytest.raises(InvalidInput, check=lambda err: err.code == code)


def rid(first17: str) -> str:
    return first17 + resident_id_check_digit(first17)


# --------------------------------------------------------------------------- resident ID

RESIDENT_IDS = [
    # GB 11643 standard example: Beijing Chaoyang, 1949-12-31, female (002 even)
    ("11010519491231002X", "110105", date(1949, 12, 31), "2"),
    ("310104198507152012", "310104", date(1985, 7, 15), "1"),
    ("440305199003074525", "440305", date(1990, 3, 7), "2"),
    ("510107200002291283", "510107", date(2000, 2, 29), "2"),  # leap day
    ("32058219921103003X", "320582", date(1992, 11, 3), "1"),
    ("650102198808187417", "650102", date(1988, 8, 18), "1"),
]


@pytest.mark.parametrize(("number", "region", "birth", "gender"), RESIDENT_IDS)
def test_resident_id_golden(number: str, region: str, birth: date, gender: str) -> None:
    assert ric.is_valid(number)  # the golden values agree with stdnum
    assert parse_resident_id(number) == ResidentId(number, region, birth, gender)
    assert resident_id_check_digit(number[:17]) == number[17]


def test_resident_id_normalises_case_spaces_and_dashes() -> None:
    assert parse_resident_id(" 110105 19491231-002x\t").number == "11010519491231002X"
    # stdnum folds full-width digits to ASCII
    assert parse_resident_id("１１０１０５１９４９１２３１００２Ｘ").number == "11010519491231002X"


@pytest.mark.parametrize("value", [None, "", "   "])
def test_resident_id_required(value: str | None) -> None:
    with refused("resident_id.required"):
        parse_resident_id(value)


@pytest.mark.parametrize("value", ["1101051949123100", "11010519491231002X1"])
def test_resident_id_length(value: str) -> None:
    with refused("resident_id.length"):
        parse_resident_id(value)


def test_resident_id_15_digit_refused_with_explanation() -> None:
    with refused("resident_id.length") as info:
        parse_resident_id("110105491231002")
    assert "18" in info.value.detail and "15-digit" in info.value.detail


@pytest.mark.parametrize("value", ["1101051949123100AX", "11010519491231002A", 110105194912310020])
def test_resident_id_format(value: object) -> None:
    with refused("resident_id.format"):
        parse_resident_id(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "first17",
    [
        "99010519491231002",  # no province 99
        "11999919491231002",  # province 11 exists, county 1199 does not (stdnum: KeyError)
        "11010320150101002",  # 崇文区 110103 was abolished in 2010
    ],
)
def test_resident_id_region(first17: str) -> None:
    with refused("resident_id.region"):
        parse_resident_id(rid(first17))


@pytest.mark.parametrize(
    "first17",
    [
        "11010519490231002",  # 31 February
        "11010519491301002",  # month 13
        "11010518991231002",  # before 1900-01-01 (stdnum accepts it)
    ],
)
def test_resident_id_birth_date(first17: str) -> None:
    with refused("resident_id.birth_date"):
        parse_resident_id(rid(first17))


def test_resident_id_born_after_the_business_date_is_refused() -> None:
    business_date = date(2025, 3, 15)
    tomorrow = business_date + timedelta(days=1)
    with refused("resident_id.birth_date"):
        parse_resident_id(rid(f"110105{tomorrow:%Y%m%d}002"), today=business_date)
    assert parse_resident_id(rid(f"110105{business_date:%Y%m%d}002"), today=business_date)


@pytest.mark.parametrize(
    "first17",
    [
        "44030519820101001",  # 南山区 area (440305) coded since 1983 only
        "11011219900101001",  # 通州区 (110112) exists since 1997 only
        "11010319800101001",  # 崇文区 (110103), abolished 2010, born before
    ],
)
def test_resident_id_region_not_checked_against_birth_year(first17: str) -> None:
    # Region codes are assigned at (re-)registration, not at birth; stdnum would refuse the
    # first two because the division did not exist in the birth year.
    number = rid(first17)
    assert ric.is_valid(number) == first17.startswith("110103")
    assert parse_resident_id(number).region_code == first17[:6]


def test_resident_id_checksum() -> None:
    with refused("resident_id.checksum"):
        parse_resident_id("11010519491231003X")


def test_resident_id_error_shape_and_no_echo() -> None:
    with refused("resident_id.checksum") as info:
        parse_resident_id("11010519491231003X", field="legal_rep_id_number")
    err = info.value
    assert err.status == 422
    assert err.title == "居民身份证号码校验码错误"
    assert err.extra == {"field": "legal_rep_id_number"}
    assert "11010519491231003X" not in str(err.to_problem())


def test_resident_id_check_digit_refuses_bad_input() -> None:
    with refused("resident_id.format"):
        resident_id_check_digit("1101051949123100A")
    with refused("resident_id.length"):
        resident_id_check_digit("1101051949123100")


@given(
    region=st.sampled_from(["110105", "310104", "440305", "510107", "650102"]),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)),
    seq=st.integers(min_value=0, max_value=999),
)
def test_resident_id_generated_round_trip(region: str, birth: date, seq: int) -> None:
    number = rid(f"{region}{birth:%Y%m%d}{seq:03d}")
    parsed = parse_resident_id(number)
    assert parsed.birth_date == birth
    assert parsed.gender == ("1" if seq % 2 else "2")


# --------------------------------------------------------------------------- USCC

USCCS = [
    "91350100M000100Y43",  # commonly cited valid example
    "91110000600037341L",  # stdnum's doctest example
    "12100000400010275N",  # 机构编制 / 事业单位
    "91440300MA5F7H2K1A",
    "53100000500021676K",  # 民政 / 基金会
]


@pytest.mark.parametrize("number", USCCS)
def test_uscc_golden(number: str) -> None:
    assert uscc.is_valid(number)
    assert parse_uscc(number) == number
    assert uscc_check_char(number[:17]) == number[17]


def test_uscc_normalises() -> None:
    assert parse_uscc(" 9135 0100-m000100y43 ") == "91350100M000100Y43"


def test_uscc_letter_authority_accepted() -> None:
    # GB 32100 allows letters for the first two characters (Y = 其他); stdnum refuses them.
    number = "Y1110000MA0000000" + uscc_check_char("Y1110000MA0000000")
    assert not uscc.is_valid(number)
    assert parse_uscc(number) == number
    with refused("uscc.checksum"):
        parse_uscc(number[:17] + ("0" if number[17] != "0" else "1"))


@pytest.mark.parametrize("value", [None, "", " "])
def test_uscc_required(value: str | None) -> None:
    with refused("uscc.required"):
        parse_uscc(value)


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100M000100Y431", "123"])
def test_uscc_length(value: str) -> None:
    with refused("uscc.length"):
        parse_uscc(value)


@pytest.mark.parametrize(
    "value",
    [
        "91350100M000I00Y43",  # I is not in the GB 32100 alphabet
        "913501A0M000100Y43",  # region code (characters 3-8) must be digits
        "91350100M000100Y4!",
        91350100,
    ],
)
def test_uscc_format(value: object) -> None:
    with refused("uscc.format"):
        parse_uscc(value)  # type: ignore[arg-type]


def test_uscc_checksum() -> None:
    with refused("uscc.checksum"):
        parse_uscc("91350100M000100Y44")


def test_uscc_component(monkeypatch: pytest.MonkeyPatch) -> None:
    # stdnum 2.2 never raises InvalidComponent for a USCC; the mapping is there for later
    # versions (e.g. a region check).
    def validate(number: str) -> str:
        raise InvalidComponent()

    monkeypatch.setattr(uscc, "validate", validate)
    with refused("uscc.component"):
        parse_uscc("91350100M000100Y43")


def test_uscc_check_char_refuses_bad_input() -> None:
    with refused("uscc.format"):
        uscc_check_char("91350100M000I00Y4")
    with refused("uscc.length"):
        uscc_check_char("91350100M000100")


# --------------------------------------------------------------------------- bank card

BANK_CARDS = [
    "6222021001123456789",  # 19 digits, UnionPay 62 prefix
    "6214831234567896",  # 16 digits
    "6230580000123456787",
    "4111111111111111",  # classic Visa test number
    "123456789015",  # 12 digits, the minimum
]


@pytest.mark.parametrize("number", BANK_CARDS)
def test_bank_card_golden(number: str) -> None:
    assert luhn.is_valid(number)
    assert parse_bank_card(number) == number
    assert luhn_check_digit(number[:-1]) == number[-1]


def test_bank_card_strips_spaces_and_dashes() -> None:
    assert parse_bank_card(" 6222 0210-0112 3456 789 ") == "6222021001123456789"


@pytest.mark.parametrize("value", [None, "", "  - "])
def test_bank_card_required(value: str | None) -> None:
    with refused("bank_card.required"):
        parse_bank_card(value)


@pytest.mark.parametrize("value", ["12345678903", "62220210011234567890"])
def test_bank_card_length(value: str) -> None:
    with refused("bank_card.length"):
        parse_bank_card(value)


@pytest.mark.parametrize("value", ["6222O21001123456789", "6222.0210.0112.3456", 6222021001123456789])
def test_bank_card_format(value: object) -> None:
    with refused("bank_card.format"):
        parse_bank_card(value)  # type: ignore[arg-type]


def test_bank_card_checksum() -> None:
    with refused("bank_card.checksum"):
        parse_bank_card("6222021001123456788")


def test_luhn_check_digit_refuses_non_digits() -> None:
    with refused("bank_card.format"):
        luhn_check_digit("62220A")
