"""The co-investigation asked before the write transaction (decision 0043).

A loan application's evaluation asks the hub about the household. Asked inside the evaluation's
write transaction, the round trip held SQLite's one writer: with a slow hub every other writer of
the center waited for it. The engine now asks first, on the request's connection before its write
transaction begins, and the evaluation is answered from there. These tests put a hub that sleeps
behind the center and write beside it while the question is in flight: the other write finishes
long before the hub answers, and the evaluation and the logs on both sides are what they were.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hpf import bootstrap, events
from hpf.db.engine import read_transaction, write_transaction, writer_connection
from hpf.hub.tables import hub_inquiry
from hpf.kernel import network
from hpf.services import service as applications
from hpf.transfers.inquiry import PATH as INQUIRY_PATH
from hub_support import InProcessHub, make_hub

sys.path.insert(0, str(Path(__file__).parents[1] / "loanapp"))
sys.path.insert(0, str(Path(__file__).parent))
from loanapp_support import REQUIRED_MATERIALS, payload
from loanapp_support import submit as submit_in_one_transaction
from test_coinvestigation import A_CODE, B_CODE, Node, lend, to_hub

DELAY = 1.5  # seconds the hub takes to answer an inquiry


class SlowHub:
    """A poster to the in-process hub that sleeps before each inquiry (messages go at once)."""

    def __init__(self, hub: InProcessHub) -> None:
        self.post = to_hub(hub)
        self.asked = threading.Event()  # an inquiry is in flight
        self.answered = threading.Event()
        self.inquiries = 0

    def __call__(self, url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if not url.endswith(INQUIRY_PATH):
            return self.post(url, body)
        self.inquiries += 1
        self.answered.clear()
        self.asked.set()
        time.sleep(DELAY)
        try:
            return self.post(url, body)
        finally:
            self.answered.set()


@pytest.fixture
def cities(tmp_path, bank):
    """The hub, center A (SQLite) with an unsettled loan of ``a`` fed to the hub, center B."""
    hub = make_hub(tmp_path)
    a = Node(tmp_path, A_CODE, hub, "杭州住房公积金管理中心")
    b = Node(tmp_path, B_CODE, hub, "深圳市住房公积金管理中心")
    lend(a, bank)
    assert a.deliver(hub).delivered == 2
    yield hub, a, b
    a.engine.dispose()
    b.engine.dispose()


def write_beside(node: Node, slow: SlowHub) -> float:
    """Once an inquiry is in flight, another writer of the center writes; its time."""
    assert slow.asked.wait(10), "the hub was never asked"
    started = time.perf_counter()
    with write_transaction(node.engine) as conn:
        events.record(conn, node.ctx, "probe.written", "probe", 1, {})
    took = time.perf_counter() - started
    assert not slow.answered.is_set(), "the hub answered before the other write ended"
    return took


def in_thread(work: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def evaluation_of(app: applications.Application) -> tuple[Any, ...]:
    e = app.evaluation
    return (
        e["eligible"], e["amount_fen"],
        sorted((r["code"], r["passed"], r["title_zh"]) for r in e["rules"]),
        sorted((f["code"], f["title_zh"]) for f in e["risk_flags"]),
    )  # fmt: skip


def test_another_write_completes_while_the_loan_inquiry_is_in_flight(cities):
    hub, _, b = cities
    b.act()
    before = submit_in_one_transaction(b.center, payload(co_borrower_account_nos=""), key="fast")
    logged_before = len(b.inquiries())
    assert logged_before == 2  # the preview and the completion, each asked in its transaction

    slow = SlowHub(hub)
    bootstrap.install(bootstrap.build(b.deps.settings, hub_post=slow))
    teller = b.center.people["teller01"]

    def submit() -> applications.Application:
        with writer_connection(b.engine) as conn:  # a request's: no transaction begun yet
            app = applications.submit(
                conn, b.ctx, teller, "LN-APPLY", payload(co_borrower_account_nos=""),
                member_account_no=b.center.members["a"].account_no, idempotency_key="slow",
            )  # fmt: skip
            conn.commit()
            return app

    thread, out = in_thread(submit)
    took = write_beside(b, slow)
    thread.join(30)
    (submitted,) = out
    assert isinstance(submitted, applications.Application), submitted
    assert took < DELAY / 3, f"the other write waited {took:.2f} s for the hub"
    assert slow.inquiries == 1

    # the completion on its own connection: asked first as well
    from loanapp_support import PDF

    with write_transaction(b.engine) as conn:
        for code in REQUIRED_MATERIALS:
            applications.add_material(conn, b.ctx, teller, submitted.id, code, f"{code}.pdf", PDF)
    slow.asked.clear()

    def complete() -> applications.Application:
        with writer_connection(b.engine) as conn:
            done = applications.complete_submission(conn, b.ctx, teller, submitted.id)
            conn.commit()
            return done

    thread, out = in_thread(complete)
    took = write_beside(b, slow)
    thread.join(30)
    (completed,) = out
    assert isinstance(completed, applications.Application), completed
    assert took < DELAY / 3, f"the other write waited {took:.2f} s for the hub"
    assert slow.inquiries == 2

    # the evaluation is the one made inside the transaction: refused for A's unsettled loan
    assert evaluation_of(completed) == evaluation_of(before)
    assert not completed.evaluation["eligible"] and completed.state == before.state == "under_review"
    assert {r["code"] for r in completed.evaluation["rules"] if not r["passed"]} == {
        "loan.unsettled_elsewhere"
    }
    # logged on both sides, once per question, with its purpose and what was answered
    logged = b.inquiries()[logged_before:]
    assert [(q["purpose"], q["outcome"], q["persons"], q["asked_by"]) for q in logged] == [
        ("01", "answered", 1, b.ctx.actor)
    ] * 2
    assert [len(q["answer"]["persons"][0]["loans"]) for q in logged] == [1, 1]
    with read_transaction(hub.engine) as conn:
        at_hub = list(conn.execute(select(hub_inquiry).order_by(hub_inquiry.c.id)).mappings())
    from_b = [q for q in at_hub if q["center"] == B_CODE]
    assert [str(q["message_id"]) for q in from_b[-2:]] == [q["message_id"] for q in logged]
    assert [(q["purpose"], q["loans"]) for q in from_b[-2:]] == [("01", 1)] * 2


def test_a_hub_that_does_not_answer_is_still_a_risk_and_logged(cities):
    _, _, b = cities
    b.act()
    down = bootstrap.build(b.deps.settings, hub_post=lambda url, body: (0, {"code": "transport.unreachable"}))
    bootstrap.install(down)
    teller = b.center.people["teller01"]
    with writer_connection(b.engine) as conn:
        app = applications.submit(
            conn, b.ctx, teller, "LN-APPLY", payload(co_borrower_account_nos=""),
            member_account_no=b.center.members["a"].account_no, idempotency_key="down",
        )  # fmt: skip
        conn.commit()
    flags = [f["code"] for f in app.evaluation["risk_flags"]]
    assert flags == ["review.loan", "risk.network_unavailable"] and app.evaluation["eligible"]
    assert [(q["purpose"], q["outcome"]) for q in b.inquiries()] == [("01", "failed")]


def test_the_answers_asked_first_are_forgotten_after_the_block(cities):
    """A question asked first answers only its own block: the next evaluation on a pooled
    connection asks again."""
    _, _, b = cities
    b.act()
    teller = b.center.people["teller01"]
    with writer_connection(b.engine) as conn:
        asked = applications.ask_network_first(
            conn, b.ctx, teller, item_code="LN-APPLY", payload=payload(co_borrower_account_nos=""),
            member_account_no=b.center.members["a"].account_no,
        )  # fmt: skip
        assert asked.asked == 1 and not conn.in_transaction()
        with asked:
            assert network.ANSWERS in conn.info
        assert network.ANSWERS not in conn.info
    assert [q["outcome"] for q in b.inquiries()] == ["answered"]


def test_the_self_service_withdrawal_page_asks_before_its_write(tmp_path):
    """The member's withdrawal page (rent: loans elsewhere matter) asks the network before the
    request's write transaction: another writer is not held up by a slow answer, and the answer
    still flags the application for review."""
    from fastapi.testclient import TestClient

    from hpf.app import create_app
    from hpf.db.engine import make_engine
    from hpf.kernel.network import LoanElsewhere, PersonElsewhere
    from hpf.schema import upgrade
    from hpf.settings import Settings
    from signing_in import FAST_PASSWORDS, use_session
    from withdrawal_support import build_rent_center

    sys.path.insert(0, str(Path(__file__).parents[1] / "withdrawals"))
    from test_withdrawal_selfservice import PAYEE, RENT_FILES

    engine = make_engine(f"sqlite:///{tmp_path}/w.sqlite3")
    upgrade(engine)
    center = build_rent_center(engine)
    asked: list[tuple[list[str], str, bool]] = []
    in_flight, answered = threading.Event(), threading.Event()

    def slow_lookup(conn: Any, ctx: Any, ids: Any, purpose: str) -> tuple[PersonElsewhere, ...]:
        asked.append((list(ids), purpose, conn.in_transaction()))
        in_flight.set()
        time.sleep(DELAY)
        answered.set()
        loan = LoanElsewhere("440300", "深圳市住房公积金管理中心", "active", "borrower")
        return (PersonElsewhere(loans=(loan,)),)

    settings = Settings(env="development", database_url=str(engine.url), center_code="990001")
    app = create_app(settings, engine=engine, clock=center.clock, passwords=FAST_PASSWORDS)
    try:
        with TestClient(app) as client:
            network.install(slow_lookup)
            use_session(client, center.people["zhang"])
            url = f"/members/{center.member.account_no}/withdrawals/WD-RENT/apply"
            fields = {**PAYEE, "rent_monthly_fen": "1500", "requested_fen": "3000", "form_key": "rent-slow"}
            thread, out = in_thread(
                lambda: client.post(url, data=fields, files=RENT_FILES, follow_redirects=False)
            )
            assert in_flight.wait(10)
            started = time.perf_counter()
            with write_transaction(engine) as conn:
                events.record(conn, center.ctx, "probe.written", "probe", 1, {})
            took = time.perf_counter() - started
            assert not answered.is_set() and took < DELAY / 3, f"the other write waited {took:.2f} s"
            thread.join(30)
            (response,) = out
            assert response.status_code == 303, response.text
            page = client.get(response.headers["location"]).text
    finally:
        network.install(None)
        engine.dispose()
    assert len(asked) == 1 and asked[0][1] == network.WITHDRAWAL_RISK and asked[0][2] is False
    assert "深圳市住房公积金管理中心尚有未结清的住房公积金贷款" in page and "已批准" not in page


def test_asked_first_on_each_engine(tmp_path, engine):
    """On SQLite and PostgreSQL: a request's submission asks once, before its transaction, logs
    the inquiry in a short transaction of its own, and the evaluation uses the answer."""
    hub = make_hub(tmp_path)
    node = Node(tmp_path, A_CODE, hub, "杭州住房公积金管理中心", engine).act()
    teller = node.center.people["teller01"]
    try:
        with writer_connection(node.engine) as conn:
            app = applications.submit(
                conn, node.ctx, teller, "LN-APPLY", payload(co_borrower_account_nos=""),
                member_account_no=node.center.members["a"].account_no, idempotency_key="each",
            )  # fmt: skip
            logged_before_commit = conn.in_transaction()
            conn.rollback()  # the request's change rolls back: the inquiry stays logged
        assert logged_before_commit
        assert "loan.none_elsewhere" in {r["code"] for r in app.evaluation["rules"] if r["passed"]}
        assert [(q["purpose"], q["outcome"]) for q in node.inquiries()] == [("01", "answered")]
        with read_transaction(hub.engine) as conn:
            assert [str(q["message_id"]) for q in conn.execute(select(hub_inquiry)).mappings()] == [
                node.inquiries()[0]["message_id"]
            ]
    finally:
        node.engine.dispose()
