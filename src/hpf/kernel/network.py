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
