"""Co-investigation (decision 0031): a hub and two centers in one process, each on its own SQLite
file. Center A's loan and account events reach the hub's national registry through A's outbox;
center B's loan application asks the hub and is refused while A's loan is unsettled, allowed once
it is paid off; both sides log every inquiry with its purpose; the hub's tables never hold an ID
number; what the answer shows depends on the purpose; refused messages change nothing."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from hpf import bootstrap
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import loan_registry
from hpf.hub.tables import hub_inquiry, hub_metadata
from hpf.kernel import network
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.loans.application import handler as la
from hpf.loans.book import service as loans
from hpf.messages import protocol
from hpf.messages.bodies import InquiryQuery, LoanNotice, LoanPerson, LoanRegistration
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH
from hpf.schema import upgrade
from hpf.services import service as applications
from hpf.settings import Settings
from hpf.transfers import inquiry
from hpf.transfers import service as transfers
from hpf.transfers.inquiry_tables import network_inquiry
from hub_support import HUB_CODE, HUB_KEYS, InProcessHub, compose, delivery, make_hub

sys.path.insert(0, str(Path(__file__).parents[1] / "loanapp"))  # the loan application's helpers
from loanapp_support import Center, build_center, payload, submit

A_CODE, B_CODE = "330100", "440300"


def to_hub(hub: InProcessHub) -> Any:
    """A poster to the in-process hub at http://hub.test, any path (messages and inquiries)."""

    def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert url.startswith("http://hub.test/"), url
        answer = hub.client.post(url.removeprefix("http://hub.test"), json=payload)
        return answer.status_code, answer.json()

    return post


class Node:
    """A center of the test network: its database, its wiring (hub link), its people."""

    def __init__(
        self, tmp: Path, code: str, hub: InProcessHub, name: str, engine: Engine | None = None
    ) -> None:
        self.code, self.keys = code, KeyPair.generate()
        self.keys.write(tmp / f"{code}-keys.json")
        public = HUB_KEYS.public()
        settings = Settings(
            database_url=f"sqlite:///{tmp}/{code}.sqlite3", env="development", center_code=code,
            hub_url="http://hub.test", hub_code=HUB_CODE, hub_public_keys=f"{public.sign}:{public.encrypt}",
            message_key_file=str(tmp / f"{code}-keys.json"),
        )  # fmt: skip
        self.engine: Engine = engine or make_engine(settings.database_url)
        if engine is None:
            upgrade(self.engine)
        self.deps = bootstrap.build(settings, hub_post=to_hub(hub))
        hub.register(code, self.keys, f"http://{code}.test", name=name)
        self.center: Center = build_center(self.engine)  # built alone (the test's default wiring)

    @property
    def ctx(self) -> Context:
        return self.center.ctx

    def act(self) -> Node:
        """From now on this process is this center (its hub link and network lookup)."""
        bootstrap.install(self.deps)
        return self

    def deliver(self, hub: InProcessHub) -> transfers.Round:
        self.act()
        return transfers.deliver_due(self.engine, self.ctx, to_hub(hub))

    def resident_id(self, who: str) -> str:
        from hpf.accounts import queries

        with read_transaction(self.engine) as conn:
            return queries.resident_ids(conn, [self.center.members[who].id])[self.center.members[who].id]

    def inquiries(self) -> list[Any]:
        with read_transaction(self.engine) as conn:
            return list(conn.execute(select(network_inquiry).order_by(network_inquiry.c.id)).mappings())


@pytest.fixture
def net(tmp_path, engine):
    """The hub, center A (on each engine: its feed and its loans) and center B (SQLite)."""
    hub = make_hub(tmp_path)
    a = Node(tmp_path, A_CODE, hub, "杭州住房公积金管理中心", engine)
    b = Node(tmp_path, B_CODE, hub, "深圳市住房公积金管理中心")
    yield hub, a, b
    a.engine.dispose()
    b.engine.dispose()


def hub_rows(hub: InProcessHub) -> dict[str, list[dict[str, Any]]]:
    with read_transaction(hub.engine) as conn:
        return {
            name: [dict(r) for r in conn.execute(select(table)).mappings()]
            for name, table in hub_metadata.tables.items()
        }


def failed_rules(app: applications.Application) -> set[str]:
    return {r["code"] for r in app.evaluation["rules"] if not r["passed"]}


def passed_rules(app: applications.Application) -> set[str]:
    return {r["code"] for r in app.evaluation["rules"] if r["passed"]}


def lend(node: Node, bank) -> int:
    """An application for ``a`` at ``node``: submitted, approved, disbursed; the loan's id."""
    node.act()
    submitted = submit(node.center, payload(co_borrower_account_nos=""))
    assert submitted.evaluation["eligible"], submitted.evaluation
    with write_transaction(node.engine) as conn:
        approved = applications.approve(
            conn, node.ctx, node.center.people["reviewer01"], submitted.id, "核准"
        )
    from hpf.settlement import service as settlement

    assert settlement.send_reserved(node.engine, node.ctx, bank) == {"paid": 1}
    return int(approved.outputs["loan_id"])


def test_a_loan_at_a_refuses_a_new_loan_at_b_until_it_is_paid_off(net, bank):
    hub, a, b = net
    rid = a.resident_id("a")
    assert rid == b.resident_id("a")  # the same person has an account in both cities

    loan_id = lend(a, bank)
    first = a.inquiries()
    # every evaluation asks (the submission's preview, its completion, the approval and the
    # contract made in the approving transaction): nothing elsewhere yet
    assert [(q["purpose"], q["outcome"], q["persons"]) for q in first] == [("01", "answered", 1)] * 4

    done = a.deliver(hub)  # the feed: XC01 (the loan) and XC02 (A's accounts), through the outbox
    assert done.delivered == 2 and done.refused == 0
    rows = hub_rows(hub)
    loan_rows = rows["hub_loan"]
    assert [(r["center"], r["loan_ref"], r["state"], r["role"]) for r in loan_rows] == [
        (A_CODE, str(loan_id), "active", "borrower")
    ]
    assert loan_rows[0]["person"] == loan_registry.pseudonym(loan_registry.pseudonym_key(HUB_KEYS), rid)
    assert len(rows["hub_account"]) == 6 and {r["center"] for r in rows["hub_account"]} == {A_CODE}

    b.act()
    refused = submit(b.center, payload(co_borrower_account_nos=""), key="b1")
    assert failed_rules(refused) == {"loan.unsettled_elsewhere"}
    assert refused.amount_fen == 0 and not refused.evaluation["eligible"]
    (rule,) = [r for r in refused.evaluation["rules"] if r["code"] == "loan.unsettled_elsewhere"]
    assert "杭州住房公积金管理中心" in rule["title_zh"], rule

    # paid off at A: the registry is told, and B may lend
    a.act()
    a.center.clock.set(a.center.clock.today() + timedelta(days=40))
    with write_transaction(a.engine) as conn:
        loans.payoff(conn, a.ctx, loan_id, loans.PaymentSource.BANK, "payoff-1")
    assert a.deliver(hub).delivered == 1  # XC01 only: no account changed
    assert [r["state"] for r in hub_rows(hub)["hub_loan"]] == ["settled"]

    b.act()
    allowed = submit(b.center, payload(co_borrower_account_nos=""), key="b2")
    assert allowed.evaluation["eligible"] and "loan.none_elsewhere" in passed_rules(allowed)

    # both sides logged every inquiry with its purpose; the hub's log names no person
    logged_b = b.inquiries()
    assert [(q["purpose"], q["outcome"]) for q in logged_b] == [("01", "answered")] * 4
    assert [len(q["answer"]["persons"][0]["loans"]) for q in logged_b] == [1, 1, 0, 0]
    assert logged_b[0]["answer"]["persons"][0]["loans"][0]["center"] == A_CODE
    with read_transaction(hub.engine) as conn:
        log = list(conn.execute(select(hub_inquiry).order_by(hub_inquiry.c.id)).mappings())
    assert [(q["center"], q["purpose"], q["persons"], q["loans"]) for q in log] == (
        [(A_CODE, "01", 1, 0)] * 4 + [(B_CODE, "01", 1, 1)] * 2 + [(B_CODE, "01", 1, 0)] * 2
    )
    assert {str(q["message_id"]) for q in log} == {q["message_id"] for q in a.inquiries() + logged_b}

    # the hub's tables hold no ID number in clear: not in any column of any row
    numbers = {a.resident_id(k) for k in a.center.members} | {rid}
    for table, table_rows in hub_rows(hub).items():
        for row in table_rows:
            text = repr(row)
            assert not any(n in text for n in numbers), table
            if table != "hub_message":  # (sealed envelopes: base64, and 18 digits may occur)
                assert not re.search(r"\b\d{17}[\dX]\b", text), (table, row)


def test_what_an_answer_shows_depends_on_the_purpose(net, bank):
    hub, a, b = net
    loan_id = lend(a, bank)
    a.deliver(hub)
    rid = a.resident_id("a")
    b.act()
    answers = {}
    with write_transaction(b.engine) as conn:
        for purpose in ("01", "02", "03", "04"):
            answers[purpose] = inquiry.inquire(conn, b.ctx, [rid], purpose, inquiry.current().post)
    (loan01,) = answers["01"].answer[0].loans
    assert answers["01"].answer[0].accounts == ()  # a loan application learns loans only
    assert (loan01.center, loan01.state, loan01.principal_fen, loan01.contract_date) == (
        A_CODE, "active", None, a.center.clock.today()
    )  # fmt: skip
    (account02,) = answers["02"].answer[0].accounts
    assert (account02.state, account02.opened_on, account02.paid_through) == ("01", None, None)
    (account03,) = answers["03"].answer[0].accounts
    assert (account03.opened_on.isoformat(), account03.paid_through) == ("2024-01-02", "2025-02")
    (loan04,) = answers["04"].answer[0].loans
    with read_transaction(a.engine) as conn:
        assert loan04.principal_fen == loans.loan_view(conn, loan_id).principal_fen
    assert [q["purpose"] for q in b.inquiries()] == ["01", "02", "03", "04"]
    # B's own accounts are never in B's answers, and A does not see B's data unless B is fed
    a.act()
    with write_transaction(a.engine) as conn:
        mine = inquiry.inquire(conn, a.ctx, [rid], "04", inquiry.current().post)
    assert mine.answer[0].accounts == () and mine.answer[0].loans == ()


def test_refused_registry_messages_change_nothing(net):
    hub, a, b = net
    a.deliver(hub)
    before = hub_rows(hub)
    rid = a.resident_id("a")
    notice = LoanRegistration(
        loans=[LoanNotice(loan_ref="77", seq=10_000, state="active", principal_fen=1, contract_date="2025-01-01",
                          persons=[LoanPerson(resident_id=rid, role="borrower")])]
    )  # fmt: skip
    good = compose(a.keys, A_CODE, HUB_CODE, HUB_KEYS, "XC01", notice)

    def refused(payload: dict[str, Any], code: str) -> None:
        answer = hub.client.post(PATH, json=payload)
        assert answer.status_code >= 400 and answer.json()["code"] == code, answer.json()

    tampered = delivery(a.keys, A_CODE, good)
    data = tampered["envelope"]["body"]["data"]
    tampered["envelope"]["body"]["data"] = ("B" if data[0] == "A" else "A") + data[1:]
    refused(tampered, "message.bad_signature")
    refused(delivery(b.keys, A_CODE, good), "message.bad_signature")  # B posing as A
    refused(
        delivery(a.keys, A_CODE, good, at=datetime.now(UTC) - timedelta(minutes=6)), "message.outside_window"
    )
    stranger = KeyPair.generate()
    refused(delivery(stranger, "110000", compose(stranger, "110000", HUB_CODE, HUB_KEYS, "XC01", notice)),
            "message.sender_unknown")  # fmt: skip
    to_b = compose(a.keys, A_CODE, B_CODE, b.keys, "XC01", notice)  # never forwarded to a center
    refused(delivery(a.keys, A_CODE, to_b), "message.hub_only")
    question = compose(a.keys, A_CODE, HUB_CODE, HUB_KEYS, "XC03", InquiryQuery(purpose="04", persons=[rid]))
    refused(delivery(a.keys, A_CODE, question), "message.type_unhandled")  # not through the outbox path
    hub.suspend(A_CODE)
    refused(delivery(a.keys, A_CODE, good), "message.sender_suspended")
    with write_transaction(b.act().engine) as conn:  # B, active, is answered
        assert inquiry.inquire(conn, b.ctx, [rid], "01", inquiry.current().post).answered
    a.act()  # A, suspended, is refused: logged at A as failed, nothing at the hub
    with write_transaction(a.engine) as conn:
        asked = inquiry.inquire(conn, a.ctx, [rid], "01", inquiry.current().post)
    assert not asked.answered and asked.error.startswith("403 message.sender_suspended")
    after = hub_rows(hub)
    assert after["hub_loan"] == before["hub_loan"] and after["hub_account"] == before["hub_account"]
    assert [r["center"] for r in after["hub_inquiry"]] == [B_CODE]
    assert [(q["outcome"], q["answer"]) for q in a.inquiries()] == [("failed", None)]  # logged at A


def test_a_later_notice_is_never_replaced_by_an_earlier_one(net):
    hub, a, _ = net
    rid = a.resident_id("a")

    def notice(seq: int, state: str) -> dict[str, Any]:
        body = LoanRegistration(
            loans=[LoanNotice(loan_ref="9", seq=seq, state=state, principal_fen=100, contract_date="2025-01-01",
                              persons=[LoanPerson(resident_id=rid, role="borrower")])]
        )  # fmt: skip
        return delivery(a.keys, A_CODE, compose(a.keys, A_CODE, HUB_CODE, HUB_KEYS, "XC01", body))

    settled, active = notice(8, "settled"), notice(5, "active")
    assert hub.client.post(PATH, json=settled).json()["status"] == "accepted"
    assert hub.client.post(PATH, json=active).json()["status"] == "accepted"  # late, older
    assert hub.client.post(PATH, json=settled).json()["status"] == "duplicate"
    assert [(r["seq"], r["state"]) for r in hub_rows(hub)["hub_loan"]] == [(8, "settled")]


def test_a_hub_that_does_not_answer_is_a_risk_and_no_link_skips_the_check(net):
    _, a, _ = net
    # without a hub link (the default wiring of the tests): skipped, with an info finding
    bootstrap.install(bootstrap.build(Settings(database_url="sqlite://", env="development")))
    with read_transaction(a.engine) as conn:
        alone = la.decide(
            conn, a.ctx, {"id": None, "member_id": a.center.members["a"].id, "payload": payload()}
        )
    assert "loan.network_skipped" in {f.code for f in alone.verdict.findings if f.passed}
    assert alone.eligible
    # linked, but the hub is down: a risk for the reviewer, the inquiry logged as failed
    down = bootstrap.build(a.deps.settings, hub_post=lambda url, body: (0, {"code": "transport.unreachable"}))
    bootstrap.install(down)
    with write_transaction(a.engine) as conn:
        found = la.decide(
            conn, a.ctx, {"id": None, "member_id": a.center.members["a"].id, "payload": payload()}
        )
    assert [f.code for f in found.verdict.risks] == ["review.loan", "risk.network_unavailable"]
    assert [(q["purpose"], q["outcome"]) for q in a.inquiries()] == [("01", "failed")]


@pytest.mark.parametrize("reason", ["05", "01"])
def test_withdrawal_risks_from_the_network(net, reason):
    from hpf.kernel.network import AccountElsewhere, LoanElsewhere, PersonElsewhere
    from hpf.withdrawals import service as withdrawals
    from hpf.withdrawals.rules import Reason

    _, a, _ = net
    asked: list[tuple[list[str], str]] = []
    elsewhere = PersonElsewhere(
        accounts=(AccountElsewhere("440300", "深圳市住房公积金管理中心", "01"),),
        loans=(LoanElsewhere("440300", "深圳市住房公积金管理中心", "active", "borrower"),),
    )

    def lookup(conn, ctx, ids, purpose):
        asked.append((list(ids), purpose))
        return (elsewhere,)

    network.install(lookup)
    member = a.center.members["a"].id
    with read_transaction(a.engine) as conn:
        risks = withdrawals.network_risks(conn, a.ctx, member, Reason(reason))
        quiet = withdrawals.network_risks(conn, a.ctx, member, Reason.RETIREMENT)  # matters not: no ask
    expected = {"05": ["risk.account_elsewhere"], "01": ["risk.loan_elsewhere"]}[reason]
    assert [r.code for r in risks] == expected and quiet == ()
    assert asked == [([a.resident_id("a")], "02")]


def test_the_inquiry_is_answered_once_for_a_retried_question(net):
    hub, a, _ = net
    a.deliver(hub)
    rid = a.resident_id("a")
    question = compose(a.keys, A_CODE, HUB_CODE, HUB_KEYS, "XC03", InquiryQuery(purpose="04", persons=[rid]))
    first = hub.client.post("/api/v1/hub/inquiries", json=delivery(a.keys, A_CODE, question))
    again = hub.client.post("/api/v1/hub/inquiries", json=delivery(a.keys, A_CODE, question))
    assert first.status_code == again.status_code == 200
    one, two = protocol.parse_delivery(first.json()), protocol.parse_delivery(again.json())
    assert one.envelope == two.envelope and one.envelope.reply_to == question.message_id
    assert len(hub_rows(hub)["hub_inquiry"]) == 1
    body = protocol.open_body(one.envelope, a.keys)
    assert body.persons[0].accounts == [] and body.persons[0].loans == []  # A's own: not told


def test_center_clock_is_not_the_window(net):
    """The window is the wall clock's: a center whose business date is years back still asks."""
    _, a, _ = net
    a.act()
    a.center.clock.set(a.center.clock.today().replace(year=2020))
    clock = FixedClock(a.center.clock.today())
    ctx = Context(actor="teller01", clock=clock, center_code=A_CODE, source="test")
    with write_transaction(a.engine) as conn:
        asked = inquiry.inquire(conn, ctx, [a.resident_id("a")], "01", inquiry.current().post)
    assert asked.answered, asked.error


def test_hpf_transfers_inquire_prints_the_answer_and_logs_it(net, bank, monkeypatch):
    from typer.testing import CliRunner

    from hpf.cli import app as hpf_cli
    from hpf.messages import transport

    hub, a, b = net
    lend(a, bank)
    a.deliver(hub)
    public = HUB_KEYS.public()
    env = {
        "HPF_DATABASE_URL": str(b.engine.url), "HPF_ENV": "development", "HPF_CENTER_CODE": B_CODE,
        "HPF_HUB_URL": "http://hub.test", "HPF_HUB_PUBLIC_KEYS": f"{public.sign}:{public.encrypt}",
        "HPF_MESSAGE_KEY_FILE": str(Path(str(b.engine.url.database)).parent / f"{B_CODE}-keys.json"),
    }  # fmt: skip
    monkeypatch.setattr(transport, "http_poster", lambda timeout=10.0: to_hub(hub))
    runner = CliRunner()
    rid = a.resident_id("a")
    args = ["transfers", "inquire", "--id-number", rid, "--purpose", "staff", "--asked-by", "teller07"]
    done = runner.invoke(hpf_cli, args, env=env)
    assert done.exit_code == 0, done.output
    assert (
        "人工查询" in done.output
        and "杭州住房公积金管理中心" in done.output
        and "未结清（借款人）" in done.output
    )
    assert "账户\t330100" in done.output and "缴至 2025-02" in done.output
    (logged,) = b.inquiries()
    assert (logged["purpose"], logged["asked_by"], logged["outcome"]) == ("04", "teller07", "answered")
    bad = runner.invoke(hpf_cli, ["transfers", "inquire", "--id-number", rid, "--purpose", "09"], env=env)
    assert bad.exit_code == 2 and "network.invalid_purpose" in bad.output
    wrong = runner.invoke(hpf_cli, ["transfers", "inquire", "--id-number", "123", "--purpose", "01"], env=env)
    assert wrong.exit_code == 2 and "resident_id" in wrong.output
    assert len(b.inquiries()) == 1  # refused before asking: nothing logged
    hub.suspend(B_CODE)
    down = runner.invoke(hpf_cli, ["transfers", "inquire", "--id-number", rid, "--purpose", "01"], env=env)
    assert down.exit_code == 1 and "message.sender_suspended" in down.output
    assert [q["outcome"] for q in b.inquiries()] == ["answered", "failed"]


def test_the_staff_page_asks_and_lists_past_inquiries(net, bank, sign_in):
    from fastapi.testclient import TestClient

    from hpf.access.permissions import Role
    from hpf.app import create_app

    hub, a, b = net
    lend(a, bank)
    a.deliver(hub)
    rid = a.resident_id("a")
    app = create_app(
        b.deps.settings, engine=b.engine, clock=b.center.clock, hub_post=to_hub(hub), deliver_messages=False
    )
    with TestClient(app) as client:
        sign_in(client, login="teller07", roles=[Role.TELLER], session=True)
        empty = client.get("/transfers/inquiries")
        assert empty.status_code == 200 and "还没有查询" in empty.text and "not-linked" not in empty.text
        asked = client.post("/transfers/inquiries", data={"id_number": rid, "purpose": "04"})
        assert asked.status_code == 200, asked.text
        assert "杭州住房公积金管理中心" in asked.text and 'id="loans-elsewhere"' in asked.text
        assert "还款中" in asked.text and "借款人" in asked.text and "2025-02" in asked.text
        assert "inquiry-history" in asked.text and "人工查询（缴存使用证明）" in asked.text
        assert rid not in client.get("/transfers/inquiries").text  # the log never shows the number
        bad = client.post("/transfers/inquiries", data={"id_number": "123", "purpose": "04"})
        assert bad.status_code == 422 and bad.headers["X-HPF-Error"].startswith("resident_id")
        wrong = client.post("/transfers/inquiries", data={"id_number": rid, "purpose": "09"})
        assert wrong.headers["X-HPF-Error"] == "network.invalid_purpose"
    (logged,) = b.inquiries()
    assert (logged["asked_by"], logged["purpose"]) == ("teller07", "04")
    with TestClient(app) as client:  # an auditor reads the log but does not ask
        sign_in(client, login="audit1", roles=[Role.AUDITOR], session=True)
        assert client.get("/transfers/inquiries").status_code == 200  # staff read
        refused = client.post("/transfers/inquiries", data={"id_number": rid, "purpose": "04"})
        assert refused.status_code == 403
    # the hub's admin page shows the inquiry log: who asked, for what, when — no personal data
    with write_transaction(hub.engine) as conn:
        from hpf.hub import staff
        from hpf.identity.passwords import FAST_FOR_TESTS, Passwords

        staff.add_staff(
            conn, login="ops", name="平台值班员", password="Relay-Desk-2026-安全",
            passwords=Passwords(FAST_FOR_TESTS), now=datetime.now(UTC),
        )  # fmt: skip
    page = hub.client.post("/login", data={"login": "ops", "password": "Relay-Desk-2026-安全"})
    assert page.status_code == 200 and 'id="inquiry-table"' in page.text
    assert page.text.count("人工查询（缴存使用证明）") >= 1 and B_CODE in page.text
    assert rid not in page.text and 'id="registry-unsettled">1<' in page.text


def test_a_posted_month_moves_paid_through_at_the_hub(net):
    from loanapp_support import remit

    from hpf.accounts import queries
    from hpf.accounts import service as accounts

    hub, a, _ = net
    assert a.deliver(hub).delivered == 1  # XC02: the six accounts (no loan yet)
    member = a.center.members["a"]

    def paid_through() -> dict[str, str | None]:
        return {r["account_ref"]: r["paid_through"] for r in hub_rows(hub)["hub_account"]}

    assert paid_through()[str(member.id)] == "2025-02"
    with write_transaction(a.engine) as conn:
        ref = queries.employer_ref(conn, member.employer_id)
        employer = accounts.get_employer(conn, ref.account_no)
        remit(conn, a.ctx, employer, [member], ["2025-03"])
    assert a.deliver(hub).delivered == 1
    after = paid_through()
    assert after[str(member.id)] == "2025-03"
    assert after[str(a.center.members["c"].id)] == "2025-02"  # not on the list: unchanged


def test_where_policy_lets_it_an_unsettled_loan_elsewhere_is_a_risk_not_a_refusal(net, bank):
    from hpf.policy import service as policy

    hub, a, b = net
    lend(a, bank)
    a.deliver(hub)
    b.act()
    with write_transaction(b.engine) as conn:  # B's board: judge case by case (否), from today
        policy.schedule_change(
            conn, b.ctx, "loan.refuse_unsettled_elsewhere", b.center.clock.today(), "否", "委员会决议"
        )
    submitted = submit(b.center, payload(co_borrower_account_nos=""), key="b1")
    assert failed_rules(submitted) == set() and submitted.evaluation["eligible"]
    flags = [f["code"] for f in submitted.evaluation["risk_flags"]]
    assert flags == ["review.loan", "risk.unsettled_elsewhere"]


def test_an_answer_that_leaves_a_person_out_is_not_taken(net):
    """A hub (or a forger with its key) answering "nothing" by omitting the person would let a
    loan through: the center takes only an answer for each person asked about, once."""
    from hpf.messages.bodies import InquiryAnswer, PersonAnswer

    _, a, _ = net
    a.act()

    def answering(persons: list[PersonAnswer]) -> Any:
        def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            question = protocol.parse_delivery(payload).envelope
            reply = compose(
                HUB_KEYS, HUB_CODE, A_CODE, a.keys, "XC03", InquiryAnswer(purpose="01", persons=persons),
                reply_to=question.message_id,
            )  # fmt: skip
            return 200, delivery(HUB_KEYS, HUB_CODE, reply)

        return post

    rid = a.resident_id("a")
    empty = PersonAnswer(index=0, accounts=[], loans=[])
    with write_transaction(a.engine) as conn:
        none = inquiry.inquire(conn, a.ctx, [rid], "01", answering([]))
        twice = inquiry.inquire(conn, a.ctx, [rid], "01", answering([empty, empty]))
        good = inquiry.inquire(conn, a.ctx, [rid], "01", answering([empty]))
    assert not none.answered and none.error.startswith("message.malformed")
    assert not twice.answered and good.answered and good.answer[0].loans == ()
    assert [q["outcome"] for q in a.inquiries()] == ["failed", "failed", "answered"]
