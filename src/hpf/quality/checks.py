"""The named checks the quality rules use (``"check"`` in ``rules/*.json``), each parameterised by
its rule's ``params``.

A check is set-based: it answers a :class:`SetCheck` — how many objects it judged (a scalar
``SELECT count``) and a ``SELECT`` of the failing ones with the columns ``object`` (the
identifier a finding names: account number or loan id, as text) and ``detail`` (a short text
without personal data, or NULL) — which the scan runs inside the database (``INSERT … SELECT``
into ``quality_hit``). Rows never come to Python, except for the checks that need a protected
field in clear: the resident ID number is stored as an SM4 token, so :func:`_resident_id_pass`
reads the members in chunks of ``chunk`` rows (keyset by id), reveals the tokens through
``hpf.protection``, checks them, and keeps only the failing objects (:class:`RowsCheck`). One pass
serves the three rules that need it (checksum, birth date, sex): the scan's ``memo`` holds it.

Other packages' data are read only through what they publish (``accounts.queries``,
``ledger.queries``, ``contributions.queries``, ``loans.queries``) — decision 0032.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.sql import ColumnElement, FromClause

from hpf.accounts import queries as accounts
from hpf.accounts.rules import MEMBER_CLOSED, EmployerState
from hpf.contributions import queries as contributions
from hpf.contributions.rules import add_months, month_of
from hpf.kernel.codes import code_table
from hpf.kernel.errors import InvalidInput
from hpf.kernel.identifiers import MIN_BIRTH_DATE, parse_resident_id, resident_id_check_digit
from hpf.kernel.money import RoundingUnit
from hpf.ledger import queries as ledger
from hpf.loans import queries as loans
from hpf.policy.rules import Policy
from hpf.policy.service import policy_at
from hpf.protection.protect import reveal

CLOSED_MEMBER = sorted(s.value for s in MEMBER_CLOSED)
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


@dataclass
class ScanInput:
    """What every check reads: the connection, the business date judged, its policy, and a
    memo the checks of one scan share (the one decrypting pass)."""

    conn: Connection
    at: date
    policy: Policy
    memo: dict[str, Any] = field(default_factory=dict)
    workers: int = 1  # processes that reveal and check the ID numbers (1: in this process)
    objects: tuple[str, ...] | None = (
        None  # a re-scan of some objects only (the decrypting pass reads only them)
    )

    @classmethod
    def of(
        cls, conn: Connection, at: date, *, workers: int = 1, objects: tuple[str, ...] | None = None
    ) -> ScanInput:
        return cls(conn, at, policy_at(conn, at), workers=max(1, workers), objects=objects)


@dataclass(frozen=True)
class SetCheck:
    checked: Select[Any]  # one row, one column: how many objects were judged
    failing: Select[Any]  # columns ``object`` (text) and ``detail`` (text or NULL)


@dataclass(frozen=True)
class RowsCheck:
    checked: int
    failing: list[tuple[str, str | None]]


Check = Callable[[ScanInput, Mapping[str, Any]], SetCheck | RowsCheck]


def _text(column: Any) -> ColumnElement[str]:
    return cast(column, String)


def _count(source: FromClause, *where: ColumnElement[bool]) -> Select[Any]:
    return select(func.count()).select_from(source).where(*where)


_SOURCES: dict[str, Callable[[], Any]] = {
    "member": lambda: accounts.member_records_subquery("m"),
    "employer": lambda: accounts.employer_records_subquery("e"),
}


def _not_closed(source: str, s: Any) -> ColumnElement[bool]:
    state: ColumnElement[str] = s.c.state
    if source == "member":
        return state.not_in(CLOSED_MEMBER)
    return state != EmployerState.CLOSED.value


# ------------------------------------------------------------------------------ completeness


def required_fields(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Open accounts of ``source`` with any of ``columns`` NULL or blank; detail: which."""
    s = _SOURCES[p["source"]]()
    columns = [s.c[name] for name in p["columns"]]
    blank = [or_(c.is_(None), func.trim(_text(c)) == "") for c in columns]
    detail: ColumnElement[str] = literal("缺少:")
    for c, missing in zip(columns, blank, strict=True):
        detail = detail + case((missing, literal(f" {c.name}")), else_=literal(""))
    live = _not_closed(p["source"], s)
    return SetCheck(
        _count(s, live),
        select(s.c.account_no.label("object"), detail.label("detail")).where(live, or_(*blank)),
    )


# ---------------------------------------------------------------------------------- validity


def code_in_table(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Rows of ``source`` whose ``column`` is not a code of ``code_table`` (NULL passes only
    with ``allow_null``)."""
    s = _SOURCES[p["source"]]()
    column = s.c[p["column"]]
    codes = [c.code for c in code_table(p["code_table"])]
    outside = column.not_in(codes)
    bad = and_(column.is_not(None), outside) if p.get("allow_null") else or_(column.is_(None), outside)
    detail = literal(f"{p['column']}=") + func.coalesce(_text(column), literal("空"))
    return SetCheck(_count(s), select(s.c.account_no.label("object"), detail.label("detail")).where(bad))


def within_policy(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Rows of ``source`` in ``states`` whose ``column`` lies outside the policy's ``low`` ..
    ``high`` on the scan's date."""
    s = _SOURCES[p["source"]]()
    column = s.c[p["column"]]
    low, high = getattr(scan.policy, p["low"]), getattr(scan.policy, p["high"])
    live = s.c.state.in_(list(p["states"]))
    detail = literal(f"{p['column']}=") + _text(column) + literal(f"，范围 {low}–{high}")
    return SetCheck(
        _count(s, live),
        select(s.c.account_no.label("object"), detail.label("detail")).where(
            live, or_(column < low, column > high)
        ),
    )


def rates_within_policy(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers in ``states`` whose employer or member rate is outside the policy's range."""
    e = _SOURCES["employer"]()
    pol = scan.policy
    live = e.c.state.in_(list(p["states"]))
    bad = or_(
        e.c.employer_rate < pol.employer_rate_min,
        e.c.employer_rate > pol.employer_rate_max,
        e.c.member_rate < pol.member_rate_min,
        e.c.member_rate > pol.member_rate_max,
    )
    detail = literal("单位/个人比例 ") + _text(e.c.employer_rate) + literal("/") + _text(e.c.member_rate)
    return SetCheck(
        _count(e, live), select(e.c.account_no.label("object"), detail.label("detail")).where(live, bad)
    )


def member_dates_possible(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Members with a birth date before ``earliest_birth`` or after the scan's date, opened after
    the scan's date or before their birth, or closed before they were opened."""
    m = _SOURCES["member"]()
    earliest = date.fromisoformat(p["earliest_birth"])
    reasons = [
        (m.c.birth_date < earliest, "出生日期过早"),
        (m.c.birth_date > scan.at, "出生日期在未来"),
        (m.c.opened_on > scan.at, "开户日期在未来"),
        (m.c.opened_on < m.c.birth_date, "开户早于出生"),
        (and_(m.c.closed_on.is_not(None), m.c.closed_on < m.c.opened_on), "销户早于开户"),
    ]
    detail = case(*[(cond, literal(text)) for cond, text in reasons])
    return SetCheck(
        _count(m),
        select(m.c.account_no.label("object"), detail.label("detail")).where(or_(*[c for c, _ in reasons])),
    )


def _position(scan: ScanInput, alphabet: str, char: ColumnElement[str]) -> ColumnElement[int]:
    """1-based position of ``char`` in ``alphabet``, 0 if absent (instr / strpos)."""
    if scan.conn.dialect.name == "postgresql":
        return func.strpos(literal(alphabet), char)
    return func.instr(literal(alphabet), char)


def uscc_valid(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers whose USCC is not 18 characters of the GB 32100 alphabet or whose 18th character
    is not the check character: Σ value(i)·3^i mod 31 over the first 17, computed in SQL."""
    e = _SOURCES["employer"]()
    positions = [_position(scan, USCC_ALPHABET, func.substr(e.c.uscc, i + 1, 1)) for i in range(18)]
    total: ColumnElement[int] = literal(0)
    for weight, pos in zip(USCC_WEIGHTS, positions[:17], strict=True):
        total = total + (pos - 1) * weight
    expected = func.substr(literal(USCC_ALPHABET), (31 - total % 31) % 31 + 1, 1)
    malformed = or_(func.length(e.c.uscc) != 18, *[pos == 0 for pos in positions])
    detail = case((malformed, literal("格式或长度错误")), else_=literal("校验码不符"))
    return SetCheck(
        _count(e),
        select(e.c.account_no.label("object"), detail.label("detail")).where(
            or_(malformed, func.substr(e.c.uscc, 18, 1) != expected)
        ),
    )


# ----------------------------------------------------- protected fields: one decrypting pass


@dataclass
class _IdPass:
    checked: int = 0
    invalid: list[tuple[str, str | None]] = field(default_factory=list)
    birth: list[tuple[str, str | None]] = field(default_factory=list)
    sex: list[tuple[str, str | None]] = field(default_factory=list)
    seconds_decrypting: float = 0.0


class IdChecker:
    """The kernel's verdict on resident ID numbers (``parse_resident_id``), fast for a whole
    center: format, check character (the kernel's ``resident_id_check_digit``) and birth date are
    checked inline; the region — the costly part, a lookup in stdnum's division table — is asked of
    the kernel once per (region code, birth year), since that is all it depends on; a number
    refused anywhere is parsed by the kernel for its exact refusal code. The same verdicts as
    the kernel's (``tests/quality``), some 20 times faster."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.regions: dict[tuple[str, str], str | None] = {}

    def _refusal(self, number: str) -> str:
        try:
            parse_resident_id(number, today=self.today)
        except InvalidInput as exc:
            return exc.code
        return ""  # pragma: no cover - only called for a number the inline checks refused

    def check(self, number: str) -> tuple[str | None, date | None, str | None]:
        """(refusal code or None, birth date, sex code) of one number."""
        head = number[:17]
        if len(number) != 18 or not (head.isascii() and head.isdigit()) or number[17] not in "0123456789X":
            return self._refusal(number), None, None
        if resident_id_check_digit(head) != number[17]:
            return "resident_id.checksum", None, None
        try:
            birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            return self._refusal(number), None, None
        if birth < MIN_BIRTH_DATE or birth > self.today:
            return self._refusal(number), None, None
        key = (number[:6], number[6:10])
        if key not in self.regions:
            self.regions[key] = self._refusal(number) or None
        if self.regions[key]:
            return self.regions[key], None, None
        return None, birth, "1" if int(number[16]) % 2 == 1 else "2"


_Row = tuple[str, str, date, str]  # account number, token, birth date, sex code
_Checked = tuple[
    int, list[tuple[str, str | None]], list[tuple[str, str | None]], list[tuple[str, str | None]], float
]
_CHECKERS: dict[date, IdChecker] = {}  # per process: the region verdicts survive across chunks


def _check_chunk(at: date, rows: list[_Row]) -> _Checked:
    """Reveal and check one chunk: (checked, invalid, wrong birth date, wrong sex, seconds revealing)."""
    import time

    checker = _CHECKERS.setdefault(at, IdChecker(at))
    started = time.perf_counter()
    clear = [reveal("member", "resident_id", token) or "" for _, token, _, _ in rows]
    seconds = time.perf_counter() - started
    invalid: list[tuple[str, str | None]] = []
    birth: list[tuple[str, str | None]] = []
    sex: list[tuple[str, str | None]] = []
    for (account_no, _, born, gender), number in zip(rows, clear, strict=True):
        refused, encoded_birth, encoded_sex = checker.check(number)
        if refused is not None:
            invalid.append((account_no, refused))
            continue
        if encoded_birth != born:
            birth.append((account_no, "出生日期与证件号码所载不符"))
        if encoded_sex != gender:
            sex.append((account_no, "性别与证件号码所载不符"))
    return len(rows), invalid, birth, sex, seconds


def _chunks_of(scan: ScanInput, chunk: int) -> Any:
    m = accounts.member_records_subquery("m")
    last = 0
    while True:
        rows = scan.conn.execute(
            select(m.c.id, m.c.account_no, m.c.resident_id_enc, m.c.birth_date, m.c.gender)
            .where(m.c.id > last, *([m.c.account_no.in_(scan.objects)] if scan.objects is not None else []))
            .order_by(m.c.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        yield [(r.account_no, r.resident_id_enc, r.birth_date, r.gender) for r in rows]


def _resident_id_pass(scan: ScanInput, chunk: int) -> _IdPass:
    """Every member's resident ID revealed and checked, ``chunk`` rows at a time (once a scan).
    With ``scan.workers`` > 1 the chunks are revealed and checked in forked worker processes
    (they inherit the installed key ring) while this one reads the next chunks; only the
    failures come back."""
    found: _IdPass | None = scan.memo.get("resident_id")
    if found is not None:
        return found
    done = _IdPass()

    def add(result: _Checked) -> None:
        checked, invalid, birth, sex, seconds = result
        done.checked += checked
        done.invalid += invalid
        done.birth += birth
        done.sex += sex
        done.seconds_decrypting += seconds

    if scan.workers <= 1:
        for rows in _chunks_of(scan, chunk):
            add(_check_chunk(scan.at, rows))
    else:
        import multiprocessing
        from collections import deque
        from concurrent.futures import Future, ProcessPoolExecutor

        pending: deque[Future[_Checked]] = deque()
        with ProcessPoolExecutor(scan.workers, mp_context=multiprocessing.get_context("fork")) as pool:
            for rows in _chunks_of(scan, chunk):
                pending.append(pool.submit(_check_chunk, scan.at, rows))
                while len(pending) > 2 * scan.workers:
                    add(pending.popleft().result())
            while pending:
                add(pending.popleft().result())
    scan.memo["resident_id"] = done
    return done


def resident_id_valid(scan: ScanInput, p: Mapping[str, Any]) -> RowsCheck:
    found = _resident_id_pass(scan, int(p["chunk"]))
    return RowsCheck(found.checked, found.invalid)


def resident_id_vs_birth(scan: ScanInput, p: Mapping[str, Any]) -> RowsCheck:
    found = _resident_id_pass(scan, int(p["chunk"]))
    return RowsCheck(found.checked - len(found.invalid), found.birth)


def resident_id_vs_sex(scan: ScanInput, p: Mapping[str, Any]) -> RowsCheck:
    found = _resident_id_pass(scan, int(p["chunk"]))
    return RowsCheck(found.checked - len(found.invalid), found.sex)


# ------------------------------------------------------------------------------- consistency


def balance_vs_ledger(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Members whose materialised balance (carried + current) ≠ Σ of their sub-ledger lines."""
    b = ledger.member_balances_subquery("b")
    lines = ledger.member_lines_subquery("l")
    sums = (
        select(lines.c.member_id, func.sum(lines.c.signed_fen).label("total"))
        .group_by(lines.c.member_id)
        .subquery("s")
    )
    m = accounts.member_refs_subquery("m")
    stored = b.c.carried_fen + b.c.current_fen
    posted = func.coalesce(sums.c.total, 0)
    detail = literal("余额 ") + _text(stored) + literal(" 分，明细合计 ") + _text(posted) + literal(" 分")
    joined = b.join(m, m.c.id == b.c.member_id).outerjoin(sums, sums.c.member_id == b.c.member_id)
    return SetCheck(
        _count(b),
        select(m.c.account_no.label("object"), detail.label("detail"))
        .select_from(joined)
        .where(stored != posted),
    )


def member_state_vs_employer(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers in ``employer_states`` with members still in ``member_states``; detail: how many."""
    e = accounts.employer_records_subquery("e")
    m = accounts.member_refs_subquery("m")
    live = (
        select(m.c.employer_id, func.count().label("n"))
        .where(m.c.state.in_(list(p["member_states"])))
        .group_by(m.c.employer_id)
        .subquery("live")
    )
    detail = literal("单位状态 ") + e.c.state + literal("，正常职工 ") + _text(live.c.n) + literal(" 人")
    return SetCheck(
        _count(e),
        select(e.c.account_no.label("object"), detail.label("detail"))
        .select_from(e.join(live, live.c.employer_id == e.c.id))
        .where(e.c.state.in_(list(p["employer_states"]))),
    )


def _rounded(base: ColumnElement[int], rate: ColumnElement[Any], unit: RoundingUnit) -> ColumnElement[int]:
    """``base × rate`` rounded half up to ``unit`` in integer SQL: the rate (4 places) × 10⁴ is an
    integer, so the product is exact; both engines divide integers towards zero (positive here)."""
    r4 = cast(func.round(rate * 10000), Integer)
    if unit is RoundingUnit.YUAN:
        return ((base * r4 + 500_000) // 1_000_000) * 100
    return (base * r4 + 5_000) // 10_000


def contribution_vs_base_rate(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers whose latest posted remittance (汇缴) list has a row whose parts ≠ base × the
    employer's registered rates, rounded per the policy's unit, unless the rates were adjusted
    since that list was posted; detail: how many rows."""
    rows = contributions.remittance_rows_subquery("w")
    lists = contributions.remittances_subquery("r")
    latest = (
        select(
            lists.c.employer_id,
            func.max(lists.c.month).label("month"),
            func.max(lists.c.posted_on).label("posted_on"),
        )
        .where(lists.c.state == "posted", lists.c.kind == "01")
        .group_by(lists.c.employer_id)
        .subquery("latest")
    )
    # rates adjusted (调基调比) since that list was posted: the list was right at its own rates,
    # which are not kept with it; such an employer is judged again on its next list
    adjusted = accounts.employer_rate_changes_subquery("adj")
    since = (
        select(adjusted.c.employer_id)
        .where(adjusted.c.employer_id == latest.c.employer_id, adjusted.c.changed_on >= latest.c.posted_on)
        .exists()
    )
    e = accounts.employer_records_subquery("e")
    unit = scan.policy.rounding_unit
    wrong = or_(
        rows.c.employer_fen != _rounded(rows.c.base_fen, e.c.employer_rate, unit),
        rows.c.member_fen != _rounded(rows.c.base_fen, e.c.member_rate, unit),
    )
    joined = latest.join(e, e.c.id == latest.c.employer_id).join(
        rows,
        and_(
            rows.c.employer_id == latest.c.employer_id,
            rows.c.month == latest.c.month,
            rows.c.state == "posted",
            rows.c.kind == "01",
        ),
    )
    failing = (
        select(
            e.c.account_no.label("object"),
            (
                literal("清册 ") + latest.c.month + literal(" 不符 ") + _text(func.count()) + literal(" 行")
            ).label("detail"),
        )
        .select_from(joined)
        .where(wrong, ~since)
        .group_by(e.c.account_no, latest.c.month)
    )
    return SetCheck(_count(latest), failing)


def loan_vs_schedule(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Loans whose schedule does not repay the principal, or (disbursed) whose outstanding or
    overdue principal disagrees with the schedule."""
    s = loans.loans_against_schedules_subquery("s")
    disbursed = s.c.state.in_(("active", "settled"))
    off_schedule = s.c.scheduled_fen != s.c.principal_fen
    off_balance = or_(
        s.c.outstanding_principal_fen != s.c.principal_fen - s.c.repaid_fen,
        s.c.overdue_principal_fen != s.c.late_fen,
    )
    detail = case(
        (off_schedule, literal("计划本金 ") + _text(s.c.scheduled_fen) + literal(" ≠ 合同本金")),
        else_=literal("余额 ") + _text(s.c.outstanding_principal_fen) + literal(" 与计划不符"),
    )
    return SetCheck(
        _count(s),
        select(_text(s.c.id).label("object"), detail.label("detail")).where(
            or_(off_schedule, and_(disbursed, off_balance))
        ),
    )


# -------------------------------------------------------------------------------- uniqueness


def one_open_account_per_person(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Open accounts whose resident ID's blind index is shared with another open account."""
    m = accounts.member_records_subquery("m")
    live = m.c.state.not_in(CLOSED_MEMBER)
    twice = (
        select(m.c.resident_id_bidx).where(live).group_by(m.c.resident_id_bidx).having(func.count() > 1)
    ).subquery("twice")
    return SetCheck(
        _count(m, live),
        select(m.c.account_no.label("object"), literal("同一证件号码的未销户账户").label("detail"))
        .select_from(m.join(twice, twice.c.resident_id_bidx == m.c.resident_id_bidx))
        .where(live),
    )


def shared_phone(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Open accounts whose phone's blind index is on more than ``max_accounts`` open accounts."""
    m = accounts.member_records_subquery("m")
    live = and_(m.c.state.not_in(CLOSED_MEMBER), m.c.phone_bidx.is_not(None))
    shared = (
        select(m.c.phone_bidx, func.count().label("n"))
        .where(live)
        .group_by(m.c.phone_bidx)
        .having(func.count() > int(p["max_accounts"]))
    ).subquery("shared")
    detail = literal("同一号码登记在 ") + _text(shared.c.n) + literal(" 个账户")
    return SetCheck(
        _count(m, live),
        select(m.c.account_no.label("object"), detail.label("detail"))
        .select_from(m.join(shared, shared.c.phone_bidx == m.c.phone_bidx))
        .where(live),
    )


# -------------------------------------------------------------------------------- timeliness


def remittance_late(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers in state 正常 opened before the month due whose paid-through month (JZNY) is
    before the month preceding the scan's month (less ``grace_months``)."""
    e = accounts.employer_records_subquery("e")
    due = add_months(month_of(scan.at), -1 - int(p["grace_months"]))
    live = and_(e.c.state == EmployerState.NORMAL.value, e.c.opened_on < _first_day(due))
    late = or_(e.c.paid_through.is_(None), e.c.paid_through < due)
    detail = literal("缴至 ") + func.coalesce(e.c.paid_through, literal("无")) + literal(f"，应缴至 {due}")
    return SetCheck(
        _count(e, live), select(e.c.account_no.label("object"), detail.label("detail")).where(live, late)
    )


def _first_day(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def receipt_late(scan: ScanInput, p: Mapping[str, Any]) -> SetCheck:
    """Employers with a list filed more than ``days`` days before the scan's date and still not
    posted (its money has not come); detail: how many lists, the oldest month."""
    from datetime import timedelta

    lists = contributions.remittances_subquery("r")
    e = accounts.employer_refs_subquery("e")
    cutoff = scan.at - timedelta(days=int(p["days"]))
    filed = (
        select(lists.c.employer_id, func.count().label("n"), func.min(lists.c.month).label("oldest"))
        .where(lists.c.state == "pending", lists.c.created_on < cutoff)
        .group_by(lists.c.employer_id)
        .subquery("filed")
    )
    detail = literal("未到账清册 ") + _text(filed.c.n) + literal(" 份，最早 ") + filed.c.oldest
    return SetCheck(
        select(func.count(func.distinct(lists.c.employer_id))).where(lists.c.created_on < cutoff),
        select(e.c.account_no.label("object"), detail.label("detail")).select_from(
            e.join(filed, filed.c.employer_id == e.c.id)
        ),
    )


CHECKS: dict[str, Check] = {
    "required_fields": required_fields,
    "code_in_table": code_in_table,
    "within_policy": within_policy,
    "rates_within_policy": rates_within_policy,
    "member_dates_possible": member_dates_possible,
    "uscc_valid": uscc_valid,
    "resident_id_valid": resident_id_valid,
    "resident_id_vs_birth": resident_id_vs_birth,
    "resident_id_vs_sex": resident_id_vs_sex,
    "balance_vs_ledger": balance_vs_ledger,
    "member_state_vs_employer": member_state_vs_employer,
    "contribution_vs_base_rate": contribution_vs_base_rate,
    "loan_vs_schedule": loan_vs_schedule,
    "one_open_account_per_person": one_open_account_per_person,
    "shared_phone": shared_phone,
    "remittance_late": remittance_late,
    "receipt_late": receipt_late,
}
NAMES = frozenset(CHECKS)
