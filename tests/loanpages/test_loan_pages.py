"""Loan pages and API: a member's own loans, the staff book and risk queue, the prepayment quote
(figures of the pure rules, no money moved); both databases."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loanpages_support import TODAY, LoanCenter, build_loan_center, money_state
from sqlalchemy import select

from hpf.access.permissions import Role
from hpf.audit.trail import audit_log
from hpf.db.engine import read_transaction
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import (
    Method,
    PrepaymentChoice,
    build_schedule,
    days_30_360,
    payoff_quote,
    prepay,
    split_prepayment,
)
from signing_in import bearer, use_session

PROBLEM = "application/problem+json"


@pytest.fixture
def lc(engine: Any) -> LoanCenter:
    return build_loan_center(engine)


def as_role(lc: LoanCenter, role: Role) -> dict[str, str]:
    return bearer(lc.app, lc.center.principals[role])


def original_schedule() -> Any:
    """The schedule of every test loan, from the pure rules (120,000 yuan, 12 months, 2.60%)."""
    return build_schedule(12_000_000, Decimal("0.026"), 12, Method.EQUAL_INSTALLMENT, date(2025, 4, 30))


def test_a_member_sees_their_loans_schedule_and_history(lc: LoanCenter) -> None:
    a = lc.center.member.account_no
    me = as_role(lc, Role.MEMBER)
    plan = original_schedule()
    with TestClient(lc.app) as client:
        mine = client.get(f"/api/v1/members/{a}/loans", headers=me)
        assert mine.status_code == 200, mine.text
        [row] = mine.json()
        assert (row["id"], row["role"], row["state"], row["classification_zh"]) == (
            lc.mine,
            "borrower",
            "active",
            "正常",
        )
        assert row["outstanding_principal_fen"] == plan.installments[0].remaining_fen
        second = plan.installments[1]
        assert row["next_due"] == {
            "period": 2,
            "due_date": second.due_date.isoformat(),
            "amount_fen": second.installment_fen,
        }
        assert row["borrower"] is None  # a member's view names nobody

        detail = client.get(f"/api/v1/loans/{lc.mine}", headers=me).json()
        assert Decimal(detail["annual_rate"]) == Decimal("0.026")
        assert (detail["term_months"], detail["method_zh"], detail["co_borrowers"]) == (12, "等额本息", [])
        assert detail["certificate_no"] is None

        schedule = client.get(f"/api/v1/loans/{lc.mine}/schedule", headers=me).json()
        assert [r["state"] for r in schedule] == ["paid"] + ["due"] * 11
        assert [(r["principal_fen"], r["interest_fen"], r["remaining_fen"]) for r in schedule] == [
            (i.principal_fen, i.interest_fen, i.remaining_fen) for i in plan.installments
        ]
        assert schedule[0]["paid_fen"] == plan.installments[0].installment_fen

        history = client.get(f"/api/v1/loans/{lc.mine}/events", headers=me).json()
        assert [e["kind"] for e in history["events"]] == ["created", "activated", "collected"]
        assert history["events"][2]["amount_fen"] == plan.installments[0].installment_fen
        assert {e["actor"] for e in history["events"]} == {None}
        assert history["dunning_notices"] == [] and history["collateral_events"] is None

        page_list = client.get(f"/members/{a}/loans", headers=me)
        assert page_list.status_code == 200
        assert f'href="/loans/{lc.mine}"' in page_list.text and "正常" in page_list.text
        assert 'data-label="下期还款"' in page_list.text
        page = client.get(f"/loans/{lc.mine}", headers=me)
        assert page.status_code == 200
        assert 'id="loan-schedule"' in page.text and "已还" in page.text and "按月扣收" in page.text
        assert "他项权证号" not in page.text and "抵押物登记事件" not in page.text


def test_a_co_borrower_sees_the_loan_too_and_their_own_overdue_one(lc: LoanCenter) -> None:
    c = lc.center.colleague.account_no
    who = bearer(lc.app, lc.colleague_login)
    with TestClient(lc.app) as client:
        rows = client.get(f"/api/v1/members/{c}/loans", headers=who).json()
        assert {(r["id"], r["role"]) for r in rows} == {(lc.mine, "co_borrower"), (lc.late, "borrower")}
        late = next(r for r in rows if r["id"] == lc.late)
        assert late["days_past_due"] == 10 and late["overdue_principal_fen"] > 0
        history = client.get(f"/api/v1/loans/{lc.late}/events", headers=who).json()
        assert [n["stage"] for n in history["dunning_notices"]] == [1]
        assert "overdue" in [e["kind"] for e in history["events"]]
        page = client.get(f"/loans/{lc.late}", headers=who)
        assert 'id="overdue-notice"' in page.text and 'id="dunning"' in page.text


def test_another_members_loan_answers_like_a_missing_one(lc: LoanCenter) -> None:
    me = as_role(lc, Role.MEMBER)
    with TestClient(lc.app) as client:
        for tail in ("", "/schedule", "/events", "/quote?choice=payoff"):
            theirs = client.get(f"/api/v1/loans/{lc.theirs}{tail}", headers=me)
            missing = client.get(f"/api/v1/loans/987654{tail}", headers=me)
            assert theirs.status_code == missing.status_code == 404, tail
            assert theirs.headers["content-type"].startswith(PROBLEM)
            got, absent = theirs.json(), missing.json()
            assert got["code"] == absent["code"] == "loan.not_found" and got["title"] == "贷款不存在"
            assert got["detail"].replace(str(lc.theirs), "N") == absent["detail"].replace("987654", "N")
        page = client.get(f"/loans/{lc.theirs}", headers=me)
        assert page.status_code == 404 and page.headers["X-HPF-Error"] == "loan.not_found"
        assert "王五" not in page.text
        stranger = lc.center.stranger.account_no
        assert client.get(f"/api/v1/members/{stranger}/loans", headers=me).status_code == 404
        employer = as_role(lc, Role.EMPLOYER)  # an employer sees no loans, not even its staff's
        assert client.get(f"/api/v1/loans/{lc.mine}", headers=employer).status_code == 403
        assert client.get("/api/v1/loans", headers=me).json()["code"] == "auth.staff_only"


def test_staff_see_the_book_with_filters(lc: LoanCenter) -> None:
    with TestClient(lc.app) as client:
        for role in (Role.TELLER, Role.SUPERVISOR, Role.RISK):
            book = client.get("/api/v1/loans", headers=as_role(lc, role))
            assert book.status_code == 200, (role, book.text)
            assert [i["id"] for i in book.json()["items"]] == [lc.mine, lc.theirs, lc.late]
        teller = as_role(lc, Role.TELLER)
        book = client.get("/api/v1/loans", headers=teller).json()
        assert book["items"][1]["borrower"] == {
            "account_no": lc.center.stranger.account_no,
            "name": "王五",
        }
        late = client.get("/api/v1/loans", params={"overdue": "true"}, headers=teller).json()["items"]
        assert [i["id"] for i in late] == [lc.late]
        assert [
            i["id"]
            for i in client.get("/api/v1/loans", params={"overdue": "false"}, headers=teller).json()["items"]
        ] == [lc.mine, lc.theirs]
        assert client.get("/api/v1/loans", params={"state": "settled"}, headers=teller).json()["items"] == []
        bad = client.get("/api/v1/loans", params={"state": "lost"}, headers=teller)
        assert bad.status_code == 422 and bad.json()["code"] == "loan.invalid_filter"
        assert bad.json()["title"] == "贷款状态筛选条件无效"

        detail = client.get(f"/api/v1/loans/{lc.mine}", headers=teller).json()
        assert detail["borrower"]["name"] == "张三" and [p["name"] for p in detail["co_borrowers"]] == [
            "李四"
        ]
        assert detail["certificate_no"] and "*" in detail["certificate_no"]  # masked for a teller

        use_session(client, lc.center.principals[Role.TELLER])
        page = client.get("/loans", params={"overdue": "yes"})
        assert page.status_code == 200
        assert f'id="loan-{lc.late}"' in page.text and f'id="loan-{lc.mine}"' not in page.text
        assert 'data-label="借款人"' in page.text and "李四" in page.text
        assert 'href="/loans" aria-current="page">贷款台账' in page.text
        bad_page = client.get("/loans", params={"overdue": "maybe"})
        assert bad_page.status_code == 422 and bad_page.headers["X-HPF-Error"] == "loan.invalid_filter"
        staff_view = client.get(f"/loans/{lc.theirs}")
        assert 'id="collateral-events"' in staff_view.text and "查封" in staff_view.text
        assert f'href="/members/{lc.center.stranger.account_no}"' in staff_view.text


def test_the_risk_queue_is_cleared_by_a_reviewer_with_a_note(lc: LoanCenter) -> None:
    with TestClient(lc.app) as client:
        queue = client.get("/api/v1/loans/collateral-risk", headers=as_role(lc, Role.TELLER)).json()
        assert [(q["loan_id"], q["flag"], q["flag_zh"]) for q in queue] == [(lc.theirs, "seizure", "查封")]
        refused = client.post(
            f"/api/v1/loans/{lc.theirs}/collateral-review",
            json={"note": "x"},
            headers=as_role(lc, Role.TELLER),
        )
        assert refused.status_code == 403

        use_session(client, lc.center.principals[Role.RISK])
        empty = client.post(f"/loans/{lc.theirs}/collateral-review", data={"note": "  "})
        assert empty.status_code == 422 and "请填写处理意见" in empty.text
        done = client.post(
            f"/loans/{lc.theirs}/collateral-review", data={"note": "已核实为他案查封，通知借款人"},
            follow_redirects=False,
        )  # fmt: skip
        assert (
            done.status_code == 303 and done.headers["location"] == f"/loans/collateral-risk?done={lc.theirs}"
        )
        after = client.get(done.headers["location"])
        assert 'id="queue-empty"' in after.text and 'id="review-done"' in after.text
        again = client.post(f"/loans/{lc.theirs}/collateral-review", data={"note": "再次"})
        assert again.status_code == 409 and again.headers["X-HPF-Error"] == "loan.no_collateral_flag"
    with read_transaction(lc.center.engine) as conn:
        kinds = [e.kind for e in loans.events(conn, lc.theirs)]
        assert kinds[-2:] == ["collateral_flagged", "collateral_reviewed"]
        rows = conn.execute(
            select(audit_log.c.action, audit_log.c.outcome, audit_log.c.object_id)
            .where(audit_log.c.action == "collateral_review_page").order_by(audit_log.c.id)
        ).all()  # fmt: skip
    assert [tuple(r) for r in rows] == [
        ("collateral_review_page", "denied", str(lc.theirs)),
        ("collateral_review_page", "ok", str(lc.theirs)),
        ("collateral_review_page", "denied", str(lc.theirs)),
    ]


@pytest.mark.parametrize("choice", [PrepaymentChoice.SHORTEN_TERM, PrepaymentChoice.REDUCE_INSTALLMENT])
def test_a_quote_gives_the_pure_rules_figures_and_moves_no_money(
    lc: LoanCenter, choice: PrepaymentChoice
) -> None:
    plan = original_schedule()
    amount = 3_000_000  # 30,000 yuan on 2025-05-10, after period 1
    principal, interest = split_prepayment(amount, Decimal("0.026"), days_30_360(date(2025, 4, 30), TODAY))
    new = prepay(plan, 1, principal, choice)
    before = money_state(lc.center.engine)
    with TestClient(lc.app) as client:
        got = client.get(
            f"/api/v1/loans/{lc.mine}/quote", params={"choice": choice.value, "amount_fen": amount},
            headers=as_role(lc, Role.MEMBER),
        )  # fmt: skip
        assert got.status_code == 200, got.text
        q = got.json()
        assert (q["principal_fen"], q["interest_fen"], q["amount_fen"]) == (principal, interest, amount)
        assert q["installment_after_fen"] == new.installments[1].installment_fen
        assert q["months_left_after"] == new.months - 1 and q["months_left_before"] == 11
        old_interest = sum(i.interest_fen for i in plan.installments[1:])
        new_interest = sum(i.interest_fen for i in new.installments[1:])
        assert q["interest_before_fen"] == old_interest
        assert q["interest_after_fen"] == interest + new_interest
        assert (
            q["interest_saved_fen"] == old_interest - interest - new_interest > 0
        )  # prepaying saves interest
        if choice is PrepaymentChoice.SHORTEN_TERM:
            assert q["installment_after_fen"] == q["installment_before_fen"] and q["months_left_after"] < 11
        else:
            assert q["installment_after_fen"] < q["installment_before_fen"] and q["months_left_after"] == 11
        payoff = payoff_quote(plan, 1, TODAY)
        assert (
            q["payoff"]["total_fen"]
            == payoff.total_fen
            == plan.installments[0].remaining_fen + payoff.interest_fen
        )
        assert q["moves_money"] is False

        use_session(client, lc.center.principals[Role.MEMBER])
        page = client.get(f"/loans/{lc.mine}/quote", params={"amount": "30000", "choice": choice.value})
        assert page.status_code == 200 and 'id="quote-summary"' in page.text
        assert f"{q['interest_saved_fen'] // 100:,}." in page.text
        fragment = client.get(
            f"/loans/{lc.mine}/quote", params={"amount": "30000", "choice": choice.value},
            headers={"HX-Request": "true"},
        )  # fmt: skip
        assert fragment.status_code == 200 and 'id="quote-summary"' in fragment.text
        assert "<html" not in fragment.text
    assert money_state(lc.center.engine) == before


def test_a_payoff_quote_is_outstanding_plus_accrued_interest(lc: LoanCenter) -> None:
    plan = original_schedule()
    before = money_state(lc.center.engine)
    with TestClient(lc.app) as client:
        q = client.get(
            f"/api/v1/loans/{lc.mine}/quote", params={"choice": "payoff"}, headers=as_role(lc, Role.TELLER)
        ).json()
    quote = payoff_quote(plan, 1, TODAY)
    assert (q["principal_fen"], q["interest_fen"], q["amount_fen"]) == (
        quote.principal_fen,
        quote.interest_fen,
        quote.total_fen,
    )
    assert q["principal_fen"] == plan.installments[0].remaining_fen and q["payoff"]["days"] == 10
    assert q["interest_saved_fen"] == sum(i.interest_fen for i in plan.installments[1:]) - quote.interest_fen
    assert q["months_left_after"] == 0 and q["outstanding_after_fen"] == 0
    assert money_state(lc.center.engine) == before


def test_bad_quote_input_is_a_chinese_problem(lc: LoanCenter) -> None:
    me = as_role(lc, Role.MEMBER)
    url = f"/api/v1/loans/{lc.mine}/quote"
    cases = [
        ({"choice": "everything"}, 422, "loan.invalid_choice", "请选择提前还款方式"),
        ({"choice": "shorten-term"}, 422, "loan.invalid_prepayment", "请填写大于零的提前还款金额"),
        ({"choice": "shorten-term", "amount_fen": -5}, 422, "loan.invalid_prepayment", "请填写大于零"),
        (
            {"choice": "reduce-installment", "amount_fen": 20_000_000},
            422,
            "loan.invalid_prepayment",
            "小于剩余本金",
        ),
    ]
    before = money_state(lc.center.engine)
    with TestClient(lc.app) as client:
        for params, status, code, title in cases:
            r = client.get(url, params=params, headers=me)
            assert r.status_code == status and r.headers["content-type"].startswith(PROBLEM), (params, r.text)
            assert r.json()["code"] == code and title in r.json()["title"], params
        arrears = client.get(
            f"/api/v1/loans/{lc.late}/quote",
            params={"choice": "payoff"},
            headers=bearer(lc.app, lc.colleague_login),
        )
        assert arrears.status_code == 409 and arrears.json()["code"] == "loan.arrears_first"
        use_session(client, lc.center.principals[Role.MEMBER])
        page = client.get(f"/loans/{lc.mine}/quote", params={"amount": "abc", "choice": "shorten-term"})
        assert page.status_code == 422 and page.headers["X-HPF-Error"] == "loan.invalid_prepayment"
        assert "提前还款金额须为大于零的金额" in page.text and 'id="loan-schedule"' in page.text
    assert money_state(lc.center.engine) == before


def test_pages_read_on_a_phone_and_the_member_page_links_to_the_loans(lc: LoanCenter) -> None:
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.MEMBER])
        page = client.get(f"/loans/{lc.mine}")
        html = page.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert 'class="data stack" id="loan-schedule"' in html
        for label in ("期次", "还款日", "月供", "本金", "利息", "剩余本金", "状态"):
            assert f'data-label="{label}"' in html
        assert 'id="quote-form"' in html and 'inputmode="decimal"' in html
        a = lc.center.member.account_no
        assert f'href="/members/{a}/loans" id="loans-link"' in client.get(f"/members/{a}").text
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.TELLER])
        loanless = client.get(f"/members/{lc.loanless.account_no}")
        assert loanless.status_code == 200 and 'id="loans-link"' not in loanless.text
        empty = client.get(f"/members/{lc.loanless.account_no}/loans")
        assert empty.status_code == 200 and 'id="no-loans"' in empty.text


def test_the_class_history_shows_the_recovery(lc: LoanCenter) -> None:
    """关注 after the missed April installment, then 正常 once it is paid: both rows on the page."""
    from hpf.db.engine import write_transaction
    from hpf.kernel.context import Context

    ctx = Context(actor="teller01", clock=lc.center.clock, center_code="990001", source="test")
    with write_transaction(lc.center.engine) as conn:
        row = loans.loan_view(conn, lc.late)
        assert row.classification == "02"
        owed = row.overdue_principal_fen + row.overdue_interest_fen + row.penalty_accrued_fen
        loans.repay(conn, ctx, lc.late, owed, loans.PaymentSource.BANK, "late-recovered")
        assert loans.loan_view(conn, lc.late).classification == "01"
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.TELLER])
        html = client.get(f"/loans/{lc.late}").text
    assert "正常 → 关注" in html and "关注 → 正常" in html
