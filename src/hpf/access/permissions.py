"""Roles, permissions and data scopes (G1): who may do what, and on whose data.

Every route declares one permission (``requires(...)`` in ``hpf.web.auth``); a test enumerates
all routes and fails on one without. A role grants permissions; a *scope* narrows them to data:
staff see their own center, a member only their own account, an employer only its own staff.
Pure: no storage, no HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    TELLER = "teller"  # 柜员
    REVIEWER = "reviewer"  # 复核
    FINANCE = "finance"  # 财务
    AUDITOR = "auditor"  # 稽核
    RISK = "risk"  # 风控
    SUPERVISOR = "supervisor"  # 监管
    ADMIN = "admin"  # 系统管理员
    MEMBER = "member"  # 缴存职工
    EMPLOYER = "employer"  # 缴存单位
    PARTNER = "partner"  # 共享部门


class Perm(StrEnum):
    PUBLIC = "public"  # no sign-in needed (sign-in pages, static files, API description)
    AUTHENTICATED = "authenticated"  # anyone signed in (the landing pages)
    MEMBER_READ = "member:read"
    MEMBER_WRITE = "member:write"  # open, change, seal, unseal, internal transfer
    MEMBER_RESTRICT = "member:restrict"  # freeze, unfreeze, close
    MEMBER_UNMASK = "member:unmask"  # see full ID numbers, phones, cards (logged)
    EMPLOYER_READ = "employer:read"
    EMPLOYER_WRITE = "employer:write"  # register, change, seal, defer, close
    CONTRIBUTION_READ = "contribution:read"  # lists, receipts, arrears
    CONTRIBUTION_SUBMIT = "contribution:submit"  # lists (汇缴/补缴), base and rate adjustment
    FUNDS_RECORD = "funds:record"  # bank receipts (到账)
    FUNDS_ALLOCATE = "funds:allocate"  # allocation, refunds
    CONTRIBUTION_CORRECT = "contribution:correct"  # wrong-payment correction (错缴更正)
    LEDGER_READ = "ledger:read"
    LEDGER_REVERSE = "ledger:reverse"
    LEDGER_CLOSE = "ledger:close"
    POLICY_READ = "policy:read"
    POLICY_CHANGE = "policy:change"
    AUDIT_READ = "audit:read"
    APPROVAL_READ = "approval:read"  # the maker-checker queue (复核)
    APPROVAL_DECIDE = "approval:decide"  # approve or reject; each kind also needs its own permission
    SECURITY_ADMIN = "security:admin"  # users, roles, alerts, keys
    SETTLEMENT_READ = "settlement:read"  # payment orders, reconciliations
    SETTLEMENT_OPERATE = "settlement:operate"  # send, resolve, cancel payment orders; reconcile
    # The bank's arrival notices (SBDC100). No role holds it: only a request signed with the
    # shared bank key (HMAC over the body, ``hpf.web.auth``) passes; a person's token never does.
    BANK_NOTIFY = "bank:notify"
    APPLICATION_READ = "application:read"  # applications (申请) and their materials
    APPLICATION_SUBMIT = "application:submit"  # apply, upload materials, withdraw, rate
    APPLICATION_REVIEW = "application:review"  # the review queue: approve or reject (复核)
    LOAN_READ = "loan:read"  # the loan book and its default scorecard, a loan's schedule, history and quotes (members: their own)
    LOAN_RISK_REVIEW = "loan:risk-review"  # the collateral risk queue: mark a flag reviewed
    # Prepay or pay off a loan (提前还款/结清): tellers at the counter; members their own loan,
    # from their own HPF account (no maker-checker: the borrower's own money for their own loan).
    LOAN_REPAY = "loan:repay"
    # The data catalog (数据目录): every stored field's element, standard mapping, owner, sharing
    # and grade; governance work of auditors, risk officers, supervisors and administrators.
    DATA_READ = "data:read"
    # Data quality (数据质量): run the scan, read its score card and findings, work a finding
    # (assign, note, re-scan, close) and propose or approve the correction of a member's identity
    # facts found wrong (maker-checker between two holders); data stewards are the auditors, risk
    # officers and administrators.
    DATA_QUALITY = "data:quality"
    # Electronic audit (电子稽查): the rule pack's runs, findings and cases; handling a case
    # (assign, investigate, conclude) is the auditors' and risk officers' work.
    INSPECTION_READ = "inspection:read"
    INSPECTION_HANDLE = "inspection:handle"
    # The center's dashboards over its warehouse (hpf.warehouse): figures and the pseudonymised
    # rows behind them, for the center's managers — finance, audit, risk and supervision.
    DASHBOARD_READ = "dashboard:read"
    # Fund operation and planning (资金运行与计划, decision 0038): the liquidity indicators, the
    # forecasts, the annual plan, what-ifs and the borrowers' early-warning queue are read by the
    # center's managers (finance, risk, audit, supervision); finance acknowledges the liquidity
    # alerts, recomputes the forecasts, edits the plan's assumptions and runs what-ifs.
    PLANNING_READ = "planning:read"
    PLANNING_MANAGE = "planning:manage"


_STAFF_READ = {
    Perm.MEMBER_READ,
    Perm.EMPLOYER_READ,
    Perm.CONTRIBUTION_READ,
    Perm.POLICY_READ,
    Perm.APPLICATION_READ,
    Perm.LOAN_READ,
}
_APPLY = {Perm.APPLICATION_READ, Perm.APPLICATION_SUBMIT}
_DECIDE = {Perm.APPROVAL_READ, Perm.APPROVAL_DECIDE}

ROLE_PERMISSIONS: dict[Role, frozenset[Perm]] = {
    # Tellers take applications at the counter; reviewers decide them (not their own: maker-checker).
    Role.TELLER: frozenset(
        _STAFF_READ
        | _APPLY
        | {Perm.MEMBER_WRITE, Perm.EMPLOYER_WRITE, Perm.CONTRIBUTION_SUBMIT, Perm.LOAN_REPAY}
    ),
    Role.REVIEWER: frozenset(
        _STAFF_READ
        | {Perm.MEMBER_RESTRICT, Perm.MEMBER_UNMASK, Perm.CONTRIBUTION_CORRECT, Perm.APPLICATION_REVIEW}
        | {Perm.LOAN_RISK_REVIEW}  # reviewers and risk officers clear the collateral risk queue
    ),
    Role.FINANCE: frozenset(
        _STAFF_READ
        | _DECIDE
        | {Perm.FUNDS_RECORD, Perm.FUNDS_ALLOCATE, Perm.LEDGER_READ, Perm.LEDGER_REVERSE, Perm.LEDGER_CLOSE}
        | {Perm.SETTLEMENT_READ, Perm.SETTLEMENT_OPERATE, Perm.DASHBOARD_READ}
        | {Perm.PLANNING_READ, Perm.PLANNING_MANAGE}
    ),
    Role.AUDITOR: frozenset(
        _STAFF_READ
        | {Perm.LEDGER_READ, Perm.AUDIT_READ, Perm.MEMBER_UNMASK, Perm.APPROVAL_READ, Perm.SETTLEMENT_READ}
        | {Perm.DATA_READ, Perm.DATA_QUALITY, Perm.INSPECTION_READ, Perm.INSPECTION_HANDLE}
        | {Perm.DASHBOARD_READ, Perm.PLANNING_READ}
    ),
    Role.RISK: frozenset(
        _STAFF_READ
        | {Perm.MEMBER_UNMASK, Perm.LOAN_RISK_REVIEW, Perm.DATA_READ, Perm.DATA_QUALITY}
        | {Perm.INSPECTION_READ, Perm.INSPECTION_HANDLE, Perm.DASHBOARD_READ, Perm.PLANNING_READ}
    ),
    Role.SUPERVISOR: frozenset(
        {Perm.POLICY_READ, Perm.LEDGER_READ, Perm.LOAN_READ, Perm.DATA_READ, Perm.INSPECTION_READ}
        | {Perm.DASHBOARD_READ, Perm.PLANNING_READ}
    ),
    Role.ADMIN: frozenset(
        {Perm.POLICY_READ, Perm.POLICY_CHANGE, Perm.SECURITY_ADMIN, Perm.DATA_READ, Perm.DATA_QUALITY}
        | _DECIDE
    ),
    # Self-service: the scope limits these to the member's own account / the employer's own staff.
    Role.MEMBER: frozenset(
        {Perm.MEMBER_READ, Perm.POLICY_READ, Perm.LOAN_READ, Perm.LOAN_REPAY} | _APPLY
    ),  # own loans
    Role.EMPLOYER: frozenset(
        {
            Perm.EMPLOYER_READ,
            Perm.MEMBER_READ,
            Perm.CONTRIBUTION_READ,
            Perm.CONTRIBUTION_SUBMIT,
            Perm.POLICY_READ,
            *_APPLY,
        }
    ),
    Role.PARTNER: frozenset({Perm.POLICY_READ}),
}


@dataclass(frozen=True)
class Principal:
    """Who is signed in, as every request sees them."""

    id: int
    login: str
    kind: str  # staff | member | employer | partner
    roles: frozenset[Role]
    center_code: str
    member_id: int | None = None
    employer_id: int | None = None

    @property
    def permissions(self) -> frozenset[Perm]:
        granted: set[Perm] = {Perm.PUBLIC, Perm.AUTHENTICATED}
        for role in self.roles:
            granted |= ROLE_PERMISSIONS[role]
        return frozenset(granted)

    def may(self, permission: Perm) -> bool:
        return permission in self.permissions

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"


def may_see_member(principal: Principal, member_id: int, employer_id: int) -> bool:
    """Object-level scope: staff see their center's members; others only their own."""
    if principal.is_staff:
        return True
    if principal.kind == "member":
        return principal.member_id == member_id
    if principal.kind == "employer":
        return principal.employer_id == employer_id
    return False


def may_see_employer(principal: Principal, employer_id: int) -> bool:
    if principal.is_staff:
        return True
    return principal.kind == "employer" and principal.employer_id == employer_id


def may_see_application(principal: Principal, member_id: int | None, employer_id: int | None) -> bool:
    """An application's owner ids (member, employer) against the principal: staff see all."""
    if principal.is_staff:
        return True
    if principal.kind == "member":
        return member_id is not None and principal.member_id == member_id
    if principal.kind == "employer":
        return employer_id is not None and principal.employer_id == employer_id
    return False


class Scope(StrEnum):
    """Whose data a route shows or changes; staff of the center pass every scope.

    A route's scope follows from its path (``requires`` in ``hpf.web.auth``): a member account
    number in the path is ``MEMBER``, an employer's (or a list's) ``EMPLOYER``; otherwise the
    route is about the whole center (``CENTER``: staff only) unless it declares ``OPEN`` (data
    that is nobody's, like policy parameters).
    """

    OPEN = "open"
    CENTER = "center"
    MEMBER = "member"
    EMPLOYER = "employer"
    # An application id in the path: its owner (the member who applied or was applied for, or
    # the employer that applied); heirs' and staff items are the center's.
    APPLICATION = "application"
    # The caller's own objects, listed or created without an id in the path (my applications):
    # anyone holding the permission passes; the use case filters by the principal.
    OWN = "own"


def scope_permits(
    principal: Principal, scope: Scope, *, member_id: int | None = None, employer_id: int | None = None
) -> bool:
    """Whether the principal may reach an object of this scope (its owner ids, when it has one)."""
    if principal.is_staff or scope in (Scope.OPEN, Scope.OWN):
        return True
    if scope is Scope.APPLICATION:
        return may_see_application(principal, member_id, employer_id)
    if scope is Scope.MEMBER and member_id is not None and employer_id is not None:
        return may_see_member(principal, member_id, employer_id)
    if scope is Scope.EMPLOYER and employer_id is not None:
        return may_see_employer(principal, employer_id)
    return False
