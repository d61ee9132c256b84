"""A finding keeps its identity across runs (rule + object): seen again it is the same finding;
once its rule passes it may be closed; if the defect comes back the same finding is reopened."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import text

from factories import employer_payload, member_payload
from hpf.accounts import bulk
from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import Conflict
from hpf.quality import service as quality

DAY = date(2025, 3, 15)


def _birth_findings(engine):
    with read_transaction(engine) as conn:
        return quality.findings(conn, "Q-CON-ID-BIRTH")


def test_seen_again_passed_closed_and_reopened(engine, ctx):
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        m = accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
        bulk.load_legacy_member(conn, m.account_no, {"birth_date": m.birth_date - timedelta(days=31)})
    first = quality.scan(engine, at=DAY)
    [found] = _birth_findings(engine)
    assert (found.object, found.first_run_id, found.last_seen_run_id) == (
        m.account_no,
        first.run_id,
        first.run_id,
    )
    assert first.new >= 1

    second = quality.scan(engine, at=DAY)
    [again] = _birth_findings(engine)
    assert again.id == found.id and again.last_seen_run_id == second.run_id and again.passed_run_id is None
    with write_transaction(engine) as conn:
        with pytest.raises(Conflict):
            quality.close(conn, ctx, found.id)
        accounts.correct_member_identity(conn, ctx, m.account_no, {"birth_date": m.birth_date}, "核对证件")

    third = quality.scan(engine, at=DAY)
    [passed] = _birth_findings(engine)
    assert passed.passed_run_id == third.run_id and passed.closable and third.passed >= 1
    with write_transaction(engine) as conn:
        assert quality.close(conn, ctx, found.id, "已更正").state == "closed"

    with write_transaction(engine) as conn:  # the old system's load runs again
        bulk.load_legacy_member(conn, m.account_no, {"birth_date": m.birth_date - timedelta(days=31)})
    fourth = quality.scan(engine, at=DAY)
    [back] = _birth_findings(engine)
    assert back.id == found.id and back.state == "open" and back.passed_run_id is None
    assert fourth.reopened == 1
    with read_transaction(engine) as conn:
        actions = [h.action for h in quality.finding_history(conn, found.id)]
        runs = conn.scalar(text("SELECT count(*) FROM quality_run"))
    assert actions == ["found", "passed", "closed", "reopened"]
    assert runs == 4
    # The scores of each run are kept: the trend of the rule reads 1 − 1/1, 0, then 1.
    with read_transaction(engine) as conn:
        card = quality.scorecard(conn)
    [row] = [r for r in card.rules if r.key == "Q-CON-ID-BIRTH"]
    assert [str(s) for _, _, s in row.trend] == ["0.0000", "0.0000", "1.0000", "0.0000"]


def test_a_findings_rescan_judges_its_object_alone(engine, ctx):
    """Re-scanning one finding runs its rule for that object only: the other finding of the rule
    is neither passed nor touched, and the run keeps no scores (the trend is of full runs)."""
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(1))
        one = accounts.open_member(conn, ctx, emp.account_no, member_payload(1))
        two = accounts.open_member(conn, ctx, emp.account_no, member_payload(2))
        for m in (one, two):
            bulk.load_legacy_member(conn, m.account_no, {"birth_date": m.birth_date - timedelta(days=9)})
    quality.scan(engine, at=DAY)
    by_object = {f.object: f for f in _birth_findings(engine)}
    assert set(by_object) == {one.account_no, two.account_no}
    with write_transaction(engine) as conn:
        accounts.correct_member_identity(
            conn, ctx, one.account_no, {"birth_date": one.birth_date}, "核对证件"
        )
        again = quality.rescan_in(conn, ctx, by_object[one.account_no].id)
        other = quality.rescan_in(conn, ctx, by_object[two.account_no].id)
    assert again.closable and not other.closable
    with read_transaction(engine) as conn:
        runs = conn.execute(text("SELECT id, scope FROM quality_run ORDER BY id")).all()
        scored = {r for (r,) in conn.execute(text("SELECT DISTINCT run_id FROM quality_score"))}
    assert [scope for _, scope in runs] == ["all", "Q-CON-ID-BIRTH#", "Q-CON-ID-BIRTH#"]
    assert scored == {runs[0][0]}
    assert {f.object for f in _birth_findings(engine) if f.passed_run_id} == {one.account_no}
