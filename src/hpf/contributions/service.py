"""Contribution use cases: lists, receipts, allocation, refunds, corrections, adjustment.

Money moves only through the ledger: a receipt credits the employer's 21901 sub-ledger
(Dr 101 / Cr 21901), allocation moves it to the members (Dr 21901 / Cr 201 current part) with
lines produced by SQL from the stored list. Every money-moving call is idempotent: receipts
by the bank's serial, allocations by remittance id, refunds and corrections by a client key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)

from hpf import events
from hpf.accounts import service as accounts
from hpf.accounts.queries import employer_refs_subquery, member_refs_subquery
from hpf.contributions.rules import (
    CheckedRow,
    Kind,
    ListRow,
    MemberFacts,
    RowError,
    check_list,
    due_month,
    month_end,
    parse_month,
    totals,
)
from hpf.contributions.tables import arrears, carried_month, receipt, remittance, remittance_row
from hpf.db.bulk import among, bulk_insert
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.kernel.money import require_fen
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, EMPLOYER_SUSPENSE, MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.policy import rules as policy_rules
from hpf.policy.service import policy_at

REMITTING_STATES = frozenset({"01", "02", "03"})  # 正常, 开户, 缓缴 may remit (C-BJ)
HELD = "held"  # ``remittance.review`` of a list waiting for the stricter review (decision 0042)


# ------------------------------------------------------------------------------ typed results


@dataclass(frozen=True, slots=True)
class Remittance:
    """A remittance (汇缴) or back-payment (补缴) list as stored: the columns of ``remittance``."""

    id: int
    employer_id: int
    kind: str  # 01 汇缴, 02 补缴
    month: str  # YYYY-MM (HBJNY)
    state: str  # pending | posted | cancelled
    members: int
    employer_part_fen: int
    member_part_fen: int
    total_fen: int
    source: str  # api | csv | xlsx | sim
    idempotency_key: str
    created_on: date
    recorded_at: datetime
    actor: str
    posted_entry_id: int | None
    posted_on: date | None
    review: str | None = None  # held | passed | returned: a listed employer's list (decision 0042)
    review_note: str | None = None  # the reviewer's note of a returned list

    @property
    def held(self) -> bool:
        """Waiting for the center's stricter review: not posted until a reviewer passes it."""
        return self.state == "pending" and self.review == HELD


@dataclass(frozen=True, slots=True)
class RemittanceLine:
    """One row of a list, with the member's account number and name."""

    id: int
    remittance_id: int
    member_id: int
    base_fen: int
    employer_fen: int
    member_fen: int
    account_no: str
    name: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """A bank arrival notice (到账) as stored: the columns of ``receipt``."""

    id: int
    employer_id: int
    bank_ref: str
    amount_fen: int
    value_date: date
    entry_id: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class RecentReceipt:
    """A receipt as an employer's page lists it."""

    bank_ref: str
    amount_fen: int
    value_date: date
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class Arrears:
    """An employer's unpaid month (欠缴): the columns of ``arrears``."""

    employer_id: int
    month: str
    expected_fen: int
    state: str  # open | cleared
    marked_on: date
    cleared_on: date | None


@dataclass(frozen=True, slots=True)
class Adjustment:
    """What a base and rate adjustment (调基调比) changed."""

    employer_account_no: str
    members_changed: int
    employer_rate: str
    member_rate: str


@dataclass(frozen=True, slots=True)
class UnallocatedFunds:
    """An employer whose receipts and pending lists differ: money unclaimed, or lists short."""

    account_no: str
    name: str
    balance_fen: int
    claimed_fen: int
    unclaimed_fen: int
    shortfall_fen: int


def _rows_invalid(errors: Sequence[RowError]) -> InvalidInput:
    return InvalidInput(
        "remittance.rows_invalid",
        "清册有错误，整单未受理",
        f"{len({e.line for e in errors})} row(s) have errors; nothing was stored",
        errors=[e.__dict__ for e in errors],
    )


def remittance_owner(conn: Connection, remittance_id: str) -> tuple[int | None, int | None]:
    """(None, employer id) of a remittance list, for scope checks; ``NotFound`` if none."""
    return None, get_remittance(conn, int(remittance_id)).employer_id


def get_remittance(conn: Connection, remittance_id: int) -> Remittance:
    row = conn.execute(select(remittance).where(remittance.c.id == remittance_id)).mappings().first()
    if row is None:
        raise NotFound("remittance.not_found", "清册不存在", f"no remittance {remittance_id}")
    return Remittance(**row)  # the columns are the fields


def submit_list(
    conn: Connection,
    ctx: Context,
    employer_no: str,
    *,
    kind: Kind,
    month: str,
    rows: Sequence[ListRow],
    source: str,
    idempotency_key: str,
    parse_errors: Sequence[RowError] = (),
) -> Remittance:
    """Accept a whole remittance (汇缴) or back-payment (补缴) list, or refuse it whole."""
    month = parse_month(month)
    emp = accounts.get_employer(conn, employer_no)
    replay = (
        conn.execute(select(remittance).where(remittance.c.idempotency_key == idempotency_key))
        .mappings()
        .first()
    )
    if replay is not None:
        if (replay["employer_id"], replay["kind"], replay["month"]) != (emp.id, kind.value, month):
            raise Conflict("remittance.idempotency_conflict", "幂等键已用于另一份清册",
                           f"key {idempotency_key!r} was used for remittance {replay['id']}")  # fmt: skip
        return Remittance(**replay)
    _check_employer_may_submit(conn, emp, kind, month)
    policy = policy_at(conn, month_end(month))
    facts = {
        no: MemberFacts(f.id, f.name, f.employer_id, f.state, f.base_fen)
        for no, f in accounts.member_facts(conn, [r.account_no for r in rows]).items()
    }
    checked, errors = check_list(
        rows, kind=kind, employer_id=emp.id, employer_rate=emp.employer_rate,
        member_rate=emp.member_rate, members=facts, policy=policy,
    )  # fmt: skip
    errors = sorted([*parse_errors, *errors], key=lambda e: e.line)
    if errors:
        raise _rows_invalid(errors)
    return _store(conn, ctx, emp.id, kind, month, checked, source, idempotency_key)


def _check_employer_may_submit(conn: Connection, emp: accounts.Employer, kind: Kind, month: str) -> None:
    if emp.state not in REMITTING_STATES:
        raise Conflict("remittance.employer_state", "单位账户状态不允许缴存",
                       f"employer is in state {emp.state}", state=emp.state)  # fmt: skip
    open_same_kind = conn.scalar(
        select(remittance.c.month).where(
            remittance.c.employer_id == emp.id,
            remittance.c.kind == kind.value,
            remittance.c.state == "pending",
        )
    )
    if open_same_kind is not None:
        raise Conflict("remittance.previous_unfinished", "上一笔同类清册尚未完成（未到账或未分摊）",
                       f"the {open_same_kind} list of this kind is still pending", month=open_same_kind)  # fmt: skip
    due = due_month(emp.paid_through, emp.opened_on)
    if kind is Kind.REMITTANCE and month != due:
        raise InvalidInput("remittance.not_due_month", f"应缴年月为{due}",
                           f"the next month to remit is {due}, not {month}", due_month=due)  # fmt: skip
    if kind is Kind.BACK_PAYMENT and month >= due:
        raise InvalidInput("back_payment.not_past", "补缴年月须早于应缴年月",
                           f"back payments are for months before {due}; {month} is remitted normally")  # fmt: skip


def _store(
    conn: Connection, ctx: Context, employer_id: int, kind: Kind, month: str,
    rows: Sequence[CheckedRow], source: str, key: str,
) -> Remittance:  # fmt: skip
    employer_part, member_part, total = totals(rows)
    remittance_id = conn.execute(
        insert(remittance).values(
            employer_id=employer_id, kind=kind.value, month=month, state="pending", members=len(rows),
            employer_part_fen=employer_part, member_part_fen=member_part, total_fen=total,
            source=source, idempotency_key=key, created_on=ctx.clock.today(), recorded_at=ctx.clock.now(),
            actor=ctx.actor,
        ).returning(remittance.c.id)
    ).scalar_one()  # fmt: skip
    bulk_insert(
        conn, remittance_row, ("remittance_id", "member_id", "base_fen", "employer_fen", "member_fen"),
        [(remittance_id, r.member_id, r.base_fen, r.employer_fen, r.member_fen) for r in rows],
    )  # fmt: skip
    events.record(conn, ctx, "remittance.submitted", "remittance", remittance_id, {
        "employer_id": employer_id, "kind": kind.value, "month": month, "members": len(rows), "total_fen": total,
        "source": source,
    })  # fmt: skip
    return get_remittance(conn, remittance_id)


# ------------------------------------------------------------------------------------ receipts


def record_receipt(
    conn: Connection, ctx: Context, employer_no: str, amount_fen: int, bank_ref: str, value_date: date
) -> Receipt:
    """A bank arrival notice (到账) for an employer; a repeated notice has no effect."""
    require_fen(amount_fen, "amount_fen")
    if amount_fen <= 0:
        raise InvalidInput("receipt.amount", "到账金额须大于零", "amount_fen must be positive")
    bank_ref = (bank_ref or "").strip()
    if not 1 <= len(bank_ref) <= 40:
        raise InvalidInput(
            "receipt.bank_ref", "银行流水号必填（最长40位）", "bank_ref must be 1..40 characters"
        )
    emp = accounts.get_employer(conn, employer_no)
    seen = conn.execute(select(receipt).where(receipt.c.bank_ref == bank_ref)).mappings().first()
    if seen is not None:
        if (seen["employer_id"], seen["amount_fen"]) != (emp.id, amount_fen):
            raise Conflict("receipt.bank_ref_reused", "银行流水号已用于另一笔到账",
                           f"bank_ref {bank_ref!r} was recorded with other facts")  # fmt: skip
        return Receipt(**seen)
    if value_date > ctx.clock.today():
        raise InvalidInput("receipt.value_date", "到账日期不能晚于业务日期", "value date is in the future")
    entry_id = ledger.post(
        conn,
        JournalEntry(
            Kind.REMITTANCE.value, f"RCPT-{bank_ref}", f"receipt:{bank_ref}", value_date, ctx.clock.today(),
            (Line(BANK_DEPOSITS, Side.DEBIT, amount_fen),
             Line(EMPLOYER_SUSPENSE, Side.CREDIT, amount_fen, employer_id=emp.id)),
            memo="单位缴存到账", actor=ctx.actor,
        ),
        ctx.clock,
    )  # fmt: skip
    conn.execute(
        insert(receipt).values(
            employer_id=emp.id, bank_ref=bank_ref, amount_fen=amount_fen, value_date=value_date,
            entry_id=entry_id, recorded_at=ctx.clock.now(),
        )
    )  # fmt: skip
    row = Receipt(**conn.execute(select(receipt).where(receipt.c.bank_ref == bank_ref)).mappings().one())
    events.record(conn, ctx, "receipt.recorded", "receipt", row.id, {
        "employer_id": emp.id, "amount_fen": amount_fen, "value_date": value_date, "entry_id": entry_id,
    })  # fmt: skip
    return row


def refund_unallocated(
    conn: Connection, ctx: Context, employer_no: str, amount_fen: int, reason: str, idempotency_key: str
) -> int:
    """Return money an employer paid that no list claims (Dr 21901 / Cr 101)."""
    require_fen(amount_fen, "amount_fen")
    if amount_fen <= 0 or not reason.strip():
        raise InvalidInput(
            "refund.invalid", "退款金额须大于零且须说明原因", "positive amount and a reason needed"
        )
    emp = accounts.get_employer(conn, employer_no)
    pending = conn.scalar(
        select(func.coalesce(func.sum(remittance.c.total_fen), 0)).where(
            remittance.c.employer_id == emp.id, remittance.c.state == "pending"
        )
    )
    free = ledger.employer_balance_of(conn, emp.id) - int(pending or 0)
    if amount_fen > free:
        raise Conflict("refund.exceeds_unallocated", "退款金额超过未被清册占用的暂收款",
                       f"only {free} fen is not claimed by a pending list", available_fen=free)  # fmt: skip
    today = ctx.clock.today()
    replay = _posted(conn, f"refund:{idempotency_key}")
    entry_id = ledger.post(
        conn,
        JournalEntry(
            "99", f"REFUND-{emp.account_no}", f"refund:{idempotency_key}", today, today,
            (Line(EMPLOYER_SUSPENSE, Side.DEBIT, amount_fen, employer_id=emp.id),
             Line(BANK_DEPOSITS, Side.CREDIT, amount_fen)),
            memo=f"退还单位暂收款：{reason}"[:200], actor=ctx.actor,
        ),
        ctx.clock,
    )  # fmt: skip
    if not replay:
        events.record(conn, ctx, "employer.unallocated_refunded", "employer", emp.id,
                      {"amount_fen": amount_fen, "entry_id": entry_id})  # fmt: skip
    return entry_id


def _posted(conn: Connection, key: str) -> bool:
    """Whether the entry of ``key`` is posted already (a replayed request changes nothing)."""
    return ledger_queries.entry_id_by_key(conn, key) is not None


def refund_as_approved(
    conn: Connection, ctx: Context, payload: Mapping[str, Any], key: str
) -> dict[str, int]:
    """Carry out an approved ``funds.refund`` (maker-checker, ``hpf.approvals.service``)."""
    entry_id = refund_unallocated(
        conn,
        ctx,
        str(payload["employer_account_no"]),
        int(payload["amount_fen"]),
        str(payload["reason"]),
        key,
    )
    return {"entry_id": entry_id}


# ---------------------------------------------------------------------------------- allocation


def allocate(conn: Connection, ctx: Context, remittance_id: int) -> Remittance:
    """Allocate one funded list now (分摊) instead of waiting for month-end."""
    rem = get_remittance(conn, remittance_id)
    if rem.state == "posted":
        return rem
    if rem.state != "pending":
        raise Conflict("remittance.not_pending", "清册不是待分摊状态", f"remittance is {rem.state}")
    if rem.held:
        raise _held(remittance_id)
    if funded_remittances(conn, employer_id=rem.employer_id, ids=[remittance_id]) != [remittance_id]:
        raise Conflict("remittance.not_funded", "资金未足额到账，不能分摊",
                       "the employer's unallocated receipts do not cover this list (and earlier ones)")  # fmt: skip
    allocate_set(conn, ctx, [remittance_id], ctx.clock.today())
    return get_remittance(conn, remittance_id)


def _held(remittance_id: int) -> Conflict:
    return Conflict(
        "remittance.held_for_review",
        "该清册待中心从严审核，审核通过后方可分摊入账",
        f"remittance {remittance_id} waits for the center's stricter review before it is posted",
    )


def _not_held() -> Any:
    """Lists that may be posted: every pending list but one held for the stricter review."""
    return or_(remittance.c.review.is_(None), remittance.c.review != HELD)


# ------------------------------------------------------------------ the stricter review's hold


def hold_for_review(conn: Connection, ctx: Context, remittance_id: int) -> bool:
    """Hold a pending list until the center's stricter review (a listed employer's list,
    decision 0042): nothing posts it until :func:`pass_review`. Whether it was held now."""
    r = remittance.c
    held = conn.execute(
        update(remittance)
        .where(r.id == remittance_id, r.state == "pending", r.review.is_(None))
        .values(review=HELD)
    ).rowcount
    if held:
        events.record(conn, ctx, "remittance.held", "remittance", remittance_id, {"review": HELD})
    return bool(held)


def pass_review(conn: Connection, ctx: Context, remittance_id: int) -> Remittance:
    """The reviewer passed a held list: the hold is lifted and, if its money is there, the list
    is posted now through :func:`allocate_set` (else by the next allocation or month-end, as any
    list). Passing a list already passed changes nothing (it is posted once)."""
    r = remittance.c
    lifted = conn.execute(
        update(remittance).where(r.id == remittance_id, r.state == "pending", r.review == HELD).values(review="passed")
    ).rowcount  # fmt: skip
    rem = get_remittance(conn, remittance_id)
    if not lifted:
        if rem.review == "passed":
            return rem
        raise Conflict(
            "remittance.not_held", "该清册不在待审核状态", f"remittance {remittance_id} is not held"
        )
    events.record(conn, ctx, "remittance.review_passed", "remittance", remittance_id, {"review": "passed"})
    if funded_remittances(conn, employer_id=rem.employer_id, ids=[remittance_id]) == [remittance_id]:
        allocate_set(conn, ctx, [remittance_id], ctx.clock.today())
    return get_remittance(conn, remittance_id)


def return_list(conn: Connection, ctx: Context, remittance_id: int, note: str) -> Remittance:
    """The reviewer questioned a held list: it goes back to the employer, cancelled, with the
    reviewer's note; nothing is posted (the employer files the month again)."""
    r = remittance.c
    returned = conn.execute(
        update(remittance)
        .where(r.id == remittance_id, r.state == "pending", r.review == HELD)
        .values(state="cancelled", review="returned", review_note=note.strip()[:300])
    ).rowcount
    rem = get_remittance(conn, remittance_id)
    if not returned:
        if rem.review == "returned":
            return rem
        raise Conflict(
            "remittance.not_held", "该清册不在待审核状态", f"remittance {remittance_id} is not held"
        )
    events.record(conn, ctx, "remittance.returned", "remittance", remittance_id, {"review": "returned"})
    return rem


def funded_remittances(
    conn: Connection, *, employer_id: int | None = None, ids: Sequence[int] | None = None,
    through_month: str | None = None,
) -> list[int]:  # fmt: skip
    """Pending lists covered by their employer's receipts, oldest first (FIFO per employer).

    A list held for the stricter review keeps its place in the queue (the money it claims is
    not another list's) but is never returned: it is not posted until a reviewer passes it."""
    r = remittance.c
    cum = func.sum(r.total_fen).over(partition_by=r.employer_id, order_by=(r.month, r.kind, r.id))
    pending = select(r.id, r.employer_id, r.month, cum.label("cum"), _not_held().label("postable")).where(
        r.state == "pending"
    )
    if employer_id is not None:
        pending = pending.where(r.employer_id == employer_id)
    queue = pending.subquery()
    funds = ledger_queries.employer_balances_subquery()  # the balance that funds the lists
    stmt = (
        select(queue.c.id)
        .join(funds, funds.c.employer_id == queue.c.employer_id)
        .where(queue.c.cum <= funds.c.balance_fen, queue.c.postable)
        .order_by(queue.c.id)
    )
    if through_month is not None:
        stmt = stmt.where(queue.c.month <= through_month)
    if ids is not None:
        stmt = stmt.where(queue.c.id.in_(list(ids)))
    return list(conn.scalars(stmt))


def funded_on(conn: Connection, ids: Sequence[int], value_date: date) -> dict[int, date]:
    """The value date of each pending list's allocation where it is later than ``value_date``:
    the bank value date of the receipt that completed its funding (decision 0019).

    A list is funded when its employer's receipts cover it after every earlier pending list
    (FIFO, as in :func:`funded_remittances`). Walking back from today: with ``slack`` = the
    employer's balance − the pending lists up to this one, the list was covered on the earliest
    date ``d`` (``value_date`` or a receipt's value date after it) such that the receipts valued
    after ``d`` do not exceed ``slack``. Only receipts valued after ``value_date`` are read, in
    SQL for the whole chunk; lists funded by then are not returned (they take ``value_date``).
    """
    funds = ledger_queries.employer_balances_subquery()  # the balance that funds the lists
    r = remittance.c
    cum = func.sum(r.total_fen).over(partition_by=r.employer_id, order_by=(r.month, r.kind, r.id))
    employers = select(r.employer_id).where(among(conn, r.id, ids)).distinct().scalar_subquery()
    queue = (
        select(r.id, r.employer_id, cum.label("cum"))
        .where(r.state == "pending", r.employer_id.in_(employers))
        .subquery()
    )
    daily = (
        select(receipt.c.employer_id, receipt.c.value_date, func.sum(receipt.c.amount_fen).label("fen"))
        .where(receipt.c.employer_id.in_(employers), receipt.c.value_date > value_date)
        .group_by(receipt.c.employer_id, receipt.c.value_date)
        .subquery()
    )
    on_or_after = func.sum(daily.c.fen).over(
        partition_by=daily.c.employer_id, order_by=daily.c.value_date.desc()
    )
    candidates = union_all(
        select(daily.c.employer_id, daily.c.value_date.label("day"), (on_or_after - daily.c.fen).label("later")),
        select(daily.c.employer_id, literal(value_date, Date).label("day"), func.sum(daily.c.fen).label("later"))
        .group_by(daily.c.employer_id),
    ).subquery()  # fmt: skip
    slack = funds.c.balance_fen - queue.c.cum
    rows = conn.execute(
        select(queue.c.id, func.min(candidates.c.day))
        .join(funds, funds.c.employer_id == queue.c.employer_id)
        .join(candidates, candidates.c.employer_id == queue.c.employer_id)
        .where(among(conn, queue.c.id, ids), candidates.c.later <= slack)
        .group_by(queue.c.id)
    ).all()  # fmt: skip
    return {int(rid): _as_date(day) for rid, day in rows if day is not None and _as_date(day) > value_date}


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def allocate_set(conn: Connection, ctx: Context, ids: Sequence[int], value_date: date) -> int:
    """Post the allocation of the given lists in one set-based ledger call; returns lists posted.

    The one posting of a list, whoever calls it (allocation now, the month-end run, a reviewer
    passing a held list): a list held for the stricter review (decision 0042) is skipped here,
    so no path posts it before its review.

    Each list is valued on ``value_date`` (the month-end, or today for an allocation now) or,
    when its money arrived later — a late list allocated by a month-end run after its month —
    on the bank value date of the receipt that funded it (:func:`funded_on`, decision 0019).
    """
    if not ids:
        return 0
    rems: list[tuple[Any, Any, Any]] = [
        tuple(r) for r in conn.execute(
            select(remittance.c.id, remittance.c.kind, remittance.c.month)
            .where(among(conn, remittance.c.id, ids), remittance.c.state == "pending", _not_held())
        )
    ]  # fmt: skip
    if not rems:
        return 0
    valued = funded_on(conn, [rid for rid, _, _ in rems], value_date)
    if valued:
        # Money that arrived after the open interest year's end (a June run on 2 July, before
        # the 30 June settlement): those lists wait for a run after the settlement (decision 0019).
        year_end = ledger.open_year_end(conn, value_date)
        rems = [(rid, kind, month) for rid, kind, month in rems if valued.get(rid, value_date) <= year_end]
        if not rems:
            return 0
    headers = [
        ledger.EntryHeader(
            kind, f"REM-{rid}", f"alloc:{rid}", valued.get(rid, value_date), ctx.clock.today(),
            memo=f"{month} {'汇缴' if kind == Kind.REMITTANCE else '补缴'}分摊", actor=ctx.actor,
        )
        for rid, kind, month in rems
    ]  # fmt: skip
    posted = [rid for rid, _, _ in rems]
    chunk = among(conn, remittance.c.id, posted)
    key = literal("alloc:") + remittance.c.id.cast(String)
    members = (
        select(
            key.label("entry_key"), literal(MEMBER_CONTROL).label("subject_code"), literal(Side.CREDIT.value),
            (remittance_row.c.employer_fen + remittance_row.c.member_fen), remittance_row.c.member_id,
            literal(None, BigInteger), literal(BalancePart.CURRENT.value),
        )
        .join(remittance, remittance.c.id == remittance_row.c.remittance_id)
        .where(chunk)
    )  # fmt: skip
    employers = select(
        key, literal(EMPLOYER_SUSPENSE), literal(Side.DEBIT.value), remittance.c.total_fen,
        literal(None, BigInteger), remittance.c.employer_id, literal(None, String),
    ).where(chunk)  # fmt: skip
    ledger.post_set(conn, headers, union_all(members, employers), ctx.clock)
    posted_entry = ledger_queries.entry_id_for_key(key)  # the entry each list was posted as
    conn.execute(
        update(remittance)
        .where(chunk)
        .values(state="posted", posted_on=ctx.clock.today(), posted_entry_id=posted_entry)
    )
    r = remittance.c
    payload = events.json_of(conn, employer_id=r.employer_id, kind=r.kind, month=r.month, members=r.members,
                             total_fen=r.total_fen, entry_id=r.posted_entry_id)  # fmt: skip
    events.record_set(conn, ctx, "remittance.allocated", "remittance", select(r.id, payload).where(chunk))
    months = (
        select(remittance.c.employer_id, func.max(remittance.c.month).label("month"))
        .where(chunk, remittance.c.kind == Kind.REMITTANCE.value)
        .group_by(remittance.c.employer_id)
        .subquery()
    )
    accounts.advance_paid_through(conn, months, ctx)
    conn.execute(
        update(arrears)
        .where(
            arrears.c.state == "open",
            exists().where(
                chunk,
                remittance.c.employer_id == arrears.c.employer_id,
                remittance.c.month == arrears.c.month,
            ),
        )
        .values(state="cleared", cleared_on=ctx.clock.today())
    )
    return len(posted)


# ------------------------------------------------------------------------------------- arrears


def mark_arrears(conn: Connection, ctx: Context, month: str) -> int:
    """欠缴: every normal employer that has not remitted ``month`` by its month-end.

    Expected amount = what the employer's list for ``month`` would total: for each of its
    members in state 正常 opened by the month's end, base × employer rate and base × member rate,
    each rounded half up to the policy's unit of that month (``contribution_parts``), in SQL.
    A member sealed or transferred since the last list is not asked for; 0 if no member.
    Deferred (缓缴), sealed and closed employers are not in arrears.
    """
    employer, member = employer_refs_subquery(), member_refs_subquery()
    last_day = month_end(month)
    unit = 100 if policy_at(conn, last_day).rounding_unit.value == "yuan" else 1
    scale = 10_000  # rates are NUMERIC(6, 4): exact in units of 10⁻⁴

    def part(rate: Any) -> Any:
        units = func.cast(func.round(rate * scale), BigInteger)
        exact = func.cast(member.c.base_fen, BigInteger) * units  # fen × 10⁻⁴
        return (exact + scale * unit // 2) // (scale * unit) * unit

    expected = (
        select(func.coalesce(func.sum(part(employer.c.employer_rate) + part(employer.c.member_rate)), 0))
        .where(member.c.employer_id == employer.c.id, member.c.state == "01", member.c.opened_on <= last_day)
        .scalar_subquery()
    )  # fmt: skip
    already = exists().where(arrears.c.employer_id == employer.c.id, arrears.c.month == month)
    source = select(
        employer.c.id,
        literal(month),
        expected,
        literal("open"),
        literal(ctx.clock.today()),
    ).where(
        employer.c.state == "01",
        (employer.c.paid_through.is_(None)) | (employer.c.paid_through < month),
        employer.c.opened_on <= last_day,
        ~already,
    )
    marked = conn.execute(
        insert(arrears)
        .from_select(["employer_id", "month", "expected_fen", "state", "marked_on"], source)
        .returning(arrears.c.employer_id)
    )
    return len(marked.all())


def open_arrears(conn: Connection, employer_id: int) -> list[Arrears]:
    rows = conn.execute(
        select(arrears).where(arrears.c.employer_id == employer_id, arrears.c.state == "open")
        .order_by(arrears.c.month)
    ).mappings()  # fmt: skip
    return [Arrears(**r) for r in rows]  # the columns are the fields


# ---------------------------------------------------------------------------------- corrections


def correct_wrong_payment(
    conn: Connection, ctx: Context, remittance_id: int, account_no: str, amount_fen: int,
    reason: str, idempotency_key: str, to_account_no: str | None = None,
) -> int:  # fmt: skip
    """错缴更正: move money allocated to the wrong member, to the right one or back to the employer."""
    require_fen(amount_fen, "amount_fen")
    rem = get_remittance(conn, remittance_id)
    if rem.state != "posted" or amount_fen <= 0 or not reason.strip():
        raise InvalidInput("correction.invalid", "只能更正已分摊清册中的正数金额，并须说明原因",
                           "the list must be posted, the amount positive and a reason given")  # fmt: skip
    wrong = accounts.get_member(conn, account_no)
    allocated = conn.scalar(
        select(func.coalesce(func.sum(remittance_row.c.employer_fen + remittance_row.c.member_fen), 0)).where(
            remittance_row.c.remittance_id == remittance_id, remittance_row.c.member_id == wrong.id
        )
    )
    already = _corrected(conn, remittance_id, wrong.id)
    if amount_fen > int(allocated or 0) - already:
        raise Conflict("correction.exceeds_allocation", "更正金额超过该职工在本清册中的分摊额",
                       f"at most {int(allocated or 0) - already} fen can still be corrected")  # fmt: skip
    take = _split_debit(wrong, amount_fen)
    credit: Line
    if to_account_no:
        right = accounts.get_member(conn, to_account_no)
        if right.employer_id != rem.employer_id or right.id == wrong.id:
            raise InvalidInput(
                "correction.target", "更正对象须为本单位的另一职工", "target must be a colleague"
            )
        credit = Line(MEMBER_CONTROL, Side.CREDIT, amount_fen, member_id=right.id, part=BalancePart.CURRENT)
    else:
        credit = Line(EMPLOYER_SUSPENSE, Side.CREDIT, amount_fen, employer_id=rem.employer_id)
    today = ctx.clock.today()
    replay = _posted(conn, f"correction:{idempotency_key}")
    entry_id = ledger.post(
        conn,
        JournalEntry("73", f"REM-{remittance_id}", f"correction:{idempotency_key}", today, today,
                     (*take, credit), memo=f"错缴更正：{reason}"[:200], actor=ctx.actor),
        ctx.clock,
    )  # fmt: skip
    if not replay:
        events.record(conn, ctx, "remittance.corrected", "remittance", remittance_id, {
            "member_id": wrong.id, "to_member_id": credit.member_id, "amount_fen": amount_fen, "entry_id": entry_id,
        })  # fmt: skip
    return entry_id


def _split_debit(member: accounts.Member, amount_fen: int) -> tuple[Line, ...]:
    """Take from the current-year part first, then the carried-over part."""
    from_current = min(amount_fen, member.current_fen)
    lines = []
    if from_current:
        lines.append(
            Line(MEMBER_CONTROL, Side.DEBIT, from_current, member_id=member.id, part=BalancePart.CURRENT)
        )
    if amount_fen - from_current:
        lines.append(Line(MEMBER_CONTROL, Side.DEBIT, amount_fen - from_current, member_id=member.id,
                          part=BalancePart.CARRIED))  # fmt: skip
    return tuple(lines)


def _corrected(conn: Connection, remittance_id: int, member_id: int) -> int:
    """What earlier corrections (错缴更正, business type 73) took from the member on this list."""
    return ledger_queries.member_line_total(
        conn, member_id, business_type="73", business_id=f"REM-{remittance_id}", side=Side.DEBIT
    )


# ---------------------------------------------------------------------------------- adjustment


def adjust_base_and_rates(
    conn: Connection, ctx: Context, employer_no: str, *, employer_rate: str, member_rate: str,
    bases: Mapping[str, int], reason: str,
) -> Adjustment:  # fmt: skip
    """调基调比 for a whole employer as one operation: every error listed, or all applied."""
    emp = accounts.get_employer(conn, employer_no)
    if emp.state == "04":
        raise Conflict("adjustment.employer_closed", "单位已销户", "the employer is closed")
    policy = policy_at(conn, ctx.clock.today())
    try:
        er, mr = Decimal(str(employer_rate)), Decimal(str(member_rate))
    except ArithmeticError:
        raise InvalidInput("rate.format", "缴存比例格式错误", "rates must be decimal strings") from None
    errors = [
        RowError(0, "", f.code, f.message_zh, f.message_en) for f in policy_rules.check_rates(er, mr, policy)
    ]
    facts = accounts.member_facts(conn, list(bases))
    for line, (account_no, base) in enumerate(bases.items(), start=1):
        fact = facts.get(account_no)
        if fact is None or fact.employer_id != emp.id:
            errors.append(RowError(line, account_no, "remittance.not_employee", "该职工不属于本单位",
                                   f"account {account_no} is not a member of this employer"))  # fmt: skip
            continue
        errors += [
            RowError(line, account_no, f.code, f.message_zh, f.message_en)
            for f in policy_rules.check_base(require_fen(base, "base_fen"), policy)
        ]
    if errors:
        raise _rows_invalid(errors)
    changed = accounts.apply_adjustment(
        conn, ctx, emp, er, mr, {facts[no].id: base for no, base in bases.items()}, reason
    )
    return Adjustment(employer_no, changed, str(er), str(mr))


# ----------------------------------------------------------------------------------- reading


def employer_remittances(conn: Connection, employer_id: int, limit: int = 60) -> list[Remittance]:
    rows = conn.execute(
        select(remittance).where(remittance.c.employer_id == employer_id)
        .order_by(remittance.c.month.desc(), remittance.c.id.desc()).limit(limit)
    ).mappings()  # fmt: skip
    return [Remittance(**r) for r in rows]


def needed_fen(conn: Connection, rem: Remittance) -> int:
    """What the employer's receipts must cover for this list: it and the pending lists before it
    (lists are funded oldest first, in the order ``funded_remittances`` uses)."""
    r = remittance.c
    before = (r.month < rem.month) | (
        (r.month == rem.month) & ((r.kind < rem.kind) | ((r.kind == rem.kind) & (r.id <= rem.id)))
    )
    return int(
        conn.scalar(
            select(func.coalesce(func.sum(r.total_fen), 0)).where(
                r.employer_id == rem.employer_id, r.state == "pending", before
            )
        )
        or 0
    )


def is_pending_list_of(conn: Connection, remittance_id: int, employer_id: int) -> bool:
    """Whether ``remittance_id`` is a pending list of this employer."""
    found = conn.execute(
        select(remittance.c.employer_id, remittance.c.state).where(remittance.c.id == remittance_id)
    ).first()
    return found is not None and tuple(found) == (employer_id, "pending")


def recent_receipts(conn: Connection, employer_id: int, *, limit: int = 20) -> list[RecentReceipt]:
    """The employer's latest bank receipts, newest first: bank_ref, amount_fen, value_date, recorded_at."""
    rows = conn.execute(
        select(receipt.c.bank_ref, receipt.c.amount_fen, receipt.c.value_date, receipt.c.recorded_at)
        .where(receipt.c.employer_id == employer_id)
        .order_by(receipt.c.id.desc())
        .limit(limit)
    )
    return [RecentReceipt(*r) for r in rows]


def remittance_rows(conn: Connection, remittance_id: int) -> list[RemittanceLine]:
    member = member_refs_subquery()  # to show names on the list
    rows = conn.execute(
        select(remittance_row, member.c.account_no, member.c.name)
        .join(member, member.c.id == remittance_row.c.member_id)
        .where(remittance_row.c.remittance_id == remittance_id)
        .order_by(remittance_row.c.id)
    ).mappings()
    return [RemittanceLine(**r) for r in rows]  # the row's columns, the account number and name


def unallocated(conn: Connection) -> list[UnallocatedFunds]:
    """Employers holding receipts not claimed by a pending list, or lists short of money."""
    employer = employer_refs_subquery()
    employer_balance = ledger_queries.employer_balances_subquery()
    pending = (
        select(remittance.c.employer_id, func.sum(remittance.c.total_fen).label("claimed"))
        .where(remittance.c.state == "pending")
        .group_by(remittance.c.employer_id)
        .subquery()
    )
    claimed = func.coalesce(pending.c.claimed, 0)
    rows = conn.execute(
        select(
            employer.c.account_no, employer.c.name, employer_balance.c.balance_fen, claimed.label("claimed_fen"),
        )
        .join(employer_balance, employer_balance.c.employer_id == employer.c.id)
        .outerjoin(pending, pending.c.employer_id == employer.c.id)
        .where(and_(employer_balance.c.balance_fen != claimed, (employer_balance.c.balance_fen > 0) | (claimed > 0)))
        .order_by(employer.c.account_no)
        .limit(500)
    ).mappings()  # fmt: skip
    return [
        UnallocatedFunds(r["account_no"], r["name"], r["balance_fen"], r["claimed_fen"],
                         unclaimed_fen=max(r["balance_fen"] - r["claimed_fen"], 0),
                         shortfall_fen=max(r["claimed_fen"] - r["balance_fen"], 0))
        for r in rows
    ]  # fmt: skip


# ------------------------------------------------------------------------ carried months


def record_carried_months(
    conn: Connection, ctx: Context, member_id: int, months: Sequence[str], letter_no: str
) -> int:
    """Months a member deposited at another center, carried in by a transfer (decision 0030):
    counted from now on by every rule that counts months of deposit (``queries.posted_months``).
    A month already carried in counts once (a repeated transfer-out message adds nothing), and a
    month the member also deposited here is still one month (the reads take each month once).
    Returns the number of months newly recorded."""
    if not months:
        return 0
    have = set(
        conn.scalars(
            select(carried_month.c.month).where(
                carried_month.c.member_id == member_id, carried_month.c.month.in_(list(months))
            )
        )
    )
    fresh = sorted(set(months) - have)
    if fresh:
        now = ctx.clock.now()
        conn.execute(
            insert(carried_month),
            [{"member_id": member_id, "month": m, "letter_no": letter_no, "recorded_at": now} for m in fresh],
        )
    return len(fresh)


def record_carried_months_many(
    conn: Connection, ctx: Context, carried: Sequence[tuple[int, Sequence[str], str]]
) -> list[int]:
    """:func:`record_carried_months` of many transfers — ``(member id, months, letter number)``
    each, taken in order — with one read of the months carried already and one INSERT; the
    number of months newly recorded for each."""
    wanted = [(member_id, list(months), letter_no) for member_id, months, letter_no in carried]
    members = sorted({member_id for member_id, months, _ in wanted if months})
    c = carried_month.c
    have: set[tuple[int, str]] = set()
    for start in range(0, len(members), 900):
        rows = conn.execute(select(c.member_id, c.month).where(c.member_id.in_(members[start : start + 900])))
        have.update((int(member_id), str(month)) for member_id, month in rows)
    now, rows_in, added = ctx.clock.now(), [], []
    for member_id, months, letter_no in wanted:
        fresh = sorted({m for m in months if (member_id, m) not in have})
        have.update((member_id, m) for m in fresh)  # the same member twice: a month counted once
        rows_in += [
            {"member_id": member_id, "month": m, "letter_no": letter_no, "recorded_at": now} for m in fresh
        ]
        added.append(len(fresh))
    if rows_in:
        conn.execute(insert(carried_month), rows_in)
    return added
