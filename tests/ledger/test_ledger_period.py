"""科目余额表 of a period: opening, the period's debits and credits, closing; totals that
balance; a subject's entries in the period, paged. Figures worked by hand below."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from factories import employer_payload, member_payload
from hpf.accounts import pages as account_pages
from hpf.accounts import service as accounts
from hpf.app import create_app
from hpf.db.engine import read_transaction, write_transaction
from hpf.ledger import service as ledger
from hpf.ledger.chart import Side
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.settings import Settings

D, C = Side.DEBIT, Side.CREDIT


def _entry(
    key: str, day: date, member_id: int, fen: int, *, out: bool = False, memo: str = "汇缴"
) -> JournalEntry:
    bank, member = (C, D) if out else (D, C)
    return JournalEntry(
        "02" if out else "01", f"R-{key}", key, day, day,
        (Line("101", bank, fen), Line("201", member, fen, member_id=member_id, part=BalancePart.CURRENT)),
        memo=memo,
    )  # fmt: skip


@pytest.fixture
def book(engine, ctx, clock):
    """Feb 10: +10,000.00 (m1); Mar 5: +2,500.00 (m2); Mar 12: −300.00 (m1); Apr 1: +100.00 (m3)."""
    clock.set(date(2025, 2, 1))
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        m = [accounts.open_member(conn, ctx, emp.account_no, member_payload(i)).id for i in (1, 2, 3)]
    for key, day, member_id, fen, out in (
        ("a", date(2025, 2, 10), m[0], 1_000_000, False),
        ("b", date(2025, 3, 5), m[1], 250_000, False),
        ("c", date(2025, 3, 12), m[0], 30_000, True),
        ("d", date(2025, 4, 1), m[2], 10_000, False),
    ):
        clock.set(day)
        with write_transaction(engine) as conn:
            ledger.post(conn, _entry(key, day, member_id, fen, out=out), clock)
    clock.set(date(2025, 4, 2))
    return engine


def test_the_period_balance_by_hand(book):
    with read_transaction(book) as conn:
        rows = {r.code: r for r in ledger.period_trial_balance(conn, date(2025, 3, 1), date(2025, 3, 31))}
    bank, fund = rows["101"], rows["201"]
    assert (bank.opening_fen, bank.debit_fen, bank.credit_fen, bank.closing_fen) == (
        1_000_000, 250_000, 30_000, 1_220_000,  # 10,000.00 + 2,500.00 − 300.00
    )  # fmt: skip
    assert (fund.opening_fen, fund.debit_fen, fund.credit_fen, fund.closing_fen) == (
        1_000_000, 30_000, 250_000, 1_220_000,
    )  # fmt: skip
    assert (bank.closing_debit_fen, fund.closing_credit_fen) == (1_220_000, 1_220_000)
    with read_transaction(book) as conn:  # the whole history up to today is the cumulative table
        whole = {r.code: r for r in ledger.period_trial_balance(conn, date(2000, 1, 1), date(2025, 4, 2))}
        cumulative = {r.code: r.balance_fen for r in ledger.subject_balances(conn)}
    assert all(whole[code].closing_fen == cumulative[code] for code in cumulative)
    assert whole["101"].opening_fen == 0 and whole["101"].closing_fen == 1_230_000


def test_the_page_chooses_a_period_balances_and_drills_down(book, clock, sign_in, monkeypatch):
    app = create_app(Settings(env="development", database_url=str(book.url)), engine=book, clock=clock)
    with TestClient(app) as client:
        sign_in(client, session=True)
        html = client.get("/ledger", params={"month": "2025-03"}).text
        assert "2025-03-01</time> 至 <time>2025-03-31" in html
        row = re.search(r'<tr id="subject-101"[^>]*>.*?</tr>', html, re.S).group(0)
        cells = re.findall(r'class="num">([^<]*)<', row)
        assert cells == ["10,000.00", "0.00", "2,500.00", "300.00", "12,200.00", "0.00"]
        totals = re.findall(r'class="num">([^<]*)<', html.split('id="ledger-totals"')[1].split("</tr>")[0])
        assert totals == ["10,000.00", "10,000.00", "2,800.00", "2,800.00", "12,200.00", "12,200.00"]
        assert "借贷平衡" in html and 'href="/ledger/201?from=2025-03-01&amp;to=2025-03-31"' in html

        ranged = client.get("/ledger", params={"from": "2025-03-06", "to": "2025-04-02"}).text
        row = re.search(r'<tr id="subject-201"[^>]*>.*?</tr>', ranged, re.S).group(0)
        assert re.findall(r'class="num">([^<]*)<', row) == [
            "0.00", "12,500.00", "300.00", "100.00", "0.00", "12,300.00",
        ]  # fmt: skip

        wrong = client.get("/ledger", params={"from": "2025-04-01", "to": "2025-03-01"})
        assert wrong.status_code == 422 and "起始日期不能晚于终止日期" in wrong.text

        monkeypatch.setattr(account_pages, "LEDGER_LINES_PER_PAGE", 1)
        first = client.get("/ledger/201", params={"from": "2025-03-01", "to": "2025-03-31"}).text
        assert (
            "共 2 条" in first and 'id="opening">10,000.00<' in first and 'id="closing">12,200.00<' in first
        )
        assert "2025-03-05" in first.split('id="subject-lines"')[1] and "2025-03-12" not in first.split(
            'id="subject-lines"')[1]  # fmt: skip
        assert 'rel="next"' in first
        second = client.get("/ledger/201", params={"from": "2025-03-01", "to": "2025-03-31", "page": 2}).text
        assert "2025-03-12" in second.split('id="subject-lines"')[1] and "300.00" in second
        assert client.get("/ledger/999").status_code == 404
