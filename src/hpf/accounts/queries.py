"""What other packages may read of employer and member accounts: typed reads and SQL building
blocks.

The accounts' tables are private to the package (``tests/test_architecture.py``); other
packages read them through this module, or through ``service`` where a use case already
answers (``get_member``, ``get_employer``, ``member_facts``, ``active_members`` …). No read
here returns personal data stored encrypted, except :func:`first_reachable_member`, which
reveals one resident ID for the demo sign-ins.

The SQL building blocks are subqueries with the columns listed in their docstrings, for
set-based jobs (arrears, the loan month-end) and the simulator to join to their own tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, Subquery, bindparam, func, or_, select

from hpf.accounts.rules import MemberState
from hpf.accounts.tables import account_history, employer, member
from hpf.protection.protect import blind_index, reveal

# ------------------------------------------------------------------------------- typed reads


class MemberProfile(NamedTuple):
    """The facts of a member account other packages decide on (no encrypted field)."""

    id: int
    account_no: str
    name: str
    employer_id: int
    state: str  # GRZHZT
    gender: str
    birth_date: date
    base_fen: int
    resident_id_bidx: str  # blind index of the resident ID: matches people across accounts
    closed_on: date | None


_PROFILE = (
    member.c.id,
    member.c.account_no,
    member.c.name,
    member.c.employer_id,
    member.c.state,
    member.c.gender,
    member.c.birth_date,
    member.c.base_fen,
    member.c.resident_id_bidx,
    member.c.closed_on,
)


# Built once: a withdrawal's evaluation reads these for every application, and building a Core
# statement costs more than SQLite's own lookup by key.
_PROFILE_BY_ID = select(*_PROFILE).where(member.c.id == bindparam("member_id"))
_LAST_SEALED = select(func.max(account_history.c.business_date)).where(
    account_history.c.subject_kind == "member",
    account_history.c.subject_id == bindparam("member_id"),
    account_history.c.action == "seal",
)


def member_profile(conn: Connection, member_id: int) -> MemberProfile | None:
    """A member account's profile, closed or not; None if there is no such member."""
    row = conn.execute(_PROFILE_BY_ID, {"member_id": member_id}).first()
    return None if row is None else MemberProfile._make(row)


_PROFILE_BY_ACCOUNT = select(*_PROFILE).where(member.c.account_no == bindparam("account_no"))


def member_profile_by_account(conn: Connection, account_no: str) -> MemberProfile | None:
    """:func:`member_profile` by account number (no balance, nothing decrypted)."""
    row = conn.execute(_PROFILE_BY_ACCOUNT, {"account_no": account_no}).first()
    return None if row is None else MemberProfile._make(row)


def member_profiles(conn: Connection, member_ids: Sequence[int]) -> dict[int, MemberProfile]:
    """:func:`member_profile` of many accounts in one read (per 900): those that exist."""
    ids = sorted(set(member_ids))
    out: dict[int, MemberProfile] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(select(*_PROFILE).where(member.c.id.in_(ids[start : start + 900])))
        out.update({int(r.id): MemberProfile._make(r) for r in rows})
    return out


def open_members(
    conn: Connection, *, ids: Sequence[int] = (), account_nos: Sequence[str] = ()
) -> list[MemberProfile]:
    """The accounts not closed among those with one of ``ids`` or ``account_nos`` (any order)."""
    if not ids and not account_nos:
        return []
    rows = conn.execute(
        select(*_PROFILE).where(
            or_(member.c.id.in_(list(ids)), member.c.account_no.in_(list(account_nos))),
            member.c.closed_on.is_(None),
        )
    )
    return [MemberProfile._make(r) for r in rows]


def last_sealed_on(conn: Connection, member_id: int) -> date | None:
    """The business date the member's account was last sealed (封存), if it ever was."""
    found: date | None = conn.scalar(_LAST_SEALED, {"member_id": member_id})
    return found


def last_sealed_on_many(conn: Connection, member_ids: Sequence[int]) -> dict[int, date]:
    """:func:`last_sealed_on` of many members in one read per chunk: ``{member id: date}`` of those
    ever sealed."""
    h = account_history.c
    ids = list(member_ids)
    found: dict[int, date] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(h.subject_id, func.max(h.business_date))
            .where(h.subject_kind == "member", h.subject_id.in_(ids[start : start + 900]), h.action == "seal")
            .group_by(h.subject_id)
        )
        found.update({int(m): d for m, d in rows if d is not None})
    return found


def resident_id_taken(conn: Connection, resident_id: str) -> bool:
    """Whether a member account (of any state) holds this resident ID."""
    bidx = blind_index("member", "resident_id", resident_id.upper())
    return conn.scalar(select(member.c.id).where(member.c.resident_id_bidx == bidx)) is not None


def count_members(conn: Connection, states: Sequence[str]) -> int:
    """How many member accounts are in one of ``states``."""
    return int(
        conn.scalar(select(func.count()).select_from(member).where(member.c.state.in_(list(states)))) or 0
    )


def max_member_id(conn: Connection) -> int:
    """The highest member id (0 with no member)."""
    return int(conn.scalar(select(func.coalesce(func.max(member.c.id), 0))) or 0)


class EmployerRef(NamedTuple):
    """An employer as other packages name it."""

    id: int
    account_no: str  # DWZH
    uscc: str
    name: str
    state: str  # DWZHZT


def employer_ref(conn: Connection, employer_id: int) -> EmployerRef | None:
    return employer_refs(conn, [employer_id]).get(employer_id)


def employer_refs(conn: Connection, employer_ids: Sequence[int]) -> dict[int, EmployerRef]:
    """:func:`employer_ref` of many employers in one read (per 900): those that exist."""
    ids = sorted(set(employer_ids))
    e = employer.c
    out: dict[int, EmployerRef] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(e.id, e.account_no, e.uscc, e.name, e.state).where(e.id.in_(ids[start : start + 900]))
        )
        out.update({int(r.id): EmployerRef._make(r) for r in rows})
    return out


class ReachableMember(NamedTuple):
    id: int
    resident_id: str  # in clear
    name: str
    employer_id: int


def first_reachable_member(conn: Connection) -> ReachableMember | None:
    """The lowest-id member in state 正常 with a mobile number on file, resident ID revealed
    (the demo center's self-service sign-in)."""
    row = conn.execute(
        select(member.c.id, member.c.resident_id_enc, member.c.name, member.c.employer_id)
        .where(member.c.phone_enc.is_not(None), member.c.state == MemberState.NORMAL.value)
        .order_by(member.c.id)
        .limit(1)
    ).first()
    if row is None:
        return None
    resident_id = reveal("member", "resident_id", row.resident_id_enc) or ""
    return ReachableMember(int(row.id), resident_id, row.name, int(row.employer_id))


# ---------------------------------------------------------------------- SQL building blocks


def member_refs_subquery(name: str | None = None) -> Subquery:
    """Every member account, as other packages join to it.

    Columns: ``id``, ``account_no`` (GRZH), ``name``, ``employer_id``, ``state`` (GRZHZT),
    ``opened_on``, ``base_fen`` (GRJCJS, the monthly contribution base).
    """
    m = member.c
    return select(m.id, m.account_no, m.name, m.employer_id, m.state, m.opened_on, m.base_fen).subquery(name)


def member_identities_subquery(name: str | None = None) -> Subquery:
    """Every member account with the blind index of its resident ID, to find the accounts of
    the same people (family, repeated claims).

    Columns: ``id``, ``resident_id_bidx``.
    """
    return select(member.c.id, member.c.resident_id_bidx).subquery(name)


def member_base_changes_subquery(name: str | None = None) -> Subquery:
    """Every change of a member's contribution base the account history records (a change at
    the counter, ``change``; an employer's 调基, ``adjust``).

    Columns: ``member_id``, ``changed_on`` (the business date), ``before_fen``, ``after_fen``.
    """
    h = account_history.c
    before, after = h.before["base_fen"].as_integer(), h.after["base_fen"].as_integer()
    return (
        select(
            h.subject_id.label("member_id"),
            h.business_date.label("changed_on"),
            before.label("before_fen"),
            after.label("after_fen"),
        )
        .where(h.subject_kind == "member", h.action.in_(("change", "adjust")))
        .subquery(name)
    )


def employer_rate_changes_subquery(name: str | None = None) -> Subquery:
    """Every 调基调比 of an employer the account history records (new rates, action ``adjust``).

    Columns: ``employer_id``, ``changed_on`` (the business date)."""
    h = account_history.c
    return (
        select(h.subject_id.label("employer_id"), h.business_date.label("changed_on"))
        .where(h.subject_kind == "employer", h.action == "adjust")
        .subquery(name)
    )


def member_state_changes_subquery(name: str | None = None) -> Subquery:
    """Every change of a member account's state the history records: ``open``, ``seal``,
    ``unseal``, ``transfer`` (to another employer), ``freeze``, ``unfreeze``, ``close``, ``reopen``.

    Columns: ``member_id``, ``action``, ``changed_on`` (the business date), ``id`` (the order of
    changes on one day).
    """
    h = account_history.c
    actions = ("open", "seal", "unseal", "transfer", "freeze", "unfreeze", "close", "reopen")
    return (
        select(h.id, h.subject_id.label("member_id"), h.action, h.business_date.label("changed_on"))
        .where(h.subject_kind == "member", h.action.in_(actions))
        .subquery(name)
    )


def _states_at(kind: str, table: Any, day: date, name: str | None) -> Subquery:
    """Each account's state at the end of ``day``: the state now, unless the history records a
    change of state after ``day`` — then the state before the first such change."""
    h = account_history.c
    before_state = h.before["state"].as_string()
    first_later = (
        select(h.subject_id, func.min(h.id).label("first_id"))
        .where(h.subject_kind == kind, h.business_date > day, before_state.is_not(None))
        .group_by(h.subject_id)
        .subquery(f"{kind}_later")
    )
    then = (
        select(h.subject_id, before_state.label("state_then"))
        .join(first_later, first_later.c.first_id == h.id)
        .subquery(f"{kind}_then")
    )
    return (
        select(table.c.id.label(f"{kind}_id"), func.coalesce(then.c.state_then, table.c.state).label("state"))
        .select_from(table.outerjoin(then, then.c.subject_id == table.c.id))
        .subquery(name)
    )


def member_states_at_subquery(day: date, name: str | None = None) -> Subquery:
    """Every member account's state (GRZHZT) at the end of ``day``, read back from the history
    of its changes (the supervision report's month-end counts, decision 0042).

    Columns: ``member_id``, ``state``.
    """
    return _states_at("member", member, day, name)


def employer_states_at_subquery(day: date, name: str | None = None) -> Subquery:
    """Every employer account's state (DWZHZT) at the end of ``day``, read back from the history
    of its changes (the supervision report's month-end counts, decision 0042).

    Columns: ``employer_id``, ``state``.
    """
    return _states_at("employer", employer, day, name)


def employer_refs_subquery(name: str | None = None) -> Subquery:
    """Every employer account, as other packages join to it.

    Columns: ``id``, ``account_no`` (DWZH), ``name``, ``state`` (DWZHZT), ``opened_on``,
    ``paid_through`` (JZNY, ``YYYY-MM`` or NULL), ``employer_rate`` and ``member_rate``
    (DWJCBL, GRJCBL: Decimal ratios).
    """
    e = employer.c
    return select(
        e.id, e.account_no, e.name, e.state, e.opened_on, e.paid_through, e.employer_rate, e.member_rate
    ).subquery(name)


class EmployerTerms(NamedTuple):
    """What an employer's monthly list needs: the columns of :func:`employer_refs_subquery`."""

    id: int
    account_no: str
    name: str
    state: str
    opened_on: date
    paid_through: str | None
    employer_rate: Decimal
    member_rate: Decimal


def employers_in_states(conn: Connection, states: Sequence[str]) -> list[EmployerTerms]:
    """The employers in one of ``states``, by id."""
    e = employer_refs_subquery()
    rows = conn.execute(select(e).where(e.c.state.in_(list(states))).order_by(e.c.id))
    return [EmployerTerms._make(r) for r in rows]


# ------------------------------------------------------------- the network (decision 0031)


class NetworkAccount(NamedTuple):
    """What the hub's account index is told of a member account: its resident ID in clear (sealed
    to the hub in transit; the hub keeps a pseudonym of it), state and dates."""

    id: int
    resident_id: str
    state: str  # GRZHZT
    opened_on: date
    closed_on: date | None


def network_accounts(conn: Connection, member_ids: Sequence[int]) -> dict[int, NetworkAccount]:
    """The accounts of ``member_ids`` for the registry feed (a missing id: no such member)."""
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    m = member.c
    rows = conn.execute(
        select(m.id, m.resident_id_enc, m.state, m.opened_on, m.closed_on).where(m.id.in_(ids))
    ).all()
    return {
        int(r.id): NetworkAccount(
            int(r.id),
            reveal("member", "resident_id", r.resident_id_enc) or "",
            str(r.state),
            r.opened_on,
            r.closed_on,
        )
        for r in rows
    }


def resident_ids(conn: Connection, member_ids: Sequence[int]) -> dict[int, str]:
    """The resident ID numbers of ``member_ids``, revealed (for a network inquiry, decision 0031)."""
    return {i: a.resident_id for i, a in network_accounts(conn, member_ids).items()}


def member_records_subquery(name: str | None = None) -> Subquery:
    """Every member account as stored, for whole-center checks of its data (the quality scan):
    the resident ID stays the stored SM4 token, to be revealed in batches by whoever must check it.

    Columns: ``id``, ``account_no`` (GRZH), ``certificate_type`` (ZJLX), ``resident_id_enc`` (the
    token), ``resident_id_bidx``, ``name``, ``name_pinyin``, ``gender``, ``birth_date``,
    ``phone_bidx``, ``employer_id``, ``base_fen``, ``state`` (GRZHZT), ``opened_on``, ``closed_on``.
    """
    m = member.c
    return select(
        m.id, m.account_no, m.certificate_type, m.resident_id_enc, m.resident_id_bidx, m.name,
        m.name_pinyin, m.gender, m.birth_date, m.phone_bidx, m.employer_id, m.base_fen, m.state,
        m.opened_on, m.closed_on,
    ).subquery(name)  # fmt: skip


def employer_records_subquery(name: str | None = None) -> Subquery:
    """Every employer account as stored (no encrypted column), for whole-center checks.

    Columns: ``id``, ``account_no`` (DWZH), ``uscc``, ``name``, ``address``, ``legal_rep_name``,
    ``contact_name``, ``economic_type`` (DWJJLX), ``state`` (DWZHZT), ``payday``,
    ``employer_rate``, ``member_rate``, ``opened_on``, ``closed_on``, ``paid_through`` (JZNY).
    """
    e = employer.c
    return select(
        e.id, e.account_no, e.uscc, e.name, e.address, e.legal_rep_name, e.contact_name, e.economic_type,
        e.state, e.payday, e.employer_rate, e.member_rate, e.opened_on, e.closed_on, e.paid_through,
    ).subquery(name)  # fmt: skip
