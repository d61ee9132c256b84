"""A listed employer's lists are held until the center's stricter review (decision 0042), on
both engines: nothing is posted — by allocation now, the month-end posting or the API — until a
reviewer (not the list's maker) passes it; then exactly the list's amounts are posted, once; a
questioned list goes back to the employer with the note and nothing posted.

Figures by hand (12 % + 12 %, rounded half up to the fen):
- 张三, base 8,000.00: 960.00 + 960.00 = 1,920.00 (192,000 fen)
- 李四, base 6,543.21: 785.1852 → 785.19 twice = 1,570.38 (157,038 fen)
- the list: 3,490.38 (349,038 fen).
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.ledger import queries as ledger_queries
from hpf.ledger import service as ledger
from hpf.messages.bodies import NationalCreditList, NationalEntry
from hpf.oversight import service as supervision
from signing_in import FAST_PASSWORDS, PASSWORD, use_session

BASES = (800_000, 654_321)
PARTS = (192_000, 157_038)
TOTAL = 349_038


@pytest.fixture
def center(engine, ctx, clock):
    clock.set(date(2025, 1, 2))
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        members = [
            accounts.open_member(conn, ctx, emp.account_no, member_payload(i, name=name, base_fen=base))
            for i, (name, base) in enumerate(zip(("张三", "李四"), BASES, strict=True), start=1)
        ]
    clock.set(date(2025, 1, 20))
    return emp, members


def put_on_national_list(conn, ctx, uscc: str, grounds: str = "E1") -> None:
    """The hub's SUP212 as the center takes it: the employer listed by another center."""
    entry = NationalEntry(
        center="440300", center_name="深圳市住房公积金管理中心", entry_ref="7", kind="employer", uscc=uscc,
        employer_name="济南示范科技有限公司1", grounds=grounds, grounds_zh="长期欠缴住房公积金",
        listed_on=date(2025, 1, 3), until=date(2028, 1, 3), state="listed",
    )  # fmt: skip
    body = NationalCreditList(as_of=date(2025, 1, 3), entries=[entry])
    supervision.national_list(conn, ctx, SimpleNamespace(body=body))  # type: ignore[arg-type]


def list_rows(members) -> list[ListRow]:
    return [
        ListRow(n, m.account_no, m.name, m.base_fen, part // 2, part // 2)
        for n, (m, part) in enumerate(zip(members, PARTS, strict=True), start=1)
    ]


def submit(conn, ctx, emp, members, key: str = "k1") -> contributions.Remittance:
    return contributions.submit_list(
        conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month="2025-01", rows=list_rows(members),
        source="api", idempotency_key=key,
    )  # fmt: skip


def balances(conn, members) -> list[int]:
    return [accounts.get_member(conn, m.account_no).current_fen for m in members]


def reviewer(ctx: Context) -> Context:
    return Context(actor="reviewer01", clock=ctx.clock, center_code=ctx.center_code, source="test")


def test_a_listed_employers_list_is_held_then_posted_once_when_passed(engine, ctx, center):
    emp, members = center
    with write_transaction(engine) as conn:
        put_on_national_list(conn, ctx, emp.uscc)
        rem = submit(conn, ctx, emp, members)
        assert (rem.state, rem.review, rem.total_fen) == ("pending", "held", TOTAL)
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "B1", ctx.clock.today())
        # every posting path refuses or skips it: allocation now, the month-end's set posting
        with pytest.raises(HpfError) as held:
            contributions.allocate(conn, ctx, rem.id)
        assert held.value.code == "remittance.held_for_review"
        assert contributions.funded_remittances(conn, through_month="2025-01") == []
        assert contributions.allocate_set(conn, ctx, [rem.id], date(2025, 1, 31)) == 0
        # nothing in the ledger: no allocation entry, members at zero, the money in 21901
        assert ledger_queries.entry_id_by_key(conn, f"alloc:{rem.id}") is None
        assert balances(conn, members) == [0, 0]
        assert ledger.employer_balance_of(conn, emp.id) == TOTAL
        (review,) = supervision.reviews(conn)
        assert (review.remittance_id, review.state) == (rem.id, "pending")
        # the list's maker cannot review it
        with pytest.raises(HpfError) as same:
            supervision.review_list(conn, ctx, review.id, passed=True, note="")
        assert same.value.code == "supervision.same_person"
        assert balances(conn, members) == [0, 0]

        supervision.review_list(conn, reviewer(ctx), review.id, passed=True, note="与工资表核对一致")
        posted = contributions.get_remittance(conn, rem.id)
        assert (posted.state, posted.review) == ("posted", "passed")
        assert balances(conn, members) == list(PARTS)
        assert ledger.employer_balance_of(conn, emp.id) == 0
        entry = ledger_queries.entry_id_by_key(conn, f"alloc:{rem.id}")
        assert entry is not None and posted.posted_entry_id == entry

        supervision.review_list(conn, reviewer(ctx), review.id, passed=True, note="")  # again: nothing
        assert contributions.pass_review(conn, reviewer(ctx), rem.id).posted_entry_id == entry
        assert balances(conn, members) == list(PARTS)
        with pytest.raises(HpfError) as other:  # the other verdict after a decision
            supervision.review_list(conn, reviewer(ctx), review.id, passed=False, note="存疑")
        assert other.value.code == "supervision.review_state"
    with read_transaction(engine) as conn:
        assert accounts.get_employer(conn, emp.account_no).paid_through == "2025-01"


def test_a_passed_list_without_its_money_waits_for_it_as_any_list(engine, ctx, center):
    emp, members = center
    with write_transaction(engine) as conn:
        put_on_national_list(conn, ctx, emp.uscc)
        rem = submit(conn, ctx, emp, members)
        (review,) = supervision.reviews(conn)
        supervision.review_list(conn, reviewer(ctx), review.id, passed=True, note="")
        assert contributions.get_remittance(conn, rem.id).state == "pending"  # no money yet
        assert balances(conn, members) == [0, 0]
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "B1", ctx.clock.today())
        assert contributions.funded_remittances(conn, through_month="2025-01") == [rem.id]
        assert contributions.allocate(conn, ctx, rem.id).state == "posted"
        assert balances(conn, members) == list(PARTS)


def test_a_questioned_list_goes_back_to_the_employer_with_nothing_posted(engine, ctx, center):
    emp, members = center
    with write_transaction(engine) as conn:
        put_on_national_list(conn, ctx, emp.uscc)
        rem = submit(conn, ctx, emp, members)
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "B1", ctx.clock.today())
        (review,) = supervision.reviews(conn)
        supervision.review_list(conn, reviewer(ctx), review.id, passed=False, note="缴存基数与工资表不符")
        back = contributions.get_remittance(conn, rem.id)
        assert (back.state, back.review, back.review_note) == (
            "cancelled",
            "returned",
            "缴存基数与工资表不符",
        )
        assert ledger_queries.entry_id_by_key(conn, f"alloc:{rem.id}") is None
        assert balances(conn, members) == [0, 0]
        assert ledger.employer_balance_of(conn, emp.id) == TOTAL  # the money waits, unclaimed
        assert accounts.get_employer(conn, emp.account_no).paid_through is None
        supervision.review_list(conn, reviewer(ctx), review.id, passed=False, note="again")  # nothing
        assert contributions.get_remittance(conn, rem.id).review_note == "缴存基数与工资表不符"
        # the employer files the month again: held again while it is listed
        again = submit(conn, ctx, emp, members, key="k2")
        assert (again.state, again.review) == ("pending", "held")
        assert len(supervision.reviews(conn)) == 2


def test_an_employer_not_listed_posts_as_before(engine, ctx, center):
    emp, members = center
    with write_transaction(engine) as conn:
        put_on_national_list(conn, ctx, "91370100MA3C000000")  # another employer
        rem = submit(conn, ctx, emp, members)
        assert rem.review is None
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "B1", ctx.clock.today())
        assert contributions.allocate(conn, ctx, rem.id).state == "posted"
        assert balances(conn, members) == list(PARTS)
        assert supervision.reviews(conn) == []


def test_the_employer_sees_its_list_awaiting_review_and_the_api_refuses_it(
    engine, ctx, clock, center, sign_in
):
    from hpf.app import create_app
    from hpf.settings import Settings

    emp, members = center
    with write_transaction(engine) as conn:
        put_on_national_list(conn, ctx, emp.uscc)
        rem = submit(conn, ctx, emp, members)
        contributions.record_receipt(conn, ctx, emp.account_no, TOTAL, "B1", ctx.clock.today())
        login = identity.create_employer_login(
            conn, ctx, emp.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
        )
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app, follow_redirects=False) as client:
        use_session(client, login)
        page = client.get(f"/employers/{emp.account_no}/remittances")
        assert page.status_code == 200, page.text
        assert f'id="held-{rem.id}"' in page.text and "待中心从严审核" in page.text
        assert "须经中心从严审核通过后方可分摊入账" in page.text
        detail = client.get(f"/remittances/{rem.id}")
        assert detail.status_code == 200 and 'id="held"' in detail.text
    with TestClient(app, follow_redirects=False) as staff:
        sign_in(staff)
        refused = staff.post(f"/api/v1/remittances/{rem.id}/allocate")
        assert refused.status_code == 409 and refused.json()["code"] == "remittance.held_for_review"
        assert staff.get(f"/api/v1/remittances/{rem.id}").json()["review"] == "held"
        sign_in(staff, session=True)
        page = staff.get(f"/remittances/{rem.id}")
        assert 'id="held"' in page.text and 'id="allocate-form"' not in page.text  # no button to press
        # the money is there: it waits for the review, not for the money
        assert "资金已足额到账" in page.text and "资金未足额到账" not in page.text
        board = staff.get("/supervision").text
        table = board[board.index('id="review-table"') :]
        assert f'href="/employers/{emp.account_no}"' in table and emp.name in table  # the employer, named
    with write_transaction(engine) as conn:
        (review,) = supervision.reviews(conn)
        supervision.review_list(conn, reviewer(ctx), review.id, passed=False, note="缴存基数与工资表不符")
    with TestClient(app, follow_redirects=False) as client:
        use_session(client, login)
        page = client.get(f"/employers/{emp.account_no}/remittances")
        assert f'id="returned-{rem.id}"' in page.text and "审核意见：缴存基数与工资表不符" in page.text
