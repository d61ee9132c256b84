"""Typed reads of an application's payload, for the item handlers (``hpf.services.handlers``).

A payload is the JSON the application form (or the API) submitted. A handler reads each field it
needs through :class:`Fields`: a field that is missing when required, or of the wrong shape,
raises an ``InvalidInput`` with code ``<prefix>.<field>`` (e.g. ``withdrawal.payload.cost_fen``),
a Chinese title and the field's name, so the submission is refused and nothing is stored.
Blank ("" or None) counts as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import MAX_FEN


def blank(value: object) -> bool:
    return value is None or value == ""


class Fields:
    def __init__(self, payload: Mapping[str, Any], prefix: str) -> None:
        self.payload, self.prefix = payload, prefix

    def bad(self, field: str, title_zh: str) -> InvalidInput:
        return InvalidInput(
            f"{self.prefix}.{field}", title_zh, f"payload field {field!r} is not valid", field=field
        )

    def fen(self, field: str, *, required: bool = False, positive: bool = False) -> int | None:
        """An amount in integer fen (≥ 0; > 0 when ``positive``)."""
        value = self.payload.get(field)
        if blank(value):
            if required:
                raise self.bad(field, "必填项未填写")
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < (1 if positive else 0):
            raise self.bad(field, "金额须为以分计的正整数" if positive else "金额须为以分计的非负整数")
        if value > MAX_FEN:  # a JSON integer may have any size; a BIGINT column may not
            raise self.bad(field, "金额超出允许范围")
        return value

    def integer(self, field: str, low: int, high: int) -> int:
        """A required whole number within [low, high] (digits in a string are accepted)."""
        value = self.payload.get(field)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.bad(field, f"须为{low}至{high}之间的整数")
        return value

    def day(self, field: str) -> date | None:
        value = self.payload.get(field)
        if blank(value):
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.bad(field, "日期格式应为YYYY-MM-DD") from None

    def text(self, field: str, *, required: bool = False, max_len: int = 60) -> str | None:
        """Text with its whitespace runs collapsed to one space; None when blank."""
        value = self.payload.get(field)
        found = " ".join(str(value).split()) if value is not None else ""
        if required and not found:
            raise self.bad(field, "必填项未填写")
        if len(found) > max_len:
            raise self.bad(field, f"最长{max_len}字")
        return found or None

    def choice(self, field: str, allowed: Mapping[str, str], default: str) -> str:
        """One of ``allowed``'s keys (``default`` when blank)."""
        value = self.text(field) or default
        if value not in allowed:
            raise self.bad(field, "可选值：" + "、".join(f"{k}（{v}）" for k, v in allowed.items()))
        return value
