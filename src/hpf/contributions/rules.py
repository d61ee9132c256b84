"""Remittance rules: months, the due month, and every check a remittance list must pass.

Pure: standard library, ``hpf.kernel`` and the policy's pure rules. A list is checked whole and
every row's problems are collected (never the first only), so an employer fixes the file once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum

from hpf.kernel.errors import InvalidInput
from hpf.kernel.findings import Finding
from hpf.policy.rules import Policy, check_base, check_monthly_amounts, contribution_parts


class Kind(StrEnum):
    REMITTANCE = "01"  # 汇缴
    BACK_PAYMENT = "02"  # 补缴


# ------------------------------------------------------------------------------------- months


def parse_month(text: str, field: str = "month") -> str:
    """``"2025-03"`` (also ``"202503"``) → ``"2025-03"``; anything else is refused."""
    raw = (text or "").strip()
    if len(raw) == 6 and raw.isdigit():
        raw = f"{raw[:4]}-{raw[4:]}"
    if not (len(raw) == 7 and raw[4] == "-" and raw[:4].isdigit() and raw[5:].isdigit()):
        raise InvalidInput(
            "month.format", "年月格式应为YYYY-MM", f"{field}: {text!r} is not YYYY-MM", field=field
        )
    if not 1 <= int(raw[5:]) <= 12:
        raise InvalidInput("month.format", "月份应在1至12之间", f"{field}: {text!r}", field=field)
    return raw


def add_months(month: str, n: int) -> str:
    index = int(month[:4]) * 12 + int(month[5:]) - 1 + n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_end(month: str) -> date:
    """The last day of a month: the value date of that month's allocations at month-end."""
    nxt = add_months(month, 1)
    return date(int(nxt[:4]), int(nxt[5:]), 1) - timedelta(days=1)


def due_month(paid_through: str | None, opened_on: date) -> str:
    """The month an employer must remit next: after 缴至年月, or its opening month if none yet."""
    return add_months(paid_through, 1) if paid_through else month_of(opened_on)


# ---------------------------------------------------------------------------------- list rows


@dataclass(frozen=True)
class ListRow:
    """One row of a remittance list as the employer sent it (清册)."""

    line: int  # 1-based row number in the file (header excluded), for error messages
    account_no: str
    name: str
    base_fen: int
    employer_fen: int
    member_fen: int


@dataclass(frozen=True)
class MemberFacts:
    """What the checks need to know of a member named in a list."""

    id: int
    name: str
    employer_id: int
    state: str
    base_fen: int


@dataclass(frozen=True)
class RowError:
    line: int
    account_no: str
    code: str
    title: str
    detail: str


@dataclass(frozen=True)
class CheckedRow:
    member_id: int
    base_fen: int
    employer_fen: int
    member_fen: int


ACTIVE_FOR = {Kind.REMITTANCE: frozenset({"01"}), Kind.BACK_PAYMENT: frozenset({"01", "02"})}


def check_list(
    rows: Sequence[ListRow],
    *,
    kind: Kind,
    employer_id: int,
    employer_rate: Decimal,
    member_rate: Decimal,
    members: Mapping[str, MemberFacts],
    policy: Policy,
) -> tuple[list[CheckedRow], list[RowError]]:
    """Check every row; return the rows to store, or every error found (then store nothing)."""
    errors: list[RowError] = []
    checked: list[CheckedRow] = []
    seen: dict[str, int] = {}
    if not rows:
        errors.append(RowError(0, "", "remittance.empty", "清册没有数据行", "the list has no rows"))
    for row in rows:
        found = _check_row(row, kind, employer_id, employer_rate, member_rate, members, policy, seen)
        errors += [RowError(row.line, row.account_no, f.code, f.message_zh, f.message_en) for f in found]
        if not found:
            checked.append(
                CheckedRow(members[row.account_no].id, row.base_fen, row.employer_fen, row.member_fen)
            )
        seen.setdefault(row.account_no, row.line)
    return (checked, []) if not errors else ([], errors)


def _check_row(
    row: ListRow,
    kind: Kind,
    employer_id: int,
    employer_rate: Decimal,
    member_rate: Decimal,
    members: Mapping[str, MemberFacts],
    policy: Policy,
    seen: Mapping[str, int],
) -> list[Finding]:
    if row.account_no in seen:
        return [Finding("remittance.duplicate_member", "同一职工在清册中重复",
                        f"account {row.account_no} already appears on line {seen[row.account_no]}")]  # fmt: skip
    member = members.get(row.account_no)
    if member is None or member.employer_id != employer_id:
        return [Finding("remittance.not_employee", "该职工不属于本单位",
                        f"account {row.account_no} is not a member of this employer")]  # fmt: skip
    found: list[Finding] = []
    if member.state not in ACTIVE_FOR[kind]:
        found.append(Finding("remittance.member_not_active", "职工账户状态不允许缴存",
                             f"account {row.account_no} is in state {member.state}"))  # fmt: skip
    if row.name and row.name != member.name:
        found.append(Finding("remittance.name_mismatch", "姓名与个人账户不符",
                             f"name {row.name!r} does not match the account holder"))  # fmt: skip
    if kind is Kind.REMITTANCE and row.base_fen != member.base_fen:
        found.append(Finding("remittance.base_not_registered", "缴存基数与登记基数不符，请先办理调基",
                             f"base {row.base_fen} fen ≠ registered base {member.base_fen} fen"))  # fmt: skip
    found += check_base(row.base_fen, policy)
    want_employer, want_member = contribution_parts(row.base_fen, employer_rate, member_rate, policy)
    if (row.employer_fen, row.member_fen) != (want_employer, want_member):
        found.append(Finding(
            "remittance.amount_mismatch", "月缴存额与缴存基数×比例不符",
            f"employer/member parts {row.employer_fen}/{row.member_fen} fen ≠ "
            f"{want_employer}/{want_member} fen (base × rate, rounded per policy)",
        ))  # fmt: skip
    found += check_monthly_amounts(row.employer_fen, row.member_fen, policy)
    return found


def totals(rows: Sequence[CheckedRow]) -> tuple[int, int, int]:
    """(employer part, member part, total) in fen."""
    employer = sum(r.employer_fen for r in rows)
    member = sum(r.member_fen for r in rows)
    return employer, member, employer + member
