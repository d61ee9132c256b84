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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Engine,
    MetaData,
    SmallInteger,
    String,
    Table,
    bindparam,
    case,
    cast,
    func,
    literal,
    select,
    text,
    union_all,
)

from hpf import events
from hpf.db.engine import read_transaction, write_transaction
from hpf.db.jobs import finish_job, job_state, job_summary, start_job
from hpf.interest import rules
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.ledger import service as ledger
from hpf.ledger.chart import MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line, interest_year_end, previous_year_end
from hpf.ledger.tables import accrual_year, journal_entry, journal_line, member_balance
from hpf.policy import service as policy
from hpf.policy.rules import DepositRate, deposit_rate_segments

JOB = "interest_settlement"
BUSINESS_TYPE = "09"  # 年终结息 (归集和提取业务类型)
INTEREST_EXPENSE = "41101"  # 住房公积金利息支出
NEGATIVE_SAMPLE = 100  # member ids with a negative 积数 kept in the job summary
Progress = Callable[[str, int, int], None]


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
) -> dict[str, Any]:
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
            return {**(job_summary(conn, JOB, period) or {}), "already_done": True}
        _refuse_unsettleable(conn, ctx, year_end)
        start_job(conn, JOB, period, ctx.clock)
    with write_transaction(engine) as conn:
        if job_state(conn, JOB, period) == "done":  # a concurrent run finished first
            return {**(job_summary(conn, JOB, period) or {}), "already_done": True}
        _refuse_unsettleable(conn, ctx, year_end)
        plan = _YearPlan.build(year_end, day_basis, rates)
        _refuse_overflow(conn, plan)
        first, last = conn.execute(
            select(func.min(member_balance.c.member_id), func.max(member_balance.c.member_id))
        ).one()
        plan.closings = conn.scalar(
            select(journal_entry.c.id).where(journal_entry.c.business_id == closing_business_id(year_end)).limit(1)
        ) is not None  # fmt: skip
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
        summary = {
            "year_end": period,
            "next_year_end": next_end.isoformat(),
            "day_basis": day_basis,
            **totals.as_dict(),
            "chunks": len(ranges),
            "seconds": round(time.perf_counter() - started, 3),
        }
        finish_job(conn, JOB, period, ctx, summary)
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
) -> dict[str, Any]:
    """``settle_year`` with the center's day basis (in force on the year end) and rate history."""
    day_basis, rates = _policy(engine, year_end)
    return settle_year(
        engine, ctx, year_end, day_basis=day_basis, rates=rates, chunk_size=chunk_size, progress=progress
    )


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
    open_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
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

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "negative_accrual_sample": list(self.negative_accrual_sample)}


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
    mb = member_balance.c
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
_SIGNED = "(CASE WHEN l.side = 'C' THEN l.amount_fen ELSE -l.amount_fen END)"
_PARTS = (("c", "carried"), ("u", "current"))


def _posted_ranges(conn: Connection, year_end: date) -> set[tuple[int, int]]:
    """Member id ranges an earlier run of this year's settlement posted (from the ledger keys)."""
    keys = conn.scalars(
        select(journal_entry.c.idempotency_key).where(
            journal_entry.c.business_id == annual_business_id(year_end)
        )
    )
    out = set()
    for key in keys:
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
    sql, params = _calc_sql(plan, settled)
    conn.execute(text(sql).bindparams(*params), {"lo": first, "hi": last, "size": size})
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


def _calc_sql(plan: _YearPlan, settled: Sequence[tuple[int, int]]) -> tuple[str, list[Any]]:
    """``INSERT INTO interest_calc``: every member of ``[:lo, :hi]`` with a 积数, its interest in fen
    and the first id of its ``:size``-wide range.

    Per balance part ``p``, with ``A(x)`` = 积数 of the days after ``x`` (rules.accrual_after)
    and rate units ``n₀, n₁, …`` on the segments starting after ``x₁, x₂, …``::

        S = Σₚ n(first day) × A(after) + Σₖ [xₖ > after] (nₖ − nₖ₋₁) × A(xₖ)

    where ``after`` is the year start (then ``A`` is the ledger's 预计积数) or the member's last
    closing settlement in the year (``cl.through``; ``A`` then counts the lines valued after it).
    ``A(x) = (balance − Σ lines valued after x) × (year end − x) + Σ those lines × their days``.
    """
    params: list[Any] = [
        bindparam("lo", type_=BigInteger),
        bindparam("hi", type_=BigInteger),
        bindparam("size", type_=BigInteger),
    ]
    ctes, joins = [], []
    if plan.closings:
        params.append(bindparam("closing_id", closing_business_id(plan.year_end), type_=String))
        ctes.append(
            "cl AS (SELECT l.member_id, MAX(l.value_date) AS through, MIN(l.accrual_days) AS days_left "
            "FROM journal_entry e JOIN journal_line l ON l.entry_id = e.id "
            "WHERE e.business_id = :closing_id AND e.reverses_entry_id IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM journal_entry r WHERE r.reverses_entry_id = e.id) "
            "AND l.member_id BETWEEN :lo AND :hi GROUP BY l.member_id)"
        )
        ctes.append(
            "ac AS (SELECT l.member_id, " + _part_sums("", "") + " FROM cl JOIN journal_line l "
            "ON l.member_id = cl.member_id AND l.value_date > cl.through GROUP BY l.member_id)"
        )
        joins += [
            "LEFT JOIN cl ON cl.member_id = mb.member_id",
            "LEFT JOIN ac ON ac.member_id = mb.member_id",
        ]
    if plan.boundaries:
        sums = []
        for k, x in enumerate(plan.boundaries, start=1):
            params.append(bindparam(f"x{k}", x, type_=Date))
            sums.append(_part_sums(str(k), f"l.value_date > :x{k} AND "))
        ctes.append(
            "ar AS (SELECT l.member_id, " + ", ".join(sums) + " FROM journal_line l "
            "WHERE l.member_id BETWEEN :lo AND :hi AND l.value_date > :x1 GROUP BY l.member_id)"
        )
        joins.append("LEFT JOIN ar ON ar.member_id = mb.member_id")
    where = "mb.member_id BETWEEN :lo AND :hi" + "".join(
        f" AND mb.member_id NOT BETWEEN {int(a)} AND {int(b)}" for a, b in settled
    )
    scale = rules.RATE_SCALE * plan.day_basis
    sql = (
        ("WITH " + ", ".join(ctes) + " " if ctes else "")
        + "INSERT INTO interest_calc (member_id, chunk_lo, interest_fen, negative) "
        "SELECT member_id, :lo + (member_id - :lo) / :size * :size, "
        f"CASE WHEN s > 0 THEN (2 * s + {scale}) / {2 * scale} ELSE 0 END, "
        "CASE WHEN s < 0 THEN 1 ELSE 0 END FROM ("
        f"SELECT mb.member_id, {_units_sum(plan)} AS s FROM member_balance mb "
        + " ".join(joins)
        + f" WHERE {where}) q WHERE s <> 0"
    )
    return sql, params


def _part_sums(suffix: str, condition: str) -> str:
    """Per part: Σ signed amount (``l``) and Σ signed amount × accrual days (``m``) of lines."""
    out = []
    for p, name in _PARTS:
        when = f"{condition}l.balance_part = '{name}'"
        out.append(f"CAST(SUM(CASE WHEN {when} THEN {_SIGNED} ELSE 0 END) AS BIGINT) AS l{p}{suffix}")
        out.append(
            f"CAST(SUM(CASE WHEN {when} THEN {_SIGNED} * l.accrual_days ELSE 0 END) AS BIGINT) AS m{p}{suffix}"
        )
    return ", ".join(out)


def _units_sum(plan: _YearPlan) -> str:
    """``S`` of ``_calc_sql`` as SQL over ``mb`` (and ``cl``, ``ac``, ``ar`` when present)."""
    terms = []
    for i, (p, name) in enumerate(_PARTS):
        balance, accrual = f"mb.{name}_fen", f"mb.accrual_{name}"
        first_units = str(plan.units[0][i])
        if plan.closings:
            since = f"({balance} - COALESCE(ac.l{p}, 0)) * cl.days_left + COALESCE(ac.m{p}, 0)"
            accrual = f"(CASE WHEN cl.member_id IS NULL THEN {accrual} ELSE {since} END)"
            if plan.boundaries:  # the rate in force on the day after the closing
                cases = " ".join(
                    f"WHEN cl.through >= :x{k} THEN {plan.units[k][i]}"
                    for k in range(len(plan.boundaries), 0, -1)
                )
                first_units = f"(CASE {cases} ELSE {plan.units[0][i]} END)"
        terms.append(f"{accrual} * {first_units}")
        for k, x in enumerate(plan.boundaries, start=1):
            delta = plan.units[k][i] - plan.units[k - 1][i]
            if delta == 0:
                continue
            days = (plan.year_end - x).days
            after_x = f"(({balance} - COALESCE(ar.l{p}{k}, 0)) * {days} + COALESCE(ar.m{p}{k}, 0))"
            if plan.closings:
                after_x = f"(CASE WHEN cl.member_id IS NULL OR cl.through < :x{k} THEN {after_x} ELSE 0 END)"
            terms.append(f"{after_x} * ({delta})")
    return "(" + " + ".join(terms) + ")"


def _totals_from_ledger(conn: Connection, year_end: date, this_run: _Totals) -> _Totals:
    totals = _Totals(
        negative_accrual_members=this_run.negative_accrual_members,
        negative_accrual_sample=this_run.negative_accrual_sample,
        chunks_skipped=this_run.chunks_skipped,
    )
    entries = conn.execute(
        select(journal_entry.c.id, journal_entry.c.idempotency_key).where(
            journal_entry.c.business_id == annual_business_id(year_end)
        )
    ).all()
    ids = [i for i, key in entries if key.startswith("interest:")]
    if ids:
        count, total = conn.execute(
            select(func.count(), func.coalesce(func.sum(journal_line.c.amount_fen), 0)).where(
                journal_line.c.entry_id.in_(ids),
                journal_line.c.side == Side.CREDIT.value,
                journal_line.c.member_id.is_not(None),
            )
        ).one()
        totals.members_credited, totals.interest_fen = int(count), int(total)
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
    key = f"interest-close:{member_id}:{day.isoformat()}"
    done = conn.scalar(select(journal_entry.c.id).where(journal_entry.c.idempotency_key == key))
    if done is not None:
        amount = conn.scalar(
            select(journal_line.c.amount_fen).where(
                journal_line.c.entry_id == done, journal_line.c.subject_code == INTEREST_EXPENSE
            )
        )
        return int(amount or 0), int(done)
    if day > ctx.clock.today():
        raise Conflict(
            "interest.future_date",
            "不能结算未来日期的利息",
            f"{day} is after the business date {ctx.clock.today()}",
        )
    quote = _quote(conn, member_id, day, day_basis, rates, lock=True)
    amount = quote["interest_fen"]
    if amount == 0:
        return 0, None
    entry = JournalEntry(
        business_type=BUSINESS_TYPE,
        business_id=closing_business_id(quote["year_end"]),
        idempotency_key=key,
        value_date=day,
        posting_date=ctx.clock.today(),
        lines=(
            Line(INTEREST_EXPENSE, Side.DEBIT, amount),
            Line(MEMBER_CONTROL, Side.CREDIT, amount, member_id=member_id, part=BalancePart.CARRIED),
        ),
        memo=f"结息 {quote['after'] + _ONE_DAY}至{day}（{day_basis}天计）",
        actor=ctx.actor,
    )
    entry_id = ledger.post(conn, entry, ctx.clock)
    events.record(conn, ctx, "member.interest_settled", "member", member_id,
                  {"on": day, "interest_fen": amount, "entry_id": entry_id})  # fmt: skip
    return amount, entry_id


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
) -> dict[str, Any]:
    """The interest a member has earned in the open interest year up to ``day`` (nothing posted).

    For pages and statements: ``year_end``, ``after`` (the 积数 count from the day after it),
    ``accrual_carried`` / ``accrual_current`` (积数 in fen·days), ``pieces`` and
    ``interest_fen``. A later ``day`` projects the balance unchanged. Day basis and rates come
    from the center's policy unless given.
    """
    if day_basis is None or rates is None:
        policy_basis, policy_rates = _policy(conn, day)
        day_basis = policy_basis if day_basis is None else day_basis
        rates = policy_rates if rates is None else rates
    return _quote(conn, member_id, day, day_basis, rates, lock=False)


_ONE_DAY = timedelta(days=1)
# A member line's signed amount (a credit raises the balance).
_signed = case(
    (journal_line.c.side == Side.CREDIT.value, journal_line.c.amount_fen), else_=-journal_line.c.amount_fen
)


def _quote(
    conn: Connection, member_id: int, day: date, day_basis: int, rates: Sequence[DepositRate], *, lock: bool
) -> dict[str, Any]:
    rules.check_day_basis(day_basis)
    year_end = conn.scalar(select(accrual_year.c.year_end).where(accrual_year.c.state == "open"))
    year_end = year_end or interest_year_end(day)
    start = previous_year_end(year_end)
    if not start < day <= year_end:
        raise Conflict(
            "interest.outside_open_year",
            "结息日期不在当前计息年度内",
            f"{day} is outside the open interest year ({start}, {year_end}]",
        )
    query = select(member_balance.c.carried_fen, member_balance.c.current_fen).where(
        member_balance.c.member_id == member_id
    )
    row = conn.execute(query.with_for_update() if lock else query).first()
    if row is None:
        raise NotFound(
            "interest.member_not_found", "个人账户不存在", f"member {member_id} has no account balance"
        )
    after = _last_closing(conn, member_id, year_end) or start
    if after >= day:
        raise Conflict(
            "interest.already_settled",
            "该日期前的利息已结算",
            f"member {member_id}'s interest is settled through {after}; cannot settle to {day}",
        )
    lines = conn.execute(
        select(journal_line.c.value_date, journal_line.c.balance_part, _signed).where(
            journal_line.c.member_id == member_id, journal_line.c.value_date > start
        )
    ).all()
    changes = tuple(
        [(v, amount) for v, part, amount in lines if part == name] for name in ("carried", "current")
    )
    segments = deposit_rate_segments(rates, after, day)
    pieces = rules.member_interest_pieces((row[0], row[1]), (changes[0], changes[1]), year_end, segments)
    return {
        "member_id": member_id,
        "year_end": year_end,
        "after": after,
        "day": day,
        "day_basis": day_basis,
        "accrual_carried": sum(a for a, _ in pieces[0::2]),
        "accrual_current": sum(a for a, _ in pieces[1::2]),
        "pieces": pieces,
        "interest_fen": rules.interest_fen(pieces, day_basis),
    }


def _last_closing(conn: Connection, member_id: int, year_end: date) -> date | None:
    """The value date of the member's last closing settlement in the year still standing."""
    reversal = journal_entry.alias("r")
    return conn.scalar(  # type: ignore[no-any-return]
        select(func.max(journal_line.c.value_date))
        .join(journal_entry, journal_entry.c.id == journal_line.c.entry_id)
        .where(
            journal_entry.c.business_id == closing_business_id(year_end),
            journal_entry.c.reverses_entry_id.is_(None),
            journal_line.c.member_id == member_id,
            ~select(reversal.c.id).where(reversal.c.reverses_entry_id == journal_entry.c.id).exists(),
        )
    )
