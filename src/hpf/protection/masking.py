"""Masking (脱敏) for API responses, pages, logs and exports. Pure functions.

``mask(value, kind)`` hides part of one value; ``mask_record(table, record, can_unmask=…)``
masks every field of a row that ``hpf.protection.classification`` declares with a masking kind,
unless the viewer holds the unmask permission (the caller checks the permission and writes the
``member.unmask`` audit row; this module only transforms values). Records are plaintext:
decrypt tokens before masking.

Kinds (masked characters become ``*``; separators such as spaces and ``-`` in numbers stay):

=============== ============================== =====================================
kind            example                        rule
=============== ============================== =====================================
resident_id     ``1****************4``         the last character, and the first when
                                               it is a mainland province group (1–6)
phone           ``138****0000``                first 3 and last 4 digits, at least 4
                ``0531-****6066``              hidden; a landline keeps its area code
bank_account,   ``6222***********0123``        first 4 and last 4 digits, at least 8
bank_card                                      hidden
name            ``张*三``, ``张*``, ``欧**娜``   first and last character (2 chars: first)
birth_date      ``1990-**-**``                 the year
address         ``北京市朝阳区****``             up to the county-level unit (区/县/旗,
                                               else the city), then a fixed ``****``
account_no      unchanged                      account numbers are not masked
full            ``****``                       everything
=============== ============================== =====================================

**Masks do not combine** (decision 0017). A mask must not show what another field stored in
clear completes. The birth date and the sex are stored in clear (member rows, and they are
characters 7–14 and 17 of an ID number), so an ID number's mask shows no birth date, no
sequence number and no county: with the birth date and sex known, at least ~25,000 ID numbers
(region × sequence, one in eleven kept by the check digit) fit a mask. The first character (the
group of provinces) is shown only for the mainland groups 1–6, each with hundreds of counties; a
7, 8 or 9 (Taiwan, Hong Kong, Macao and their residence permits) would name the region.
A phone keeps at least four digits hidden (10,000 numbers), a card or account at least eight
(10,000,000 with the Luhn digit, still 100,000 if the bank's six-digit BIN is guessed).

Short or odd inputs never reveal most of a value: when a number is too short to keep its
head and tail with enough of it hidden (a third of it, and the kind's minimum), only its last
quarter (at most the usual tail) stays. ``*`` counts as a character, so masking a masked value
again gives the same or a stricter mask (old stored masks are re-masked that way).
``None`` stays ``None``; an empty string stays empty.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, overload

from hpf.protection.classification import UnclassifiedField, declared_tables, table_fields

KINDS = frozenset(
    {
        "resident_id",
        "phone",
        "bank_account",
        "bank_card",
        "name",
        "birth_date",
        "address",
        "account_no",
        "full",
    }
)
_FIXED = "****"
_HEAD_TAIL = {"resident_id": (1, 1), "phone": (3, 4), "bank_account": (4, 4), "bank_card": (4, 4)}
# The fewest characters a mask of each kind hides (besides a third of the value).
_MIN_HIDDEN = {"resident_id": 7, "phone": 4, "bank_account": 8, "bank_card": 8}
# First characters of an ID number that leave hundreds of regions open (GB/T 2260 groups 1–6).
_MAINLAND_GROUPS = frozenset("123456")
# County-level units end in 区/县/旗; these words end in 区 but are not one (自治区 and 特别行政区
# are provinces, the rest are places inside a district).
_COUNTY_ENDS = ("区", "县", "旗")
_NOT_COUNTY = (
    "自治区",
    "行政区",
    "小区",
    "社区",
    "园区",
    "校区",
    "景区",
    "厂区",
    "街区",
    "片区",
    "营区",
    "院区",
)
# A landline: area code (010, 02x, or 0 + three digits), an optional separator, 7–8 digits.
_LANDLINE = re.compile(r"^(0(?:[12][0-9]|[3-9][0-9]{2}))([-\s]?)([0-9*]{7,8})$")
_ADMIN_SCAN = 24  # province + prefecture + county names fit in this many characters


def _partial(value: str, head: int, tail: int, min_hidden: int = 1) -> str:
    positions = [i for i, ch in enumerate(value) if ch.isalnum() or ch == "*"]
    n = len(positions)
    if n - head - tail < max(min_hidden, n // 3):
        head, tail = 0, min(tail, n // 4)
    keep = set(positions[:head]) | set(positions[n - tail :] if tail else ())
    hide = set(positions) - keep
    return "".join("*" if i in hide else ch for i, ch in enumerate(value))


def _name(value: str) -> str:
    if len(value) <= 1:
        return "*" * len(value)
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def _address(value: str) -> str:
    cut = 0
    head = value[:_ADMIN_SCAN]
    for i, ch in enumerate(head):
        if i >= 1 and ch in _COUNTY_ENDS and not any(head[: i + 1].endswith(w) for w in _NOT_COUNTY):
            cut = i + 1
            break
    if not cut:
        for i, ch in enumerate(head):
            if ch == "市" and i >= 1 and head[i + 1 : i + 2] != "场":
                cut = i + 1  # the last city (a county-level city follows its prefecture)
    if not cut:
        province = head.find("省")
        cut = province + 1 if province >= 1 else 0
    return value if cut >= len(value) else value[:cut] + _FIXED


def _landline(area: str, separator: str, local: str) -> str:
    """A landline keeps its area code (a city, not a person) and the last four digits of the
    local number (three of a seven-digit one), so that at least four stay hidden."""
    tail = 4 if len(local) >= 8 else 3
    return f"{area}{separator}{'*' * (len(local) - tail)}{local[-tail:]}"


def _birth_date(value: str) -> str:
    if len(value) >= 4 and value[:4].isdigit():
        return value[:4] + "".join("*" if ch.isalnum() else ch for ch in value[4:])
    return _FIXED


@overload
def mask(value: None, kind: str) -> None: ...
@overload
def mask(value: str | date | int, kind: str) -> str: ...
def mask(value: str | date | int | None, kind: str) -> str | None:
    """``value`` with part hidden according to ``kind`` (see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown masking kind {kind!r}; known: {sorted(KINDS)}")
    if value is None:
        return None
    text = value.isoformat() if isinstance(value, date) else str(value)
    if kind == "account_no" or not text:
        return text
    if kind == "phone" and (landline := _LANDLINE.match(text)) is not None:
        return _landline(*landline.groups())
    if kind in _HEAD_TAIL:
        head, tail = _HEAD_TAIL[kind]
        if kind == "resident_id" and text.lstrip()[:1] not in _MAINLAND_GROUPS:
            head = 0
        return _partial(text, head, tail, _MIN_HIDDEN[kind])
    if kind == "name":
        return _name(text)
    if kind == "address":
        return _address(text)
    if kind == "birth_date":
        return _birth_date(text)
    return _FIXED  # full


def _mask_snapshot(value: Any, subject_table: Any, keep: frozenset[str]) -> Any:
    """A history snapshot (changed fields of a member or employer), masked as that table's row."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return _FIXED
    if isinstance(subject_table, str) and subject_table in declared_tables():
        return mask_record(subject_table, value, can_unmask=False, keep=keep)
    return dict.fromkeys(value, _FIXED)


def mask_record(
    table: str, record: Mapping[str, Any], *, can_unmask: bool, keep: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """A copy of ``record`` with every field declared with a masking kind masked.

    With ``can_unmask`` the record comes back unchanged (a copy); ``keep`` names masking kinds
    the viewer sees in clear anyway (staff work with names). Keys that are not columns of
    ``table`` (joined or computed values) pass through: classify them on their own table. A
    table with no declaration at all raises ``UnclassifiedField`` rather than leak.
    ``account_history.before/after`` snapshots are masked as rows of the table named by the
    record's ``subject_kind`` (``member``/``employer``).
    """
    fields = table_fields(table)
    if not fields:
        raise UnclassifiedField(f"table {table!r} is not declared in hpf.protection.classification")
    if can_unmask:
        return dict(record)
    out: dict[str, Any] = {}
    for key, value in record.items():
        field = fields.get(key)
        if field is None or field.masking is None or field.masking in keep:
            out[key] = value
        elif field.masking == "snapshot":
            out[key] = _mask_snapshot(value, record.get("subject_kind"), keep)
        else:
            out[key] = mask(value, field.masking)
    return out
