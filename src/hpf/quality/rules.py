"""The data quality rules, kept as data: ``rules/<dimension>.json``, one file per rule family
(completeness, validity, consistency, uniqueness, timeliness).

Each rule has a stable ``id`` (``Q-<DIM>-…``: the answer key of planted defects and the scan's
``--json`` output meet on it), its ``table`` (the center table it judges, for the score per
table), the kind of ``object`` a finding names (a member's or an employer's account number, a
loan id), a ``severity``, a Chinese title and explanation, the fix path (``fix_zh``, the owning
service ``fix_service`` and the page ``fix_page``), and the named set-based ``check`` that
implements it with its ``params``. The checks' SQL lives in ``hpf.quality.checks``,
parameterised by these data. :func:`load` reads and checks the files once.

Pure: standard library and the kernel only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from hpf.kernel.findings import Severity


class Dimension(StrEnum):
    COMPLETENESS = "completeness"
    VALIDITY = "validity"
    CONSISTENCY = "consistency"
    UNIQUENESS = "uniqueness"
    TIMELINESS = "timeliness"

    @property
    def label_zh(self) -> str:
        return _DIMENSION_ZH[self]


_DIMENSION_ZH = {
    Dimension.COMPLETENESS: "完整性",
    Dimension.VALIDITY: "有效性",
    Dimension.CONSISTENCY: "一致性",
    Dimension.UNIQUENESS: "唯一性",
    Dimension.TIMELINESS: "及时性",
}

OBJECT_ZH = {"member": "个人账号", "employer": "单位账号", "loan": "贷款编号"}
TABLE_ZH = {
    "member": "个人账户",
    "employer": "单位账户",
    "remittance": "汇缴清册",
    "remittance_row": "汇缴清册明细",
    "loan": "贷款",
}
_KEYS = frozenset(
    {"id", "table", "object", "severity", "title_zh", "explanation_zh", "fix_zh", "fix_service", "fix_page"}
    | {"check", "params"}
)


class RuleError(ValueError):
    """A rule file that does not hold: the suite and the scan refuse it."""


@dataclass(frozen=True)
class Rule:
    id: str
    dimension: Dimension
    table: str
    object: str  # member | employer | loan
    severity: Severity
    title_zh: str
    explanation_zh: str
    fix_zh: str
    fix_service: str
    fix_page: str
    check: str
    params: Mapping[str, Any]

    @property
    def object_zh(self) -> str:
        return OBJECT_ZH[self.object]

    @property
    def table_zh(self) -> str:
        return TABLE_ZH.get(self.table, self.table)


def _rule(dimension: Dimension, raw: Mapping[str, Any], checks: frozenset[str]) -> Rule:
    where = f"{dimension.value}.json: rule {raw.get('id')!r}"
    if set(raw) != _KEYS:
        raise RuleError(f"{where}: keys {sorted(set(raw) ^ _KEYS)} wrong")
    prefix = f"Q-{dimension.value[:3].upper()}-"
    if not str(raw["id"]).startswith(prefix) or len(raw["id"]) > 39:
        raise RuleError(f"{where}: the id must start with {prefix} (at most 39 characters)")
    if raw["object"] not in OBJECT_ZH or raw["table"] not in TABLE_ZH:
        raise RuleError(f"{where}: unknown object {raw['object']!r} or table {raw['table']!r}")
    if checks and raw["check"] not in checks:
        raise RuleError(f"{where}: no check named {raw['check']!r}")
    if raw["severity"] not in ("error", "warning"):
        raise RuleError(f"{where}: severity is error or warning")
    return Rule(
        id=raw["id"], dimension=dimension, table=raw["table"], object=raw["object"],
        severity=Severity(raw["severity"]), title_zh=raw["title_zh"], explanation_zh=raw["explanation_zh"],
        fix_zh=raw["fix_zh"], fix_service=raw["fix_service"], fix_page=raw["fix_page"], check=raw["check"],
        params=MappingProxyType(dict(raw["params"])),
    )  # fmt: skip


def read_rules(checks: frozenset[str] = frozenset()) -> tuple[Rule, ...]:
    """Every rule of every family file, in file order; ``checks``: the check names that exist
    (checked when given)."""
    found: list[Rule] = []
    for dimension in Dimension:
        text = resources.files("hpf.quality").joinpath("rules", f"{dimension.value}.json").read_text("utf-8")
        raw = json.loads(text)
        if raw.get("dimension") != dimension.value or set(raw) != {"dimension", "rules"}:
            raise RuleError(f"{dimension.value}.json: must hold its dimension and its rules")
        found += [_rule(dimension, r, checks) for r in raw["rules"]]
    ids = [r.id for r in found]
    if len(set(ids)) != len(ids):
        raise RuleError(f"rule ids repeat: {sorted({i for i in ids if ids.count(i) > 1})}")
    return tuple(found)


@cache
def load(checks: frozenset[str] = frozenset()) -> tuple[Rule, ...]:
    return read_rules(checks)


def rule_of(rule_id: str, rules: tuple[Rule, ...]) -> Rule | None:
    return next((r for r in rules if r.id == rule_id), None)
