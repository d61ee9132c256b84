"""A center lowers its rent cap from a date (decision 0022): rent withdrawals applied for before
the date get the old cap, those applied for on or after it the new one — through the application
engine, with the change made by one administrator and approved by another.

Figures (worked by hand): 张三 and 李四 each rent at 1,500.00 yuan a month and have never
withdrawn for rent, so a claim covers 12 months. The shipped cap is 600.00 yuan a month; the
center lowers it to 450.00 from 2025-04-21.

- 张三 applies on 2025-04-18: 12 × min(1,500.00, 600.00) = 7,200.00 yuan; his balance is
  5,760.00 + 10,000.00 (a deposit) = 15,760.00, so 7,200.00 is allowed. He completes the
  application only on 2025-04-22, after the cut: it keeps the policy of the day it was made.
- 李四 applies on 2025-04-22: 12 × min(1,500.00, 450.00) = 5,400.00 yuan, within his 5,760.00.
"""

from __future__ import annotations

from datetime import date

import pytest

from hpf.access.permissions import Role
from hpf.approvals import service as approvals
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.kernel.errors import HpfError
from hpf.policy import queries
from hpf.policy.api import summary_of
from hpf.services import service as applications
from services_support import JPG, PDF, PNG
from settlement_support import deposit
from signing_in import FAST_PASSWORDS, PASSWORD
from withdrawal_support import build_rent_center

CUT = date(2025, 4, 21)
CARDS = {"zhang": "6222020200112233446", "li": "6222020200199887767"}
NAMES = {"zhang": "张三", "li": "李四"}
MATERIALS = (("M-ID", "id.png", PNG), ("M-LEASE", "lease.pdf", PDF), ("M-BANK", "card.jpg", JPG))


def _submit(center, who: str) -> dict[str, object]:
    payload = {
        "payee_name": NAMES[who],
        "payee_card": CARDS[who],
        "payee_bank": "中国工商银行济南分行",
        "rent_monthly_fen": 150_000,
    }
    with write_transaction(center.engine) as conn:
        person = center.people[who]
        app = applications.submit(conn, center.ctx, person, "WD-RENT", payload, idempotency_key=f"rent-{who}")
        for code, name, data in MATERIALS:
            applications.add_material(conn, center.ctx, person, app.id, code, name, data)
        return app


def _complete(center, who: str, app_id: int) -> dict[str, object]:
    with write_transaction(center.engine) as conn:
        return applications.complete_submission(conn, center.ctx, center.people[who], app_id)


def _sheet(app) -> dict[str, str]:
    return {line["label_zh"]: line["value"] for line in app.evaluation["sheet"]}


@pytest.fixture
def center(engine):
    center = build_rent_center(engine)  # business date 2025-04-15
    with write_transaction(engine) as conn:
        for login in ("admin01", "admin02"):
            center.people[login] = identity.create_staff(
                conn, center.ctx, login, login, [Role.ADMIN], PASSWORD, passwords=FAST_PASSWORDS
            )
        deposit(conn, center.ctx, center.member.id, 1_000_000)  # 张三: 10,000.00 yuan more
    return center


def test_rent_withdrawals_before_and_after_a_lower_cap(center):
    payload = {"key": "withdrawal.rent_monthly_cap_fen", "effective_from": CUT.isoformat(), "value": 45_000,
               "reason": "市住房公积金管委会决议"}  # fmt: skip
    with write_transaction(center.engine) as conn:
        asked = approvals.submit(
            conn, center.ctx, center.people["admin01"], approvals.POLICY_CHANGE, payload, summary_of("决议")
        )
    with write_transaction(center.engine) as conn, pytest.raises(HpfError) as same:
        approvals.approve(conn, center.ctx, center.people["admin01"], asked.id)
    assert same.value.code == "approval.same_person"
    with read_transaction(center.engine) as conn:  # not approved yet: the cap stays
        assert queries.withdrawal_policy_at(conn, CUT).rent_monthly_cap_fen == 60_000
    with write_transaction(center.engine) as conn:
        approvals.approve(conn, center.ctx, center.people["admin02"], asked.id)

    center.clock.set(date(2025, 4, 18))
    zhang = _submit(center, "zhang")
    assert zhang.submitted_on == date(2025, 4, 18) and zhang.amount_fen == 720_000  # the preview

    center.clock.set(date(2025, 4, 22))
    li = _complete(center, "li", int(_submit(center, "li").id))
    zhang = _complete(center, "zhang", int(zhang.id))  # completed after the cut

    assert zhang.state == "approved" and zhang.amount_fen == 720_000
    assert li.state == "approved" and li.amount_fen == 540_000
    assert _sheet(zhang)["每月提取限额"] == "600.00元"
    assert _sheet(zhang)["按月计算"] == "取 1,500.00元 与 600.00元 中较小者 × 12 个月 = 7,200.00元"
    assert _sheet(li)["每月提取限额"] == "450.00元"
    assert _sheet(li)["按月计算"] == "取 1,500.00元 与 450.00元 中较小者 × 12 个月 = 5,400.00元"
    assert zhang.outputs["amount_fen"] == 720_000 and li.outputs["amount_fen"] == 540_000  # reserved


def test_a_pending_change_changes_nothing(center):
    payload = {"key": "withdrawal.rent_monthly_cap_fen", "effective_from": CUT.isoformat(), "value": 45_000,
               "reason": "决议"}  # fmt: skip
    with write_transaction(center.engine) as conn:
        approvals.submit(
            conn, center.ctx, center.people["admin01"], approvals.POLICY_CHANGE, payload, summary_of("决议")
        )
    center.clock.set(date(2025, 4, 22))
    li = _complete(center, "li", int(_submit(center, "li").id))
    assert li.amount_fen == 576_000  # 12 × 600.00 = 7,200.00 is more than the balance: 5,760.00
    assert _sheet(li)["每月提取限额"] == "600.00元"
