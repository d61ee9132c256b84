"""Cross-center transfer (转移接续, REFERENCE §5): the pure rules.

- the 联系函编号 (§5.2): the transfer-in center's 6-digit code, the letter's date as YYMMDD and a
  4-digit sequence of that center and day (:func:`letter_no`, :func:`parse_letter_no`);
- the transfer's states on each side, the platform status code (§5.1: 01 联系函复核通过, 02
  联系函确认接收, 08 账户信息复核通过, 06 协商中, 00 正常办结 (20 协商后业务办结 when negotiated),
  05 转入撤销业务办结, 13 转出审核不通过, 40 转出失败业务办结) and the feedback code of each (0 已完成,
  1 失败, 2 处理中), and the legal moves;
- the old center's checks of a contact letter (:func:`out_checks`): the person's account found,
  sealed (封存), not frozen, no unsettled HPF loan, and the center's local extra condition (sealed
  for at least N months, policy ``transfer.out_min_sealed_months``, 0 = none);
- the working-day limits (kernel working days; the number of days is the center's policy
  ``transfer.out_decide_working_days`` / ``transfer.total_working_days``) and the overdue flag;
- what the transfer-out information says of the contribution history (开户年月, 缴至年月, the six
  months before 缴至年月 continuous) and which carried months are new at the receiving center.

Pure: standard library and ``hpf.kernel`` only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache

from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.kernel.findings import Finding
from hpf.kernel.workdays import add_working_days

LETTER_NO = re.compile(r"^(\d{6})(\d{2})(\d{2})(\d{2})(\d{4})$")


def letter_no(center_code: str, day: date, sequence: int) -> str:
    """The 联系函编号 of the ``sequence``-th letter ``center_code`` wrote on ``day``."""
    if not re.fullmatch(r"\d{6}", center_code):
        raise InvalidInput("transfer.center_code", "中心代码须为6位数字", f"bad center code {center_code!r}")
    if not 1 <= sequence <= 9999:
        raise InvalidInput(
            "transfer.letter_sequence",
            "当日联系函序号已用尽",
            f"letter sequence {sequence} is outside 1..9999",
        )
    return f"{center_code}{day:%y%m%d}{sequence:04d}"


@dataclass(frozen=True)
class LetterNo:
    center_code: str
    day: date
    sequence: int


def parse_letter_no(text: str) -> LetterNo:
    """The parts of a 联系函编号; refused when it is not one (bad length, no such date, seq 0)."""
    match = LETTER_NO.fullmatch(text)
    bad = InvalidInput("transfer.letter_no", "联系函编号格式不正确", f"not a contact letter number: {text!r}")
    if match is None:
        raise bad
    code, yy, mm, dd, seq = match.groups()
    try:
        day = date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        raise bad from None
    if int(seq) == 0:
        raise bad
    return LetterNo(code, day, int(seq))


# -- states ---------------------------------------------------------------------------------


class Side(StrEnum):
    IN = "in"  # this center is the transfer-in (new) center
    OUT = "out"  # this center is the transfer-out (old) center


class State(StrEnum):
    # transfer-in side
    LETTER_SENT = "letter_sent"  # 联系函已发出，等待转出地审核
    INFO_RECEIVED = "info_received"  # 转出信息已到，等待资金到账
    # transfer-out side
    RECEIVED = "received"  # 联系函已接收，待审核
    TRANSFERRED = "transferred"  # 已转出（资金划出、转出信息已发），等待转入地确认
    NEGOTIATING = "negotiating"  # 协商中: the new center asked to amend the transfer-out information
    PAYMENT_FAILED = "payment_failed"  # 资金划转失败
    # both: the other center was suspended when our message reached the hub (decision 0043):
    # held until staff send it again (the center back) or, before the money moved, cancel
    PEER_SUSPENDED = "peer_suspended"
    # both
    COMPLETED = "completed"
    REFUSED = "refused"
    CANCELLED = "cancelled"


STATE_ZH = {
    State.LETTER_SENT: "联系函已发出，等待转出地审核",
    State.INFO_RECEIVED: "转出信息已收到，等待资金到账",
    State.RECEIVED: "联系函已接收，待审核",
    State.TRANSFERRED: "已转出，等待转入地确认",
    State.NEGOTIATING: "协商中",
    State.PAYMENT_FAILED: "资金划转失败",
    State.PEER_SUSPENDED: "对方中心已暂停，待恢复后重新发送",
    State.COMPLETED: "已办结",
    State.REFUSED: "转出审核不通过",
    State.CANCELLED: "已撤销",
}

FINAL = frozenset({State.COMPLETED, State.REFUSED, State.CANCELLED, State.PAYMENT_FAILED})

# 平台状态码 of each state (REFERENCE §5.1).
PLATFORM_STATUS = {
    State.LETTER_SENT: "01",
    State.RECEIVED: "02",
    State.INFO_RECEIVED: "08",
    State.TRANSFERRED: "08",
    State.NEGOTIATING: "06",
    State.COMPLETED: "00",
    State.CANCELLED: "05",
    State.REFUSED: "13",
    State.PAYMENT_FAILED: "40",
    State.PEER_SUSPENDED: "01",  # at the old center: 08 (platform_status)
}
PEER_SUSPENDED_REASON = "对方中心已暂停"
# The state a held transfer waited in, and returns to when its messages are sent again.
HELD_FROM = {"in": "letter_sent", "out": "transferred"}


def platform_status(state: State, side: str) -> str:
    """The 平台状态码 of a transfer in ``state`` on ``side``: a held one keeps its step's code."""
    if state is State.PEER_SUSPENDED:
        return PLATFORM_STATUS[State(HELD_FROM[side])]
    return PLATFORM_STATUS[state]


STATUS_ZH = {
    "00": "正常办结",
    "01": "联系函复核通过",
    "02": "联系函确认接收",
    "05": "转入撤销业务办结",
    "06": "协商中",
    "08": "账户信息复核通过",
    "13": "转出审核不通过",
    "20": "协商后业务办结",
    "40": "转出失败业务办结",
}


def feedback_code(state: State) -> str:
    """反馈信息代码: 0 已完成 (completed, cancelled), 1 失败 (refused, payment failed), 2 处理中."""
    if state in (State.COMPLETED, State.CANCELLED):
        return "0"
    if state in (State.REFUSED, State.PAYMENT_FAILED):
        return "1"
    return "2"


MOVES: dict[Side, dict[State, frozenset[State]]] = {
    Side.IN: {
        State.LETTER_SENT: frozenset(
            {State.INFO_RECEIVED, State.REFUSED, State.CANCELLED, State.PEER_SUSPENDED}
        ),
        State.INFO_RECEIVED: frozenset({State.COMPLETED, State.NEGOTIATING, State.PAYMENT_FAILED}),
        State.NEGOTIATING: frozenset({State.INFO_RECEIVED, State.PAYMENT_FAILED}),  # amended info came
        # the letter never reached the old center: sent again, or cancelled here alone
        State.PEER_SUSPENDED: frozenset({State.LETTER_SENT, State.CANCELLED}),
    },
    Side.OUT: {
        State.RECEIVED: frozenset({State.TRANSFERRED, State.REFUSED, State.CANCELLED}),
        State.TRANSFERRED: frozenset(
            {State.COMPLETED, State.PAYMENT_FAILED, State.NEGOTIATING, State.PEER_SUSPENDED}
        ),
        State.NEGOTIATING: frozenset({State.TRANSFERRED, State.PAYMENT_FAILED}),  # amended: sent again
        # the money left, the information did not arrive: sent again (the bank may still fail it)
        State.PEER_SUSPENDED: frozenset({State.TRANSFERRED, State.PAYMENT_FAILED}),
    },
}


def can_move(side: Side, current: State, target: State) -> bool:
    return target in MOVES[side].get(current, frozenset())


def require_move(side: Side, current: State, target: State) -> None:
    if not can_move(side, current, target):
        raise IllegalTransition(
            "transfer.illegal_transition",
            f"转移接续业务当前状态为“{STATE_ZH[current]}”，不能变为“{STATE_ZH[target]}”",
            f"a transfer ({side.value}) in state {current.value} cannot become {target.value}",
        )


# -- the old center's checks ------------------------------------------------------------------

SEALED = "02"
FROZEN = "06"


@dataclass(frozen=True)
class OutFacts:
    """What the old center knows of the person a contact letter names."""

    found: bool  # an account with the letter's 原住房公积金账号 and the person's ID
    state: str | None  # GRZHZT
    sealed_on: date | None  # the last seal
    unsettled_loans: int
    balance_fen: int


def months_between(start: date, end: date) -> int:
    """Whole months from ``start`` to ``end`` (a month is complete on the same day of the month)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def out_checks(facts: OutFacts, today: date, min_sealed_months: int = 0) -> list[Finding]:
    """The old center's rules for a contact letter, each as checked (held or failed)."""
    found = Finding.rule(
        "transfer.account_found",
        facts.found,
        "联系函所列职工的住房公积金账户存在且身份信息一致"
        if facts.found
        else "未找到联系函所列职工的住房公积金账户",
        "the account and the person's ID match" if facts.found else "no account matches the letter",
    )
    if not facts.found:
        return [found]
    sealed = facts.state == SEALED
    findings = [
        found,
        Finding.rule(
            "transfer.not_frozen",
            facts.state != FROZEN,
            "账户未冻结" if facts.state != FROZEN else "账户已冻结，不能转出",
            f"account state {facts.state}",
        ),
        Finding.rule(
            "transfer.sealed",
            sealed,
            "账户已封存" if sealed else "账户未封存，须先由原单位办理封存",
            f"account state {facts.state}",
        ),
        Finding.rule(
            "transfer.no_unsettled_loan",
            facts.unsettled_loans == 0,
            "无未结清的住房公积金贷款"
            if facts.unsettled_loans == 0
            else f"有{facts.unsettled_loans}笔未结清的住房公积金贷款",
            f"{facts.unsettled_loans} unsettled loan(s)",
        ),
    ]
    if min_sealed_months > 0:
        months = months_between(facts.sealed_on, today) if sealed and facts.sealed_on else 0
        enough = sealed and months >= min_sealed_months
        findings.append(
            Finding.rule(
                "transfer.sealed_long_enough",
                enough,
                f"账户封存满{min_sealed_months}个月"
                if enough
                else f"账户封存不满{min_sealed_months}个月（本地规定）",
                f"sealed {months} month(s), {min_sealed_months} required by local policy",
            )
        )
    return findings


# -- working-day limits -------------------------------------------------------------------------


@cache
def due_on(start: date, days: int) -> date:
    """``days`` working days after ``start`` (the same for every letter of a day: kept)."""
    return add_working_days(start, days)


def is_overdue(state: State, due: date | None, today: date) -> bool:
    """A transfer not final by its due date is overdue (逾期), shown to staff and the member."""
    return due is not None and state not in FINAL and today > due


# -- the contribution history that moves with the money ------------------------------------------


def _index(month: str) -> int:
    if not re.fullmatch(r"\d{4}-\d{2}", month) or not 1 <= int(month[5:]) <= 12:
        raise InvalidInput("transfer.month", "缴存月份格式不正确", f"not a month YYYY-MM: {month!r}")
    return int(month[:4]) * 12 + int(month[5:]) - 1


def _month(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class HistorySummary:
    """开户年月 and 缴至年月 as YYYYMM; 缴至月份之前6个月是否连续缴存 as 1 (是) / 2 (否)."""

    opened_month: str
    paid_through: str | None
    six_months_continuous: str


def summarize(opened_on: date, months: Iterable[str]) -> HistorySummary:
    """The BDC905 summary of a member's deposited months (``YYYY-MM``)."""
    indexes = {_index(m) for m in months}
    if not indexes:
        return HistorySummary(f"{opened_on:%Y%m}", None, "2")
    last = max(indexes)
    continuous = all(last - k in indexes for k in range(6))
    return HistorySummary(f"{opened_on:%Y%m}", _month(last).replace("-", ""), "1" if continuous else "2")


def new_months(already: Iterable[str], carried: Iterable[str]) -> list[str]:
    """The carried months the receiving center does not count yet, in order: a month deposited
    at both centers (a double payment, corrected later by a refund) counts once."""
    have = {_index(m) for m in already}
    return [_month(i) for i in sorted({_index(m) for m in carried} - have)]
