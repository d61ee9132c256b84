"""The good-credit incentive (decision 0042), on both engines: an employer with 36 months without
arrears is a 诚信单位 — its (and its staff's) applications are due one working day after
acceptance and come first in the review queue; one with arrears 10 months ago is not; the
threshold is the policy's data (changed here, the answer changes).

Counting by hand, on 15 January 2025 (month 2025-01 excluded):
- E opened on 4 January 2022, never in arrears: January 2022 – December 2024 = 36 months.
- F opened the same day, in arrears for March 2024 (cleared since): April – December 2024 = 9.
- G opened the same day, arrears of January 2022 still open: no incentive whatever the count.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from factories import employer_payload, member_payload
from hpf.access.permissions import Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.contributions.tables import arrears
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.workdays import add_working_days
from hpf.oversight import incentive
from hpf.services import handlers, service
from services_support import JPG, PNG, FakeWithdrawals
from signing_in import FAST_PASSWORDS, PASSWORD

TODAY = date(2025, 1, 15)  # a Wednesday


@pytest.fixture
def fake() -> Iterator[FakeWithdrawals]:
    handler = FakeWithdrawals()
    with handlers.registered(handler):
        yield handler


@pytest.fixture
def city(engine) -> dict[str, Any]:
    clock = FixedClock(date(2022, 1, 4))
    ctx = Context(actor="setup", clock=clock, center_code="990001", source="test")
    people: dict[str, Any] = {}
    with write_transaction(engine) as conn:
        employers = {}
        for seq, key in enumerate(("e", "f", "g"), start=1):
            emp = accounts.register_employer(
                conn, ctx, employer_payload(seq, contact_phone=f"1380013800{seq}")
            )
            employers[key] = accounts.activate_employer(conn, ctx, emp.account_no)
            member = accounts.open_member(
                conn,
                ctx,
                emp.account_no,
                member_payload(seq, name=("张三", "李四", "王五")[seq - 1], phone=f"1390013900{seq}"),
            )
            people[key] = identity.create_member_login(
                conn, ctx, member.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            )
            people[f"{key}_employer"] = identity.create_employer_login(
                conn, ctx, emp.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            )
        people["teller01"] = identity.create_staff(
            conn, ctx, "teller01", "teller01", [Role.TELLER], PASSWORD, passwords=FAST_PASSWORDS
        )
        conn.execute(
            insert(arrears),
            [
                {"employer_id": employers["f"].id, "month": "2024-03", "expected_fen": 192_000, "state": "cleared",
                 "marked_on": date(2024, 4, 1), "cleared_on": date(2024, 5, 10)},
                {"employer_id": employers["g"].id, "month": "2022-01", "expected_fen": 192_000, "state": "open",
                 "marked_on": date(2022, 2, 1), "cleared_on": None},
            ],
        )  # fmt: skip
    clock.set(TODAY)
    return {"engine": engine, "ctx": ctx, "clock": clock, "employers": employers, "people": people}


def rent(city: dict[str, Any], who: str) -> service.Application:
    """A rent withdrawal (3 working days by the catalog) submitted and accepted, left for review."""
    ctx, person = city["ctx"], city["people"][who]
    with write_transaction(city["engine"]) as conn:
        app = service.submit(conn, ctx, person, "WD-RENT", {"rent_monthly_fen": 150_000, "risky": True})
        service.add_material(conn, ctx, person, app.id, "M-ID", "id.png", PNG)
        service.add_material(conn, ctx, person, app.id, "M-BANK", "card.jpg", JPG)
        return service.complete_submission(conn, ctx, person, app.id)


def test_months_without_arrears_counted_set_based(city):
    e, f, g = (city["employers"][k] for k in "efg")
    with read_transaction(city["engine"]) as conn:
        sub = incentive.clean_months_subquery(TODAY)
        from sqlalchemy import select

        counted = dict(conn.execute(select(sub.c.employer_id, sub.c.clean_months)).all())
        assert counted == {e.id: 36, f.id: 9}  # G has arrears open: not counted at all
        assert [x.employer_id for x in incentive.good_credit_employers(conn, TODAY)] == [e.id]
        assert incentive.is_good_credit(conn, e.id, TODAY)
        assert not incentive.is_good_credit(conn, e.id, date(2024, 12, 31))  # 35 months then
        assert not incentive.is_good_credit(conn, f.id, TODAY)
        assert not incentive.is_good_credit(conn, g.id, TODAY)


def test_a_good_credit_employers_staff_are_due_in_one_working_day_and_served_first(city, fake):
    normal = rent(city, "f")  # arrears 10 months ago: the catalog's 3 working days
    good = rent(city, "e")
    assert (normal.state, good.state) == ("under_review", "under_review")
    assert normal.due_on == add_working_days(TODAY, 3) == date(2025, 1, 20)
    assert normal.fast_track is None
    assert good.due_on == add_working_days(TODAY, 1) == date(2025, 1, 16)
    assert good.fast_track == "诚信单位"
    with read_transaction(city["engine"]) as conn:
        queue = service.review_queue(conn, TODAY)
    assert [a.id for a in queue] == [good.id, normal.id]  # filed later, served first


def test_the_threshold_is_policy_data(city, fake, monkeypatch):
    monkeypatch.setitem(incentive.GOOD_CREDIT, "min_months_without_arrears", 37)
    not_yet = rent(city, "e")
    assert (not_yet.due_on, not_yet.fast_track) == (date(2025, 1, 20), None)
    monkeypatch.setitem(incentive.GOOD_CREDIT, "min_months_without_arrears", 9)
    monkeypatch.setitem(incentive.GOOD_CREDIT, "review_working_days", 2)
    now_good = rent(city, "f")
    assert (now_good.due_on, now_good.fast_track) == (add_working_days(TODAY, 2), "诚信单位")
    monkeypatch.setitem(incentive.GOOD_CREDIT, "for_employees", False)
    staff_only = rent(city, "e")  # the employer qualifies, its staff no longer benefit
    assert (staff_only.due_on, staff_only.fast_track) == (date(2025, 1, 20), None)


def test_the_marker_on_the_employer_page_and_in_the_staff_queue(city, fake, sign_in):
    from hpf.app import create_app
    from hpf.settings import Settings

    engine, e, f = city["engine"], city["employers"]["e"], city["employers"]["f"]
    good = rent(city, "e")
    app = create_app(
        Settings(env="development", database_url=str(engine.url)), engine=engine, clock=city["clock"]
    )
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, session=True)
        page = client.get(f"/employers/{e.account_no}")
        assert page.status_code == 200 and 'id="good-credit">诚信单位<' in page.text
        assert 'id="good-credit"' not in client.get(f"/employers/{f.account_no}").text
        queue = client.get("/applications/queue")
        assert queue.status_code == 200
        row = queue.text[queue.text.index(f'id="application-{good.id}"') :]
        assert "诚信单位" in row[: row.index("</tr>")]
        board = client.get("/supervision")
        assert board.status_code == 200 and f'href="/employers/{e.account_no}"' in board.text
        assert "连续 36 个月以上无欠缴" in board.text


def test_the_centers_copy_of_the_policy_is_the_hubs_shipped_one():
    """The center applies its copy of the hub policy's credit section (decision 0040, 0042): the
    grounds' kinds, periods and restrictions and the incentive's numbers are the hub's."""
    import json
    from pathlib import Path

    import hpf.hub.supervision as hub_supervision
    from hpf.oversight import service as supervision

    hub = json.loads((Path(hub_supervision.__file__).with_name("policy.json")).read_text(encoding="utf-8"))
    credit = hub["credit"]
    for code, ground in credit["grounds"].items():
        ours = supervision.GROUNDS[code]
        assert (ours["kind"], ours["years"], ours["restrictions"]) == (
            ground["kind"], ground["years"], ground["restrictions"],
        )  # fmt: skip
    rule = incentive.policy()
    assert rule.min_months_without_arrears == credit["good_credit"]["min_months_without_arrears"]
    assert rule.review_working_days == credit["good_credit"]["review_working_days"]
    assert rule.incentive_zh == credit["good_credit"]["incentive_zh"]
