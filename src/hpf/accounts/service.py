"""Account use cases. Each takes an open connection and a ``Context``; none commits.

Every change writes a history row (who, when, why, before, after) in the same transaction and
bumps the row's ``version``, so two concurrent changes to one account cannot both win.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Connection, Date, String, bindparam, case, cast, func, insert, literal, select, update

from hpf import events
from hpf.accounts.queries import member_profile_by_account
from hpf.accounts.rules import (
    BUSINESS_TYPE,
    CLOSE_STATE,
    MEMBER_CLOSED,
    SURNAME_READINGS,
    CloseKind,
    EmployerDetails,
    EmployerState,
    MemberDetails,
    MemberState,
    RateBounds,
    account_number,
    clean_person_name,
    clean_phone,
    clean_text,
    looks_like_account_number,
    require_employer_transition,
    require_member_transition,
    split_name,
)
from hpf.accounts.tables import account_history, account_sequence, employer, member
from hpf.db.metadata import UtcDateTime
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.kernel.identifiers import parse_resident_id
from hpf.kernel.money import format_yuan
from hpf.kernel.records import fields_of
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.policy.rules import check_base as policy_check_base
from hpf.policy.service import policy_at
from hpf.protection.protect import blind_index, to_plain, to_stored, without_secrets

# ------------------------------------------------------------------------------ typed results


@dataclass(frozen=True, slots=True)
class Employer:
    """An employer account (单位账户) with its personal fields in clear (masked on the way out)."""

    id: int
    account_no: str  # DWZH
    uscc: str
    name: str  # DWMC
    address: str
    legal_rep_name: str
    contact_name: str
    bank_name: str
    payday: int  # DWFXR
    employer_rate: Decimal  # DWJCBL
    member_rate: Decimal  # GRJCBL
    economic_type: str | None  # DWJJLX
    state: str  # DWZHZT
    opened_on: date
    closed_on: date | None
    deferral_from: str | None  # YYYY-MM
    deferral_to: str | None
    paid_through: str | None  # JZNY
    version: int
    contact_phone: str
    bank_account_no: str


def _employer_of(plain: Mapping[str, Any]) -> Employer:
    """An employer from its row in clear (``to_plain``)."""
    return Employer(
        id=plain["id"], account_no=plain["account_no"], uscc=plain["uscc"], name=plain["name"],
        address=plain["address"], legal_rep_name=plain["legal_rep_name"], contact_name=plain["contact_name"],
        bank_name=plain["bank_name"], payday=plain["payday"], employer_rate=plain["employer_rate"],
        member_rate=plain["member_rate"], economic_type=plain["economic_type"], state=plain["state"],
        opened_on=plain["opened_on"], closed_on=plain["closed_on"], deferral_from=plain["deferral_from"],
        deferral_to=plain["deferral_to"], paid_through=plain["paid_through"], version=plain["version"],
        contact_phone=plain["contact_phone"], bank_account_no=plain["bank_account_no"],
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Member:
    """A member account (个人账户) with its balances (fen) and personal fields in clear."""

    id: int
    account_no: str  # GRZH
    certificate_type: str  # ZJLX
    name: str  # XINGMING
    name_pinyin: str  # XMQP
    gender: str
    birth_date: date
    employer_id: int
    base_fen: int  # GRJCJS
    state: str  # GRZHZT
    state_before_freeze: str | None
    opened_on: date  # KHRQ
    closed_on: date | None  # XHRQ
    version: int
    resident_id: str  # ZJHM
    phone: str | None
    carried_fen: int
    current_fen: int
    balance_fen: int


@dataclass(frozen=True, slots=True)
class ListedMember(Member):
    """A member as a search lists it: with the employer's name and account number."""

    employer_name: str
    employer_account_no: str


_MEMBER_COLUMNS = tuple(f.name for f in dataclasses.fields(Member))[:-3]  # the row's, in clear


def _member_fields(plain: Mapping[str, Any], balances: tuple[int, int]) -> dict[str, Any]:
    carried, current = balances
    return {
        **{k: plain[k] for k in _MEMBER_COLUMNS},
        "carried_fen": carried,
        "current_fen": current,
        "balance_fen": carried + current,
    }


def _member_of(plain: Mapping[str, Any], balances: tuple[int, int]) -> Member:
    """A member from its row in clear (``to_plain``) and its (carried, current) balances."""
    return Member(**_member_fields(plain, balances))


def _listed_member_of(plain: Mapping[str, Any], balances: tuple[int, int]) -> ListedMember:
    """:func:`_member_of` with the employer's name and account number of the row."""
    return ListedMember(
        **_member_fields(plain, balances),
        employer_name=plain["employer_name"],
        employer_account_no=plain["employer_account_no"],
    )


@dataclass(frozen=True, slots=True)
class EmployerName:
    """An employer as named beside its id."""

    id: int
    name: str
    account_no: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One change of an account (who, when, why, before, after); snapshots keep no secret."""

    id: int
    subject_kind: str  # employer | member
    subject_id: int
    action: str
    business_type: str
    business_date: date
    recorded_at: datetime
    actor: str
    reason: str
    before: dict[str, object] | None
    after: dict[str, object] | None


@dataclass(frozen=True, slots=True)
class MemberFact:
    """What checking a contribution list needs of a member."""

    account_no: str
    id: int
    name: str
    employer_id: int
    state: str
    base_fen: int


@dataclass(frozen=True, slots=True)
class ActiveMember:
    """A member in state 正常 as an employer's list names it."""

    account_no: str
    name: str
    base_fen: int


# The national default, for callers without a database (the demo generator); the services
# check against the center's policy of the business date (``rate_bounds``).
DEFAULT_RATE_BOUNDS = RateBounds(Decimal("0.05"), Decimal("0.12"))


def rate_bounds(conn: Connection, on: date) -> RateBounds:
    """The employer and member rate ranges of the center's policy on ``on``."""
    policy = policy_at(conn, on)
    return RateBounds(
        policy.employer_rate_min, policy.employer_rate_max, (policy.member_rate_min, policy.member_rate_max)
    )


def check_base(conn: Connection, on: date, base_fen: int) -> int:
    """``base_fen``, or a refusal naming the policy's floor and cap (in yuan) on ``on``.

    Every place that sets a member's contribution base (opening, change, transfer, 调基) checks
    it here or through ``hpf.policy.rules.check_base``: before, an opening with a base of 2^62
    fen was stored and shown as 5.5×10^15 yuan in the list template.
    """
    policy = policy_at(conn, on)
    for finding in policy_check_base(base_fen, policy):
        raise InvalidInput(
            finding.code,
            f"{finding.message_zh}（缴存基数须在{format_yuan(policy.base_floor_fen)}元至"
            f"{format_yuan(policy.base_cap_fen)}元之间）",
            finding.message_en,
            field="base_fen",
            floor_fen=policy.base_floor_fen,
            cap_fen=policy.base_cap_fen,
        )
    return base_fen


SEQUENCE_KINDS = ("employer", "member")


def ensure_sequences(conn: Connection) -> None:
    known = set(conn.scalars(select(account_sequence.c.kind)))
    for kind in SEQUENCE_KINDS:
        if kind not in known:
            conn.execute(insert(account_sequence).values(kind=kind, last_value=0))


def reserve_numbers(conn: Connection, ctx: Context, kind: str, count: int = 1) -> list[str]:
    """Reserve ``count`` consecutive account numbers atomically (UPDATE … RETURNING)."""
    last = conn.execute(
        update(account_sequence)
        .where(account_sequence.c.kind == kind)
        .values(last_value=account_sequence.c.last_value + count)
        .returning(account_sequence.c.last_value)
    ).scalar_one()
    return [account_number(ctx.center_code, kind, seq) for seq in range(last - count + 1, last + 1)]


# ------------------------------------------------------------------------------------ helpers


def _jsonable(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, (date, Decimal)):
            value = str(value)
        out[key] = value
    return out


# The business event of each action: ``member.sealed``, ``employer.opened`` …
EVENT_OF = {
    "open": "opened", "reopen": "reopened", "unseal": "unsealed", "seal": "sealed", "transfer": "transferred",
    "defer": "deferred", "end_deferral": "deferral_ended", "freeze": "frozen", "unfreeze": "unfrozen",
    "change": "changed", "close": "closed", "activate": "activated", "adjust": "adjusted",
}  # fmt: skip


def _record(
    conn: Connection,
    ctx: Context,
    kind: str,
    subject_id: int,
    action: str,
    reason: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """The history row of a change and its business event (which names the fields that changed
    and the new state, never their personal values)."""
    _history(conn, ctx, kind, subject_id, action, reason, before, after)
    changed = dict(after or {})
    payload = {"action": action, "business_type": BUSINESS_TYPE[action], "changed": sorted(changed)}
    events.record(
        conn, ctx, f"{kind}.{EVENT_OF[action]}", kind, subject_id, {**payload, "state": changed.get("state")}
    )


def _history(
    conn: Connection,
    ctx: Context,
    kind: str,
    subject_id: int,
    action: str,
    reason: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    conn.execute(
        insert(account_history).values(
            subject_kind=kind,
            subject_id=subject_id,
            action=action,
            business_type=BUSINESS_TYPE[action],
            business_date=ctx.clock.today(),
            recorded_at=ctx.clock.now(),
            actor=ctx.actor,
            reason=reason[:200],
            before=_jsonable(without_secrets(kind, before)) if before is not None else None,
            after=_jsonable(without_secrets(kind, after)) if after is not None else None,
        )
    )


def _changed(before: Mapping[str, Any], values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the fields that change, before and after (history rows stay small)."""
    keys = [k for k, v in values.items() if before.get(k) != v]
    return {k: before.get(k) for k in keys}, {k: values[k] for k in keys}


def _update(conn: Connection, table: Any, current: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Optimistic update: succeeds only if nobody changed the row (``id``, ``version``) since it
    was read."""
    result = conn.execute(
        update(table)
        .where(table.c.id == current["id"], table.c.version == current["version"])
        .values(**to_stored(table.name, values), version=table.c.version + 1)
    )
    if result.rowcount != 1:
        raise Conflict(
            "account.concurrent_update",
            "账户已被他人修改，请刷新后重试",
            "the account changed since it was read; reload and retry",
        )


def _require_reason(reason: str | None) -> str:
    return clean_text(reason, "reason", max_len=200)


# ----------------------------------------------------------------------------------- employers


def get_employer(conn: Connection, account_no: str, *, for_update: bool = False) -> Employer:
    """The employer; ``for_update``: locked until the transaction ends (see ``get_member``)."""
    query = select(employer).where(employer.c.account_no == account_no)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    if row is None:
        raise NotFound("employer.not_found", "单位账户不存在", f"no employer with account {account_no}")
    return _employer_of(to_plain("employer", row))


def register_employer(conn: Connection, ctx: Context, raw: dict[str, object]) -> Employer:
    details = EmployerDetails.validate(raw, rate_bounds(conn, ctx.clock.today()))
    if conn.scalar(select(employer.c.id).where(employer.c.uscc == details.uscc)) is not None:
        raise Conflict(
            "employer.already_registered",
            "该统一社会信用代码已开户",
            f"an employer with USCC {details.uscc} is already registered",
            field="uscc",
        )
    values = {
        **details.__dict__,
        "account_no": reserve_numbers(conn, ctx, "employer")[0],
        "state": EmployerState.OPENED.value,
        "opened_on": ctx.clock.today(),
        "version": 1,
    }
    employer_id = conn.execute(
        insert(employer).values(**to_stored("employer", values)).returning(employer.c.id)
    ).scalar_one()
    ledger.open_employer_balances(conn, [employer_id])
    _record(conn, ctx, "employer", employer_id, "open", "单位开户", None, values)
    return get_employer(conn, values["account_no"])


_EMPLOYER_CHANGEABLE = (
    "name",
    "address",
    "legal_rep_name",
    "contact_name",
    "contact_phone",
    "bank_name",
    "bank_account_no",
    "payday",
    "employer_rate",
    "member_rate",
    "economic_type",
)


def change_employer(
    conn: Connection, ctx: Context, account_no: str, changes: dict[str, object], reason: str
) -> Employer:
    current = get_employer(conn, account_no, for_update=True)
    require_employer_transition("change", current.state)
    unknown = set(changes) - set(_EMPLOYER_CHANGEABLE)
    if unknown:
        raise InvalidInput(
            "field.not_changeable",
            "该字段不可变更",
            f"cannot change {sorted(unknown)}",
            fields=sorted(unknown),
        )
    merged = {**{k: getattr(current, k) for k in _EMPLOYER_CHANGEABLE}, "uscc": current.uscc, **changes}
    merged["employer_rate"] = str(merged["employer_rate"])
    merged["member_rate"] = str(merged["member_rate"])
    details = EmployerDetails.validate(merged, rate_bounds(conn, ctx.clock.today()))
    wanted = {k: getattr(details, k) for k in _EMPLOYER_CHANGEABLE}
    before, after = _changed(fields_of(current), wanted)
    if after:
        _update(conn, employer, fields_of(current), after)
        _record(conn, ctx, "employer", current.id, "change", _require_reason(reason), before, after)
    return get_employer(conn, account_no)


def _employer_transition(
    conn: Connection, ctx: Context, account_no: str, action: str, reason: str, values: dict[str, Any]
) -> Employer:
    current = get_employer(conn, account_no, for_update=True)
    require_employer_transition(action, current.state)
    before, after = _changed(fields_of(current), values)
    _update(conn, employer, fields_of(current), values)
    _record(conn, ctx, "employer", current.id, action, _require_reason(reason), before, after)
    return dataclasses.replace(current, **values)


def activate_employer(conn: Connection, ctx: Context, account_no: str) -> Employer:
    return _employer_transition(
        conn, ctx, account_no, "activate", "首次缴存", {"state": EmployerState.NORMAL.value}
    )


def defer_employer(
    conn: Connection, ctx: Context, account_no: str, from_month: str, to_month: str, reason: str
) -> Employer:
    for field, month in (("deferral_from", from_month), ("deferral_to", to_month)):
        if not _is_month(month):
            raise InvalidInput("month.format", "年月格式应为YYYY-MM", f"{field}: {month!r}", field=field)
    if to_month < from_month:
        raise InvalidInput("deferral.range", "缓缴结束年月早于开始年月", "deferral ends before it starts")
    return _employer_transition(
        conn,
        ctx,
        account_no,
        "defer",
        reason,
        {"state": EmployerState.DEFERRED.value, "deferral_from": from_month, "deferral_to": to_month},
    )


def end_deferral(conn: Connection, ctx: Context, account_no: str, reason: str) -> Employer:
    return _employer_transition(
        conn,
        ctx,
        account_no,
        "end_deferral",
        reason,
        {"state": EmployerState.NORMAL.value, "deferral_from": None, "deferral_to": None},
    )


def seal_employer(conn: Connection, ctx: Context, account_no: str, reason: str) -> Employer:
    """Seal an employer (单位封存); its members in 正常 state are sealed with it."""
    row = _employer_transition(conn, ctx, account_no, "seal", reason, {"state": EmployerState.SEALED.value})
    active = [
        dict(m)
        for m in conn.execute(
            select(member).where(member.c.employer_id == row.id, member.c.state == MemberState.NORMAL.value)
        ).mappings()
    ]
    for m in active:
        _member_transition(conn, ctx, m, "seal", f"单位封存：{reason}", {"state": MemberState.SEALED.value})
    return get_employer(conn, account_no)


def unseal_employer(conn: Connection, ctx: Context, account_no: str, reason: str) -> Employer:
    return _employer_transition(
        conn, ctx, account_no, "unseal", reason, {"state": EmployerState.NORMAL.value}
    )


def close_employer(conn: Connection, ctx: Context, account_no: str, reason: str) -> Employer:
    """Close (单位销户) only when the employer's account balance (DWZHYE) is zero.

    The employer balance is what it holds unallocated plus what its members hold; members still
    active (正常, 冻结) must be sealed or moved first.
    """
    current = get_employer(conn, account_no, for_update=True)
    require_employer_transition("close", current.state)
    members = conn.execute(
        select(member.c.id, member.c.state).where(member.c.employer_id == current.id)
    ).all()
    if any(state in (MemberState.NORMAL.value, MemberState.FROZEN.value) for _, state in members):
        raise Conflict(
            "employer.has_active_members",
            "单位仍有正常或冻结状态的职工，不能销户",
            "seal, move or close the employer's active members first",
        )
    held = sum(
        c + d
        for c, d in ledger.member_balances(conn, [m for m, s in members if s not in MEMBER_CLOSED]).values()
    )
    own = ledger.employer_balance_of(conn, current.id)
    if held or own:
        raise Conflict(
            "employer.balance_not_zero",
            "单位账户余额不为零，不能销户",
            f"employer balance is {own + held} fen (unallocated {own}, members {held})",
            balance_fen=own + held,
        )
    return _employer_transition(
        conn,
        ctx,
        account_no,
        "close",
        reason,
        {"state": EmployerState.CLOSED.value, "closed_on": ctx.clock.today()},
    )


def find_employers(conn: Connection, q: str = "", limit: int = 50, offset: int = 0) -> list[Employer]:
    stmt = select(employer)
    q = q.strip()
    if looks_like_account_number(q):
        stmt = stmt.where(employer.c.account_no == q)
    elif len(q) == 18 and q.isalnum():
        stmt = stmt.where(employer.c.uscc == q.upper())
    elif q:
        stmt = stmt.where(employer.c.name >= q, employer.c.name < q + "\uffff")
    rows = conn.execute(stmt.order_by(employer.c.name, employer.c.id).limit(limit).offset(offset)).mappings()
    return [_employer_of(to_plain("employer", r)) for r in rows]


def employer_members(
    conn: Connection, employer_id: int, *, limit: int = 100, offset: int = 0
) -> tuple[int, list[Member]]:
    total = (
        conn.scalar(select(func.count()).select_from(member).where(member.c.employer_id == employer_id)) or 0
    )
    rows = [
        to_plain("member", r)
        for r in conn.execute(
            select(member)
            .where(member.c.employer_id == employer_id)
            .order_by(member.c.id)
            .limit(limit)
            .offset(offset)
        ).mappings()
    ]
    return total, with_balances(conn, rows)


# ------------------------------------------------------------------------------------- members


@cache
def _pinyin_of() -> Any:
    from pypinyin import lazy_pinyin  # import is slow: only when a name is first converted

    return lazy_pinyin


def name_pinyin(name: str) -> str:
    """姓名全拼 (XMQP): ``张三`` → ``ZHANG SAN``; ``曾冯河`` → ``ZENG FENG HE``.

    Surname and given name are converted apart, so pypinyin's phrase matching cannot read across
    them, and surnames with their own reading come from ``SURNAME_READINGS``.
    """
    surname, given = split_name(name)
    return f"{surname_pinyin(surname)} {given_name_pinyin(given)}".strip()


def surname_pinyin(surname: str) -> str:
    return SURNAME_READINGS.get(surname) or " ".join(_pinyin_of()(surname)).upper()


def given_name_pinyin(given: str) -> str:
    """Given names are not phrases: each character alone, so idioms (冯河 "ping he") do not match."""
    return " ".join(_pinyin_of()(char)[0].upper() for char in given)


def member_owner(conn: Connection, account_no: str) -> tuple[int | None, int | None]:
    """(member id, employer id) of a member account, for scope checks; ``NotFound`` if none.

    Read from the account's profile: a scope check runs on every request about a member and
    needs neither the balances nor anything decrypted."""
    found = member_profile_by_account(conn, account_no)
    if found is None:
        raise member_not_found(account_no)
    return found.id, found.employer_id


def employer_owner(conn: Connection, account_no: str) -> tuple[int | None, int | None]:
    """(None, employer id) of an employer account, for scope checks; ``NotFound`` if none."""
    return None, get_employer(conn, account_no).id


def member_not_found(account_no: str) -> NotFound:
    """What every use case answers for a member account that does not exist (or that the caller
    may not see: the same answer, so that nothing is learnt from it)."""
    return NotFound("member.not_found", "个人账户不存在", f"no member with account {account_no}")


def get_member(conn: Connection, account_no: str, *, for_update: bool = False) -> Member:
    """The member with balances; ``for_update``: locked until the transaction ends (a change
    then waits for a concurrent one instead of failing on its version)."""
    query = select(member).where(member.c.account_no == account_no)
    row = conn.execute(query.with_for_update() if for_update else query).mappings().first()
    if row is None:
        raise member_not_found(account_no)
    return with_balances(conn, [to_plain("member", row)])[0]


def with_balances(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> list[Member]:
    """Members from their rows in clear (``to_plain``), with their balances read in one query."""
    balances = ledger.member_balances(conn, [r["id"] for r in rows])
    return [_member_of(r, balances.get(r["id"], (0, 0))) for r in rows]


def _employer_taking_members(conn: Connection, account_no: str) -> Employer:
    target = get_employer(conn, account_no)
    require_employer_transition("take_members", target.state)
    return target


def open_member(conn: Connection, ctx: Context, employer_account_no: str, raw: dict[str, object]) -> Member:
    """Open a member account (个人开户); a person who had one here gets it back (same number)."""
    details = MemberDetails.validate(raw, ctx.clock.today())
    check_base(conn, ctx.clock.today(), details.base_fen)
    target = _employer_taking_members(conn, employer_account_no)
    values: dict[str, Any] = {
        "name": details.name,
        "name_pinyin": name_pinyin(details.name),
        "gender": details.gender,
        "birth_date": details.birth_date,
        "phone": details.phone,
        "employer_id": target.id,
        "base_fen": details.base_fen,
        "state": MemberState.NORMAL.value,
        "closed_on": None,
    }
    existing = (
        conn.execute(
            select(member).where(
                member.c.resident_id_bidx == blind_index("member", "resident_id", details.resident_id)
            )
        )
        .mappings()
        .first()
    )
    if existing is not None:
        if existing["state"] not in MEMBER_CLOSED:
            raise Conflict(
                "member.already_open",
                "该身份证号已有未销户的个人账户",
                f"this person already has account {existing['account_no']} in state {existing['state']}",
                account_no=existing["account_no"],
            )
        _member_transition(
            conn, ctx, to_plain("member", existing), "reopen", "重新开户（沿用原个人账号）", values
        )
        return get_member(conn, existing["account_no"])
    values |= {
        "account_no": reserve_numbers(conn, ctx, "member")[0],
        "certificate_type": "01",
        "resident_id": details.resident_id,
        "opened_on": ctx.clock.today(),
        "version": 1,
    }
    member_id = conn.execute(
        insert(member).values(**to_stored("member", values)).returning(member.c.id)
    ).scalar_one()
    ledger.open_member_balances(conn, [member_id])
    _record(conn, ctx, "member", member_id, "open", "个人开户", None, values)
    return get_member(conn, values["account_no"])


def _member_transition(
    conn: Connection,
    ctx: Context,
    current: Mapping[str, Any],
    action: str,
    reason: str,
    values: dict[str, Any],
) -> None:
    """``current``: the member's row as read (a ``Member``'s fields, or the stored row)."""
    require_member_transition(action, current["state"])
    before, after = _changed(current, values)
    _update(conn, member, current, values)
    _record(conn, ctx, "member", current["id"], action, _require_reason(reason), before, after)


def _transition_member(
    conn: Connection, ctx: Context, account_no: str, action: str, reason: str, values: dict[str, Any]
) -> Member:
    _member_transition(conn, ctx, fields_of(get_member(conn, account_no)), action, reason, values)
    return get_member(conn, account_no)


def change_member(
    conn: Connection, ctx: Context, account_no: str, changes: dict[str, object], reason: str
) -> Member:
    current = get_member(conn, account_no, for_update=True)
    allowed = {"name", "phone", "base_fen"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidInput(
            "field.not_changeable",
            "该字段不可变更",
            f"cannot change {sorted(unknown)}",
            fields=sorted(unknown),
        )
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = clean_person_name(str(changes["name"]))
        values["name_pinyin"] = name_pinyin(values["name"])
    if "phone" in changes:
        values["phone"] = clean_phone(
            None if changes["phone"] is None else str(changes["phone"]), required=False
        )
    if "base_fen" in changes:
        base = changes["base_fen"]
        if isinstance(base, bool) or not isinstance(base, int) or base <= 0:
            raise InvalidInput(
                "base.invalid", "缴存基数须为正整数（分）", "base_fen must be positive", field="base_fen"
            )
        values["base_fen"] = check_base(conn, ctx.clock.today(), base)
    _before, after = _changed(fields_of(current), values)
    if after:
        _member_transition(conn, ctx, fields_of(current), "change", reason, after)
    return get_member(conn, account_no)


@dataclass(frozen=True, slots=True)
class IdentityCorrection:
    """What a correction of a member's identity facts did (no personal value in clear but the
    birth date and sex it set, which the request's reviewer sees anyway)."""

    account_no: str
    birth_date: date
    gender: str
    changed: tuple[str, ...]


IDENTITY_FIELDS = ("birth_date", "gender")


def correct_member_identity(
    conn: Connection, ctx: Context, account_no: str, changes: Mapping[str, object], reason: str
) -> IdentityCorrection:
    """Correct a member's birth date or sex (出生日期、性别) found wrong in stock data: the value
    must be the one the member's resident ID number encodes, so a correction can only bring the
    record back in line with the identity document (GB 11643). Identity is touched, so this runs
    as the executor of the maker-checker kind ``member.identity`` (``hpf.bootstrap``); it writes
    the account's history row (action ``change``, the reason naming the finding) and its event."""
    unknown = set(changes) - set(IDENTITY_FIELDS)
    if unknown or not changes:
        raise InvalidInput(
            "member.identity.fields",
            "只能更正出生日期和性别",
            f"only {IDENTITY_FIELDS} can be corrected, got {sorted(changes)}",
            fields=sorted(unknown) or list(IDENTITY_FIELDS),
        )
    current = get_member(conn, account_no, for_update=True)
    try:
        encoded = parse_resident_id(current.resident_id, today=ctx.clock.today())
    except InvalidInput:
        raise InvalidInput(
            "member.identity.id_invalid",
            "该账户的身份证号码本身无效，须先核实证件",
            "the account's resident ID number does not validate; verify the document first",
        ) from None
    values: dict[str, Any] = {}
    if "birth_date" in changes:
        raw = changes["birth_date"]
        try:
            day = raw if isinstance(raw, date) else date.fromisoformat(str(raw))
        except ValueError:
            raise InvalidInput(
                "member.identity.birth_date", "出生日期格式不正确", f"birth_date {raw!r}", field="birth_date"
            ) from None
        if day != encoded.birth_date:
            raise InvalidInput(
                "member.identity.birth_date_mismatch",
                "出生日期与身份证号码不符",
                "the birth date is not the one the resident ID number encodes",
                field="birth_date",
            )
        values["birth_date"] = day
    if "gender" in changes:
        if str(changes["gender"]) != encoded.gender:
            raise InvalidInput(
                "member.identity.gender_mismatch",
                "性别与身份证号码不符",
                "the sex is not the one the resident ID number encodes",
                field="gender",
            )
        values["gender"] = encoded.gender
    _before, after = _changed(fields_of(current), values)
    if after:
        _member_transition(conn, ctx, fields_of(current), "change", reason, after)
    corrected = get_member(conn, account_no)
    return IdentityCorrection(account_no, corrected.birth_date, corrected.gender, tuple(sorted(after)))


def correct_identity_as_approved(
    conn: Connection, ctx: Context, payload: Mapping[str, Any], key: str
) -> IdentityCorrection:
    """The executor of ``member.identity`` (maker-checker): ``payload`` = ``account_no``,
    ``changes`` (``birth_date``/``gender``), ``reason``."""
    return correct_member_identity(
        conn, ctx, str(payload["account_no"]), dict(payload["changes"]), str(payload["reason"])
    )


def seal_member(conn: Connection, ctx: Context, account_no: str, reason: str) -> Member:
    return _transition_member(conn, ctx, account_no, "seal", reason, {"state": MemberState.SEALED.value})


def unseal_member(conn: Connection, ctx: Context, account_no: str, reason: str) -> Member:
    current = get_member(conn, account_no, for_update=True)
    _employer_taking_members(conn, employer_account_no(conn, current.employer_id))
    return _transition_member(conn, ctx, account_no, "unseal", reason, {"state": MemberState.NORMAL.value})


def freeze_member(conn: Connection, ctx: Context, account_no: str, reason: str) -> Member:
    current = get_member(conn, account_no, for_update=True)
    return _transition_member(
        conn,
        ctx,
        account_no,
        "freeze",
        reason,
        {"state": MemberState.FROZEN.value, "state_before_freeze": current.state},
    )


def unfreeze_member(conn: Connection, ctx: Context, account_no: str, reason: str) -> Member:
    current = get_member(conn, account_no, for_update=True)
    restored = current.state_before_freeze or MemberState.NORMAL.value
    return _transition_member(
        conn, ctx, account_no, "unfreeze", reason, {"state": restored, "state_before_freeze": None}
    )


def transfer_member(
    conn: Connection,
    ctx: Context,
    account_no: str,
    employer_account_no: str,
    reason: str,
    base_fen: int | None = None,
) -> Member:
    """Internal transfer (内部转移): same account, new employer, state 正常."""
    current = get_member(conn, account_no, for_update=True)
    target = _employer_taking_members(conn, employer_account_no)
    if target.id == current.employer_id:
        raise Conflict(
            "member.same_employer", "转入单位与当前单位相同", "the member already belongs to this employer"
        )
    values: dict[str, Any] = {"employer_id": target.id, "state": MemberState.NORMAL.value}
    if base_fen is not None:
        if isinstance(base_fen, bool) or not isinstance(base_fen, int) or base_fen <= 0:
            raise InvalidInput(
                "base.invalid", "缴存基数须为正整数（分）", "base_fen must be positive", field="base_fen"
            )
        values["base_fen"] = check_base(conn, ctx.clock.today(), base_fen)
    return _transition_member(conn, ctx, account_no, "transfer", reason, values)


def _require_closable(current: Member) -> None:
    require_member_transition("close", current.state)
    if current.balance_fen != 0:
        raise Conflict(
            "member.balance_not_zero",
            "个人账户余额不为零，不能直接销户",
            f"balance is {current.balance_fen} fen; use a closing withdrawal or transfer",
            balance_fen=current.balance_fen,
        )


def close_member(conn: Connection, ctx: Context, account_no: str, kind: CloseKind, reason: str) -> Member:
    """Close a member account at zero balance; withdrawals and transfers empty it first."""
    current = get_member(conn, account_no, for_update=True)
    _require_closable(current)
    return _transition_member(
        conn,
        ctx,
        account_no,
        "close",
        reason,
        {"state": CLOSE_STATE[kind].value, "closed_on": ctx.clock.today()},
    )


def get_members(
    conn: Connection, account_nos: Sequence[str], *, for_update: bool = False
) -> dict[str, Member]:
    """:func:`get_member` of many accounts in one read (and one for their balances): ``{account
    number: Member}`` of those that exist."""
    nos = list(dict.fromkeys(account_nos))
    rows: list[Mapping[str, Any]] = []
    for start in range(0, len(nos), 900):
        query = select(member).where(member.c.account_no.in_(nos[start : start + 900]))
        rows.extend(
            dict(r) for r in conn.execute(query.with_for_update() if for_update else query).mappings()
        )
    return {m.account_no: m for m in with_balances(conn, [to_plain("member", r) for r in rows])}


def close_members(
    conn: Connection, ctx: Context, closing: Sequence[tuple[str, str]], kind: CloseKind
) -> list[Member]:
    """:func:`close_member` of many accounts — ``(account number, reason)`` each — with the same
    rows and events: the members read in one statement, updated in one executemany (each at
    the version read), their history rows in one INSERT, their events in one. A member that
    cannot close (its state, a balance left) refuses them all: callers pre-filter."""
    if not closing:
        return []
    found = get_members(conn, [no for no, _ in closing], for_update=True)
    values = {"state": CLOSE_STATE[kind].value, "closed_on": ctx.clock.today()}
    changes = []
    for account_no, reason in closing:
        current = found.get(account_no)
        if current is None:
            raise member_not_found(account_no)
        _require_closable(current)
        before, after = _changed(fields_of(current), values)
        changes.append((current, _require_reason(reason), before, after))
    stored = to_stored("member", values)
    written = conn.execute(
        update(member)
        .where(member.c.id == bindparam("mid"), member.c.version == bindparam("seen"))
        .values(**stored, version=member.c.version + 1),
        [{"mid": c.id, "seen": c.version} for c, _, _, _ in changes],
    ).rowcount
    if written != len(changes):
        raise Conflict(
            "account.concurrent_update",
            "账户已被他人修改，请刷新后重试",
            "the account changed since it was read; reload and retry",
        )
    conn.execute(
        insert(account_history),
        [
            {"subject_kind": "member", "subject_id": c.id, "action": "close", "business_type": BUSINESS_TYPE["close"],
             "business_date": ctx.clock.today(), "recorded_at": ctx.clock.now(), "actor": ctx.actor,
             "reason": reason[:200], "before": _jsonable(without_secrets("member", before)),
             "after": _jsonable(without_secrets("member", after))}
            for c, reason, before, after in changes
        ],
    )  # fmt: skip
    events.record_many(conn, ctx, [
        (f"member.{EVENT_OF['close']}", "member", c.id,
         {"action": "close", "business_type": BUSINESS_TYPE["close"], "changed": sorted(after),
          "state": after.get("state")})
        for c, _, _, after in changes
    ])  # fmt: skip
    closed = get_members(conn, [no for no, _ in closing])
    return [closed[no] for no, _ in closing]


def employer_account_no(conn: Connection, employer_id: int) -> str:
    return str(conn.scalar(select(employer.c.account_no).where(employer.c.id == employer_id)))


def find_members(conn: Connection, q: str = "", limit: int = 50, offset: int = 0) -> list[ListedMember]:
    """By account number, resident ID or mobile number (exact, by blind index) or name (prefix),
    sorted by the name's pinyin."""
    stmt = select(
        member, employer.c.name.label("employer_name"), employer.c.account_no.label("employer_account_no")
    )
    stmt = stmt.join(employer, employer.c.id == member.c.employer_id)
    q = q.strip()
    if looks_like_account_number(q):
        stmt = stmt.where(member.c.account_no == q)
    elif len(q) == 18 and q[:17].isdigit():
        stmt = stmt.where(member.c.resident_id_bidx == blind_index("member", "resident_id", q.upper()))
    elif len(q) == 11 and q.isdigit() and q.startswith("1"):
        stmt = stmt.where(member.c.phone_bidx == blind_index("member", "phone", q))
    elif q:
        stmt = stmt.where(member.c.name >= q, member.c.name < q + "\uffff")
    else:
        stmt = stmt.where(literal(True))
    # In the order people look names up: by 姓名全拼 (张阿, 张三, 张一), not by code point.
    order = (member.c.name_pinyin, member.c.name, member.c.id)
    rows = conn.execute(stmt.order_by(*order).limit(limit).offset(offset)).mappings()
    plain = [to_plain("member", r) for r in rows]
    balances = ledger.member_balances(conn, [r["id"] for r in plain])
    return [_listed_member_of(r, balances.get(r["id"], (0, 0))) for r in plain]


def employers_named(conn: Connection, ids: Iterable[int]) -> dict[int, EmployerName]:
    """``{id: EmployerName}`` of the given employers (for names beside ids)."""
    rows = conn.execute(
        select(employer.c.id, employer.c.name, employer.c.account_no).where(employer.c.id.in_(list(ids)))
    )
    return {r.id: EmployerName(r.id, r.name, r.account_no) for r in rows}


def member_counts(conn: Connection, employer_id: int) -> tuple[list[tuple[str, int]], int]:
    """An employer's members per state, and what they hold in all (fen)."""
    balances = ledger_queries.member_balances_subquery()
    rows = conn.execute(
        select(
            member.c.state,
            func.count(),
            func.coalesce(func.sum(balances.c.carried_fen + balances.c.current_fen), 0),
        )
        .select_from(member.outerjoin(balances, balances.c.member_id == member.c.id))
        .where(member.c.employer_id == employer_id)
        .group_by(member.c.state)
        .order_by(member.c.state)
    ).all()
    return [(state, int(count)) for state, count, _ in rows], sum(int(held) for _, _, held in rows)


def history(conn: Connection, kind: str, subject_id: int, limit: int = 200) -> list[HistoryEntry]:
    """The account's changes, newest first."""
    rows = conn.execute(
        select(account_history)
        .where(account_history.c.subject_kind == kind, account_history.c.subject_id == subject_id)
        .order_by(account_history.c.id.desc())
        .limit(limit)
    ).mappings()
    return [HistoryEntry(**r) for r in rows]  # the columns are the fields


def account_numbers_of(conn: Connection, member_ids: Sequence[int]) -> dict[int, str]:
    rows = conn.execute(select(member.c.id, member.c.account_no).where(member.c.id.in_(list(member_ids))))
    return dict(rows.all())


def _is_month(text: str) -> bool:
    return (
        len(text) == 7
        and text[4] == "-"
        and text[:4].isdigit()
        and text[5:].isdigit()
        and 1 <= int(text[5:]) <= 12
    )


# ------------------------------------------------------------------- for contributions


def member_facts(conn: Connection, account_nos: Sequence[str]) -> dict[str, MemberFact]:
    """id, name, employer, state and base of the named members (for checking a list)."""
    out: dict[str, MemberFact] = {}
    cols = (
        member.c.account_no,
        member.c.id,
        member.c.name,
        member.c.employer_id,
        member.c.state,
        member.c.base_fen,
    )
    for batch in _chunks(list(dict.fromkeys(account_nos)), 500):
        for row in conn.execute(select(*cols).where(member.c.account_no.in_(batch))):
            out[row.account_no] = MemberFact(*row)
    return out


def active_members(conn: Connection, employer_id: int) -> list[ActiveMember]:
    """The employer's members in state 正常, by id."""
    rows = conn.execute(
        select(member.c.account_no, member.c.name, member.c.base_fen)
        .where(member.c.employer_id == employer_id, member.c.state == MemberState.NORMAL.value)
        .order_by(member.c.id)
    )
    return [ActiveMember(*r) for r in rows]


def advance_paid_through(conn: Connection, months: Any, ctx: Context | None = None) -> None:
    """Set 缴至年月 from a subquery of (employer_id, month) and start employers still 开户.

    Set-based: month-end moves thousands of employers at once. ``paid_through`` never moves back.
    With ``ctx``, each employer started (开户 → 正常) gets its history row (``activate``) in the
    same statement, as :func:`activate_employer` writes one: the supervision report reads an
    employer's state at a month's end from the history (decision 0042).
    """
    if ctx is not None:
        opened, normal = EmployerState.OPENED.value, EmployerState.NORMAL.value
        started = select(
            literal("employer", String), employer.c.id, literal("activate", String),
            literal(BUSINESS_TYPE["activate"], String), literal(ctx.clock.today(), Date),
            literal(ctx.clock.now(), UtcDateTime()), literal(ctx.actor[:64], String), literal("首次缴存", String),
            events.json_of(conn, state=cast(literal(opened), String)),
            events.json_of(conn, state=cast(literal(normal), String)),
        ).where(
            employer.c.state == opened,
            employer.c.id.in_(select(months.c.employer_id)),
        )  # fmt: skip
        conn.execute(
            insert(account_history).from_select(
                ["subject_kind", "subject_id", "action", "business_type", "business_date", "recorded_at",
                 "actor", "reason", "before", "after"],
                started,
            )
        )  # fmt: skip
    conn.execute(
        update(employer)
        .where(
            employer.c.id == months.c.employer_id,
            (employer.c.paid_through.is_(None)) | (employer.c.paid_through < months.c.month),
        )
        .values(
            paid_through=months.c.month,
            state=case(
                (employer.c.state == EmployerState.OPENED.value, EmployerState.NORMAL.value),
                else_=employer.c.state,
            ),
            version=employer.c.version + 1,
        )
    )


def apply_adjustment(
    conn: Connection,
    ctx: Context,
    employer_row: Employer,
    employer_rate: Decimal,
    member_rate: Decimal,
    bases: Mapping[int, int],
    reason: str,
) -> int:
    """调基调比 for a whole employer in one transaction: new rates, new bases, one history row each,
    and one business event (``employer.adjusted``) for the whole adjustment."""
    reason = _require_reason(reason)
    rates = {"employer_rate": employer_rate, "member_rate": member_rate}
    before, after = _changed(fields_of(employer_row), rates)
    if after:
        _update(conn, employer, fields_of(employer_row), after)
        _history(conn, ctx, "employer", employer_row.id, "adjust", reason, before, after)
    current = {
        r.id: r.base_fen
        for r in conn.execute(select(member.c.id, member.c.base_fen).where(member.c.id.in_(list(bases))))
    } if bases else {}  # fmt: skip
    changed = [(m, current[m], b) for m, b in bases.items() if current.get(m) != b]
    if changed:
        conn.execute(
            update(member)
            .where(member.c.id == bindparam("m"))
            .values(base_fen=bindparam("b"), version=member.c.version + 1),
            [{"m": m, "b": b} for m, _, b in changed],
        )
        conn.execute(
            insert(account_history),
            [
                {
                    "subject_kind": "member", "subject_id": m, "action": "adjust",
                    "business_type": BUSINESS_TYPE["adjust"], "business_date": ctx.clock.today(),
                    "recorded_at": ctx.clock.now(), "actor": ctx.actor, "reason": reason,
                    "before": {"base_fen": old}, "after": {"base_fen": new},
                }
                for m, old, new in changed
            ],
        )  # fmt: skip
    events.record(conn, ctx, "employer.adjusted", "employer", employer_row.id, {
        "action": "adjust", "business_type": BUSINESS_TYPE["adjust"], "changed": sorted(after),
        "employer_rate": str(employer_rate), "member_rate": str(member_rate), "members_changed": len(changed),
    })  # fmt: skip
    return len(changed)


def _chunks(items: list[Any], size: int) -> Any:
    for start in range(0, len(items), size):
        yield items[start : start + size]
