"""Daily reconciliation (对账): the bank's statement of a day against the ledger's 101 postings.

Both sides are reduced to one signed amount per reference (money in positive):

- the bank: the statement lines (BDC113) of the day, by ``ref_seq_no`` — the center's 业务流水号
  for what the center ordered; for money the bank received unasked, ``RCPT-`` + the bank serial,
  which is the business id ``hpf.contributions`` gives a receipt's entry;
- the ledger: the lines on 101 住房公积金存款 posted that day, by their entry's business id
  (a payment order's number; a reversal nets out with its original).

Some credits are posted on 101 under another entry than their own reference: the loan debits
(BDC105, ``hpf.loans.debit.service``) a center recorded as successful count towards their month's
collection entry (``LOAN-ME-<month>``, one Dr 101 for all of them). Settlement sits below the
loans in the layer order and does not read their tables: the caller hands in
:class:`EntryGroups`, an SQL building block of (statement reference, business id of the entry
that posts it) — ``hpf.loans.queries.collected_debits_subquery``, wired in ``hpf.bootstrap``
(``Dependencies.entry_groups``). So the day's successful debits must add up to what that entry
posted on 101 that day; a credit for a debit recorded failed (or still pending) is not in the
groups, stays under its own number and is a ``bank_only`` difference, and a success the bank
never credited makes the month's entry differ (``amount_mismatch`` or ``ledger_only``).

Then four kinds of difference, in one ``INSERT … SELECT``: in the bank but not the ledger,
in the ledger but not the bank, both with different amounts, and a reference the bank lists
more than once. Each names the payment order and its state when the reference is one. A
reconciliation and its statement lines are stored; running the day again adds a new run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    Engine,
    Insert,
    Subquery,
    and_,
    case,
    distinct,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)

from hpf.db.bulk import bulk_insert
from hpf.db.engine import write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput
from hpf.ledger import queries as ledger_queries
from hpf.ledger.chart import BANK_DEPOSITS
from hpf.settlement import messages as m
from hpf.settlement.adapter import BankAdapter
from hpf.settlement.tables import (
    bank_statement_line,
    payment_order,
    reconciliation,
    reconciliation_difference,
)

EntryGroups = Callable[[], Subquery]
"""An SQL building block handed in by a higher layer: credits the ledger posts under another
entry's business id. Its subquery has the columns ``ref`` (a statement line's reference, unique)
and ``business_id`` (the business id of the entry that posts that credit on 101). Today:
``hpf.loans.queries.collected_debits_subquery`` (a successful loan debit → ``LOAN-ME-<month>``)."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference a reconciliation found (对账差异); amounts signed, money in positive."""

    id: int
    reconciliation_id: int
    kind: str
    ref: str
    bank_fen: int | None
    ledger_fen: int | None
    lines: int
    order_id: int | None
    order_state: str | None


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """A reconciliation run of a day and its differences, by kind and reference."""

    id: int
    day: date
    acct_no: str
    run_at: datetime
    actor: str
    bank_lines: int
    bank_out_fen: int
    bank_in_fen: int
    differences: int
    items: tuple[Difference, ...]


def _differences(run_id: int, day: date, groups: EntryGroups) -> Insert:
    """The ``INSERT … SELECT`` of every difference between the run's statement lines and the
    ledger's 101 postings of ``day`` (read through ``ledger.queries``)."""
    rid = literal(run_id, BigInteger)
    x = bank_statement_line.c
    # A credit the ledger posts under another entry (a successful loan debit: its month's
    # collection entry, LOAN-ME-<month>, posts all of them at once) counts towards that entry.
    g = groups()
    grouped = and_(g.c.ref == x.ref_seq_no, x.direction == "C")
    s = (
        select(
            x.ref_seq_no.label("ref"), x.direction, x.amount_fen,
            func.coalesce(g.c.business_id, x.ref_seq_no).label("grp"),
        )
        .select_from(bank_statement_line.outerjoin(g, grouped))
        .where(x.reconciliation_id == rid)
        .cte("s")
    )  # fmt: skip
    b = (
        select(
            s.c.grp.label("ref"),
            func.count().label("n"),
            (func.count() - func.count(distinct(s.c.ref))).label("dup"),
            func.sum(case((s.c.direction == "C", s.c.amount_fen), else_=-s.c.amount_fen)).label("fen"),
        )
        .group_by(s.c.grp)
        .cte("b")
    )
    moved = ledger_queries.subject_movements_subquery(BANK_DEPOSITS, literal(day, Date))
    ln = select(moved.c.business_id.label("ref"), moved.c.net_debit_fen.label("fen")).cte("l")
    o = payment_order.c
    kind = case((b.c.dup > 0, "duplicate"), (ln.c.ref.is_(None), "bank_only"), else_="amount_mismatch")
    found = (
        select(rid, kind, b.c.ref, b.c.fen, ln.c.fen, b.c.n, o.id, o.state)
        .select_from(b.outerjoin(ln, ln.c.ref == b.c.ref).outerjoin(payment_order, o.order_no == b.c.ref))
        .where(or_(b.c.dup > 0, ln.c.ref.is_(None), ln.c.fen != b.c.fen))
    )
    ledger_only = (
        select(rid, literal("ledger_only"), ln.c.ref, null(), ln.c.fen, literal(0), o.id, o.state)
        .select_from(ln.outerjoin(b, b.c.ref == ln.c.ref).outerjoin(payment_order, o.order_no == ln.c.ref))
        .where(b.c.ref.is_(None), ln.c.fen != 0)
    )
    return insert(reconciliation_difference).from_select(
        ["reconciliation_id", "kind", "ref", "bank_fen", "ledger_fen", "lines", "order_id", "order_state"],
        union_all(found, ledger_only),
    )


def statement_ref(line: m.StatementLine) -> str:
    return line.ref_seq_no or f"RCPT-{line.bank_seq_no}"


def reconcile(
    conn: Connection, ctx: Context, day: date, statement: m.Statement, groups: EntryGroups
) -> Reconciliation:
    """Store the statement of ``day`` and every difference with the ledger, the credits in
    ``groups`` counted towards their entry; returns the run."""
    if statement.day != day or any(line.tx_date != day for line in statement.lines):
        raise InvalidInput(
            "settlement.statement_day", "对账单日期与对账日期不符",
            f"the statement is for {statement.day}, or has lines of another day; reconciling {day}",
        )  # fmt: skip
    lines = statement.lines
    run_id = int(
        conn.execute(
            insert(reconciliation).values(
                day=day, acct_no=statement.acct_no, run_at=ctx.clock.now(), actor=ctx.actor,
                bank_lines=len(lines), differences=0,
                bank_out_fen=sum(x.amt_fen for x in lines if x.direction == "D"),
                bank_in_fen=sum(x.amt_fen for x in lines if x.direction == "C"),
            ).returning(reconciliation.c.id)
        ).scalar_one()
    )  # fmt: skip
    bulk_insert(
        conn, bank_statement_line,
        ("reconciliation_id", "bank_seq_no", "tx_date", "direction", "amount_fen", "ref_seq_no", "summary"),
        [(run_id, x.bank_seq_no, x.tx_date, x.direction, x.amt_fen, statement_ref(x), x.summary[:60]) for x in lines],
    )  # fmt: skip
    conn.execute(_differences(run_id, day, groups))
    found = conn.scalar(
        select(func.count())
        .select_from(reconciliation_difference)
        .where(reconciliation_difference.c.reconciliation_id == run_id)
    )
    conn.execute(update(reconciliation).where(reconciliation.c.id == run_id).values(differences=found))
    return run_of(conn, run_id)


def run_of(conn: Connection, run_id: int) -> Reconciliation:
    r = conn.execute(select(reconciliation).where(reconciliation.c.id == run_id)).mappings().one()
    d = reconciliation_difference.c
    rows = conn.execute(
        select(reconciliation_difference).where(d.reconciliation_id == run_id).order_by(d.kind, d.ref)
    ).mappings()
    items = tuple(
        Difference(
            id=x["id"], reconciliation_id=x["reconciliation_id"], kind=x["kind"], ref=x["ref"],
            bank_fen=x["bank_fen"], ledger_fen=x["ledger_fen"], lines=x["lines"], order_id=x["order_id"],
            order_state=x["order_state"],
        )
        for x in rows
    )  # fmt: skip
    return Reconciliation(
        id=r["id"], day=r["day"], acct_no=r["acct_no"], run_at=r["run_at"], actor=r["actor"],
        bank_lines=r["bank_lines"], bank_out_fen=r["bank_out_fen"], bank_in_fen=r["bank_in_fen"],
        differences=r["differences"], items=items,
    )  # fmt: skip


def latest(conn: Connection) -> Reconciliation | None:
    """The most recent reconciliation run with its differences, if any ran."""
    run_id = conn.scalar(select(reconciliation.c.id).order_by(reconciliation.c.id.desc()).limit(1))
    return None if run_id is None else run_of(conn, int(run_id))


def fetch_and_reconcile(
    engine: Engine, ctx: Context, day: date, bank: BankAdapter, groups: EntryGroups
) -> Reconciliation:
    """Fetch the day's statement (BDC113) and reconcile it (the bank is not called in a transaction)."""
    statement = bank.statement(day)
    with write_transaction(engine) as conn:
        return reconcile(conn, ctx, day, statement, groups)
