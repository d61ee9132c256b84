"""Account rules: states, legal transitions, validation of what is registered, numbering.

Pure: standard library and ``hpf.kernel`` only. States and their codes follow REFERENCE §1.5
(个人账户状态 GRZHZT, 单位账户状态 DWZHZT); business type codes follow §1.4.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from hpf.kernel.codes import require_code
from hpf.kernel.errors import IllegalTransition, InvalidInput
from hpf.kernel.identifiers import luhn_check_digit, parse_resident_id, parse_uscc


class MemberState(StrEnum):
    NORMAL = "01"  # 正常
    SEALED = "02"  # 封存
    CLOSED_MERGED = "03"  # 合并销户
    CLOSED_TRANSFERRED = "04"  # 外部转出销户
    CLOSED_WITHDRAWN = "05"  # 提取销户
    FROZEN = "06"  # 冻结


class EmployerState(StrEnum):
    NORMAL = "01"  # 正常
    OPENED = "02"  # 开户 (registered, nothing remitted yet)
    DEFERRED = "03"  # 缓缴
    CLOSED = "04"  # 销户
    SEALED = "05"  # 封存


MEMBER_CLOSED = frozenset(
    {MemberState.CLOSED_MERGED, MemberState.CLOSED_TRANSFERRED, MemberState.CLOSED_WITHDRAWN}
)


class CloseKind(StrEnum):
    """Why a member account closes; each closes into its own state."""

    MERGED = "merged"
    TRANSFERRED_OUT = "transferred_out"
    WITHDRAWN = "withdrawn"


CLOSE_STATE = {
    CloseKind.MERGED: MemberState.CLOSED_MERGED,
    CloseKind.TRANSFERRED_OUT: MemberState.CLOSED_TRANSFERRED,
    CloseKind.WITHDRAWN: MemberState.CLOSED_WITHDRAWN,
}

# Business type codes (归集和提取业务类型, REFERENCE §1.4) recorded on history rows.
BUSINESS_TYPE = {
    "open": "03",
    "reopen": "03",
    "unseal": "04",
    "seal": "05",
    "transfer": "06",
    "defer": "13",
    "end_deferral": "13",
    "freeze": "14",
    "unfreeze": "15",
    "change": "70",
    "close": "72",
    "activate": "99",
    "adjust": "10",
}

_MEMBER_FROM: dict[str, frozenset[MemberState]] = {
    "change": frozenset({MemberState.NORMAL, MemberState.SEALED, MemberState.FROZEN}),
    "seal": frozenset({MemberState.NORMAL}),
    "unseal": frozenset({MemberState.SEALED}),
    "freeze": frozenset({MemberState.NORMAL, MemberState.SEALED}),
    "unfreeze": frozenset({MemberState.FROZEN}),
    "transfer": frozenset({MemberState.NORMAL, MemberState.SEALED}),
    "close": frozenset({MemberState.NORMAL, MemberState.SEALED}),
    "reopen": MEMBER_CLOSED,
}

_EMPLOYER_FROM: dict[str, frozenset[EmployerState]] = {
    "change": frozenset(set(EmployerState) - {EmployerState.CLOSED}),
    "activate": frozenset({EmployerState.OPENED}),
    "defer": frozenset({EmployerState.NORMAL, EmployerState.OPENED}),
    "end_deferral": frozenset({EmployerState.DEFERRED}),
    "seal": frozenset({EmployerState.NORMAL, EmployerState.OPENED, EmployerState.DEFERRED}),
    "unseal": frozenset({EmployerState.SEALED}),
    "close": frozenset(set(EmployerState) - {EmployerState.CLOSED}),
    "take_members": frozenset({EmployerState.NORMAL, EmployerState.OPENED, EmployerState.DEFERRED}),
}

_ZH_MEMBER = {
    "01": "正常",
    "02": "封存",
    "03": "合并销户",
    "04": "外部转出销户",
    "05": "提取销户",
    "06": "冻结",
}
_ZH_EMPLOYER = {"01": "正常", "02": "开户", "03": "缓缴", "04": "销户", "05": "封存"}
_ZH_ACTION = {
    "change": "变更",
    "adjust": "调基调比",
    "seal": "封存",
    "unseal": "启封",
    "freeze": "冻结",
    "unfreeze": "解冻",
    "transfer": "内部转移",
    "close": "销户",
    "reopen": "重新开户",
    "activate": "启用",
    "defer": "缓缴",
    "end_deferral": "结束缓缴",
    "take_members": "接收职工",
}


def require_member_transition(action: str, state: str) -> None:
    if MemberState(state) not in _MEMBER_FROM[action]:
        raise IllegalTransition(
            f"member.illegal_transition.{action}",
            f"个人账户状态为“{_ZH_MEMBER.get(state, state)}”，不能{_ZH_ACTION[action]}",
            f"a member account in state {state} cannot be {action.replace('_', ' ')}",
            state=state,
            action=action,
        )


def require_employer_transition(action: str, state: str) -> None:
    if EmployerState(state) not in _EMPLOYER_FROM[action]:
        raise IllegalTransition(
            f"employer.illegal_transition.{action}",
            f"单位账户状态为“{_ZH_EMPLOYER.get(state, state)}”，不能{_ZH_ACTION[action]}",
            f"an employer account in state {state} cannot {action.replace('_', ' ')}",
            state=state,
            action=action,
        )


def state_name_zh(kind: str, state: str) -> str:
    return (_ZH_MEMBER if kind == "member" else _ZH_EMPLOYER).get(state, state)


# ------------------------------------------------------------------------------- validation

_PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
_BANK_ACCOUNT = re.compile(r"^\d{8,32}$")
_NAME = re.compile(r"^[\u3400-\u9fff\u00b7A-Za-z ]{1,60}$")


def _bad(field: str, code: str, title: str, detail: str) -> InvalidInput:
    return InvalidInput(code, title, detail, field=field)


def clean_text(value: str | None, field: str, *, max_len: int, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise _bad(field, "field.required", f"{field} 不能为空", f"{field} is required")
    if len(text) > max_len:
        raise _bad(field, "field.too_long", f"{field} 过长", f"{field} exceeds {max_len} characters")
    return text


def clean_person_name(value: str | None, field: str = "name") -> str:
    name = clean_text(value, field, max_len=60)
    if not _NAME.match(name):
        raise _bad(field, "name.format", "姓名只能包含汉字、间隔号或字母", f"{field}: {name!r} is not a name")
    return name


def clean_phone(value: str | None, field: str = "phone", required: bool = True) -> str | None:
    text = (value or "").strip().replace(" ", "")
    if not text and not required:
        return None
    if not _PHONE.match(text):
        raise _bad(
            field,
            "phone.format",
            "电话号码格式错误",
            f"{field}: {value!r} is not a mobile or landline number",
        )
    return text


def clean_bank_account(value: str | None, field: str = "bank_account_no") -> str:
    text = (value or "").replace(" ", "").replace("-", "")
    if not _BANK_ACCOUNT.match(text):
        raise _bad(
            field, "bank_account.format", "银行账号应为8至32位数字", f"{field}: 8 to 32 digits required"
        )
    return text


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


@dataclass(frozen=True)
class RateBounds:
    """The allowed contribution rates (national default 5%–12%, REFERENCE §1.2).

    The services build it from the center's policy for the business date
    (``hpf.policy``: ``employer_rate_min/max``, ``member_rate_min/max``), so a center that
    narrows its range refuses rates outside it; ``member`` is the member rate's range when it
    differs from the employer rate's.
    """

    low: Decimal
    high: Decimal
    member: tuple[Decimal, Decimal] | None = None

    def check(self, rate: Decimal, field: str) -> Decimal:
        low, high = self.member if field == "member_rate" and self.member else (self.low, self.high)
        if not isinstance(rate, Decimal) or not (low <= rate <= high):
            who = "个人" if field == "member_rate" else "单位"
            raise InvalidInput(
                "rate.out_of_range",
                f"{who}缴存比例须在{_pct(low)}至{_pct(high)}之间",
                f"{field} {rate} is outside {low}..{high}",
                field=field,
                low=str(low),
                high=str(high),
            )
        return rate


@dataclass(frozen=True)
class EmployerDetails:
    """What an employer registers (单位开户); every field already validated."""

    uscc: str
    name: str
    address: str
    legal_rep_name: str
    contact_name: str
    contact_phone: str
    bank_name: str
    bank_account_no: str
    payday: int
    employer_rate: Decimal
    member_rate: Decimal
    economic_type: str | None = None

    @classmethod
    def validate(cls, raw: dict[str, object], bounds: RateBounds) -> EmployerDetails:
        payday = raw.get("payday")
        if isinstance(payday, bool) or not isinstance(payday, int) or not 1 <= payday <= 31:
            raise _bad("payday", "payday.range", "发薪日应为1至31日", "payday must be a day 1..31")
        return cls(
            uscc=parse_uscc(str(raw.get("uscc") or "")),
            name=clean_text(_s(raw, "name"), "name", max_len=120),
            address=clean_text(_s(raw, "address"), "address", max_len=200),
            legal_rep_name=clean_person_name(_s(raw, "legal_rep_name"), "legal_rep_name"),
            contact_name=clean_person_name(_s(raw, "contact_name"), "contact_name"),
            contact_phone=clean_phone(_s(raw, "contact_phone"), "contact_phone") or "",
            bank_name=clean_text(_s(raw, "bank_name"), "bank_name", max_len=60),
            bank_account_no=clean_bank_account(_s(raw, "bank_account_no")),
            payday=payday,
            employer_rate=bounds.check(_rate(raw, "employer_rate"), "employer_rate"),
            member_rate=bounds.check(_rate(raw, "member_rate"), "member_rate"),
            economic_type=_optional_code(raw, "economic_type", "employer_economic_type"),
        )


@dataclass(frozen=True)
class MemberDetails:
    """What opening a member account needs (个人开户); validated."""

    resident_id: str
    name: str
    gender: str
    birth_date: date
    phone: str | None
    base_fen: int

    @classmethod
    def validate(cls, raw: dict[str, object], today: date) -> MemberDetails:
        rid = parse_resident_id(str(raw.get("resident_id") or ""), today=today)
        base = raw.get("base_fen")
        if isinstance(base, bool) or not isinstance(base, int) or base <= 0:
            raise _bad(
                "base_fen",
                "base.invalid",
                "缴存基数须为正整数（分）",
                "base_fen must be a positive integer of fen",
            )
        return cls(
            resident_id=rid.number,
            name=clean_person_name(_s(raw, "name")),
            gender=rid.gender,
            birth_date=rid.birth_date,
            phone=clean_phone(_s(raw, "phone"), required=False),
            base_fen=base,
        )


def _optional_code(raw: dict[str, object], key: str, table_id: str) -> str | None:
    """A code of ``table_id`` or None when blank; a code outside the table is refused, field named."""
    value = raw.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return require_code(table_id, value.strip() if isinstance(value, str) else value, field=key)


def _s(raw: dict[str, object], key: str) -> str | None:
    value = raw.get(key)
    return None if value is None else str(value)


def _rate(raw: dict[str, object], key: str) -> Decimal:
    value = raw.get(key)
    if isinstance(value, (float, bool)) or value is None:
        raise _bad(
            key, "rate.format", '缴存比例须为字符串形式的小数，如"0.12"', f"{key}: give a decimal string"
        )
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise _bad(key, "rate.format", "缴存比例格式错误", f"{key}: {value!r} is not a number") from None


# -------------------------------------------------------------------------------- numbering

ACCOUNT_KIND_DIGIT = {"employer": "1", "member": "2"}


def account_number(center_code: str, kind: str, seq: int) -> str:
    """``center(6) + kind(1) + sequence(9) + Luhn check digit`` — 17 digits, ≤ VARCHAR(20).

    No national format exists (REFERENCE §1.6); the check digit catches typing errors at the
    counter before a lookup is made.
    """
    if not (len(center_code) == 6 and center_code.isdigit()) or not 0 < seq < 10**9:
        raise ValueError("center code must be 6 digits and sequence 1..999,999,999")
    body = f"{center_code}{ACCOUNT_KIND_DIGIT[kind]}{seq:09d}"
    return body + luhn_check_digit(body)


def looks_like_account_number(text: str) -> bool:
    return len(text) == 17 and text.isdigit() and luhn_check_digit(text[:-1]) == text[-1]


# ------------------------------------------------------------------------------ 姓名全拼

COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "端木",
        "南宫",
        "西门",
        "独孤",
        "申屠",
    ]
)
# Surnames read differently from the character's common reading (pypinyin reads the character).
SURNAME_READINGS = {
    "曾": "ZENG", "覃": "QIN", "单": "SHAN", "解": "XIE", "仇": "QIU", "朴": "PIAO", "查": "ZHA",
    "区": "OU", "盖": "GE", "乐": "YUE", "缪": "MIAO", "翟": "ZHAI", "尉迟": "YU CHI", "长孙": "ZHANG SUN",
}  # fmt: skip


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name): compound surnames first, else the first character."""
    if name[:2] in COMPOUND_SURNAMES:
        return name[:2], name[2:]
    return name[:1], name[1:]
