"""Validation of the national identifiers OpenHPF accepts: resident ID, USCC and bank card.

This module owns the *parsing* of three identifiers and the refusal codes for them:

* 居民身份证号码 (resident ID number, GB 11643, 18 characters) -> :class:`ResidentId`;
* 统一社会信用代码 (unified social credit code, USCC, GB 32100, 18 characters);
* 银行卡号 (bank card number, 12..19 digits with a Luhn check digit).

The check-digit algorithms, the region table and the date checks are those of
``python-stdnum`` (``stdnum.cn.ric``, ``stdnum.cn.uscc``, ``stdnum.luhn``); this module only
normalises input, adds the platform's own rules (no 15-digit IDs, no birth dates before
1900-01-01 or in the future), corrects two stdnum refusals of genuine numbers (a region
code created after the birth year; a USCC whose first characters are letters, see
:func:`parse_uscc`) and turns every stdnum exception into an
:class:`~hpf.kernel.errors.InvalidInput` with a stable code:

============================  =====================================================
``resident_id.required``      missing / blank
``resident_id.length``        not 18 characters (15-digit pre-1999 IDs included)
``resident_id.format``        not 17 digits + digit/``X``, or not a string
``resident_id.region``        unknown region code, or one abolished before the birth year
``resident_id.birth_date``    impossible, before 1900-01-01 or in the future
``resident_id.checksum``      check digit does not match
``uscc.required``             missing / blank
``uscc.length``               not 18 characters
``uscc.format``               characters outside the GB 32100 alphabet, or not a string
``uscc.checksum``             check character does not match
``uscc.component``            a component stdnum rejects (not raised by stdnum 2.2)
``bank_card.required``        missing / blank
``bank_card.length``          not 12..19 digits
``bank_card.format``          anything but digits (spaces and dashes are removed first)
``bank_card.checksum``        Luhn check digit does not match
============================  =====================================================

The ``*_check_digit`` helpers exist for the synthetic data generator.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from stdnum import luhn, numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)
from stdnum.util import clean, isdigits

from hpf.kernel.errors import InvalidInput

__all__ = [
    "ResidentId",
    "luhn_check_digit",
    "parse_bank_card",
    "parse_resident_id",
    "parse_uscc",
    "resident_id_check_digit",
    "uscc_check_char",
]

#: Earliest birth date accepted on a resident ID.
MIN_BIRTH_DATE = date(1900, 1, 1)

#: Characters allowed in a USCC (GB 32100: digits and upper-case letters except I, O, Z, S, V).
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

#: Separators silently removed from all three identifiers.
_SEPARATORS = " -"

BANK_CARD_MIN_DIGITS = 12
BANK_CARD_MAX_DIGITS = 19


@dataclass(frozen=True)
class ResidentId:
    """A valid 18-character resident ID number (居民身份证号码) and what it encodes."""

    number: str
    """Compact form, check character ``X`` upper-case."""
    region_code: str
    """First six digits: the GB/T 2260 division where the number was assigned."""
    birth_date: date
    gender: str
    """GB/T 2261.1 code: ``"1"`` male (odd 17th digit), ``"2"`` female (even)."""


# --------------------------------------------------------------------------- helpers


def _fail(kind: str, failure: str, title: str, detail: str, field: str | None) -> InvalidInput:
    # The offending value is deliberately not echoed back: identifiers are personal data.
    return InvalidInput(f"{kind}.{failure}", title, detail, field=field or kind)


def _normalise(value: object, kind: str, label_zh: str, label_en: str, field: str | None) -> str:
    """Remove whitespace and dashes, upper-case; refuse missing, blank or non-string input.

    Full-width characters typed with a Chinese input method (``１``, ``Ｘ``, ``－``) are
    folded to ASCII first (NFKC), then stdnum's ``clean`` removes the separators.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _fail(
            kind,
            "required",
            f"{label_zh}不能为空",
            f"The {label_en} is required.",
            field,
        )
    if not isinstance(value, str):
        raise _fail(
            kind,
            "format",
            f"{label_zh}格式不正确",
            f"The {label_en} must be a string, not {type(value).__name__}.",
            field,
        )
    folded = unicodedata.normalize("NFKC", value)
    number = "".join(clean(folded, _SEPARATORS).split()).upper()
    if not number:
        raise _fail(
            kind,
            "required",
            f"{label_zh}不能为空",
            f"The {label_en} is required.",
            field,
        )
    return number


# --------------------------------------------------------------------------- resident ID

_RID = "resident_id"
_RID_ZH = "居民身份证号码"


def parse_resident_id(
    value: str | None, *, field: str | None = None, today: date | None = None
) -> ResidentId:
    """Validate an 18-character resident ID number and return its parts.

    Spaces and dashes are ignored and a lower-case ``x`` is accepted. Raises
    :class:`InvalidInput` with one of the ``resident_id.*`` codes listed in the module doc;
    ``field`` (default ``"resident_id"``) names the input field in the error.
    """
    number = _normalise(value, _RID, _RID_ZH, "resident ID number", field)
    if len(number) != 18:
        detail = f"A resident ID number has 18 characters; got {len(number)}."
        if len(number) == 15 and isdigits(number):
            detail = (
                "15-digit resident ID numbers (issued before 1999) are not accepted; "
                "the 18-character number is required."
            )
        raise _fail(_RID, "length", f"{_RID_ZH}长度不正确", detail, field)
    if not isdigits(number[:17]) or number[17] not in "0123456789X":
        raise _rid_format(field)
    try:
        ric.validate(number)
    except InvalidChecksum:
        raise _fail(
            _RID,
            "checksum",
            f"{_RID_ZH}校验码错误",
            "The check character of the resident ID number does not match (GB 11643).",
            field,
        ) from None
    except (InvalidComponent, KeyError):
        # stdnum raises InvalidComponent for a bad date and for a bad region alike (and a
        # bare KeyError when the province exists but the county does not): tell them apart,
        # and apply the platform's own, looser region rule (see _region_known).
        _birth_date(number, field)
        if not _region_known(number):
            raise _fail(
                _RID,
                "region",
                f"{_RID_ZH}地区码无效",
                f"Region code {number[:6]} is not a known administrative division, or was "
                f"abolished before birth year {number[6:10]}.",
                field,
            ) from None
    except ValidationError:  # pragma: no cover - length and format are checked above
        raise _rid_format(field) from None
    birth = _birth_date(number, field)
    # "In the future" is judged against the business date the caller passes (never the wall clock).
    if birth < MIN_BIRTH_DATE or (today is not None and birth > today):
        raise _fail(
            _RID,
            "birth_date",
            f"{_RID_ZH}出生日期无效",
            f"Birth date {birth.isoformat()} is before 1900-01-01 or in the future.",
            field,
        )
    return ResidentId(
        number=number,
        region_code=number[:6],
        birth_date=birth,
        gender="1" if int(number[16]) % 2 == 1 else "2",
    )


def _rid_format(field: str | None) -> InvalidInput:
    return _fail(
        _RID,
        "format",
        f"{_RID_ZH}格式不正确",
        "A resident ID number is 17 digits followed by a digit or X.",
        field,
    )


def _region_known(number: str) -> bool:
    """Whether the first six digits are a GB/T 2260 division that existed in or after the
    birth year, according to stdnum's ``cn/loc`` data.

    stdnum's ``get_birth_place`` requires the division to exist *in* the birth year. Region
    codes are assigned at (re-)registration, not at birth, so that refuses genuine numbers:
    e.g. 440305 (南山区, since 1990) for a Shenzhen resident born in 1985. Only a code
    abolished before the birth year is impossible.
    """
    info: dict[str, str] = {}
    for _part, props in numdb.get("cn/loc").info(number[:6]):
        info.update(props)
    county = info.get("county")
    if not county:
        return False
    birth_year = int(number[6:10])
    for name in county.split(","):
        if not name.startswith("["):
            return True
        end = name[1:].split("]", 1)[0].split("-", 1)[-1]
        if not end or int(end) >= birth_year:
            return True
    return False


def _birth_date(number: str, field: str | None) -> date:
    try:
        return ric.get_birth_date(number)
    except InvalidComponent:
        raise _fail(
            _RID,
            "birth_date",
            f"{_RID_ZH}出生日期无效",
            f"Characters 7-14 ({number[6:14]}) are not a valid date (YYYYMMDD).",
            field,
        ) from None


def resident_id_check_digit(first17: str) -> str:
    """The GB 11643 check character (``0``-``9`` or ``X``) for the first 17 digits."""
    if not isinstance(first17, str) or not isdigits(first17):
        raise _fail(
            _RID,
            "format",
            f"{_RID_ZH}格式不正确",
            "The first 17 characters of a resident ID number must be digits.",
            None,
        )
    if len(first17) != 17:
        raise _fail(
            _RID,
            "length",
            f"{_RID_ZH}长度不正确",
            f"Expected the first 17 digits; got {len(first17)}.",
            None,
        )
    # stdnum's calc_check_digit takes the whole number and ignores its last character.
    return ric.calc_check_digit(first17 + "0")


# --------------------------------------------------------------------------- USCC

_USCC = "uscc"
_USCC_ZH = "统一社会信用代码"


def parse_uscc(value: str | None, *, field: str | None = None) -> str:
    """Validate an 18-character unified social credit code; return it compact, upper-case.

    stdnum requires the first eight characters to be digits, but GB 32100 allows a letter
    for the registration-authority and entity-category characters (e.g. ``Y`` = 其他), so a
    code with letters there is accepted when the rest is well formed and stdnum's check
    character matches.
    """
    number = _normalise(value, _USCC, _USCC_ZH, "unified social credit code", field)
    try:
        return str(uscc.validate(number))
    except InvalidLength:
        raise _fail(
            _USCC,
            "length",
            f"{_USCC_ZH}长度不正确",
            f"A unified social credit code has 18 characters; got {len(number)}.",
            field,
        ) from None
    except InvalidFormat:
        if not _uscc_letter_prefix(number):
            raise _fail(
                _USCC,
                "format",
                f"{_USCC_ZH}格式不正确",
                "Characters 3-8 must be digits, the others digits or upper-case letters "
                "except I, O, Z, S, V (GB 32100).",
                field,
            ) from None
        if number[17] == uscc.calc_check_digit(number):
            return number
        raise _uscc_checksum(field) from None
    except InvalidChecksum:
        raise _uscc_checksum(field) from None
    except InvalidComponent:
        raise _fail(
            _USCC,
            "component",
            f"{_USCC_ZH}组成部分无效",
            "A component of the unified social credit code is invalid.",
            field,
        ) from None


def _uscc_letter_prefix(number: str) -> bool:
    """True for an otherwise well-formed USCC with a letter among its first two characters."""
    return (
        len(number) == 18
        and all(c in _USCC_ALPHABET for c in number)
        and isdigits(number[2:8])
        and not isdigits(number[:2])
    )


def _uscc_checksum(field: str | None) -> InvalidInput:
    return _fail(
        _USCC,
        "checksum",
        f"{_USCC_ZH}校验码错误",
        "The check character of the unified social credit code does not match (GB 32100).",
        field,
    )


def uscc_check_char(first17: str) -> str:
    """The GB 32100 check character for the first 17 characters of a USCC."""
    if not isinstance(first17, str) or any(c not in _USCC_ALPHABET for c in first17):
        raise _fail(
            _USCC,
            "format",
            f"{_USCC_ZH}格式不正确",
            "Only digits and upper-case letters except I, O, Z, S, V are allowed.",
            None,
        )
    if len(first17) != 17:
        raise _fail(
            _USCC,
            "length",
            f"{_USCC_ZH}长度不正确",
            f"Expected the first 17 characters; got {len(first17)}.",
            None,
        )
    return str(uscc.calc_check_digit(first17))


# --------------------------------------------------------------------------- bank card

_CARD = "bank_card"
_CARD_ZH = "银行卡号"


def parse_bank_card(value: str | None, *, field: str | None = None) -> str:
    """Validate a bank card number (12..19 digits, Luhn); spaces and dashes are ignored.

    Returns the bare digits.
    """
    number = _normalise(value, _CARD, _CARD_ZH, "bank card number", field)
    if not isdigits(number):
        raise _card_format(field)
    if not BANK_CARD_MIN_DIGITS <= len(number) <= BANK_CARD_MAX_DIGITS:
        raise _fail(
            _CARD,
            "length",
            f"{_CARD_ZH}长度不正确",
            f"A bank card number has {BANK_CARD_MIN_DIGITS} to {BANK_CARD_MAX_DIGITS} digits; "
            f"got {len(number)}.",
            field,
        )
    try:
        luhn.validate(number)
    except InvalidChecksum:
        raise _fail(
            _CARD,
            "checksum",
            f"{_CARD_ZH}校验位错误",
            "The bank card number fails the Luhn check.",
            field,
        ) from None
    except ValidationError:  # pragma: no cover - digits are checked above
        raise _card_format(field) from None
    return number


def _card_format(field: str | None) -> InvalidInput:
    return _fail(
        _CARD,
        "format",
        f"{_CARD_ZH}格式不正确",
        "A bank card number may contain only digits, spaces and dashes.",
        field,
    )


def luhn_check_digit(partial: str) -> str:
    """The Luhn check digit to append to ``partial`` (a non-empty string of digits)."""
    if not isinstance(partial, str) or not isdigits(partial):
        raise _fail(_CARD, "format", f"{_CARD_ZH}格式不正确", "Only digits are allowed.", None)
    return str(luhn.calc_check_digit(partial))
