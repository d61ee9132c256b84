"""A case from a finding to its conclusion: one case per rule and object across runs; every step
leaves its row, its audit-log row and its business event; the state machine refuses the rest."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from hpf.audit.trail import audit_log, verify
from hpf.db.engine import read_transaction, write_transaction
from hpf.events import events_of
from hpf.inspection import service
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from hpf.sim.defects.audit import PLANTERS
from inspection_city import TODAY

AUDITOR = Context("auditor01", FixedClock(TODAY), "990001", source="api")


def plant(engine, kind: str, count: int = 1) -> list[str]:
    with write_transaction(engine) as conn:
        return [p.object for p in PLANTERS[kind](conn, random.Random(5), count, TODAY)]


def test_a_finding_opens_one_case_that_later_runs_keep(city):
    (employer,) = plant(city, "A-RATE-OVER-CAP")
    first = service.scan(city, at=TODAY)
    assert [(f.rule, f.object) for f in first.findings] == [("A-RATE-OVER-CAP", employer)]
    assert first.new_cases == 1 and first.by_rule["A-RATE-OVER-CAP"] == 1
    case_id = first.findings[0].case_id
    second = service.scan(city, at=TODAY)
    assert second.new_cases == 0 and second.findings[0].case_id == case_id
    (member,) = plant(city, "A-BASE-UNDER-FLOOR")
    third = service.scan(city, at=TODAY)
    assert third.new_cases == 1 and len(third.findings) == 2
    with read_transaction(city) as conn:
        detail = service.case_detail(conn, case_id)
        assert detail.case.state == "open" and detail.still_found
        assert detail.facts["employer_rate_limit"] == "0.12" and [s.step for s in detail.steps] == ["opened"]
        assert [e.type for e in events_of(conn, "inspection_case", case_id)] == ["inspection_case.opened"]
        listed = service.list_cases(conn, state="open")
        assert {(c.rule, c.object) for c in listed} == {
            ("A-RATE-OVER-CAP", employer),
            ("A-BASE-UNDER-FLOOR", member),
        }
        counts = {c.rule: c for c in service.counts_by_rule(conn)}
        assert counts["A-RATE-OVER-CAP"].open == 1 and counts["A-BASE-UNDER-FLOOR"].open == 1
        assert counts["A-SAME-CONTRACT"].open == 0


def test_assign_investigate_and_confirm_with_the_money_to_recover(city):
    plant(city, "A-RATE-OVER-CAP")
    case_id = service.scan(city, at=TODAY).findings[0].case_id
    with write_transaction(city) as conn:
        service.assign(conn, AUDITOR, case_id, "Auditor02", role="auditor")
        service.note(conn, AUDITOR, case_id, "调阅单位缴存比例审批表：无批准文件。", role="auditor")
        service.confirm(
            conn, AUDITOR, case_id, 123_456, "比例超限，责令调整并退还多缴部分。", role="auditor", version=3
        )
    with read_transaction(city) as conn:
        detail = service.case_detail(conn, case_id)
        assert detail.case.state == "confirmed" and detail.case.assignee == "auditor02"
        assert detail.case.recover_fen == 123_456 and detail.concluded_on == TODAY
        assert [s.step for s in detail.steps] == ["opened", "assigned", "noted", "confirmed"]
        assert [s.actor for s in detail.steps][1:] == ["auditor01"] * 3
        assert detail.steps[3].amount_fen == 123_456
        events = events_of(conn, "inspection_case", case_id)
        assert [e.type for e in events] == [
            "inspection_case.opened", "inspection_case.assigned", "inspection_case.noted", "inspection_case.confirmed",
        ]  # fmt: skip
        assert events[-1].payload == {"rule": "A-RATE-OVER-CAP", "object": detail.case.object, "state": "confirmed",
                                      "recover_fen": 123_456}  # fmt: skip
        audited = conn.execute(
            select(audit_log.c.action, audit_log.c.actor, audit_log.c.role)
            .where(audit_log.c.object_type == "inspection_case", audit_log.c.object_id == str(case_id))
            .order_by(audit_log.c.id)
        ).all()
        assert [tuple(r) for r in audited] == [
            ("inspection.case.opened", "inspection", "system"),
            ("inspection.case.assigned", "auditor01", "auditor"),
            ("inspection.case.noted", "auditor01", "auditor"),
            ("inspection.case.confirmed", "auditor01", "auditor"),
        ]
        assert verify(conn) == []  # the chain holds
    service.scan(city, at=TODAY)  # found again: the same case, still concluded
    with read_transaction(city) as conn:
        assert service.case_detail(conn, case_id).case.state == "confirmed"
        assert service.list_cases(conn, state="concluded")[0].id == case_id


def test_clear_with_a_reason_and_the_refusals_of_the_state_machine(city):
    plant(city, "A-RATE-UNDER-FLOOR")
    case_id = service.scan(city, at=TODAY).findings[0].case_id
    with write_transaction(city) as conn:
        with pytest.raises(IllegalTransition) as refused:  # not assigned yet
            service.note(conn, AUDITOR, case_id, "先记录", role="auditor")
        assert refused.value.code == "inspection.case_state"
        with pytest.raises(IllegalTransition):
            service.clear(conn, AUDITOR, case_id, "无", role="auditor")
        service.assign(conn, AUDITOR, case_id, "auditor01", role="auditor")
        with pytest.raises(InvalidInput) as blank:
            service.clear(conn, AUDITOR, case_id, "   ", role="auditor")
        assert blank.value.extra["field"] == "reason"
        with pytest.raises(InvalidInput) as negative:
            service.confirm(conn, AUDITOR, case_id, -1, "追回", role="auditor")
        assert negative.value.code == "inspection.recover_fen"
        with pytest.raises(InvalidInput):
            service.confirm(conn, AUDITOR, case_id, 12.5, "追回", role="auditor")  # fen are integers
        with pytest.raises(Conflict) as stale:
            service.clear(conn, AUDITOR, case_id, "经批准降低比例", role="auditor", version=1)
        assert stale.value.code == "inspection.case_changed"
        service.clear(
            conn, AUDITOR, case_id, "单位经管委会批准降低缴存比例（困难企业）。", role="auditor", version=2
        )
        with pytest.raises(IllegalTransition):  # concluded: no more steps
            service.assign(conn, AUDITOR, case_id, "auditor02", role="auditor")
        with pytest.raises(NotFound):
            service.assign(conn, AUDITOR, 999_999, "auditor02", role="auditor")
    with read_transaction(city) as conn:
        detail = service.case_detail(conn, case_id)
        assert detail.case.state == "cleared" and detail.case.recover_fen is None
        assert detail.conclusion == "单位经管委会批准降低缴存比例（困难企业）。"
        assert [s.step for s in detail.steps] == ["opened", "assigned", "cleared"]
