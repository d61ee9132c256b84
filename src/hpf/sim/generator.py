"""The demo city generator: a whole, valid center (employers, members, opening balances).

``build_demo_center`` fills a freshly upgraded, empty database with a deterministic city:
employers of heavy-tailed sizes, members with valid resident IDs, names and wages, account
states in realistic proportions, history rows, and opening balances posted through the
ledger (one ``JournalEntry`` per employer), so ``hpf check`` passes on the result.

It is built for size: a million members go in within a couple of minutes on a small machine.
Rows are plain tuples written with ``bulk_insert`` (COPY on PostgreSQL), ids are assigned
here (the database is empty), the Python loop draws its random numbers in bulk from
precomputed tables, and work proceeds in chunks of employers, each in its own transaction,
so memory stays bounded. Everything is drawn from one ``random.Random(seed)``: the same seed
gives the same city.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from itertools import accumulate
from typing import Any

from sqlalchemy import Connection, Engine

from hpf.accounts import bulk
from hpf.accounts.queries import max_member_id
from hpf.accounts.rules import BUSINESS_TYPE, EmployerState, MemberState
from hpf.accounts.service import given_name_pinyin, reserve_numbers, surname_pinyin
from hpf.db.engine import write_transaction
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.kernel.identifiers import luhn_check_digit, resident_id_check_digit, uscc_check_char
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, MEMBER_CONTROL, Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.protection.protect import context, ring, seal
from hpf.sim import names

ProgressFn = Callable[[str, int, int], None]

#: Largest employer the generator makes (staff).
MAX_EMPLOYER_SIZE = 10_000
#: Above this many members, at least one employer has ``BIG_EMPLOYER`` staff or more.
BIG_CITY_MEMBERS = 100_000
BIG_EMPLOYER = 5_000

#: Contribution rates (employer = member), as percent, with their relative frequency.
RATE_PERCENTS: tuple[tuple[int, int], ...] = ((5, 15), (8, 20), (10, 15), (12, 50))

#: Median monthly wage (yuan) of the city and the spread of wages between and within employers.
MEDIAN_WAGE_YUAN = 7_000
EMPLOYER_WAGE_SIGMA = 0.25
MEMBER_WAGE_SIGMA = 0.35

#: Shares of member and employer states (the rest are 正常).
SEALED_MEMBER_SHARE = 0.03
CLOSED_MEMBER_SHARE = 0.01
FROZEN_MEMBER_SHARE = 0.001
DEFERRED_EMPLOYER_SHARE = 0.02
SEALED_EMPLOYER_SHARE = 0.01
CLOSED_EMPLOYER_SHARE = 0.003

#: How far back the center's accounts were opened, and the longest service before last July.
HISTORY_YEARS = 15
MAX_CARRIED_MONTHS = 240
MIN_AGE, MAX_AGE = 18, 60
#: Share (%) of past deposits still in the account (withdrawals, and wages lower in past years):
#: at least this much after ``CARRIED_KEPT_FULL_LOSS_MONTHS`` of deposits, less lost in fewer.
CARRIED_KEPT_MIN_PCT = 25
CARRIED_KEPT_FULL_LOSS_MONTHS = 60

REASON = "期初数据迁移"
MEMO = "期初余额迁移"
OPENING_BUSINESS_TYPE = "99"

#: A chunk (one transaction, one ``post_many``) ends at this many employers or members.
CHUNK_EMPLOYERS = 2_000
CHUNK_MEMBERS = 100_000
#: SQLite page cache (KiB) while building.
SQLITE_CACHE_KIB = 256 * 1024


@dataclass(frozen=True)
class DemoSummary:
    employers: int
    members: int
    sealed_members: int
    closed_members: int
    closed_employers: int
    total_balance_fen: int
    seconds: float
    #: Wall seconds per stage (generate, employers, members, balances, history, ledger, …).
    stage_seconds: Mapping[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------- entry point


def build_demo_center(
    engine: Engine,
    ctx: Context,
    *,
    seed: int = 42,
    employers: int = 500,
    members: int = 20_000,
    progress: ProgressFn | None = None,
    wage_floor_yuan: int = 2_000,
    wage_cap_yuan: int = 30_000,
    chunk_employers: int = CHUNK_EMPLOYERS,
    chunk_members: int = CHUNK_MEMBERS,
) -> DemoSummary:
    """Fill an empty, upgraded database with a demo city of ``employers`` and ``members``.

    Refuses (``Conflict`` ``demo.not_empty``) when employers already exist. Deterministic for
    a given ``seed``; ``progress(stage, done, total)`` is called as chunks complete.
    ``wage_floor_yuan``/``wage_cap_yuan`` clip the monthly contribution base (缴存基数).
    Each chunk of employers commits on its own, so a failure part-way leaves a partial city:
    build again into a fresh database. ``DemoSummary.stage_seconds`` says where time went.
    """
    if employers < 1 or members < employers or members > employers * MAX_EMPLOYER_SIZE:
        raise InvalidInput(
            "demo.size",
            "演示数据规模不合理",
            f"need 1 ≤ employers ≤ members ≤ employers × {MAX_EMPLOYER_SIZE}; "
            f"got {employers} employers, {members} members",
        )
    if not 0 < wage_floor_yuan <= wage_cap_yuan:
        raise InvalidInput("demo.wage_bounds", "缴存基数上下限不合理", "need 0 < floor ≤ cap")
    started = time.perf_counter()
    gen = _Generator(ctx, seed, wage_floor_yuan * 100, wage_cap_yuan * 100)
    timer = _Timer(progress)

    with _transaction(engine) as conn:
        if bulk.has_employers(conn):
            raise Conflict(
                "demo.not_empty",
                "数据库中已有单位，不能生成演示数据",
                "the employer table already has rows; build the demo into an empty database",
            )
        gen.bind(conn)
        first_member_id = max_member_id(conn) + 1
        with timer("generate"):
            plans = gen.employers(employers, members)
        with timer("employers", len(plans), len(plans)):
            numbers = reserve_numbers(conn, ctx, "employer", len(plans))
            gen.insert_employers(conn, plans, numbers)

    next_member_id = first_member_id
    done_members = done_employers = 0
    for chunk in _chunks(plans, chunk_employers, chunk_members):
        count = sum(p.size for p in chunk)
        with _transaction(engine) as conn:
            with timer("numbers"):
                numbers = reserve_numbers(conn, ctx, "member", count)
            with timer("generate"):
                batch = gen.members(chunk, next_member_id, numbers)
            with timer("encrypt"):
                rows = _seal_members(batch.rows)
            with timer("members"):
                bulk.insert_members(conn, rows)
            with timer("balances"):
                ledger.open_member_balances(conn, range(next_member_id, next_member_id + count))
            with timer("history"):
                bulk.insert_history(conn, batch.history)
            done_members += count
            timer.report("members", done_members, members)
            with timer("ledger"):
                entries = [_opening_entry(ctx, *spec) for spec in batch.entries]
                if entries:
                    ledger.post_many(conn, entries, ctx.clock)
            done_employers += len(chunk)
            timer.report("ledger", done_employers, len(plans))
        next_member_id += count

    if engine.dialect.name == "postgresql":
        with _transaction(engine) as conn:
            bulk.resync_id_sequences(conn)

    return DemoSummary(
        employers=len(plans),
        members=members,
        sealed_members=gen.sealed_members,
        closed_members=gen.closed_members,
        closed_employers=sum(p.state == EmployerState.CLOSED for p in plans),
        total_balance_fen=gen.total_balance_fen,
        seconds=time.perf_counter() - started,
        stage_seconds=dict(timer.seconds),
    )


def _seal_members(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in ``MEMBER_PLAIN_COLUMNS`` layout → ``bulk.MEMBER_COLUMNS`` (ID number and phone sealed).

    The ring's bound methods are hoisted out of the loop: this is the generator's encryption
    cost, timed as its own stage (``bench/bench_demo.py`` reports it).
    """
    keys = ring()
    encrypt, index = keys.encrypt, keys.blind_index
    rid_ctx, phone_ctx = context("member", "resident_id"), context("member", "phone")
    out = []
    for row in rows:
        rid, phone = row[_RID], row[_PHONE]
        out.append(
            (
                *row[:_RID],
                encrypt(rid, context=rid_ctx),
                index(rid, context=rid_ctx),
                *row[_RID + 1 : _PHONE],
                None if phone is None else encrypt(phone, context=phone_ctx),
                None if phone is None else index(phone, context=phone_ctx),
                *row[_PHONE + 1 :],
            )
        )
    return out


class _Timer:
    """Adds wall time per stage; reports progress after a stage that has a count."""

    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress
        self.seconds: dict[str, float] = {}

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> _Stage:
        return _Stage(self, stage, done, total)

    def report(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)


class _Stage:
    def __init__(self, timer: _Timer, stage: str, done: int | None, total: int | None) -> None:
        self.timer, self.stage, self.done, self.total = timer, stage, done, total

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        seconds = self.timer.seconds
        seconds[self.stage] = seconds.get(self.stage, 0.0) + time.perf_counter() - self.start
        if exc[0] is None and self.done is not None and self.total is not None:
            self.timer.report(self.stage, self.done, self.total)


def _chunks(
    plans: Sequence[_EmployerPlan], max_employers: int, max_members: int
) -> Iterator[list[_EmployerPlan]]:
    chunk: list[_EmployerPlan] = []
    count = 0
    for plan in plans:
        if chunk and (len(chunk) >= max_employers or count + plan.size > max_members):
            yield chunk
            chunk, count = [], 0
        chunk.append(plan)
        count += plan.size
    if chunk:
        yield chunk


@contextmanager
def _transaction(engine: Engine) -> Iterator[Connection]:
    """``write_transaction`` with, on SQLite, a page cache big enough for a million-row build.

    The default (2 MiB) makes every insert into a randomly ordered index (resident ID, name)
    miss the cache once the index outgrows it; the connection's cache size is put back after.
    """
    with write_transaction(engine) as conn:
        if conn.dialect.name != "sqlite":
            yield conn
            return
        before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
        conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        try:
            yield conn
        finally:
            conn.exec_driver_sql(f"PRAGMA cache_size = {int(before or -2000)}")


def _opening_entry(
    ctx: Context, account_no: str, total: int, credits: list[tuple[int, int, int]]
) -> JournalEntry:
    """期初余额迁移 for one employer: bank deposits against each member's two balance parts."""
    today = ctx.clock.today()
    lines = [Line(BANK_DEPOSITS, Side.DEBIT, total)]
    append = lines.append
    carried_part, current_part = BalancePart.CARRIED, BalancePart.CURRENT
    credit, control = Side.CREDIT, MEMBER_CONTROL
    for member_id, carried, current in credits:
        if carried:
            append(Line(control, credit, carried, member_id, None, carried_part))
        if current:
            append(Line(control, credit, current, member_id, None, current_part))
    return JournalEntry(
        business_type=OPENING_BUSINESS_TYPE,
        business_id=f"MIGRATION-{account_no}",
        idempotency_key=f"demo:opening:{account_no}",
        value_date=today,
        posting_date=today,
        lines=tuple(lines),
        memo=MEMO,
        actor=ctx.actor,
    )


# ------------------------------------------------------------------------------- row layouts

# What ``_Generator.members`` builds: plaintext ID number and phone at these positions ...
MEMBER_PLAIN_COLUMNS = (
    "id",
    "account_no",
    "certificate_type",
    "resident_id",
    "name",
    "name_pinyin",
    "gender",
    "birth_date",
    "phone",
    "employer_id",
    "base_fen",
    "state",
    "state_before_freeze",
    "opened_on",
    "closed_on",
    "version",
)
# ... and what is stored (``bulk.MEMBER_COLUMNS``): each replaced by its token and blind index
# (``_seal_members``). Employer rows are built in ``bulk.EMPLOYER_COLUMNS`` layout, history rows
# in ``bulk.HISTORY_COLUMNS``.
_RID, _PHONE = MEMBER_PLAIN_COLUMNS.index("resident_id"), MEMBER_PLAIN_COLUMNS.index("phone")


@dataclass
class _EmployerPlan:
    """What the member loop needs to know about an employer (the row itself is written early)."""

    id: int
    size: int
    economic_type: str
    rate_pct: int
    state: str
    opened_ord: int
    closed_ord: int | None
    wage_mu: float
    current_months: int  # months of this 缴存年度 the employer has paid (since last 1 July)
    account_no: str = ""


@dataclass
class _Batch:
    rows: list[tuple[Any, ...]]
    history: list[tuple[Any, ...]]
    # (employer account number, total fen, [(member id, carried fen, current fen), ...])
    entries: list[tuple[str, int, list[tuple[int, int, int]]]]


def _cum(weights: Sequence[int | float]) -> list[float]:
    return list(accumulate(float(w) for w in weights))


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --------------------------------------------------------------------------------- generator


class _Generator:
    """All random drawing lives here, in one fixed order, from one ``random.Random``."""

    def __init__(self, ctx: Context, seed: int, floor_fen: int, cap_fen: int) -> None:
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.floor_fen, self.cap_fen = floor_fen, cap_fen
        self.today = ctx.clock.today()
        self.today_ord = self.today.toordinal()
        self.today_month = _month_index(self.today)
        july_year = self.today.year if self.today.month >= 7 else self.today.year - 1
        self.july_month = _month_index(date(july_year, 7, 1))
        self.sealed_members = self.closed_members = self.total_balance_fen = 0
        self._resident_keys: set[int] = set()
        self._usccs: set[str] = set()
        self._employer_names: set[str] = set()

        self.surnames = [s for s, _ in names.SURNAMES]
        self.surname_cw = _cum([w for _, w in names.SURNAMES])
        # 姓名全拼 = surname + given name, each converted alone: pypinyin reading the whole name
        # matches phrases across the two (冯河 → PING HE, 于思 → YU SAI).
        surname_py = {s: surname_pinyin(s) for s in self.surnames}
        # Given names: a pool per gender drawn once, so names repeat as in a real city and
        # pinyin is computed once per pool entry (pypinyin costs ~40 µs a call).
        self.male_pool = self._given_pool(names.MALE_GIVEN, 3_000)
        self.female_pool = self._given_pool(names.FEMALE_GIVEN, 3_000)
        given_py = {g: given_name_pinyin(g) for g in {*self.male_pool, *self.female_pool}}
        self.surname_py = surname_py
        self.given_py = given_py
        self.regions = [code for code, _ in names.ID_REGIONS]
        self.region_cw = _cum([w for _, w in names.ID_REGIONS])
        self.mobile = [p for p, _ in names.MOBILE_PREFIXES]
        self.mobile_cw = _cum([w for _, w in names.MOBILE_PREFIXES])
        # Ages 18–60, most between 25 and 45.
        self.ages = list(range(MIN_AGE, MAX_AGE + 1))
        self.age_cw = _cum([_age_weight(a) for a in self.ages])
        self.seq3 = [f"{n:03d}" for n in range(1000)]
        # One table of days, from the oldest birth date to today: ordinal -> text forms.
        self.first_ord = self.today_ord - (MAX_AGE + 2) * 366
        days = [date.fromordinal(o) for o in range(self.first_ord, self.today_ord + 1)]
        self.day_compact = [d.strftime("%Y%m%d") for d in days]
        self.day_months = [_month_index(d) for d in days]
        self._days = days
        self.day_bound: list[Any] = days
        self.recorded_at: Any = ctx.clock.now()
        self.business_date: Any = self.today
        self.rate_bound: dict[int, Any] = {}
        # JSON columns get the text SQLAlchemy's JSON type would send (json.dumps); PostgreSQL's
        # COPY parses it like any other input.
        self.json: Callable[[Any], str] = json.dumps

    def bind(self, conn: Connection) -> None:
        """Prepare the values raw inserts send for dates, timestamps and rates on this engine."""
        day, timestamp, rate = bulk.binders(conn)
        self.day_bound = [day(d) for d in self._days]
        self.recorded_at = timestamp(self.ctx.clock.now())
        self.business_date = self.day_bound[self.today_ord - self.first_ord]
        self.rate_bound = {pct: rate(Decimal(pct) / 100) for pct, _ in RATE_PERCENTS}

    def _given_pool(self, chars: str, size: int) -> list[str]:
        alphabet = list(dict.fromkeys(chars))
        rng = self.rng
        pool: list[str] = []
        seen: set[str] = set()
        while len(pool) < size:
            if rng.random() * 100 < names.ONE_CHAR_GIVEN_PCT:
                given = rng.choice(alphabet)
            else:
                given = rng.choice(alphabet) + rng.choice(alphabet)
            if given not in seen:
                seen.add(given)
                pool.append(given)
        return pool

    def person_name(self, male: bool) -> tuple[str, str]:
        rng = self.rng
        surname = rng.choices(self.surnames, cum_weights=self.surname_cw)[0]
        pool = self.male_pool if male else self.female_pool
        given = pool[int(len(pool) * rng.random() ** 2)]
        return surname + given, f"{self.surname_py[surname]} {self.given_py[given]}"

    def phone(self) -> str:
        rng = self.rng
        return rng.choices(self.mobile, cum_weights=self.mobile_cw)[0] + f"{rng.randrange(10**8):08d}"

    # ----------------------------------------------------------------------------- employers

    def employers(self, count: int, members: int) -> list[_EmployerPlan]:
        rng = self.rng
        sizes = employer_sizes(rng, count, members)
        plans: list[_EmployerPlan] = []
        rates = [p for p, _ in RATE_PERCENTS]
        rate_cw = _cum([w for _, w in RATE_PERCENTS])
        oldest = self.today_ord - HISTORY_YEARS * 365
        median_mu = math.log(MEDIAN_WAGE_YUAN)
        for i, size in enumerate(sizes, start=1):
            codes, code_cw = _ECONOMIC_TYPES_BY_SIZE[_size_band(size)]
            code = rng.choices(codes, cum_weights=code_cw)[0]
            plans.append(
                _EmployerPlan(
                    id=i,
                    size=size,
                    economic_type=code,
                    rate_pct=rng.choices(rates, cum_weights=rate_cw)[0],
                    state=EmployerState.NORMAL.value,
                    opened_ord=rng.randrange(oldest, self.today_ord),
                    closed_ord=None,
                    wage_mu=median_mu
                    + rng.gauss(0.0, EMPLOYER_WAGE_SIGMA)
                    + _ECONOMIC_WAGE_SHIFT.get(code, 0.0),
                    current_months=0,
                )
            )
        self._assign_employer_states(plans)
        return plans

    def _assign_employer_states(self, plans: list[_EmployerPlan]) -> None:
        rng = self.rng
        n = len(plans)

        def quota(share: float) -> int:
            return max(1, round(share * n)) if n >= 10 else 0

        free = list(range(n))
        rng.shuffle(free)
        taken: set[int] = set()

        def pick(k: int, max_size: int) -> list[int]:
            chosen = [i for i in free if i not in taken and plans[i].size <= max_size][:k]
            if len(chosen) < k:  # not enough small ones: take the smallest of the rest
                rest = sorted(
                    (i for i in free if i not in taken and i not in chosen), key=lambda i: plans[i].size
                )
                chosen += rest[: k - len(chosen)]
            taken.update(chosen)
            return chosen

        for i in pick(quota(CLOSED_EMPLOYER_SHARE), 20):
            plans[i].state = EmployerState.CLOSED.value
        for i in pick(quota(SEALED_EMPLOYER_SHARE), 200):
            plans[i].state = EmployerState.SEALED.value
        for i in pick(quota(DEFERRED_EMPLOYER_SHARE), MAX_EMPLOYER_SIZE):
            plans[i].state = EmployerState.DEFERRED.value

    def insert_employers(self, conn: Connection, plans: list[_EmployerPlan], numbers: list[str]) -> None:
        rng = self.rng
        rows = []
        history = []
        district_cw = _cum([w for _, _, w in names.DISTRICTS])
        bank_names = [b for b, _ in names.BANKS]
        bank_cw = _cum([w for _, w in names.BANKS])
        day = self.day_bound
        first = self.first_ord
        open_after = self._employer_after
        for plan, account_no in zip(plans, numbers, strict=True):
            plan.account_no = account_no
            district, district_code, _ = rng.choices(names.DISTRICTS, cum_weights=district_cw)[0]
            name, plan.economic_type = self._employer_name(plan.economic_type, district)
            uscc = self._uscc(plan.economic_type, district_code)
            road = rng.choice(names.ROADS)
            address = f"{names.PROVINCE}{names.CITY}{district}{road}{rng.randrange(1, 3000)}号"
            if plan.size > 50:
                building = rng.choice(_TRADE) + rng.choice(names.BUILDINGS)
                address += f"{building}{rng.randrange(1, 30)}层"
            legal_rep, _ = self.person_name(rng.random() < 0.7)
            contact, _ = self.person_name(rng.random() < 0.45)
            phone = (
                f"{names.AREA_CODE}-{rng.choice('5688')}{rng.randrange(10**7):07d}"
                if rng.random() < 0.3
                else self.phone()
            )
            bank = rng.choices(bank_names, cum_weights=bank_cw)[0]
            branch = f"{bank}{_SHORT_CITY}{district.removesuffix('区').removesuffix('县')}支行"
            digits = rng.choice((12, 15, 16, 17, 19))
            body = f"{rng.randrange(1, 10)}{rng.randrange(10 ** (digits - 2)):0{digits - 2}d}"
            bank_account = body + luhn_check_digit(body)
            state = plan.state
            closed_on = deferral_from = deferral_to = None
            paid_through_month = self.today_month - 1 - (rng.randrange(1, 4) if rng.random() < 0.05 else 0)
            if state == EmployerState.DEFERRED:
                start = self.today_month - rng.randrange(0, 6)
                deferral_from, deferral_to = _month_text(start), _month_text(start + rng.randrange(6, 13) - 1)
                paid_through_month = start - 1
            elif state == EmployerState.SEALED:
                paid_through_month = self.today_month - rng.randrange(2, 37)
            elif state == EmployerState.CLOSED:
                low = max(plan.opened_ord + 1, self.today_ord - 3 * 365)
                plan.closed_ord = rng.randrange(low, self.today_ord) if low < self.today_ord else low
                closed_on = day[plan.closed_ord - first]
                paid_through_month = self.day_months[plan.closed_ord - first] - 1
            paid_through_month = max(paid_through_month, self.day_months[plan.opened_ord - first] - 1)
            plan.current_months = max(0, min(12, paid_through_month - self.july_month + 1))
            rows.append(
                (
                    plan.id,
                    account_no,
                    uscc,
                    name,
                    address,
                    legal_rep,
                    contact,
                    seal("employer", "contact_phone", phone),
                    branch,
                    seal("employer", "bank_account_no", bank_account),
                    rng.choice(_PAYDAYS),
                    self.rate_bound[plan.rate_pct],
                    self.rate_bound[plan.rate_pct],
                    plan.economic_type,
                    state,
                    day[plan.opened_ord - first],
                    closed_on,
                    deferral_from,
                    deferral_to,
                    _month_text(paid_through_month),
                    1,
                )
            )
            history.append(
                self._history("employer", plan.id, "open", None, open_after(account_no, uscc, name))
            )
            if state == EmployerState.DEFERRED:
                history.append(
                    self._history(
                        "employer",
                        plan.id,
                        "defer",
                        {"state": EmployerState.NORMAL.value},
                        {"state": state, "deferral_from": deferral_from, "deferral_to": deferral_to},
                    )
                )
            elif state in (EmployerState.SEALED, EmployerState.CLOSED):
                action = "seal" if state == EmployerState.SEALED else "close"
                history.append(
                    self._history(
                        "employer", plan.id, action, {"state": EmployerState.NORMAL.value}, {"state": state}
                    )
                )
        bulk.insert_employers(conn, rows)
        ledger.open_employer_balances(conn, [p.id for p in plans])
        bulk.insert_history(conn, history)

    @staticmethod
    def _employer_after(account_no: str, uscc: str, name: str) -> dict[str, str]:
        return {"account_no": account_no, "uscc": uscc, "name": name, "state": EmployerState.NORMAL.value}

    def _history(
        self, kind: str, subject_id: int, action: str, before: dict[str, Any] | None, after: dict[str, Any]
    ) -> tuple[Any, ...]:
        return (
            kind,
            subject_id,
            action,
            BUSINESS_TYPE[action],
            self.business_date,
            self.recorded_at,
            self.ctx.actor,
            REASON,
            None if before is None else self.json(before),
            self.json(after),
        )

    def _employer_name(self, code: str, district: str) -> tuple[str, str]:
        """A name not used yet, and the economic type it goes with."""
        rng = self.rng
        for _ in range(20):
            name = _employer_name(rng, code, district)
            if name not in self._employer_names:
                break
        else:  # a crowded kind (there are only so many 教育局): an ordinary company instead
            code = "005"
            while name in self._employer_names:
                name = _employer_name(rng, code, district)
        self._employer_names.add(name)
        return name, code

    def _uscc(self, code: str, region: str) -> str:
        """统一社会信用代码: authority + category, region, organisation code (GB 11714), check."""
        rng = self.rng
        prefix = _USCC_PREFIX.get(code, "91")
        while True:
            if prefix.startswith("9") and rng.random() < 0.6:  # codes issued since 2015: "MA…"
                body = "MA" + "".join(rng.choices(_ORG_ALPHABET, k=6))
            else:
                body = f"{rng.randrange(10**8):08d}"
            first17 = f"{prefix}{region}{body}{organisation_check_char(body)}"
            uscc = first17 + uscc_check_char(first17)
            if uscc not in self._usccs:
                self._usccs.add(uscc)
                return uscc

    # ------------------------------------------------------------------------------- members

    def members(self, chunk: list[_EmployerPlan], first_id: int, numbers: list[str]) -> _Batch:
        """Rows, history and opening-balance specs for the members of ``chunk``'s employers."""
        rng = self.rng
        # int(n * random()) rather than randrange(n): a fifth of the cost, the same determinism.
        rnd, lognorm = rng.random, rng.lognormvariate
        total = sum(p.size for p in chunk)
        ages = rng.choices(self.ages, cum_weights=self.age_cw, k=total)
        regions = rng.choices(self.regions, cum_weights=self.region_cw, k=total)
        surnames = rng.choices(self.surnames, cum_weights=self.surname_cw, k=total)
        mobiles = rng.choices(self.mobile, cum_weights=self.mobile_cw, k=total)
        male_pool, female_pool = self.male_pool, self.female_pool
        n_male, n_female = len(male_pool), len(female_pool)
        surname_py, given_py = self.surname_py, self.given_py
        seq3, day_compact, day_months, day = self.seq3, self.day_compact, self.day_months, self.day_bound
        first, today_ord, today_month = self.first_ord, self.today_ord, self.today_month
        july_month = self.july_month
        keys = self._resident_keys
        check = resident_id_check_digit
        floor_fen, cap_fen = self.floor_fen, self.cap_fen
        member_sigma = MEMBER_WAGE_SIGMA
        normal, sealed, frozen = MemberState.NORMAL.value, MemberState.SEALED.value, MemberState.FROZEN.value
        withdrawn, transferred = MemberState.CLOSED_WITHDRAWN.value, MemberState.CLOSED_TRANSFERRED.value
        employer_sealed, employer_closed = EmployerState.SEALED.value, EmployerState.CLOSED.value
        # The shares apply to the staff of open employers; sealed and closed employers add theirs.
        p_closed, p_sealed = CLOSED_MEMBER_SHARE, SEALED_MEMBER_SHARE
        p_frozen = FROZEN_MEMBER_SHARE
        recorded_at, business_date, actor = self.recorded_at, self.business_date, self.ctx.actor
        bt_open, bt_seal = BUSINESS_TYPE["open"], BUSINESS_TYPE["seal"]
        bt_close, bt_freeze = BUSINESS_TYPE["close"], BUSINESS_TYPE["freeze"]
        seal_before, seal_after = '{"state": "01"}', '{"state": "02"}'
        freeze_after = '{"state": "06", "state_before_freeze": "01"}'

        rows: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        entries: list[tuple[str, int, list[tuple[int, int, int]]]] = []
        add_row, add_history = rows.append, history.append
        j = 0
        member_id = first_id
        for plan in chunk:
            employer_id = plan.id
            mu = plan.wage_mu
            per_part_pct = plan.rate_pct
            emp_state = plan.state
            emp_current = plan.current_months
            earliest = plan.opened_ord
            latest_open = (plan.closed_ord if plan.closed_ord is not None else today_ord) - 1
            credits: list[tuple[int, int, int]] = []
            total_fen = 0
            for _ in range(plan.size):
                age = ages[j]
                male = rnd() < 0.52
                birth = today_ord - age * 365 - (age >> 2) - int(365 * rnd())
                region = regions[j]
                compact = day_compact[birth - first]
                while True:
                    first17 = region + compact + seq3[int(500 * rnd()) * 2 + male]
                    key = int(first17)
                    if key not in keys:
                        keys.add(key)
                        break
                surname = surnames[j]
                if male:
                    given = male_pool[int(n_male * rnd() ** 2)]
                else:
                    given = female_pool[int(n_female * rnd() ** 2)]
                base = int(lognorm(mu, member_sigma)) * 100
                base = floor_fen if base < floor_fen else cap_fen if base > cap_fen else base
                adult = birth + 6575  # 18 years
                low = adult if adult > earliest else earliest
                opened = low + int((latest_open - low) * rnd()) if latest_open > low else latest_open
                months_here = today_month - day_months[opened - first]
                # State: the employer's, else closed / sealed / frozen by share, else normal.
                closed_on = None
                before_freeze = None
                if emp_state == employer_closed:
                    state = withdrawn
                elif emp_state == employer_sealed:
                    state = sealed
                else:
                    r = rnd()
                    if r < p_closed:
                        state = withdrawn if r < p_closed * 0.8 else transferred
                    elif r < p_closed + p_sealed:
                        state = sealed
                    elif r < p_closed + p_sealed + p_frozen:
                        state = frozen
                        before_freeze = normal
                    else:
                        state = normal
                # Opening balance, in whole fen: each part (employer, member) of a month's
                # deposit is base × rate rounded to the fen. What is carried forward follows from
                # the account's own history: the months deposited here before this 缴存年度
                # (since the account was opened, at most the years of working age), less what was
                # withdrawn and what lower wages of past years paid in (``carried_kept_pct``).
                carried = current = 0
                if state in (normal, frozen, sealed):
                    monthly = 2 * ((base * per_part_pct + 50) // 100)
                    current_months = emp_current if emp_current < months_here else months_here
                    working = (age - MIN_AGE) * 12 - current_months
                    carried_months = july_month - day_months[opened - first]  # before 1 July
                    if carried_months > working:
                        carried_months = working
                    if carried_months < 0:
                        carried_months = 0
                    if carried_months > MAX_CARRIED_MONTHS:
                        carried_months = MAX_CARRIED_MONTHS
                    carried = monthly * carried_months * carried_kept_pct(carried_months, rnd()) // 100
                    current = monthly * current_months
                    if state == sealed:
                        if rnd() < 0.7:
                            current = 0
                        if rnd() < 0.2:
                            carried = 0
                    if carried or current:
                        credits.append((member_id, carried, current))
                        total_fen += carried + current
                else:
                    if plan.closed_ord is not None:
                        closed_at = plan.closed_ord
                    elif today_ord - opened > 1:
                        closed_at = opened + 1 + int((today_ord - opened - 1) * rnd())
                    else:
                        closed_at = today_ord
                    closed_on = day[closed_at - first]
                opened_day = day[opened - first]
                phone = mobiles[j] + f"{int(100_000_000 * rnd()):08d}" if rnd() < 0.9 else None
                account_no = numbers[j]
                add_row(
                    (
                        member_id,
                        account_no,
                        "01",
                        first17 + check(first17),
                        surname + given,
                        f"{surname_py[surname]} {given_py[given]}",
                        "1" if male else "2",
                        day[birth - first],
                        phone,
                        employer_id,
                        base,
                        state,
                        before_freeze,
                        opened_day,
                        closed_on,
                        1,
                    )
                )
                after = (
                    f'{{"account_no": "{account_no}", "employer_id": {employer_id}, "state": "01", '
                    f'"base_fen": {base}}}'
                )
                add_history(
                    (
                        "member",
                        member_id,
                        "open",
                        bt_open,
                        business_date,
                        recorded_at,
                        actor,
                        REASON,
                        None,
                        after,
                    )
                )
                if state != normal:
                    if state == sealed:
                        add_history(
                            (
                                "member",
                                member_id,
                                "seal",
                                bt_seal,
                                business_date,
                                recorded_at,
                                actor,
                                REASON,
                                seal_before,
                                seal_after,
                            )
                        )
                        self.sealed_members += 1
                    elif state == frozen:
                        add_history(
                            (
                                "member",
                                member_id,
                                "freeze",
                                bt_freeze,
                                business_date,
                                recorded_at,
                                actor,
                                REASON,
                                seal_before,
                                freeze_after,
                            )
                        )
                    else:
                        add_history(
                            (
                                "member",
                                member_id,
                                "close",
                                bt_close,
                                business_date,
                                recorded_at,
                                actor,
                                REASON,
                                seal_before,
                                self._closed_json(state, closed_on),
                            )
                        )
                        self.closed_members += 1
                member_id += 1
                j += 1
            if total_fen:
                entries.append((plan.account_no, total_fen, credits))
                self.total_balance_fen += total_fen
        return _Batch(rows, history, entries)

    def _closed_json(self, state: str, closed_on: Any) -> str:
        return self.json({"state": state, "closed_on": str(closed_on)})


# ---------------------------------------------------------------------------- pure helpers


def carried_kept_pct(carried_months: int, u: float) -> int:
    """The share (%) of ``carried_months`` of past deposits still in the account, for a uniform
    draw ``u`` in [0, 1): up to 100 − ``CARRIED_KEPT_MIN_PCT`` lost (withdrawals, lower past
    wages) after ``CARRIED_KEPT_FULL_LOSS_MONTHS`` months, proportionally less in fewer."""
    exposure = min(1.0, carried_months / CARRIED_KEPT_FULL_LOSS_MONTHS)
    return 100 - int((100 - CARRIED_KEPT_MIN_PCT) * u * exposure)


def _age_weight(age: int) -> float:
    """Relative number of contributing members of each age: a plateau from 25 to 45."""
    if age < 25:
        return 0.3 + 0.7 * (age - MIN_AGE) / 7
    if age <= 45:
        return 1.0
    return max(0.15, 1.0 - 0.055 * (age - 45))


def employer_sizes(rng: random.Random, employers: int, members: int) -> list[int]:
    """Heavy-tailed staff counts in 1..MAX_EMPLOYER_SIZE that sum exactly to ``members``.

    Sizes are the integer part of a Pareto variable truncated to [1, cap + 1), its exponent α
    found by bisection so the sum comes as close to ``members`` as it can from below (α < 0
    is allowed: mass then gathers towards the cap); the last few staff are added in proportion
    to size. A city of ``BIG_CITY_MEMBERS`` or more gets at least one employer of ``BIG_EMPLOYER``.
    """
    cap = MAX_EMPLOYER_SIZE
    if employers < 1 or not employers <= members <= employers * cap:
        raise ValueError("need 1 ≤ employers ≤ members ≤ employers × MAX_EMPLOYER_SIZE")
    uniforms = [rng.random() for _ in range(employers)]  # in [0, 1)
    log_h = math.log(cap + 1)

    def sizes_for(alpha: float) -> list[int]:
        if abs(alpha) < 1e-9:  # the limit α → 0: log-uniform on [1, cap + 1)
            return [min(cap, int(math.exp(u * log_h))) for u in uniforms]
        c = 1.0 - math.exp(-alpha * log_h)
        inv = -1.0 / alpha
        return [min(cap, int((1.0 - u * c) ** inv)) for u in uniforms]

    low, high = -30.0, 64.0  # sum(low) ≥ members (nearly all at the cap), sum(high) = employers
    for _ in range(42):
        mid = (low + high) / 2
        if sum(sizes_for(mid)) > members:
            low = mid
        else:
            high = mid
    sizes = sizes_for(high)
    missing = members - sum(sizes)
    while missing > 0:
        room = [i for i, s in enumerate(sizes) if s < cap]
        for i in rng.choices(room, weights=[sizes[i] for i in room], k=min(missing, len(room))):
            if sizes[i] < cap and missing > 0:
                sizes[i] += 1
                missing -= 1
    if members >= BIG_CITY_MEMBERS and max(sizes) < BIG_EMPLOYER:
        big = max(range(employers), key=sizes.__getitem__)
        need = BIG_EMPLOYER - sizes[big]
        for i in sorted(range(employers), key=sizes.__getitem__, reverse=True):
            if i == big or need == 0:
                continue
            take = min(need, (sizes[i] - 1) // 2)
            sizes[i] -= take
            need -= take
        sizes[big] = BIG_EMPLOYER - need
    assert sum(sizes) == members
    return sizes


#: GB 11714 organisation-code alphabet as used inside a USCC (no I, O, Z, S, V).
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def organisation_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code (digits and letters)."""
    total = sum((int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


#: Registration authority + category (GB 32100) for each economic type (住建部 单位经济类型).
_USCC_PREFIX = {
    "001": "11",  # 机构编制 / 机关
    "010": "12",  # 机构编制 / 事业单位
    "011": "51",  # 民政 / 社会团体
    "006": "52",  # 民政 / 民办非企业单位
    "009": "92",  # 工商 / 个体工商户
    "007": "31",  # 司法行政 / 律师事务所
}

_ECONOMIC_WAGE_SHIFT = {"001": 0.05, "002": 0.1, "004": 0.2, "009": -0.35, "006": -0.2, "010": 0.0}

_PAYDAYS = (5, 8, 10, 10, 10, 15, 15, 15, 20, 20, 25, 28)


def _size_band(size: int) -> int:
    return 0 if size <= 3 else 1 if size <= 50 else 2 if size <= 1000 else 3


def _band(pairs: Sequence[tuple[str, int]]) -> tuple[list[str], list[float]]:
    return [c for c, _ in pairs], _cum([w for _, w in pairs])


# (population, cum_weights) for ``rng.choices`` by size band.
_ECONOMIC_TYPES_BY_SIZE = (
    _band((("005", 60), ("009", 30), ("006", 4), ("011", 3), ("007", 3))),
    _band((("005", 73), ("002", 3), ("003", 3), ("004", 2), ("006", 6), ("010", 6), ("011", 3), ("007", 4))),
    _band((("005", 55), ("002", 15), ("004", 5), ("010", 15), ("001", 8), ("003", 2))),
    _band((("002", 40), ("005", 25), ("010", 20), ("001", 10), ("004", 5))),
)

_SUFFIXES = [s for s, _ in names.ENTERPRISE_SUFFIXES]
_SUFFIX_CW = _cum([w for _, w in names.ENTERPRISE_SUFFIXES])
_TRADE = list(dict.fromkeys(names.TRADE_CHARS))
_SHORT_CITY = names.CITY.removesuffix("市")


def _employer_name(rng: random.Random, code: str, district: str) -> str:
    city, short_city = names.CITY, _SHORT_CITY
    trade = rng.choice(_TRADE) + rng.choice(_TRADE)
    industry = rng.choice(names.INDUSTRIES)
    if code == "001":
        return f"{city}{rng.choice(('', district))}{rng.choice(names.AGENCIES)}"
    if code == "010":
        return city + rng.choice(names.INSTITUTIONS).format(d=district, n=rng.randrange(1, 40))
    if code == "011":
        return f"{city}{rng.choice(('', district))}{rng.choice(names.ASSOCIATIONS)}"
    if code == "006":
        return f"{city}{district}{trade}{rng.choice(names.NON_PROFITS)}"
    if code == "009":
        surname = rng.choice(names.SURNAMES[:40])[0]
        return f"{city}{district}{rng.choice(names.SOLE_TRADERS).format(s=surname)}"
    if code == "007":
        return f"山东{trade}{rng.choice(('律师事务所', '会计师事务所', '税务师事务所'))}"
    if code == "004":
        return f"{rng.choice(names.FOREIGN_BRANDS)}（{short_city}）{industry}有限公司"
    if code == "002":
        return f"{rng.choice((short_city, '山东', '山东省'))}{trade}{industry}集团有限公司"
    if code == "003":
        return f"{city}{district}{trade}{industry}合作社"
    suffix = rng.choices(_SUFFIXES, cum_weights=_SUFFIX_CW)[0]
    return f"{rng.choice((short_city, short_city, '山东'))}{trade}{industry}{suffix}"
