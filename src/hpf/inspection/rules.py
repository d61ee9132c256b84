"""The audit rule pack as data, and the case state machine (pure).

``rules.json`` holds each rule's stable id, titles, severity, the kind of object its findings
name, what an auditor does about one, and its parameters; the SQL that finds them is in
``hpf.inspection.pack`` under the same id. A case (稽查案件) opens on a rule's first finding about
an object and stays that case across runs; it is assigned, investigated (notes) and concluded:
confirmed (违规属实, with the money to recover in integer fen) or cleared (排除, with a reason).

Pure: standard library and ``hpf.kernel`` only.
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

from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.kernel.findings import Severity
from hpf.kernel.money import require_fen

OBJECT_KINDS = ("employer", "member", "application", "journal_entry", "loan")
OBJECT_ZH = {
    "employer": "单位账号",
    "member": "个人账号",
    "application": "提取申请号",
    "journal_entry": "记账凭证号",
    "loan": "贷款编号",
}


@dataclass(frozen=True)
class Rule:
    """One rule of the pack (``rules.json``)."""

    id: str
    title_zh: str
    title_en: str
    severity: Severity
    object: str  # one of OBJECT_KINDS
    action_zh: str  # what an auditor does about a finding
    params: Mapping[str, int]


@cache
def rules() -> tuple[Rule, ...]:
    """The pack, in the file's order."""
    raw = json.loads(resources.files("hpf.inspection").joinpath("rules.json").read_text("utf-8"))
    found = tuple(_rule(r) for r in raw["rules"])
    ids = [r.id for r in found]
    if len(set(ids)) != len(ids):
        raise ValueError(f"rules.json: a rule id appears twice: {ids}")
    return found


def _rule(raw: Mapping[str, Any]) -> Rule:
    if raw["object"] not in OBJECT_KINDS:
        raise ValueError(f"rules.json: {raw['id']}: unknown object kind {raw['object']!r}")
    params = {str(k): int(v) for k, v in raw["params"].items()}
    return Rule(
        raw["id"], raw["title_zh"], raw["title_en"], Severity(raw["severity"]), raw["object"],
        raw["action_zh"], MappingProxyType(params),
    )  # fmt: skip


def rule_of(rule_id: str) -> Rule:
    for rule in rules():
        if rule.id == rule_id:
            return rule
    raise InvalidInput("inspection.unknown_rule", "未知的稽查规则", f"no rule {rule_id!r}", field="rule")


# ------------------------------------------------------------------------------------- cases


class CaseState(StrEnum):
    OPEN = "open"  # 待分派
    ASSIGNED = "assigned"  # 已分派
    INVESTIGATING = "investigating"  # 调查中
    CONFIRMED = "confirmed"  # 违规属实
    CLEARED = "cleared"  # 已排除


STATE_ZH = {
    CaseState.OPEN: "待分派",
    CaseState.ASSIGNED: "已分派",
    CaseState.INVESTIGATING: "调查中",
    CaseState.CONFIRMED: "违规属实",
    CaseState.CLEARED: "已排除",
}
CONCLUDED = frozenset({CaseState.CONFIRMED, CaseState.CLEARED})


class Step(StrEnum):
    OPENED = "opened"  # the scan found it first
    ASSIGNED = "assigned"
    NOTED = "noted"  # an investigation note
    CONFIRMED = "confirmed"
    CLEARED = "cleared"


STEP_ZH = {
    Step.OPENED: "立案",
    Step.ASSIGNED: "分派",
    Step.NOTED: "调查记录",
    Step.CONFIRMED: "认定违规",
    Step.CLEARED: "排除疑点",
}

# The states a step may start from, and where it leads (None: the state does not change).
_FROM: dict[Step, tuple[frozenset[CaseState], CaseState | None]] = {
    Step.ASSIGNED: (
        frozenset({CaseState.OPEN, CaseState.ASSIGNED, CaseState.INVESTIGATING}),
        None,
    ),
    Step.NOTED: (frozenset({CaseState.ASSIGNED, CaseState.INVESTIGATING}), CaseState.INVESTIGATING),
    Step.CONFIRMED: (frozenset({CaseState.ASSIGNED, CaseState.INVESTIGATING}), CaseState.CONFIRMED),
    Step.CLEARED: (frozenset({CaseState.ASSIGNED, CaseState.INVESTIGATING}), CaseState.CLEARED),
}


def next_state(state: CaseState, step: Step) -> CaseState:
    """Where ``step`` takes a case in ``state``; refused when the state does not allow it.

    Assigning an open case makes it assigned; re-assigning keeps the state it had.
    """
    allowed, target = _FROM[step]
    if state not in allowed:
        raise IllegalTransition(
            "inspection.case_state",
            f"案件{STATE_ZH[state]}，不能{STEP_ZH[step]}",
            f"a case in state {state.value} cannot take step {step.value}",
            state=state.value,
        )
    if target is None:
        return CaseState.ASSIGNED if state is CaseState.OPEN else state
    return target


def require_text(value: str, field: str, title_zh: str, limit: int = 500) -> str:
    """A note, a reason or an assignee: not blank, at most ``limit`` characters."""
    text = " ".join(value.split())
    if not text:
        raise InvalidInput(
            "inspection.text_required", f"请填写{title_zh}", f"{field} is required", field=field
        )
    if len(text) > limit:
        raise InvalidInput(
            "inspection.text_too_long", f"{title_zh}不能超过{limit}个字", f"{field} is too long", field=field
        )
    return text


def require_recovery(value: object) -> int:
    """The money to recover of a confirmed case: integer fen, zero or more."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            "inspection.recover_fen", "应追回金额须为不小于零的整数（分）", "recover_fen must be an integer ≥ 0",
            field="recover_fen",
        )  # fmt: skip
    return require_fen(value, "recover_fen")
