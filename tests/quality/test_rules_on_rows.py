"""Each quality rule on hand-made rows, on both engines: a small simulated center passes every
rule but the timeliness ones (its late payers are real), then one row per rule is broken — through
the stock loader (the planters) or, where no loader writes it, in SQL — and the scan names exactly
those objects, under exactly those rules."""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from pathlib import Path

from quality_support import TIMELINESS, found, small_center
from sqlalchemy import select, text

from hpf.db.engine import read_transaction, write_transaction
from hpf.quality import service as quality
from hpf.quality.checks import USCC_ALPHABET, USCC_WEIGHTS
from hpf.sim.defects.quality import PLANTERS

sys.path.insert(0, str(Path(__file__).parents[1] / "loanbook"))
from loanbook_support import new_loan


def test_every_rule_finds_its_broken_row_and_no_healthy_one(engine, ctx, clock):
    today = small_center(engine, employers=21, members=120, months=2)
    clean = quality.scan(engine, at=today)
    assert {r for r, _ in found(engine, clean.run_id)} <= TIMELINESS
    assert {r.rule_id for r in clean.results} == {r.id for r in quality.rules()}
    assert all(r.checked > 0 for r in clean.results if r.rule_id != "Q-CON-LOAN-SCHEDULE")

    expected: set[tuple[str, str]] = set()
    rng = random.Random(11)
    with write_transaction(engine) as conn:
        for kind, planter in PLANTERS.items():
            planted = planter(conn, rng, 4 if kind == "Q-UNI-MEMBER-PHONE" else 1, today)
            assert planted, kind
            expected |= {(d.kind, d.object) for d in planted}
        # No stock loader writes these: the rows are broken in SQL, as corruption would.
        m_id, m_no = conn.execute(
            text("SELECT id, account_no FROM member WHERE id % 9 = 0 AND state = '01' ORDER BY id DESC")
        ).first()
        conn.execute(
            text("UPDATE member_balance SET current_fen = current_fen + 1 WHERE member_id = :m"), {"m": m_id}
        )
        expected.add(("Q-CON-BALANCE-LEDGER", m_no))
        touched = {o for _, o in expected}
        odd = next(
            no for (no,) in conn.execute(text("SELECT account_no FROM member WHERE state = '01' ORDER BY id"))
            if no not in touched and no != m_no
        )  # fmt: skip
        conn.execute(text("UPDATE member SET state = '09' WHERE account_no = :n"), {"n": odd})
        expected.add(("Q-VAL-CODE-MEMBER-STATE", odd))
        late_id, late_no = conn.execute(
            text("SELECT id, account_no FROM employer WHERE state = '01' AND id % 7 = 3 ORDER BY id DESC")
        ).first()
        conn.execute(text("UPDATE employer SET paid_through = '2024-01' WHERE id = :e"), {"e": late_id})
        expected.add(("Q-TIM-REMITTANCE-LATE", late_no))
        lst = conn.execute(
            text("SELECT r.id, e.account_no FROM remittance r JOIN employer e ON e.id = r.employer_id "
                 "WHERE r.state = 'posted' AND e.id % 7 = 2 ORDER BY r.id DESC")
        ).first()  # fmt: skip
        conn.execute(
            text("UPDATE remittance SET state = 'pending', created_on = :d WHERE id = :r"),
            {"d": today - timedelta(days=40), "r": lst[0]},
        )
        expected.add(("Q-TIM-RECEIPT-LATE", lst[1]))
    clock.set(date(2025, 3, 20))
    with write_transaction(engine) as conn:
        borrower = conn.scalar(text("SELECT min(id) FROM member WHERE state = '01'"))
        healthy_loan = new_loan(conn, ctx, borrower, application_id=1)
        broken_loan = new_loan(
            conn, ctx, borrower, application_id=2, certificate_no="鲁(2025)济南市不动产证明第0000002号"
        )
        conn.execute(
            text("UPDATE loan SET outstanding_principal_fen = outstanding_principal_fen - 100 WHERE id = :l"),
            {"l": broken_loan},
        )
        expected.add(("Q-CON-LOAN-SCHEDULE", str(broken_loan)))

    run = quality.scan(engine, at=today)
    seen = found(engine, run.run_id)
    # The simulator's own late payers stay (real defects); nothing else but what was broken.
    assert {f for f in seen if f[0] not in TIMELINESS} == {f for f in expected if f[0] not in TIMELINESS}
    assert {f for f in expected if f[0] in TIMELINESS} <= seen
    assert ("Q-CON-LOAN-SCHEDULE", str(healthy_loan)) not in seen
    # Every rule with a planted or hand-made row failed on it, and the scores say so.
    broken_rules = {k for k, _ in expected}
    assert broken_rules == {r.id for r in quality.rules()} - {"Q-UNI-PERSON-OPEN"}
    results = {r.rule_id: r for r in run.results}
    for rule_id in broken_rules - TIMELINESS:
        assert results[rule_id].failing == len({o for k, o in expected if k == rule_id}), rule_id
        assert results[rule_id].score < 1


def test_one_person_two_open_accounts_is_refused_by_the_database_the_rule_reads(engine, ctx):
    """Q-UNI-PERSON-OPEN groups open accounts by the blind index of the ID number; the member
    table's unique blind index refuses the very row it looks for, so the rule holds by
    construction on this schema (it stays for stock loaded elsewhere): the check runs and is empty."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    from factories import employer_payload, member_payload
    from hpf.accounts import service as accounts

    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        one = accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
        two = accounts.open_member(conn, ctx, emp.account_no, member_payload(2))
    with read_transaction(engine) as conn:
        bidx = conn.scalar(text("SELECT resident_id_bidx FROM member WHERE id = :m"), {"m": one.id})
    same = text("UPDATE member SET resident_id_bidx = :b WHERE id = :m")
    with write_transaction(engine) as conn, pytest.raises(IntegrityError):
        conn.execute(same, {"b": bidx, "m": two.id})
    run = quality.scan(engine, at=date(2025, 3, 15), only="Q-UNI-PERSON-OPEN")
    assert run.results[0].checked == 2 and run.results[0].failing == 0


def test_the_uscc_check_in_sql_is_the_kernels(engine):
    """The check character the scan computes in SQL agrees with GB 32100 as the kernel parses it,
    for valid codes and for every wrong last character of one."""
    from hpf.kernel.identifiers import parse_uscc

    body = "91370100MA3C5XXX0"
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    right = USCC_ALPHABET[(31 - total % 31) % 31]
    assert parse_uscc(body + right)
    with read_transaction(engine) as conn:
        from hpf.quality.checks import ScanInput, _position

        scan = ScanInput.of(conn, date(2025, 3, 15))
        for c in USCC_ALPHABET:
            pos = conn.scalar(select(_position(scan, USCC_ALPHABET, text(f"'{c}'"))))
            assert pos == USCC_ALPHABET.index(c) + 1


def test_rates_adjusted_after_the_last_list_are_not_a_contribution_defect(engine, ctx, clock):
    """调基调比 after an employer's last posted list: the list was right at the rates of its day
    (a list does not keep its rates), so Q-CON-CONTRIBUTION-RATE waits for the next list."""
    from hpf.contributions import service as contributions

    today = small_center(engine, employers=6, members=40, months=2)
    with read_transaction(engine) as conn:
        no, er = conn.execute(
            text("SELECT e.account_no, e.employer_rate FROM employer e WHERE e.state = '01' AND EXISTS "
                 "(SELECT 1 FROM remittance r WHERE r.employer_id = e.id AND r.state = 'posted') ORDER BY e.id")
        ).first()  # fmt: skip
    before = found(engine, quality.scan(engine, at=today).run_id)
    assert ("Q-CON-CONTRIBUTION-RATE", no) not in before
    clock.set(today)
    new_rate = "0.10" if str(er) not in ("0.10", "0.1", "0.1000") else "0.08"
    with write_transaction(engine) as conn:
        contributions.adjust_base_and_rates(
            conn, ctx, no, employer_rate=new_rate, member_rate=new_rate, bases={}, reason="年度调整"
        )
    after = found(engine, quality.scan(engine, at=today).run_id)
    assert ("Q-CON-CONTRIBUTION-RATE", no) not in after
