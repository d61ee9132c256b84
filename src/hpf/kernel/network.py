"""The port through which business rules ask the network about a person (decision 0031).

A loan application (``LN-APPLY``) must know whether the household has an unsettled housing
provident fund loan at any other center, and a withdrawal's risk checks whether the member has
an account or a loan elsewhere. The answer comes from the hub (``hpf.transfers.inquiry``), which
sits above the loans and the withdrawals in the layer order: so the rules ask through this port,
and ``hpf.bootstrap`` installs the center's lookup — or ``None`` when the center has no hub
link, in which case the rules skip the check and say so in a finding.

The facts are plain values: what the purpose of the question lets the hub answer (see the
decision: an account's opening date and 缴至年月 only for a transfer or a staff inquiry, a
loan's amount only for a staff inquiry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.wiring import not_wired

# 协查用途 (purpose codes of an inquiry)
LOAN_APPLICATION = "01"
WITHDRAWAL_RISK = "02"
TRANSFER = "03"
STAFF_INQUIRY = "04"
PURPOSE_ZH = {
    LOAN_APPLICATION: "贷款申请",
    WITHDRAWAL_RISK: "提取风险核查",
    TRANSFER: "转移接续",
    STAFF_INQUIRY: "人工查询（缴存使用证明）",
}
UNSETTLED = frozenset({"approved", "active", "written_off"})  # a loan in these states is owed
OPEN_ACCOUNT = frozenset({"01", "02", "06"})  # GRZHZT 正常, 封存, 冻结: an account not closed


@dataclass(frozen=True)
class AccountElsewhere:
    center: str
    center_name: str
    state: str  # GRZHZT
    opened_on: date | None = None
    paid_through: str | None = None  # YYYY-MM


@dataclass(frozen=True)
class LoanElsewhere:
    center: str
    center_name: str
    state: str  # approved | active | settled | written_off | void
    role: str  # borrower | co_borrower
    contract_date: date | None = None
    principal_fen: int | None = None
    settled_on: date | None = None

    @property
    def unsettled(self) -> bool:
        return self.state in UNSETTLED


@dataclass(frozen=True)
class CreditListing:
    """A listing in force of the person on the national credit list (decision 0040): the
    listing center (this one's too), the grounds (the hub policy's code and name), the period."""

    center: str
    center_name: str
    grounds: str
    grounds_zh: str
    listed_on: date
    until: date
    state: str  # listed | appealed (an appeal does not lift the restriction)


@dataclass(frozen=True)
class PersonElsewhere:
    """What the network answered of one person, in centers other than this one (its credit
    listings: in any center)."""

    accounts: tuple[AccountElsewhere, ...] = ()
    loans: tuple[LoanElsewhere, ...] = ()
    listings: tuple[CreditListing, ...] = ()

    @property
    def unsettled_loans(self) -> tuple[LoanElsewhere, ...]:
        return tuple(x for x in self.loans if x.unsettled)

    @property
    def open_accounts(self) -> tuple[AccountElsewhere, ...]:
        return tuple(a for a in self.accounts if a.state in OPEN_ACCOUNT)


class NetworkLookup(Protocol):
    """Ask the network about ``resident_ids`` (one answer per id, in order), for ``purpose``;
    logged on both sides. Raises ``network.unavailable`` when the hub cannot answer now."""

    def __call__(
        self, conn: Any, ctx: Context, resident_ids: Sequence[str], purpose: str
    ) -> tuple[PersonElsewhere, ...]: ...


def unavailable(detail: str) -> HpfError:
    return HpfError("network.unavailable", "全国信息协查暂不可用", detail, status=503)


@dataclass(frozen=True)
class _Installed:
    lookup: NetworkLookup | None


_installed: _Installed | None = None


def install(lookup: NetworkLookup | None) -> None:
    """This process's lookup (``hpf.bootstrap`` calls it at start; ``None``: no hub link)."""
    global _installed
    _installed = _Installed(lookup)


def lookup() -> NetworkLookup | None:
    """The installed lookup, or ``None`` for a center that works alone."""
    if _installed is None:
        raise not_wired("network lookup")
    return _installed.lookup


# -- asked before the write transaction (decision 0031, amended by 0043) ---------------------


@dataclass(frozen=True)
class Question:
    """One question a rule will ask the network: the persons and the purpose."""

    resident_ids: tuple[str, ...]
    purpose: str


ANSWERS = "hpf.network.answers"  # key of the answers asked first, in the connection's ``info``
Answer = tuple[PersonElsewhere, ...] | HpfError


def _key(resident_ids: Sequence[str], purpose: str) -> tuple[str, tuple[str, ...]]:
    return purpose, tuple(r.strip().upper() for r in resident_ids)


class AskedFirst:
    """The answers to questions asked before a write transaction began, for the lookups made in
    it: while the ``with`` block runs, :func:`ask` on the same connection answers the same question
    from here instead of asking the hub again inside the transaction. Leaving the block forgets
    them (the connection goes back to its pool)."""

    def __init__(self, conn: Any, answers: dict[tuple[str, tuple[str, ...]], Answer] | None) -> None:
        self.conn = conn
        self.answers = answers
        self._set = False

    @property
    def asked(self) -> int:
        return len(self.answers or {})

    def __enter__(self) -> AskedFirst:
        if self.answers and ANSWERS not in self.conn.info:
            self.conn.info[ANSWERS] = self.answers
            self._set = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._set:
            self.conn.info.pop(ANSWERS, None)
            self._set = False


def ask_first(conn: Any, ctx: Context, questions: Sequence[Question]) -> AskedFirst:
    """Ask ``questions`` now, on ``conn`` before its write transaction begins, so that the network
    round trip holds no write lock (SQLite's one writer, a PostgreSQL transaction): the installed
    lookup, called outside a transaction, keeps its log in a short transaction of its own. A hub
    that does not answer is kept as that answer (``network.unavailable``), for the rule to decide
    as before. Nothing is asked without a lookup, without questions, inside a transaction already
    begun (the lookup then asks in it, as before), or when answers are already held."""
    installed = lookup()
    if installed is None or not questions or conn.in_transaction() or ANSWERS in conn.info:
        return AskedFirst(conn, None)
    answers: dict[tuple[str, tuple[str, ...]], Answer] = {}
    for q in dict.fromkeys(questions):
        key = _key(q.resident_ids, q.purpose)
        if key in answers:
            continue
        try:
            answers[key] = installed(conn, ctx, list(q.resident_ids), q.purpose)
        except HpfError as exc:
            if exc.code != "network.unavailable":
                raise
            answers[key] = exc
    return AskedFirst(conn, answers)


def ask(
    installed: NetworkLookup, conn: Any, ctx: Context, resident_ids: Sequence[str], purpose: str
) -> tuple[PersonElsewhere, ...]:
    """What a rule asks: the answer asked first (:func:`ask_first`) to this very question on this
    connection, else ``installed`` asks now (in the caller's transaction)."""
    held: dict[tuple[str, tuple[str, ...]], Answer] | None = conn.info.get(ANSWERS)
    found = held.get(_key(resident_ids, purpose)) if held else None
    if isinstance(found, HpfError):
        raise unavailable(found.detail)
    if found is not None:
        return found
    return installed(conn, ctx, resident_ids, purpose)
