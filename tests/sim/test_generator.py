"""The demo city generator: counts, determinism, valid identifiers, states, a clean ledger."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.rules import MEMBER_CLOSED, EmployerDetails, MemberDetails
from hpf.accounts.service import DEFAULT_RATE_BOUNDS
from hpf.accounts.tables import account_history, employer, member
from hpf.check import check_center
from hpf.db.engine import make_engine, read_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.kernel.identifiers import parse_resident_id, parse_uscc
from hpf.ledger.tables import employer_balance, journal_entry, member_balance, subject_balance
from hpf.protection.protect import to_plain
from hpf.schema import upgrade
from hpf.sim import DemoSummary, build_demo_center
from hpf.sim.generator import BIG_EMPLOYER, MAX_EMPLOYER_SIZE, employer_sizes, organisation_check_char

TODAY = date(2025, 3, 15)
EMPLOYERS, MEMBERS = 40, 1_500


def _ctx() -> Context:
    return Context(actor="test", clock=FixedClock(TODAY), center_code="990001")


def _build(path: Path, seed: int = 42, **kwargs: object) -> tuple[Engine, DemoSummary]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    summary = build_demo_center(
        engine,
        _ctx(),
        seed=seed,
        employers=EMPLOYERS,
        members=MEMBERS,
        **kwargs,  # type: ignore[arg-type]
    )
    return engine, summary


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, DemoSummary, list[tuple[str, int, int]]]:
    calls: list[tuple[str, int, int]] = []
    engine, summary = _build(
        tmp_path_factory.mktemp("city") / "t.sqlite3", progress=lambda *a: calls.append(a)
    )
    yield engine, summary, calls
    engine.dispose()


def _people(engine: Engine) -> list[tuple[object, ...]]:
    with read_transaction(engine) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(
                    member.c.resident_id_bidx,  # deterministic; the token has a random IV
                    member.c.name,
                    member.c.base_fen,
                    member.c.state,
                    member_balance.c.carried_fen,
                    member_balance.c.current_fen,
                )
                .join(member_balance, member_balance.c.member_id == member.c.id)
                .order_by(member.c.id)
            )
        ]


def test_counts_match(city) -> None:
    engine, summary, _ = city
    with read_transaction(engine) as conn:
        count = {
            t.name: conn.scalar(select(func.count()).select_from(t))
            for t in (employer, member, member_balance, employer_balance)
        }
        opens = dict(
            conn.execute(
                select(account_history.c.subject_kind, func.count())
                .where(account_history.c.action == "open")
                .group_by(account_history.c.subject_kind)
            ).all()
        )
    assert count == {
        "employer": EMPLOYERS,
        "member": MEMBERS,
        "member_balance": MEMBERS,
        "employer_balance": EMPLOYERS,
    }
    assert opens == {"employer": EMPLOYERS, "member": MEMBERS}
    assert (summary.employers, summary.members) == (EMPLOYERS, MEMBERS)


def test_progress_is_reported_to_the_end(city) -> None:
    _, _, calls = city
    assert {stage for stage, _, _ in calls} >= {"employers", "members", "ledger"}
    assert ("members", MEMBERS, MEMBERS) in calls
    assert ("ledger", EMPLOYERS, EMPLOYERS) in calls


def test_same_seed_same_city_other_seed_other_city(city, tmp_path: Path) -> None:
    engine, summary, _ = city
    again, summary_again = _build(tmp_path / "again.sqlite3")
    other, _ = _build(tmp_path / "other.sqlite3", seed=7)
    try:
        assert _people(again) == _people(engine)
        assert summary_again.total_balance_fen == summary.total_balance_fen
        assert [p[0] for p in _people(other)] != [p[0] for p in _people(engine)]
        assert [p[1] for p in _people(other)] != [p[1] for p in _people(engine)]
    finally:
        again.dispose()
        other.dispose()


def test_identifiers_and_details_are_valid(city) -> None:
    engine, _, _ = city
    with read_transaction(engine) as conn:
        members = [to_plain("member", r) for r in conn.execute(select(member)).mappings()]
        employers = [to_plain("employer", r) for r in conn.execute(select(employer)).mappings()]
    assert len({m["resident_id"] for m in members}) == MEMBERS
    assert len({e["uscc"] for e in employers}) == EMPLOYERS
    for m in members:
        rid = parse_resident_id(m["resident_id"])
        assert (rid.birth_date, rid.gender) == (m["birth_date"], m["gender"])
        assert 18 <= (TODAY - rid.birth_date).days // 365 <= 61
        details = MemberDetails.validate({**m, "resident_id": m["resident_id"]}, TODAY)
        assert details.name == m["name"]
        assert len(m["name_pinyin"].split()) == len(m["name"])  # one syllable per character
        assert m["name_pinyin"] == m["name_pinyin"].upper()
        assert 2_000_00 <= m["base_fen"] <= 30_000_00 and m["base_fen"] % 100 == 0
        assert m["opened_on"] < TODAY
    for e in employers:
        assert parse_uscc(e["uscc"]) == e["uscc"]
        assert organisation_check_char(e["uscc"][8:16]) == e["uscc"][16]
        raw = {**e, "employer_rate": str(e["employer_rate"]), "member_rate": str(e["member_rate"])}
        EmployerDetails.validate(raw, DEFAULT_RATE_BOUNDS)
        assert 12 <= len(e["bank_account_no"]) <= 19
        assert e["employer_rate"] == e["member_rate"]
        assert str(e["employer_rate"].normalize()) in {"0.05", "0.08", "0.1", "0.12"}
        assert e["economic_type"] in {f"{n:03d}" for n in range(1, 12)}
        assert date(2010, 3, 1) <= e["opened_on"] < TODAY


def test_sizes_are_heavy_tailed_and_sum_to_members(city) -> None:
    engine, _, _ = city
    with read_transaction(engine) as conn:
        sizes = [
            n
            for _, n in conn.execute(
                select(member.c.employer_id, func.count()).group_by(member.c.employer_id)
            )
        ]
    assert len(sizes) == EMPLOYERS and sum(sizes) == MEMBERS
    assert min(sizes) == 1 and max(sizes) > 100
    assert sum(1 for s in sizes if s <= 10) >= EMPLOYERS // 2


def test_employer_sizes_for_a_big_city() -> None:
    sizes = employer_sizes(random.Random(1), 20_000, 400_000)
    assert sum(sizes) == 400_000 and len(sizes) == 20_000
    assert min(sizes) == 1 and max(sizes) <= MAX_EMPLOYER_SIZE
    assert max(sizes) >= BIG_EMPLOYER
    assert sum(1 for s in sizes if s <= 10) > 10_000
    assert employer_sizes(random.Random(1), 3, 3) == [1, 1, 1]
    assert employer_sizes(random.Random(1), 2, 2 * MAX_EMPLOYER_SIZE) == [MAX_EMPLOYER_SIZE] * 2


def test_states_and_balances(city) -> None:
    engine, summary, _ = city
    with read_transaction(engine) as conn:
        rows = conn.execute(
            select(
                member.c.state,
                member.c.state_before_freeze,
                member.c.closed_on,
                employer.c.state,
                member_balance.c.carried_fen + member_balance.c.current_fen,
            )
            .join(employer, employer.c.id == member.c.employer_id)
            .join(member_balance, member_balance.c.member_id == member.c.id)
        ).all()
        employer_states = Counter(conn.scalars(select(employer.c.state)))
        history = Counter(
            conn.execute(select(account_history.c.subject_kind, account_history.c.action)).all()
        )
        control = conn.scalar(
            select(func.sum(subject_balance.c.credit_fen - subject_balance.c.debit_fen)).where(
                subject_balance.c.subject_code == "201"
            )
        )
        entries = conn.scalar(select(func.count()).select_from(journal_entry))
    states = Counter(r[0] for r in rows)
    closed = [r for r in rows if r[0] in MEMBER_CLOSED]
    assert states["02"] == summary.sealed_members > 0
    assert len(closed) == summary.closed_members > 0
    assert all(r[4] == 0 and r[2] is not None and r[2] <= TODAY for r in closed)
    assert all(r[2] is None for r in rows if r[0] not in MEMBER_CLOSED)
    assert all(r[1] == "01" for r in rows if r[0] == "06")
    assert all(r[0] in MEMBER_CLOSED for r in rows if r[3] == "04")
    assert all(r[0] == "02" for r in rows if r[3] == "05")
    assert employer_states["04"] == summary.closed_employers >= 1
    assert employer_states["05"] >= 1 and employer_states["03"] >= 1
    assert sum(r[4] for r in rows) == summary.total_balance_fen == control > 0
    assert history[("member", "seal")] == summary.sealed_members
    assert history[("member", "close")] == summary.closed_members
    assert history[("employer", "close")] == summary.closed_employers
    assert 0 < entries <= EMPLOYERS


def test_ledger_checks_clean(city) -> None:
    engine, _, _ = city
    with read_transaction(engine) as conn:
        assert check_center(conn) == []
        keys = set(conn.scalars(select(journal_entry.c.idempotency_key)))
        accounts = set(conn.scalars(select(employer.c.account_no)))
    assert keys <= {f"demo:opening:{a}" for a in accounts}


def test_refuses_a_database_that_has_employers(city) -> None:
    engine, _, _ = city
    with pytest.raises(Conflict) as refused:
        build_demo_center(engine, _ctx(), employers=2, members=5)
    assert refused.value.code == "demo.not_empty"


def test_refuses_impossible_sizes(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/t.sqlite3")
    upgrade(engine)
    for employers, members in ((0, 10), (10, 5), (1, MAX_EMPLOYER_SIZE + 1)):
        with pytest.raises(InvalidInput) as refused:
            build_demo_center(engine, _ctx(), employers=employers, members=members)
        assert refused.value.code == "demo.size"
    engine.dispose()


def test_builds_on_both_engines_and_accounts_open_after(engine: Engine, ctx: Context) -> None:
    """COPY and explicit ids on PostgreSQL: the id sequences continue after the demo's ids."""
    summary = build_demo_center(engine, ctx, seed=3, employers=12, members=300)
    with engine.begin() as conn:
        assert check_center(conn) == []
        assert conn.scalar(select(func.sum(member_balance.c.carried_fen + member_balance.c.current_fen))) == (
            summary.total_balance_fen
        )
        assert (
            conn.scalar(
                select(func.count()).select_from(account_history).where(account_history.c.action == "open")
            )
            == 312
        )
        new_employer = accounts.register_employer(conn, ctx, employer_payload(999_999))
        new_member = accounts.open_member(conn, ctx, new_employer.account_no, member_payload(999_999))
    assert (new_employer.id, new_member.id) == (13, 301)
