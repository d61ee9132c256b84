"""Supervision across the network (decision 0040): a hub and two real centers in one process,
each on its own SQLite file; the hub's deliveries reach the centers' own message receiver.

- F3: a person listed by center A (fraud) is refused a loan at center B, during an appeal too,
  and may borrow once A removes the entry; the national list reaches both centers, employers by
  USCC and persons without any identifier; no hub row holds an ID number.
- F2: a center whose month crosses a warning line gets the problem within the same reporting
  run; the whole life — dispatched, accepted, submitted with evidence, sent back, submitted
  again, reviewed, verified by another supervisor, closed — and overdue, on both sides.
- F1: scores and classes per center, tiers by province, each supervisor seeing only their scope.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from test_coinvestigation import A_CODE, B_CODE, Node, failed_rules, hub_rows, passed_rules, payload, submit

from hpf.db.engine import read_transaction, write_transaction
from hpf.hub import loan_registry
from hpf.hub.staff import add_staff
from hpf.hub.supervision import inputs, problems, run
from hpf.hub.supervision.scope import supervisor_of
from hpf.hub.supervision.tables import hub_credit_entry, hub_problem, hub_problem_step
from hpf.hub.tables import hub_center
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.errors import HpfError
from hpf.messages.bodies import ProblemReport
from hpf.messages.transport import PATH
from hpf.oversight import service as supervision
from hpf.transfers import service as transfers
from hub_support import HUB_CODE, HUB_KEYS, compose, delivery, make_hub

LOAN, OVERDUE, DEPOSIT, USE = "0302020301", "0302020401", "0301020101", "0301020501"
PASSWORD = "Hub-Supervisor-2026!"


class Network:
    def __init__(self, tmp_path) -> None:
        self.nodes: dict[str, Node] = {}
        self.hub = make_hub(tmp_path, post=self.to_center)
        self.a = Node(tmp_path, A_CODE, self.hub, "杭州住房公积金管理中心")
        self.b = Node(tmp_path, B_CODE, self.hub, "深圳市住房公积金管理中心")
        self.nodes = {A_CODE: self.a, B_CODE: self.b}
        with write_transaction(self.hub.engine) as conn:  # B is in another province
            conn.execute(update(hub_center).where(hub_center.c.code == B_CODE).values(province="广东"))
            for login, scope in (("sup1", "nation"), ("sup2", "nation"), ("gd1", "广东"), ("zj1", "浙江")):
                add_staff(conn, login=login, name=login, password=PASSWORD, passwords=Passwords(FAST_FOR_TESTS),
                          now=datetime.now(UTC), role="supervisor", scope=scope)  # fmt: skip

    def to_center(self, url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The hub's poster: a delivery to http://<code>.test is taken by that center's receiver."""
        match = re.fullmatch(r"http://(\d{6})\.test" + re.escape(PATH), url)
        if match is None or match.group(1) not in self.nodes:
            return 0, {}
        node = self.nodes[match.group(1)].act()
        try:
            with write_transaction(node.engine) as conn:
                return 200, transfers.receive(conn, node.ctx, payload, datetime.now(UTC)).as_json()
        except HpfError as exc:
            return exc.status, {"code": exc.code, "detail": exc.detail}

    def round(self) -> None:
        """Everyone sends what waits: A, B, then the hub."""
        self.a.deliver(self.hub)
        self.b.deliver(self.hub)
        self.hub.deliver()

    def who(self, login: str):  # type: ignore[no-untyped-def]
        with read_transaction(self.hub.engine) as conn:
            return supervisor_of(conn, login)


@pytest.fixture
def net(tmp_path):
    network = Network(tmp_path)
    yield network
    network.a.engine.dispose()
    network.b.engine.dispose()


# -- F3 ------------------------------------------------------------------------------------


def test_a_person_listed_at_a_is_refused_a_loan_at_b_until_removed(net):
    a, b = net.a, net.b
    rid = a.resident_id("a")
    a.act()
    with write_transaction(a.engine) as conn:
        listing = supervision.list_entry(
            conn, a.ctx, grounds="P1", note="伪造购房合同骗提", member_id=a.center.members["a"].id
        )
        employer = supervision.list_entry(
            conn, a.ctx, grounds="E1", note="连续欠缴9个月", employer_id=a.center.members["a"].employer_id
        )
    net.round()
    with read_transaction(net.hub.engine) as conn:
        held = list(conn.execute(select(hub_credit_entry).order_by(hub_credit_entry.c.entry_ref)).mappings())
    assert [(r["center"], r["entry_ref"], r["kind"], r["state"]) for r in held] == [
        (A_CODE, str(listing), "person", "listed"),
        (A_CODE, str(employer), "employer", "listed"),
    ]
    assert held[0]["person"] == loan_registry.pseudonym(loan_registry.pseudonym_key(HUB_KEYS), rid)
    assert held[0]["until"] == date(2030, 3, 14)  # P1: five years from the listing day 2025-03-14
    # the national list reached both centers: the employer by USCC, the person without identifier
    for node in (a, b):
        with read_transaction(node.engine) as conn:
            national = supervision.national(conn)
        assert sorted((n.kind, n.uscc is not None) for n in national) == [
            ("employer", True),
            ("person", False),
        ]
    with read_transaction(b.engine) as conn:
        uscc = next(n.uscc for n in supervision.national(conn) if n.kind == "employer")
        assert [n.center for n in supervision.employer_listed(conn, uscc, date(2025, 3, 14))] == [A_CODE]
        assert supervision.employer_listed(conn, uscc, date(2028, 3, 15)) == []  # after the period

    b.act()
    refused = submit(b.center, payload(co_borrower_account_nos=""), key="b1")
    assert failed_rules(refused) == {"loan.credit_listed"} and refused.amount_fen == 0
    (rule,) = [r for r in refused.evaluation["rules"] if r["code"] == "loan.credit_listed"]
    assert "杭州住房公积金管理中心" in rule["title_zh"] and "2030-03-14" in rule["title_zh"]

    # an appeal keeps the restriction until decided; granted, the entry leaves the list
    a.act()
    with write_transaction(a.engine) as conn:
        supervision.appeal(conn, a.ctx, listing, "合同系中介伪造，本人不知情")
    net.round()
    b.act()
    assert failed_rules(submit(b.center, payload(co_borrower_account_nos=""), key="b2")) == {
        "loan.credit_listed"
    }
    a.act()
    with write_transaction(a.engine) as conn:
        supervision.decide_appeal(conn, a.ctx, listing, granted=True, note="经复核申诉成立")
        with pytest.raises(HpfError) as twice:
            supervision.appeal(conn, a.ctx, listing, "再次申诉")
        assert twice.value.code == "supervision.listing_state"
    net.round()
    with read_transaction(net.hub.engine) as conn:
        assert conn.scalar(
            select(hub_credit_entry.c.state).where(hub_credit_entry.c.entry_ref == str(listing))
        ) == ("removed")
    with read_transaction(b.engine) as conn:
        assert [n.kind for n in supervision.national(conn)] == ["employer"]
    b.act()
    allowed = submit(b.center, payload(co_borrower_account_nos=""), key="b3")
    assert allowed.evaluation["eligible"] and "loan.credit_listed" not in failed_rules(allowed)
    assert "loan.none_elsewhere" in passed_rules(allowed)

    # no hub table holds an ID number
    numbers = {a.resident_id(k) for k in a.center.members}
    for table, rows in hub_rows(net.hub).items():
        for row in rows:
            assert not any(n in repr(row) for n in numbers), table


def test_a_listing_is_only_under_a_ground_of_the_policy_and_for_its_kind(net):
    a = net.a.act()
    with write_transaction(a.engine) as conn:
        for kw, code in (
            ({"grounds": "X9", "member_id": a.center.members["a"].id}, "supervision.grounds_unknown"),
            ({"grounds": "E1", "member_id": a.center.members["a"].id}, "supervision.subject_mismatch"),
            (
                {"grounds": "P1", "member_id": a.center.members["a"].id, "note": " "},
                "supervision.note_required",
            ),
        ):
            with pytest.raises(HpfError) as refused:
                supervision.list_entry(conn, a.ctx, **{"note": "事实", **kw})
            assert refused.value.code == code


# -- F1 and F2 ----------------------------------------------------------------------------


def report(net: Network, month: str, figures: dict[str, dict[str, str]]) -> run.RunSummary:
    """The month's values reported (the warehouse's seam) and the reporting run, in one go."""
    now = datetime.now(UTC)
    with write_transaction(net.hub.engine) as conn:
        for center, values in figures.items():
            inputs.record_values(conn, center, month, {k: Decimal(v) for k, v in values.items()}, now)
        return run.reporting_run(conn, net.hub.app.state.hub, month, today=date(2025, 4, 1), now=now)


GOOD = {LOAN: "78", OVERDUE: "0.02", DEPOSIT: "95", USE: "90"}


def center_problems(node: Node) -> list[supervision.Problem]:
    with read_transaction(node.engine) as conn:
        return supervision.problems(conn)


def hub_steps(net: Network, problem_id: int) -> list[tuple[str, str, str]]:
    with read_transaction(net.hub.engine) as conn:
        s = hub_problem_step.c
        return [
            (r.step, r.state, r.actor)
            for r in conn.execute(
                select(s.step, s.state, s.actor).where(s.problem_id == problem_id).order_by(s.id)
            )
        ]


def test_the_full_problem_life_with_sending_back_and_overdue(net):
    a, b = net.a, net.b
    report(net, "2025-02", {A_CODE: {**GOOD, OVERDUE: "0.03"}, B_CODE: GOOD})
    summary = report(
        net, "2025-03", {A_CODE: {LOAN: "86.5", OVERDUE: "0.05", DEPOSIT: "92", USE: "88"}, B_CODE: GOOD}
    )
    # A: 个贷率 beyond its line 0 + 逾期率 in its band 15 + 20 + 20 = 55 → D; B: 100 → A
    assert summary.classified == {A_CODE: "D", B_CODE: "A"}
    assert len(summary.problems) == 2  # 个贷率 over 85, 逾期率 up 0.02 points: raised and dispatched
    net.round()  # the same reporting run's SUP201s reach A
    at_a = center_problems(a)
    assert sorted(p.rule for p in at_a) == ["M-LOAN-RATIO", "M-OVERDUE-RISING"]
    assert {p.state for p in at_a} == {"dispatched"} and center_problems(b) == []
    deadline = date(2025, 4, 29)  # 20 working days after 2025-04-01 (Qingming 4 April a holiday)
    assert {p.deadline for p in at_a} == {deadline}
    ratio = next(p for p in at_a if p.rule == "M-LOAN-RATIO")
    rising = next(p for p in at_a if p.rule == "M-OVERDUE-RISING")

    # scope: the 广东 supervisor sees B only and cannot act on A's problem
    gd, sup1, sup2 = net.who("gd1"), net.who("sup1"), net.who("sup2")
    with read_transaction(net.hub.engine) as conn:
        assert [c.center for c in run.classes(conn, gd, "2025-03")] == [B_CODE]
        assert [c.center for c in run.classes(conn, sup1, "2025-03")] == [B_CODE, A_CODE]  # best first
        assert run.tiers(conn, sup1, "2025-03") == {"广东": {"A": 1}, "浙江": {"D": 1}}
        assert problems.problems(conn, gd) == []
        (a_class,) = list(run.classes(conn, net.who("zj1"), "2025-03"))
        assert [d["indicator"] for d in a_class.deciding] == [LOAN, OVERDUE]

    # A accepts and submits with evidence
    a.act()
    with write_transaction(a.engine) as conn:
        with pytest.raises(HpfError) as early:  # not accepted yet
            supervision.submit(conn, a.ctx, ratio.id, "已整改", [("说明.pdf", b"%PDF")])
        assert early.value.code == "supervision.problem_state"
        supervision.accept(conn, a.ctx, ratio.id, "已收到")
        supervision.submit(
            conn, a.ctx, ratio.id, "暂停异地贷款受理，个贷率回落", [("整改报告.pdf", b"%PDF-1 report")]
        )
    net.round()
    hub_id = ratio.hub_ref
    with read_transaction(net.hub.engine) as conn:
        found, steps = problems.problem(conn, sup1, hub_id)
    assert found.state == "submitted"
    assert steps[-1].evidence == [
        {"name": "整改报告.pdf", "sha256": hashlib.sha256(b"%PDF-1 report").hexdigest()}
    ]

    now = datetime.now(UTC)
    with write_transaction(net.hub.engine) as conn:
        with pytest.raises(HpfError) as outside:
            problems.review(conn, net.hub.app.state.hub, hub_id, gd, passed=True, note="", now=now)
        assert outside.value.code == "supervision.out_of_scope"
    with write_transaction(net.hub.engine) as conn:  # sent back with a reason
        problems.review(
            conn, net.hub.app.state.hub, hub_id, sup1, passed=False, note="缺少资金流动性测算", now=now
        )
    net.round()
    with read_transaction(a.engine) as conn:
        back, center_steps = supervision.problem(conn, ratio.id)
    assert back.state == "rectifying" and center_steps[-1].step == "sent_back"
    assert center_steps[-1].note == "缺少资金流动性测算"

    a.act()
    with write_transaction(a.engine) as conn:
        supervision.submit(conn, a.ctx, ratio.id, "补充流动性测算", [("测算表.xlsx", b"PK\x03\x04 sheet")])
    net.round()
    with write_transaction(net.hub.engine) as conn:
        assert problems.review(
            conn, net.hub.app.state.hub, hub_id, sup1, passed=True, note="材料齐全", now=now
        ) == ("reviewed")
    with write_transaction(net.hub.engine) as conn:
        with pytest.raises(HpfError) as same:
            problems.verify(conn, net.hub.app.state.hub, hub_id, sup1, note="", now=now)
        assert same.value.code == "supervision.same_person"
    with write_transaction(net.hub.engine) as conn:
        assert (
            problems.verify(conn, net.hub.app.state.hub, hub_id, sup2, note="核验通过，销号", now=now)
            == "closed"
        )
    net.round()
    with read_transaction(a.engine) as conn:
        closed, center_steps = supervision.problem(conn, ratio.id)
    assert closed.state == "closed"
    assert [s.step for s in center_steps] == [
        "dispatched", "accepted", "submitted", "sent_back", "submitted", "closed",
    ]  # fmt: skip
    assert hub_steps(net, hub_id) == [
        ("found", "found", "system"),
        ("dispatched", "dispatched", "system"),
        ("accepted", "rectifying", A_CODE),
        ("submitted", "submitted", A_CODE),
        ("sent_back", "rectifying", "sup1"),
        ("submitted", "submitted", A_CODE),
        ("reviewed", "reviewed", "sup1"),
        ("closed", "closed", "sup2"),
    ]

    # overdue: the other problem was never answered; flagged once, the day after its deadline
    with write_transaction(net.hub.engine) as conn:
        assert problems.flag_overdue(conn, net.hub.app.state.hub, deadline, now) == []
        assert problems.flag_overdue(conn, net.hub.app.state.hub, date(2025, 4, 30), now) == [rising.hub_ref]
        assert problems.flag_overdue(conn, net.hub.app.state.hub, date(2025, 5, 30), now) == []
    net.round()
    with read_transaction(a.engine) as conn:
        late, center_steps = supervision.problem(conn, rising.id)
    assert late.overdue and late.state == "dispatched" and center_steps[-1].step == "overdue"
    with read_transaction(net.hub.engine) as conn:
        flagged = conn.execute(
            select(hub_problem.c.overdue_on).where(hub_problem.c.id == rising.hub_ref)
        ).scalar()
        assert flagged == date(2025, 4, 30)
        assert problems.problems(conn, sup1, open_only=True)[0].overdue(date(2025, 4, 30))

    # the same run again (a restated month) raises nothing new
    again = report(net, "2025-03", {A_CODE: {LOAN: "86.5", OVERDUE: "0.05", DEPOSIT: "92", USE: "88"}})
    assert again.problems == [] and again.classified == {A_CODE: "D", B_CODE: "A"}


def test_a_center_reports_only_on_its_own_problems(net):
    report(net, "2025-02", {A_CODE: GOOD})
    summary = report(net, "2025-03", {A_CODE: {**GOOD, LOAN: "90"}})
    (problem_id,) = summary.problems
    b = net.b
    body = ProblemReport(problem_ref=problem_id, step="accepted")
    answer = net.hub.client.post(
        PATH, json=delivery(b.keys, B_CODE, compose(b.keys, B_CODE, HUB_CODE, HUB_KEYS, "SUP202", body))
    )
    assert answer.status_code == 409 and answer.json()["code"] == "supervision.problem_not_yours"
    with read_transaction(net.hub.engine) as conn:
        assert conn.scalar(select(hub_problem.c.state).where(hub_problem.c.id == problem_id)) == "dispatched"


def test_a_centers_overdue_transfer_reaches_the_hub_and_raises_a_problem_in_the_run(net):
    from hpf.transfers.tables import transfer

    a = net.a.act()
    with write_transaction(a.engine) as conn:  # a transfer-out received 2025-02-10, due 2025-02-24
        conn.execute(
            transfer.insert().values(
                letter_no="4403002502100001", side="out", peer=B_CODE, state="received",
                started_on=date(2025, 2, 10), due_on=date(2025, 2, 24), updated_at=datetime.now(UTC),
            )
        )  # fmt: skip
        conn.execute(
            transfer.insert().values(
                letter_no="4403002503100002", side="out", peer=B_CODE, state="received",
                started_on=date(2025, 3, 10), due_on=date(2025, 3, 24), updated_at=datetime.now(UTC),
            )
        )  # fmt: skip
        assert supervision.report_events(conn, a.ctx, "2025-03") == 1  # today 2025-03-14: one is late
    net.round()
    summary = report(net, "2025-03", {A_CODE: GOOD})
    (problem_id,) = summary.problems
    with read_transaction(net.hub.engine) as conn:
        row = conn.execute(select(hub_problem).where(hub_problem.c.id == problem_id)).one()
    assert (row.center, row.rule, row.subject, row.state) == (
        A_CODE,
        "M-TRANSFER-OVERDUE",
        "4403002502100001",
        "dispatched",
    )
    net.round()
    (at_a,) = center_problems(a)
    assert at_a.indicator is None and "4403002502100001" in at_a.detail_zh
    a.act()
    with write_transaction(a.engine) as conn:  # sent again: the hub keeps it once, no new problem
        assert supervision.report_events(conn, a.ctx, "2025-03") == 1
    net.round()
    assert report(net, "2025-03", {A_CODE: GOOD}).problems == []


def test_a_listed_employers_list_waits_for_a_stricter_review(net):
    from loanapp_support import remit

    from hpf.accounts import queries as accounts_queries
    from hpf.accounts import service as accounts
    from hpf.contributions import service as contributions
    from hpf.kernel.context import Context

    a = net.a.act()
    member = a.center.members["a"]
    with write_transaction(a.engine) as conn:
        employer = accounts.get_employer(
            conn, accounts_queries.employer_ref(conn, member.employer_id).account_no
        )
        remit(conn, a.ctx, employer, [member], ["2025-03"])  # before the listing: no review
        supervision.list_entry(conn, a.ctx, grounds="E1", note="连续欠缴9个月", employer_id=employer.id)
    net.round()  # the national list, with the employer, back at A
    a.act()
    with write_transaction(a.engine) as conn:
        assert supervision.reviews(conn) == []
        with pytest.raises(HpfError) as held:  # the list is held: its allocation is refused
            remit(conn, a.ctx, accounts.get_employer(conn, employer.account_no), [member], ["2025-04"])
        assert held.value.code == "remittance.held_for_review"
        (review,) = supervision.reviews(conn)
        assert (review.employer_id, review.month, review.listed_by, review.state) == (
            employer.id, "2025-04", A_CODE, "pending",
        )  # fmt: skip
        assert contributions.get_remittance(conn, review.remittance_id).held
        checker = Context(actor="reviewer01", clock=a.ctx.clock, center_code=A_CODE, source="test")
        with pytest.raises(HpfError) as why:
            supervision.review_list(conn, checker, review.id, passed=False, note=" ")
        assert why.value.code == "supervision.note_required"
        with pytest.raises(HpfError) as maker:
            supervision.review_list(conn, a.ctx, review.id, passed=False, note="缴存基数与工资表不符")
        assert maker.value.code == "supervision.same_person"
        supervision.review_list(conn, checker, review.id, passed=False, note="缴存基数与工资表不符")
        with pytest.raises(HpfError) as twice:
            supervision.review_list(conn, checker, review.id, passed=True, note="")
        assert twice.value.code == "supervision.review_state"
        (done,) = supervision.reviews(conn)
        assert contributions.get_remittance(conn, review.remittance_id).state == "cancelled"
    assert (done.state, done.note, done.reviewed_by) == ("questioned", "缴存基数与工资表不符", "reviewer01")
