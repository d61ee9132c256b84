"""Prepayment and payoff executed (提前还款/提前结清), not only quoted: a member online from their
HPF account, a teller at the counter by bank; the ledger and the schedule after; replays and
refusals. Both databases.

Every test loan (loanpages_support): 120,000.00 yuan, 12 months, 2.60%, equal installment, first
due 2025-04-30, April collected; business date 2025-05-10. By hand, i = 2.60% ÷ 12:
- installment = 120,000 × i(1+i)¹² ÷ ((1+i)¹² − 1) = 10,141.39; April: interest 120,000 × i =
  260.00, principal 9,881.39, remaining 110,118.61 (11,011,861 fen);
- member A's HPF account: 100.00 (auth center) + 20,000.00 funded − April's 10,141.39 = 9,958.61;
- days since the last due date, 30-day months: 2025-04-30 → 2025-05-10 = 10;
- 提前还本金额 = amount ÷ (1 + i × 10 ÷ 30) = amount ÷ 1.000722…, rounded half up; the rest of the
  amount is the interest on it (REFERENCE §4.6).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from loanpages_support import LoanCenter, build_loan_center
from sqlalchemy import func, select

from hpf.access.permissions import Role
from hpf.check import check_center
from hpf.db.engine import read_transaction
from hpf.ledger import service as ledger
from hpf.ledger.tables import journal_entry, journal_line
from hpf.loans.book import service as loans
from hpf.loans.book.check import check_loans
from signing_in import bearer, use_session

A_BALANCE = 995_861  # 100.00 + 20,000.00 − 10,141.39
OUTSTANDING = 11_011_861  # after April


@pytest.fixture
def lc(engine: Any) -> LoanCenter:
    return build_loan_center(engine)


def as_role(lc: LoanCenter, role: Role) -> dict[str, str]:
    return bearer(lc.app, lc.center.principals[role])


def _lines(conn: Any, entry_id: int) -> list[tuple[str, str, int, int | None]]:
    rows = conn.execute(
        select(journal_line.c.subject_code, journal_line.c.side, journal_line.c.amount_fen, journal_line.c.member_id)
        .where(journal_line.c.entry_id == entry_id).order_by(journal_line.c.id)
    ).all()  # fmt: skip
    return sorted(tuple(r) for r in rows)


def _entries(lc: LoanCenter) -> int:
    with read_transaction(lc.center.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(journal_entry)))


def test_a_member_prepays_online_from_the_hpf_account(lc: LoanCenter) -> None:
    me = {**as_role(lc, Role.MEMBER), "Idempotency-Key": "M-0001"}
    a = lc.center.member.id
    url = f"/api/v1/loans/{lc.mine}/prepayments"
    body = {"choice": "reduce-installment", "amount_fen": 500_000, "source": "hpf_account"}
    with TestClient(lc.app) as client:
        got = client.post(url, json=body, headers=me)
        assert got.status_code == 200, got.text
        r = got.json()
        # 5,000.00 ÷ 1.000722… = 4,996.3915 → principal 4,996.39, interest 0.61 (499,639 + 361).
        assert (r["amount_fen"], r["principal_fen"], r["interest_fen"]) == (500_000, 499_639, 361)
        # Remaining 110,118.61 − 4,996.39 = 105,122.22 over the same 11 months: interest of May
        # 105,122.22 × i = 227.7648 → 227.76; installment 105,122.22 × i(1+i)¹¹ ÷ ((1+i)¹¹ − 1)
        # = 9,681.25 (was 10,141.39), principal 9,681.25 − 227.76 = 9,453.49.
        assert r["outstanding_principal_fen"] == OUTSTANDING - 499_639 == 10_512_222
        assert (r["months_left"], r["next_installment_fen"], r["settled"], r["replayed"]) == (
            11,
            968_125,
            False,
            False,
        )
        may = r["schedule"][1]
        assert (may["period"], may["interest_fen"], may["principal_fen"]) == (2, 22_776, 945_349)
        assert r["schedule"][0]["prepaid_fen"] == 499_639 and r["schedule"][0]["remaining_fen"] == 10_512_222
        assert len(r["schedule"]) == 12 and r["schedule"][-1]["due_date"] == "2026-03-30"
        assert sum(row["principal_fen"] for row in r["schedule"]) + 499_639 == 12_000_000
        entries = _entries(lc)

        # The same business serial again: the first answer, nothing moves twice.
        again = client.post(url, json=body, headers=me)
        assert again.status_code == 200 and again.json()["replayed"] is True
        assert again.json()["entry_id"] == r["entry_id"] and _entries(lc) == entries
        # The same serial for another amount is refused.
        other = client.post(url, json={**body, "amount_fen": 400_000}, headers=me)
        assert other.status_code == 409 and other.json()["code"] == "loan.idempotency_conflict"
        # More than the account holds (4,958.61 left) → refused with a clear code, nothing moved.
        short = client.post(
            url, json={**body, "amount_fen": 600_000}, headers={**me, "Idempotency-Key": "M-2"}
        )
        assert short.status_code == 409 and short.json()["code"] == "loan.insufficient_balance"
        assert short.json()["title"] == "借款人住房公积金账户余额不足"
        # More than the loan's balance: a partial prepayment must leave principal (else: payoff).
        big = client.post(
            url, json={**body, "amount_fen": 20_000_000}, headers={**me, "Idempotency-Key": "M-3"}
        )
        assert big.status_code == 422 and big.json()["code"] == "loan.invalid_prepayment"
        # Online, only from the HPF account; no key, no money.
        bank = client.post(url, json={**body, "source": "bank"}, headers={**me, "Idempotency-Key": "M-4"})
        assert bank.status_code == 422 and bank.json()["code"] == "loan.source_not_allowed"
        keyless = client.post(url, json=body, headers=as_role(lc, Role.MEMBER))
        assert keyless.status_code == 422 and keyless.json()["code"] == "idempotency.key_required"
        # The co-borrower sees the loan but does not prepay it; a stranger's loan does not exist.
        colleague = {**bearer(lc.app, lc.colleague_login), "Idempotency-Key": "C-1"}
        assert client.post(url, json=body, headers=colleague).json()["code"] == "loan.not_borrower"
        theirs = client.post(f"/api/v1/loans/{lc.theirs}/prepayments", json=body, headers=me)
        assert theirs.status_code == 404 and theirs.json()["code"] == "loan.not_found"
        assert _entries(lc) == entries
    with read_transaction(lc.center.engine) as conn:
        # Dr 201 A 5,000.00 (current part: A has no carried-over balance) / Cr 121 4,996.39, Cr 40103 0.61.
        assert _lines(conn, r["entry_id"]) == sorted(
            [("201", "D", 500_000, a), ("121", "C", 499_639, None), ("40103", "C", 361, None)]
        )
        assert ledger.member_balances(conn, [a])[a] == (0, A_BALANCE - 500_000)
        assert [e.kind for e in loans.events(conn, lc.mine)][-1] == "prepaid"
        # On A's statement it is 11 部分提取 (提取还贷), like the month-end's collection — not 03 开户.
        latest = ledger.member_statement(conn, a, limit=1)[0]
        assert (latest.business_type, latest.amount_fen, latest.running_fen) == (
            "11",
            -500_000,
            495_861,
        )
        assert latest.memo == "部分提前还款（期限不变，减少月供），提取还贷"
        assert check_center(conn) == [] and check_loans(conn) == []


def test_a_teller_takes_a_prepayment_by_bank_then_a_payoff(lc: LoanCenter) -> None:
    teller = as_role(lc, Role.TELLER)
    url = f"/api/v1/loans/{lc.theirs}/prepayments"
    with TestClient(lc.app) as client:
        body = {"choice": "shorten-term", "amount_fen": 2_000_000, "source": "bank"}
        no_ref = client.post(url, json=body, headers={**teller, "Idempotency-Key": "T-0"})
        assert no_ref.status_code == 422 and no_ref.json()["code"] == "loan.bank_ref_required"
        got = client.post(
            url, json={**body, "bank_ref": "BOC-20250510-77"}, headers={**teller, "Idempotency-Key": "T-1"}
        )
        assert got.status_code == 200, got.text
        r = got.json()
        # 20,000.00 ÷ 1.000722… = 19,985.566 → principal 19,985.57, interest 14.43.
        assert (r["principal_fen"], r["interest_fen"]) == (1_998_557, 1_443)
        # Remaining 110,118.61 − 19,985.57 = 90,133.04 at the same 10,141.39 a month: May's interest
        # 90,133.04 × i = 195.2883 → 195.29, principal 9,946.10; … nine full installments (periods
        # 2–10 with the last smaller): January 2026 pays 9,958.21 + 21.58 = 9,979.79 and ends it.
        assert (r["months_left"], r["next_installment_fen"]) == (9, 1_014_139)
        rows = r["schedule"]
        assert len(rows) == 10 and rows[-1]["due_date"] == "2026-01-30"
        assert (rows[1]["interest_fen"], rows[1]["principal_fen"]) == (19_529, 994_610)
        assert (rows[-1]["principal_fen"], rows[-1]["interest_fen"]) == (995_821, 2_158)
        with read_transaction(lc.center.engine) as conn:
            assert _lines(conn, r["entry_id"]) == sorted(
                [("101", "D", 2_000_000, None), ("121", "C", 1_998_557, None), ("40103", "C", 1_443, None)]
            )
            entry = (
                conn.execute(select(journal_entry).where(journal_entry.c.id == r["entry_id"]))
                .mappings()
                .one()
            )
            assert (entry["business_type"], entry["actor"]) == ("03", lc.center.principals[Role.TELLER].login)
            detail = loans.events(conn, lc.theirs)[-1].detail
            assert (detail["source"], detail["reference"]) == ("bank", "BOC-20250510-77")

        # Then the payoff: 90,133.04 + interest for 10 days 90,133.04 × 2.60% ÷ 360 × 10 = 65.0961
        # → 65.10; 90,198.14 in all.
        off = client.post(url, json={"choice": "payoff", "source": "bank", "bank_ref": "BOC-20250510-78"},
                          headers={**teller, "Idempotency-Key": "T-2"})  # fmt: skip
        assert off.status_code == 200, off.text
        p = off.json()
        assert (p["principal_fen"], p["interest_fen"], p["amount_fen"]) == (9_013_304, 6_510, 9_019_814)
        assert (p["settled"], p["outstanding_principal_fen"], p["months_left"]) == (True, 0, 0)
        assert [row["state"] for row in p["schedule"]] == ["paid", "paid"]
        assert p["schedule"][1]["principal_fen"] == 9_013_304
        again = client.post(url, json={"choice": "payoff", "source": "bank", "bank_ref": "BOC-20250510-78"},
                            headers={**teller, "Idempotency-Key": "T-2"})  # fmt: skip
        assert again.json()["replayed"] is True and again.json()["entry_id"] == p["entry_id"]
    with read_transaction(lc.center.engine) as conn:
        assert loans.loan_view(conn, lc.theirs).state == "settled"
        assert check_center(conn) == [] and check_loans(conn) == []


def test_roles_without_loan_repay_are_refused(lc: LoanCenter) -> None:
    body = {"choice": "payoff", "source": "bank", "bank_ref": "X"}
    with TestClient(lc.app) as client:
        for role in (Role.REVIEWER, Role.AUDITOR, Role.FINANCE):
            got = client.post(
                f"/api/v1/loans/{lc.theirs}/prepayments", json=body,
                headers={**as_role(lc, role), "Idempotency-Key": f"R-{role.value}"},
            )  # fmt: skip
            assert got.status_code == 403, role


def test_the_loan_page_quotes_then_executes_after_confirmation(lc: LoanCenter) -> None:
    a = lc.center.member.id
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.MEMBER])
        quote = client.get(
            f"/loans/{lc.mine}/quote", params={"amount": "5000", "choice": "reduce-installment"}
        )
        assert quote.status_code == 200 and 'id="prepay-form"' in quote.text
        assert "确认办理" in quote.text and "公积金账户余额" in quote.text
        fragment = client.get(
            f"/loans/{lc.mine}/quote", params={"amount": "5000", "choice": "reduce-installment"},
            headers={"HX-Request": "true"},
        )  # fmt: skip
        assert 'id="prepay-form"' in fragment.text
        form = {
            "amount": "5000", "choice": "reduce-installment", "source": "hpf_account",
            "form_key": "page-key-1",
        }  # fmt: skip
        done = client.post(f"/loans/{lc.mine}/prepay", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text
        page = client.get(done.headers["location"])
        assert 'id="prepay-done"' in page.text and "9,681.25" in page.text  # the new installment
        assert client.post(f"/loans/{lc.mine}/prepay", data=form, follow_redirects=False).status_code == 303
        too_much = client.post(f"/loans/{lc.mine}/prepay", data={**form, "amount": "9000", "form_key": "k2"})
        assert too_much.status_code == 409 and "账户余额不足" in too_much.text
    with read_transaction(lc.center.engine) as conn:
        assert ledger.member_balances(conn, [a])[a] == (0, A_BALANCE - 500_000)  # once
        assert check_center(conn) == [] and check_loans(conn) == []


def test_a_teller_pays_off_at_the_counter_through_the_page(lc: LoanCenter) -> None:
    with TestClient(lc.app) as client:
        use_session(client, lc.center.principals[Role.TELLER])
        quote = client.get(f"/loans/{lc.theirs}/quote", params={"amount": "", "choice": "payoff"})
        assert 'id="prepay-form"' in quote.text and "银行流水号" in quote.text
        form = {"amount": "", "choice": "payoff", "source": "bank", "bank_ref": "", "form_key": "counter-1"}
        no_ref = client.post(f"/loans/{lc.theirs}/prepay", data=form)
        assert no_ref.status_code == 422 and "须填写银行流水号" in no_ref.text
        done = client.post(
            f"/loans/{lc.theirs}/prepay", data={**form, "bank_ref": "ICBC-0510-1"}, follow_redirects=False
        )
        assert done.status_code == 303
        page = client.get(done.headers["location"])
        # 110,118.61 + 10 days' interest 110,118.61 × 2.60% ÷ 360 × 10 = 79.5301 → 79.53.
        assert 'id="prepay-done"' in page.text and "110,198.14" in page.text and "贷款已结清" in page.text
        assert 'id="prepay-form"' not in page.text and 'id="quote-form"' not in page.text  # settled
    with read_transaction(lc.center.engine) as conn:
        assert loans.loan_view(conn, lc.theirs).state == "settled"
        assert check_center(conn) == [] and check_loans(conn) == []
