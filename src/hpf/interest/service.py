"""Interest settlement: the annual one on 30 June for the whole center, and one member's at closing.

Annual settlement (``settle_year``, REFERENCE §2.2) credits every member the interest on the
year's 积数 (Dr 41101 / Cr 201 carried part), valued on the year end under business type 09
年终结息, and rolls the interest year, which carries every current-year balance over (a
reclassification between the two parts of one account, decision 0005: no journal lines). It is
set-based and one transaction (decision 0009): one ``INSERT … SELECT`` computes every member's
interest into a scratch table, and ``ledger.post_set_and_roll`` posts the entries (one per
member id range) and rolls the year writing each member balance row once; no Python loop
touches a member. The job is restartable and idempotent per year (``batch_job``
"interest_settlement"; ledger keys ``interest:<year end>:<lo>-<hi>``).

Closing settlement (``settle_on_close``, REFERENCE §2.4) pays one member the interest from the
start of the year (or their last closing settlement in it) to the closing day; the annual
settlement later counts that member's 积数 only from the day after.

The SQL uses integers only (SQLite divides REALs inexactly): with ``n`` = rate × 10⁷ and
``D`` = 10⁷ × day basis, a member's interest is ``(2S + D) / 2D`` for ``S = Σ 积数 × n``, the
integer form of ``rules.interest_fen`` (see ``rules.sql_round_half_up`` and
``rules.max_safe_accrual`` for the 64-bit bound, which ``settle_year`` checks before it starts).

Operating notes: run it after June's month-end (postings valued on or before 30 June must be in).
The settlement holds the member balance rows it writes until it commits, so counter postings
wait for it (about ten seconds per million members on PostgreSQL); run it in the day-end window.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    Insert,
    MetaData,
    SmallInteger,
    String,
    Subquery,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CTE

from hpf import events
from hpf.db.engine import read_transaction, write_transaction
from hpf.interest import rules
from hpf.jobs import finish_job, job_state, job_summary, start_job
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.ledger.chart import MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line, interest_year_end, previous_year_end
from hpf.policy import service as policy
from hpf.policy.rules import DepositRate, deposit_rate_segments

JOB = "interest_settlement"
BUSINESS_TYPE = "09"  # 年终结息 (归集和提取业务类型)
INTEREST_EXPENSE = "41101"  # 住房公积金利息支出
NEGATIVE_SAMPLE = 100  # member ids with a negative 积数 kept in the job summary
Progress = Callable[[str, int, int], None]


# ------------------------------------------------------------------------------ typed results


@dataclass(frozen=True, slots=True)
class YearSettlement:
    """What an annual settlement did (stored as the job's summary); ``already_done`` when the
    year was settled before and nothing was posted this time."""

    year_end: str  # ISO date
    next_year_end: str
    day_basis: int
    members_credited: int
    interest_fen: int
    members_carried_over: int
    carried_over_fen: int
    # 积数 < 0 (back-valued withdrawals exceed what was held): paid 0, worth a look by staff
    negative_accrual_members: int
    negative_accrual_sample: list[int]  # up to NEGATIVE_SAMPLE member ids
    chunks_skipped: int
    chunks: int
    seconds: float
    already_done: bool = False

    @classmethod
    def of(cls, stored: Mapping[str, Any], *, already_done: bool = False) -> YearSettlement:
        """The summary a finished run stored."""
        return cls(
            year_end=str(stored["year_end"]),
            next_year_end=str(stored["next_year_end"]),
            day_basis=int(stored["day_basis"]),
            members_credited=int(stored["members_credited"]),
            interest_fen=int(stored["interest_fen"]),
            members_carried_over=int(stored["members_carried_over"]),
            carried_over_fen=int(stored["carried_over_fen"]),
            negative_accrual_members=int(stored["negative_accrual_members"]),
            negative_accrual_sample=[int(m) for m in stored["negative_accrual_sample"]],
            chunks_skipped=int(stored["chunks_skipped"]),
            chunks=int(stored["chunks"]),
            seconds=float(stored["seconds"]),
            already_done=already_done,
        )

    def stored(self) -> dict[str, object]:
        """The job summary as stored (without ``already_done``)."""
        return {
            "year_end": self.year_end,
            "next_year_end": self.next_year_end,
            "day_basis": self.day_basis,
            "members_credited": self.members_credited,
            "interest_fen": self.interest_fen,
            "members_carried_over": self.members_carried_over,
            "carried_over_fen": self.carried_over_fen,
            "negative_accrual_members": self.negative_accrual_members,
            "negative_accrual_sample": list(self.negative_accrual_sample),
            "chunks_skipped": self.chunks_skipped,
            "chunks": self.chunks,
            "seconds": self.seconds,
        }

    def shown(self) -> dict[str, object]:
        """The summary as ``hpf interest settle`` prints it: as stored, ``already_done`` added
        when the year was settled before."""
        return {**self.stored(), "already_done": True} if self.already_done else self.stored()


@dataclass(frozen=True, slots=True)
class InterestQuote:
    """The interest a member has earned in the open interest year up to ``day`` (nothing posted):
    积数 counted from the day after ``after``, in fen·days per part, its ``(积数, rate)`` pieces."""

    member_id: int
    year_end: date
    after: date
    day: date
    day_basis: int
    accrual_carried: int
    accrual_current: int
    pieces: list[tuple[int, Decimal]]
    interest_fen: int


def annual_business_id(year_end: date) -> str:
    return f"INTEREST-{year_end.isoformat()}"


def closing_business_id(year_end: date) -> str:
    """All closing settlements of one interest year share it: the annual job finds them by it."""
    return f"INTEREST-CLOSE-{year_end.isoformat()}"


# ------------------------------------------------------------------------- annual settlement


def settle_year(
    engine: Engine,
    ctx: Context,
    year_end: date,
    *,
    day_basis: int,
    rates: Sequence[DepositRate],
    chunk_size: int = 50_000,
    progress: Progress | None = None,
) -> YearSettlement:
    """Settle the interest year ending ``year_end`` for every member account; returns the summary.

    A finished year returns its stored summary (with ``already_done``) and posts nothing. The
    interest of every member and the year roll are one transaction (decision 0009): a run that
    stopped midway left nothing behind and is simply run again. ``chunk_size`` is the width of
    the member id range each interest entry covers (ledger key ``interest:<year end>:<lo>-<hi>``).
    """
    rules.check_day_basis(day_basis)
    if chunk_size < 1:
        raise InvalidInput("interest.chunk_size", "批次大小须为正数", f"chunk size {chunk_size} < 1")
    started = time.perf_counter()
    period = year_end.isoformat()
    with write_transaction(engine) as conn:  # recorded on its own: a failed run shows as running
        if job_state(conn, JOB, period) == "done":
            return _done(conn, period)
        _refuse_unsettleable(conn, ctx, year_end)
        start_job(conn, JOB, period, ctx.clock)
    with write_transaction(engine) as conn:
        if job_state(conn, JOB, period) == "done":  # a concurrent run finished first
            return _done(conn, period)
        _refuse_unsettleable(conn, ctx, year_end)
        plan = _YearPlan.build(year_end, day_basis, rates)
        _refuse_overflow(conn, plan)
        balances = ledger_queries.member_balances_subquery()
        first, last = conn.execute(
            select(func.min(balances.c.member_id), func.max(balances.c.member_id))
        ).one()
        plan.closings = ledger_queries.has_entries(conn, closing_business_id(year_end))
        ranges = _id_ranges(first, last, chunk_size)
        # Ranges posted by a run of the earlier chunk-per-transaction settlement: those members
        # are credited already (the roll still carries them over).
        posted = _posted_ranges(conn, year_end)
        totals = _Totals(chunks_skipped=len(posted & set(ranges)))
        if ranges:
            headers, lines = _compute(conn, ctx, plan, (first, last, chunk_size), sorted(posted), totals)
        else:
            headers, lines = [], None
        if progress:
            progress("interest", 1, 2)
        if headers and lines is not None:
            _, next_end, moved, moved_fen = ledger.post_set_and_roll(
                conn, headers, lines, year_end, ctx.clock
            )
        else:
            next_end, moved, moved_fen = ledger.roll_interest_year(conn, year_end, ctx.clock)
        if posted:  # earlier runs posted some ranges: count everything from the ledger
            totals = _totals_from_ledger(conn, year_end, totals)
        totals.members_carried_over, totals.carried_over_fen = moved, moved_fen
        _calc.drop(conn, checkfirst=True)
        summary = YearSettlement(
            year_end=period,
            next_year_end=next_end.isoformat(),
            day_basis=day_basis,
            members_credited=totals.members_credited,
            interest_fen=totals.interest_fen,
            members_carried_over=totals.members_carried_over,
            carried_over_fen=totals.carried_over_fen,
            negative_accrual_members=totals.negative_accrual_members,
            negative_accrual_sample=list(totals.negative_accrual_sample),
            chunks_skipped=totals.chunks_skipped,
            chunks=len(ranges),
            seconds=round(time.perf_counter() - started, 3),
        )
        finish_job(conn, JOB, period, ctx, summary.stored())
    if progress:
        progress("interest", 2, 2)
    return summary


def settle_year_with_policy(
    engine: Engine,
    ctx: Context,
    year_end: date,
    *,
    chunk_size: int = 50_000,
    progress: Progress | None = None,
) -> YearSettlement:
    """``settle_year`` with the center's day basis (in force on the year end) and rate history."""
    day_basis, rates = _policy(engine, year_end)
    return settle_year(
        engine, ctx, year_end, day_basis=day_basis, rates=rates, chunk_size=chunk_size, progress=progress
    )


def _done(conn: Connection, period: str) -> YearSettlement:
    """The stored summary of a settled year (``finish_job`` stores it with the state)."""
    stored = job_summary(conn, JOB, period)
    assert stored is not None, "a done job has its summary (finish_job)"
    return YearSettlement.of(stored, already_done=True)


def _policy(engine_or_conn: Engine | Connection, on: date) -> tuple[int, list[DepositRate]]:
    if isinstance(engine_or_conn, Connection):
        return policy.policy_at(engine_or_conn, on).day_basis, policy.deposit_rates(engine_or_conn)
    with read_transaction(engine_or_conn) as conn:
        return policy.policy_at(conn, on).day_basis, policy.deposit_rates(conn)


def _refuse_unsettleable(conn: Connection, ctx: Context, year_end: date) -> None:
    if interest_year_end(year_end) != year_end:
        raise InvalidInput(
            "interest.not_year_end",
            "结息日须为计息年度末（6月30日）",
            f"{year_end} is not an interest year end",
        )
    if ctx.clock.today() < year_end:
        raise Conflict(
            "interest.too_early",
            "未到结息日",
            f"the interest year ending {year_end} cannot be settled on business date {ctx.clock.today()}",
        )
    open_end = ledger_queries.open_interest_year(conn)
    if open_end is None:  # nothing was ever posted to a member: open the year asked for
        open_end = ledger.open_year_end(conn, year_end)
    if open_end != year_end:
        raise Conflict(
            "interest.year_not_open",
            "该计息年度不是当前计息年度",
            f"the open interest year ends {open_end}; the year ending {year_end} cannot be settled",
            open_year_end=open_end.isoformat(),
        )


def _id_ranges(first: int | None, last: int | None, size: int) -> list[tuple[int, int]]:
    """Fixed-width member id ranges: the same ids give the same chunks (and ledger keys) on a rerun."""
    if first is None or last is None:
        return []
    return [(lo, min(lo + size - 1, last)) for lo in range(first, last + 1, size)]


@dataclass
class _Totals:
    members_credited: int = 0
    interest_fen: int = 0
    members_carried_over: int = 0
    carried_over_fen: int = 0
    # 积数 < 0 (back-valued withdrawals exceed what was held): paid 0, worth a look by staff
    negative_accrual_members: int = 0
    negative_accrual_sample: list[int] = field(default_factory=list)  # up to NEGATIVE_SAMPLE ids
    chunks_skipped: int = 0


@dataclass
class _YearPlan:
    """What the SQL needs about the year: rate units per segment and where segments start."""

    year_end: date
    start: date
    day_basis: int
    units: list[tuple[int, int]]  # (carried, current) rate units of each segment
    boundaries: list[date]  # the ``after`` day of every segment but the first
    closings: bool = False

    @classmethod
    def build(cls, year_end: date, day_basis: int, rates: Sequence[DepositRate]) -> _YearPlan:
        start = previous_year_end(year_end)
        segments = deposit_rate_segments(rates, start, year_end)
        return cls(
            year_end=year_end,
            start=start,
            day_basis=day_basis,
            units=[
                (rules.rate_units(r.carried_rate), rules.rate_units(r.current_rate)) for _, _, r in segments
            ],
            boundaries=[after for after, _, _ in segments[1:]],
        )

    @property
    def terms(self) -> int:
        return 2 * len(self.units)

    @property
    def max_units(self) -> int:
        return max(max(pair) for pair in self.units)


def _refuse_overflow(conn: Connection, plan: _YearPlan) -> None:
    """Refuse a year whose 积数 could overflow the SQL's 64-bit integers (rules.max_safe_accrual)."""
    days = (plan.year_end - plan.start).days
    mb = ledger_queries.member_balances_subquery().c
    worst = conn.execute(
        select(
            func.max(func.abs(mb.accrual_carried)),
            func.max(func.abs(mb.accrual_current)),
            func.max(mb.carried_fen + mb.current_fen),
        )
    ).one()
    largest = max(worst[0] or 0, worst[1] or 0, (worst[2] or 0) * days)
    limit = rules.max_safe_accrual(plan.max_units, plan.day_basis, plan.terms)
    if largest > limit:
        raise Conflict(
            "interest.overflow",
            "积数超出计算范围",
            f"a member's 积数 of {largest} fen·days exceeds the safe bound {limit} of the settlement SQL",
        )


# --------------------------------------------------------------------------------- one chunk

_scratch = MetaData()
_calc = Table(
    "interest_calc",
    _scratch,
    Column("member_id", BigInteger, nullable=False),
    Column("chunk_lo", BigInteger, nullable=False),  # first member id of the range (entry) it is in
    Column("interest_fen", BigInteger, nullable=False),
    Column("negative", SmallInteger, nullable=False),
    prefixes=["TEMPORARY"],
)
_PARTS = (("c", "carried"), ("u", "current"))


def _posted_ranges(conn: Connection, year_end: date) -> set[tuple[int, int]]:
    """Member id ranges an earlier run of this year's settlement posted (from the ledger keys)."""
    out = set()
    for _, key in ledger_queries.entry_keys(conn, annual_business_id(year_end)):
        lo, hi = key.rsplit(":", 1)[1].split("-")
        out.add((int(lo), int(hi)))
    return out


def _compute(
    conn: Connection,
    ctx: Context,
    plan: _YearPlan,
    span: tuple[int, int, int],
    settled: Sequence[tuple[int, int]],
    totals: _Totals,
) -> tuple[list[ledger.EntryHeader], Any]:
    """Every member's interest into ``interest_calc``; returns the entries' headers and lines.

    ``span`` is (first member id, last member id, chunk size): one entry per id range with any
    interest, its member credits (Cr 201 carried part) and one Dr 41101 for their sum. Members
    of ``settled`` ranges (posted by an earlier run) are left out.
    """
    first, last, size = span
    _calc.drop(conn, checkfirst=True)
    _calc.create(conn)
    conn.execute(_calc_insert(plan, settled), {"lo": first, "hi": last, "size": size})
    if conn.dialect.name == "postgresql":  # temporary tables get no statistics unless asked
        conn.exec_driver_sql("ANALYZE interest_calc")
    c = _calc.c
    by_range = conn.execute(  # one scan for the totals and the ranges with any interest
        select(
            c.chunk_lo,
            func.count().filter(c.interest_fen > 0),
            func.sum(c.interest_fen),
            func.sum(c.negative),
        ).group_by(c.chunk_lo)
    ).all()
    chunks = sorted(lo for lo, _, interest, _ in by_range if interest)
    negative = sum(int(n) for *_, n in by_range)
    totals.members_credited += sum(int(n) for _, n, _, _ in by_range)
    totals.interest_fen += sum(int(x) for _, _, x, _ in by_range)
    totals.negative_accrual_members += negative
    if negative:
        totals.negative_accrual_sample += conn.scalars(
            select(c.member_id).where(c.negative == 1).order_by(c.member_id).limit(NEGATIVE_SAMPLE)
        ).all()
    today, business_id = ctx.clock.today(), annual_business_id(plan.year_end)
    memo = f"{plan.year_end.year}年度结息（{plan.day_basis}天计）"
    headers = [
        ledger.EntryHeader(
            BUSINESS_TYPE, business_id, _entry_key(plan.year_end, lo, min(lo + size - 1, last)),
            plan.year_end, today, memo, ctx.actor,
        )
        for lo in chunks
    ]  # fmt: skip
    # The same key in SQL, from each member's range
    hi = case((c.chunk_lo + (size - 1) > last, literal(last, BigInteger)), else_=c.chunk_lo + (size - 1))
    key = literal(f"interest:{plan.year_end}:") + cast(c.chunk_lo, String) + literal("-") + cast(hi, String)
    credits = select(
        key.label("entry_key"),
        literal(MEMBER_CONTROL).label("subject_code"),
        literal(Side.CREDIT.value).label("side"),
        c.interest_fen.label("amount_fen"),
        c.member_id.label("member_id"),
        literal(None, BigInteger).label("employer_id"),
        literal(BalancePart.CARRIED.value).label("balance_part"),
    ).where(c.interest_fen > 0)
    expense = (
        select(key, literal(INTEREST_EXPENSE), literal(Side.DEBIT.value), func.sum(c.interest_fen),
               literal(None, BigInteger), literal(None, BigInteger), literal(None, String))
        .where(c.interest_fen > 0)
        .group_by(c.chunk_lo)
    )  # fmt: skip
    return headers, union_all(credits, expense)


def _entry_key(year_end: date, lo: int, hi: int) -> str:
    return f"interest:{year_end}:{lo}-{hi}"


def _n(value: int) -> ColumnElement[int]:
    """An integer written into the SQL (as the engine reads a literal, not a bound parameter)."""
    return literal_column(str(int(value)) if value >= 0 else f"({int(value)})", BigInteger)


def _calc_insert(plan: _YearPlan, settled: Sequence[tuple[int, int]]) -> Insert:
    """``INSERT INTO interest_calc``: every member of ``[:lo, :hi]`` with a 积数, its interest in fen
    and the first id of its ``:size``-wide range.

    Per balance part ``p``, with ``A(x)`` = 积数 of the days after ``x`` (rules.accrual_after)
    and rate units ``n₀, n₁, …`` on the segments starting after ``x₁, x₂, …``::

        S = Σₚ n(first day) × A(after) + Σₖ [xₖ > after] (nₖ − nₖ₋₁) × A(xₖ)

    where ``after`` is the year start (then ``A`` is the ledger's 预计积数) or the member's last
    closing settlement in the year (``cl.through``; ``A`` then counts the lines valued after it).
    ``A(x) = (balance − Σ lines valued after x) × (year end − x) + Σ those lines × their days``.
    The ledger's balances and lines are read through its building blocks (``ledger.queries``).
    """
    lo, hi = bindparam("lo", type_=BigInteger), bindparam("hi", type_=BigInteger)
    size = bindparam("size", type_=BigInteger)
    xs = [bindparam(f"x{k}", x, type_=Date) for k, x in enumerate(plan.boundaries, start=1)]
    mb = ledger_queries.member_balances_subquery("mb")
    source: Any = mb
    cl = ac = ar = None
    if plan.closings:
        closing_id = bindparam("closing_id", closing_business_id(plan.year_end), type_=String)
        closed = ledger_queries.standing_member_lines_subquery(closing_id, "s")
        cl = (
            select(
                closed.c.member_id,
                func.max(closed.c.value_date).label("through"),
                func.min(closed.c.accrual_days).label("days_left"),
            )
            .where(closed.c.member_id.between(lo, hi))
            .group_by(closed.c.member_id)
            .cte("cl")
        )
        lines = ledger_queries.member_lines_subquery("l")
        ac = (
            select(lines.c.member_id, *_part_sums(lines, "", None))
            .select_from(cl.join(lines, and_(lines.c.member_id == cl.c.member_id, lines.c.value_date > cl.c.through)))
            .group_by(lines.c.member_id)
            .cte("ac")
        )  # fmt: skip
        source = source.outerjoin(cl, cl.c.member_id == mb.c.member_id)
        source = source.outerjoin(ac, ac.c.member_id == mb.c.member_id)
    if xs:
        lines = ledger_queries.member_lines_subquery("l")
        sums = [
            col
            for k, x in enumerate(xs, start=1)
            for col in _part_sums(lines, str(k), lines.c.value_date > x)
        ]
        ar = (
            select(lines.c.member_id, *sums)
            .where(lines.c.member_id.between(lo, hi), lines.c.value_date > xs[0])
            .group_by(lines.c.member_id)
            .cte("ar")
        )  # fmt: skip
        source = source.outerjoin(ar, ar.c.member_id == mb.c.member_id)
    where = [mb.c.member_id.between(lo, hi), *(~mb.c.member_id.between(_n(a), _n(b)) for a, b in settled)]
    q = (
        select(mb.c.member_id, _units_sum(plan, mb, cl, ac, ar, xs).label("s"))
        .select_from(source)
        .where(*where)
        .subquery("q")
    )
    scale = rules.RATE_SCALE * plan.day_basis
    rows = select(
        q.c.member_id,
        lo + (q.c.member_id - lo) // size * size,
        case((q.c.s > _n(0), (_n(2) * q.c.s + _n(scale)) // _n(2 * scale)), else_=_n(0)),
        case((q.c.s < _n(0), _n(1)), else_=_n(0)),
    ).where(q.c.s != _n(0))
    return insert(_calc).from_select(["member_id", "chunk_lo", "interest_fen", "negative"], rows)


def _part_sums(lines: Subquery, suffix: str, condition: ColumnElement[bool] | None) -> list[Any]:
    """Per part: Σ signed amount (``l``) and Σ signed amount × accrual days (``m``) of lines."""
    out = []
    for p, name in _PARTS:
        when = (
            lines.c.balance_part == name
            if condition is None
            else and_(condition, lines.c.balance_part == name)
        )
        signed = lines.c.signed_fen
        out.append(cast(func.sum(case((when, signed), else_=_n(0))), BigInteger).label(f"l{p}{suffix}"))
        out.append(
            cast(func.sum(case((when, signed * lines.c.accrual_days), else_=_n(0))), BigInteger).label(
                f"m{p}{suffix}"
            )
        )
    return out


def _units_sum(
    plan: _YearPlan, mb: Subquery, cl: CTE | None, ac: CTE | None, ar: CTE | None, xs: list[Any]
) -> ColumnElement[int]:
    """``S`` of ``_calc_insert`` over ``mb`` (and ``cl``, ``ac``, ``ar`` when present)."""
    terms: list[ColumnElement[int]] = []
    for i, (p, name) in enumerate(_PARTS):
        balance = mb.c[f"{name}_fen"]
        accrual: ColumnElement[Any] = mb.c[f"accrual_{name}"]
        first_units: ColumnElement[int] = _n(plan.units[0][i])
        if cl is not None and ac is not None:
            since = (balance - func.coalesce(ac.c[f"l{p}"], _n(0))) * cl.c.days_left + func.coalesce(
                ac.c[f"m{p}"], _n(0)
            )
            accrual = case((cl.c.member_id.is_(None), accrual), else_=since)
            if xs:  # the rate in force on the day after the closing
                first_units = case(
                    *((cl.c.through >= xs[k - 1], _n(plan.units[k][i])) for k in range(len(xs), 0, -1)),
                    else_=_n(plan.units[0][i]),
                )
        terms.append(accrual * first_units)
        for k, x in enumerate(plan.boundaries, start=1):
            delta = plan.units[k][i] - plan.units[k - 1][i]
            if delta == 0 or ar is None:
                continue
            days = (plan.year_end - x).days
            after_x: ColumnElement[int] = (balance - func.coalesce(ar.c[f"l{p}{k}"], _n(0))) * _n(
                days
            ) + func.coalesce(ar.c[f"m{p}{k}"], _n(0))
            if cl is not None:
                after_x = case(
                    (or_(cl.c.member_id.is_(None), cl.c.through < xs[k - 1]), after_x), else_=_n(0)
                )
            terms.append(after_x * _n(delta))
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _totals_from_ledger(conn: Connection, year_end: date, this_run: _Totals) -> _Totals:
    totals = _Totals(
        negative_accrual_members=this_run.negative_accrual_members,
        negative_accrual_sample=this_run.negative_accrual_sample,
        chunks_skipped=this_run.chunks_skipped,
    )
    entries = ledger_queries.entry_keys(conn, annual_business_id(year_end))
    ids = [i for i, key in entries if key.startswith("interest:")]
    if ids:
        totals.members_credited, totals.interest_fen = ledger_queries.member_credit_totals(conn, ids)
    return totals


# ------------------------------------------------------------------------ closing settlement


def settle_on_close(
    conn: Connection,
    ctx: Context,
    member_id: int,
    day: date,
    *,
    day_basis: int,
    rates: Sequence[DepositRate],
) -> tuple[int, int | None]:
    """Post one member's interest to ``day`` (closing withdrawal, transfer out; REFERENCE §2.4).

    The interest on the 积数 from the start of the open interest year (or the member's last
    closing settlement in it) to ``day`` inclusive is credited to the carried part (Dr 41101 /
    Cr 201, business type 09, valued ``day``), ready to be paid out with the principal. Returns
    ``(interest_fen, entry_id)``, ``entry_id`` None when the interest is 0: such a closing
    leaves no trace, and the annual settlement counts the member's whole year (nothing was
    paid). Replaying the same ``(member, day)`` returns the first result. The caller owns the
    transaction.
    """
    key = _closing_key(member_id, day)
    done = ledger_queries.entry_id_by_key(conn, key)
    if done is not None:
        return ledger_queries.entry_amount(conn, done, INTEREST_EXPENSE), done
    if day > ctx.clock.today():
        raise Conflict(
            "interest.future_date",
            "不能结算未来日期的利息",
            f"{day} is after the business date {ctx.clock.today()}",
        )
    quote = _quote(conn, member_id, day, day_basis, rates, lock=True)
    amount = quote.interest_fen
    if amount == 0:
        return 0, None
    entry_id = ledger.post(conn, _closing_entry(ctx, quote, key), ctx.clock)
    events.record(conn, ctx, "member.interest_settled", "member", member_id,
                  {"on": day, "interest_fen": amount, "entry_id": entry_id})  # fmt: skip
    return amount, entry_id


def _closing_key(member_id: int, day: date) -> str:
    return f"interest-close:{member_id}:{day.isoformat()}"


def _closing_entry(ctx: Context, quote: InterestQuote, key: str) -> JournalEntry:
    amount = quote.interest_fen
    return JournalEntry(
        business_type=BUSINESS_TYPE,
        business_id=closing_business_id(quote.year_end),
        idempotency_key=key,
        value_date=quote.day,
        posting_date=ctx.clock.today(),
        lines=(
            Line(INTEREST_EXPENSE, Side.DEBIT, amount),
            Line(MEMBER_CONTROL, Side.CREDIT, amount, member_id=quote.member_id, part=BalancePart.CARRIED),
        ),
        memo=f"结息 {quote.after + _ONE_DAY}至{quote.day}（{quote.day_basis}天计）",
        actor=ctx.actor,
    )


def settle_on_close_many(
    conn: Connection, ctx: Context, member_ids: Sequence[int], day: date
) -> dict[int, tuple[int, int | None]]:
    """:func:`settle_on_close_with_policy` of many members at once, with the same figures: the
    policy, the open year, the balances, the last closings and the year's lines read once for
    all (a handful of statements, whatever their number), each member's interest by the same
    exact rules, the entries posted together (``ledger.post_many``), one event each.
    ``{member id: (interest fen, entry id or None)}``; a member refused (no balance, settled
    through ``day`` already) refuses them all: callers pre-filter."""
    ids = list(dict.fromkeys(member_ids))
    keys = {m: _closing_key(m, day) for m in ids}
    done = ledger_queries.entry_ids_by_keys(conn, list(keys.values()))
    settled = ledger_queries.entry_amounts(conn, list(done.values()), INTEREST_EXPENSE)
    out: dict[int, tuple[int, int | None]] = {
        m: (settled.get(done[keys[m]], 0), done[keys[m]]) for m in ids if keys[m] in done
    }
    todo = [m for m in ids if m not in out]
    if not todo:
        return out
    if day > ctx.clock.today():
        raise Conflict(
            "interest.future_date",
            "不能结算未来日期的利息",
            f"{day} is after the business date {ctx.clock.today()}",
        )
    day_basis, rates = _policy(conn, day)
    rules.check_day_basis(day_basis)
    year_end, start = _open_year(conn, day)
    rows = ledger_queries.member_balances_of(conn, todo, lock=True)
    closings = ledger_queries.last_standing_value_dates(conn, closing_business_id(year_end), todo)
    lines = ledger_queries.members_changes(conn, todo, valued_after=start)
    quotes = [
        _quote_of(m, day, day_basis, rates, year_end, rows.get(m), closings.get(m) or start, lines[m])
        for m in todo
    ]
    paying = [q for q in quotes if q.interest_fen > 0]
    entry_ids = ledger.post_many(conn, [_closing_entry(ctx, q, keys[q.member_id]) for q in paying], ctx.clock)
    posted = {q.member_id: entry_id for q, entry_id in zip(paying, entry_ids, strict=True)}
    for q in quotes:
        out[q.member_id] = (q.interest_fen, posted.get(q.member_id))
    events.record_many(conn, ctx, [
        ("member.interest_settled", "member", q.member_id,
         {"on": day, "interest_fen": q.interest_fen, "entry_id": posted[q.member_id]})
        for q in paying
    ])  # fmt: skip
    return out


def settle_on_close_with_policy(
    conn: Connection, ctx: Context, member_id: int, day: date
) -> tuple[int, int | None]:
    """``settle_on_close`` with the center's day basis in force on ``day`` and its rate history."""
    day_basis, rates = _policy(conn, day)
    return settle_on_close(conn, ctx, member_id, day, day_basis=day_basis, rates=rates)


def interest_preview(
    conn: Connection,
    member_id: int,
    day: date,
    *,
    day_basis: int | None = None,
    rates: Sequence[DepositRate] | None = None,
) -> InterestQuote:
    """The interest a member has earned in the open interest year up to ``day`` (nothing posted).

    For pages and statements. A later ``day`` projects the balance unchanged. Day basis and rates
    come from the center's policy unless given.
    """
    if day_basis is None or rates is None:
        policy_basis, policy_rates = _policy(conn, day)
        day_basis = policy_basis if day_basis is None else day_basis
        rates = policy_rates if rates is None else rates
    return _quote(conn, member_id, day, day_basis, rates, lock=False)


_ONE_DAY = timedelta(days=1)


def _quote(
    conn: Connection, member_id: int, day: date, day_basis: int, rates: Sequence[DepositRate], *, lock: bool
) -> InterestQuote:
    rules.check_day_basis(day_basis)
    year_end, start = _open_year(conn, day)
    row = ledger_queries.member_balance_of(conn, member_id, lock=lock)
    after = _last_closing(conn, member_id, year_end) or start
    lines = ledger_queries.member_changes(conn, member_id, valued_after=start) if row is not None else []
    return _quote_of(member_id, day, day_basis, rates, year_end, row, after, lines)


def _open_year(conn: Connection, day: date) -> tuple[date, date]:
    """The open interest year's end and start; ``day`` must fall in it."""
    year_end = ledger_queries.open_interest_year(conn) or interest_year_end(day)
    start = previous_year_end(year_end)
    if not start < day <= year_end:
        raise Conflict(
            "interest.outside_open_year",
            "结息日期不在当前计息年度内",
            f"{day} is outside the open interest year ({start}, {year_end}]",
        )
    return year_end, start


def _quote_of(
    member_id: int,
    day: date,
    day_basis: int,
    rates: Sequence[DepositRate],
    year_end: date,
    row: tuple[int, int] | None,
    after: date,
    lines: Sequence[ledger_queries.MemberChange],
) -> InterestQuote:
    """The quote from what was read: the open year's end, the balance row, the last closing
    settlement (or the year's start) and the lines valued in the year."""
    if row is None:
        raise NotFound(
            "interest.member_not_found", "个人账户不存在", f"member {member_id} has no account balance"
        )
    if after >= day:
        raise Conflict(
            "interest.already_settled",
            "该日期前的利息已结算",
            f"member {member_id}'s interest is settled through {after}; cannot settle to {day}",
        )
    changes = tuple(
        [(v, amount) for v, part, amount in lines if part == name] for name in ("carried", "current")
    )
    segments = deposit_rate_segments(rates, after, day)
    pieces = rules.member_interest_pieces((row[0], row[1]), (changes[0], changes[1]), year_end, segments)
    return InterestQuote(
        member_id=member_id,
        year_end=year_end,
        after=after,
        day=day,
        day_basis=day_basis,
        accrual_carried=sum(a for a, _ in pieces[0::2]),
        accrual_current=sum(a for a, _ in pieces[1::2]),
        pieces=pieces,
        interest_fen=rules.interest_fen(pieces, day_basis),
    )


def _last_closing(conn: Connection, member_id: int, year_end: date) -> date | None:
    """The value date of the member's last closing settlement in the year still standing."""
    standing = ledger_queries.standing_member_lines_subquery(closing_business_id(year_end))
    return conn.scalar(  # type: ignore[no-any-return]
        select(func.max(standing.c.value_date)).where(standing.c.member_id == member_id)
    )
