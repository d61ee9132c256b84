"""Self-service withdrawals on the pages: a member applies for rent or purchase from the overview,
sees the calculation sheet and the decision, follows the payment and downloads the receipt.

Integration tier: the real engine, rules, settlement and the fake bank, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hpf.app import create_app
from hpf.audit.trail import audit_log
from hpf.db.engine import read_transaction
from hpf.services import archives
from hpf.services.tables import application
from hpf.settings import Settings
from hpf.withdrawals.service import send_reserved
from services_support import JPG, PDF, PNG
from settlement_support import CARD
from signing_in import FAST_PASSWORDS, use_session
from withdrawal_support import RentCenter, build_rent_center

PAYEE = {"payee_name": "张三", "payee_card": CARD, "payee_bank": "中国工商银行济南分行"}
RENT_FILES = {"m_M-ID": ("id.png", PNG, "image/png"), "m_M-LEASE": ("lease.pdf", PDF, "application/pdf"),
              "m_M-BANK": ("card.jpg", JPG, "image/jpeg")}  # fmt: skip
PURCHASE_FILES = {"m_M-ID": ("id.png", PNG, "image/png"), "m_M-CONTRACT": ("c.pdf", PDF, "application/pdf"),
                  "m_M-PAYMENT": ("p.pdf", PDF, "application/pdf"), "m_M-BANK": ("card.jpg", JPG, "image/jpeg")}  # fmt: skip


@pytest.fixture
def center(engine: Any) -> RentCenter:
    return build_rent_center(engine)


@pytest.fixture
def client(center: RentCenter) -> Iterator[TestClient]:
    settings = Settings(env="development", database_url=str(center.engine.url), center_code="990001")
    app = create_app(settings, engine=center.engine, clock=center.clock, passwords=FAST_PASSWORDS)
    with TestClient(app) as test_client:
        yield test_client


def _as(client: TestClient, center: RentCenter, who: str) -> TestClient:
    client.cookies.clear()
    use_session(client, center.people[who])
    return client


def _apply(client: TestClient, center: RentCenter, code: str, fields: dict[str, str], files: dict[str, Any]):
    url = f"/members/{center.member.account_no}/withdrawals/{code}/apply"
    return client.post(url, data={**PAYEE, **fields}, files=files, follow_redirects=False)


def _count(center: RentCenter) -> int:
    with read_transaction(center.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(application)) or 0)


def _id_of(response: Any) -> int:
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/applications/(\d+)", response.headers["location"])
    assert found, response.headers["location"]
    return int(found.group(1))


def test_the_overview_links_each_open_reason_to_its_own_form(client: TestClient, center: RentCenter) -> None:
    page = _as(client, center, "zhang").get(f"/members/{center.member.account_no}/withdrawals")
    assert page.status_code == 200
    no = center.member.account_no
    assert f'href="/members/{no}/withdrawals/WD-RENT/apply"' in page.text
    assert "WD-REPAY-ONCE/apply" in page.text and "WD-REPAY-MONTHLY/apply" in page.text
    assert "WD-RETIRE/apply" not in page.text  # 张三 is not retired
    assert "WD-DEATH/apply" not in page.text  # heirs apply at the counter

    form = client.get(f"/members/{no}/withdrawals/WD-RENT/apply")
    assert form.status_code == 200
    html = form.text
    assert 'id="up-to">5,760.00<' in html  # 3 months × 1,920.00 in the account; rent would allow more
    assert "月租金（元）" in html and "每月提取限额" in html
    assert 'name="payee_name" value="张三"' in html  # prefilled from the member's record
    assert 'name="payee_card" value=""' in html  # never guessed
    assert "申请人有效身份证件" in html and "房屋租赁合同（已备案的）" in html and 'name="m_M-BANK"' in html
    assert "cost_fen" not in html and "family_resident_ids" not in html  # only what rent needs
    purchase = client.get(f"/members/{no}/withdrawals/WD-PURCHASE/apply").text
    assert "购房合同编号或不动产权证号" in purchase and "家庭已支付的购房款（元）" in purchase
    assert 'name="family_resident_ids"' in purchase and "rent_monthly_fen" not in purchase
    assert "购房款发票或付款凭证" in purchase


def test_a_rent_withdrawal_is_approved_straight_through_then_paid(
    client: TestClient, center: RentCenter, bank: Any
) -> None:
    _as(client, center, "zhang")
    fields = {"rent_monthly_fen": "1500", "requested_fen": "3000", "form_key": "rent-1"}
    first = _apply(client, center, "WD-RENT", fields, RENT_FILES)
    application_id = _id_of(first)
    again = _apply(client, center, "WD-RENT", fields, RENT_FILES)  # a double click
    assert _id_of(again) == application_id and _count(center) == 1

    page = client.get(f"/applications/{application_id}")
    html = page.text
    assert page.status_code == 200 and "已批准" in html and "系统核验全部条件符合" in html
    assert (
        "按月计算" in html and "取 1,500.00元 与 600.00元 中较小者 × 12 个月 = 7,200.00元" in html
    )  # the sheet
    assert "min(" not in html
    checked = html.split('id="rule-results"')[1].split("</ul>")[0]
    assert "符合</span> 账户有余额可提取" in checked and "符合</span> 无未结清的住房公积金贷款" in checked
    assert "账户余额为零" not in checked and "不能租房提取" not in checked  # no failure wording beside 符合
    steps = html.split('id="transitions"')[1].split("</ol>")[0]
    assert "系统" in steps and "system" not in steps  # the actor of straight-through approval
    assert 'id="outcome-amount">3,000.00 元' in html
    assert "已预留资金，等待银行付款" in html
    order_no = re.search(r'id="payment-order">([^<]+)<', html).group(1)
    assert order_no != "—"

    assert send_reserved(center.engine, center.ctx, bank) == {"paid": 1}  # the payment run
    paid = client.get(f"/applications/{application_id}").text
    assert "已办结" in paid and "已付款（2025-04-15）" in paid and 'id="paid-on">2025-04-15<' in paid
    listed = client.get("/applications").text
    assert f'id="application-{application_id}"' in listed and "已办结" in listed


def test_a_purchase_withdrawal_with_family_and_every_material(client: TestClient, center: RentCenter) -> None:
    _as(client, center, "zhang")
    fields = {
        "document_no": "JN2025-000123", "document_date": "2025-03-01", "cost_fen": "3000",
        "family_resident_ids": center.colleague.resident_id, "form_key": "buy-1",
    }  # fmt: skip
    application_id = _id_of(_apply(client, center, "WD-PURCHASE", fields, PURCHASE_FILES))
    html = client.get(f"/applications/{application_id}").text
    assert "已批准" in html and "家庭支付的购房款" in html and 'id="outcome-amount">3,000.00 元' in html
    with read_transaction(center.engine) as conn:
        stored = conn.scalar(select(application.c.payload).where(application.c.id == application_id))
    assert stored["family_resident_ids"] != [center.colleague.resident_id]  # masked; kept encrypted


@pytest.mark.parametrize(
    ("code", "fields", "message"),
    [
        ("WD-PURCHASE", {"document_no": "JN-1", "document_date": "2023-12-01", "cost_fen": "3000"},
         "购房合同或不动产登记已超过12个月，不能再申请此项提取"),
        ("WD-RENT", {"rent_monthly_fen": "1500", "requested_fen": "9000"}, "申请金额超过可提取额度5,760.00元"),
    ],
)  # fmt: skip
def test_a_claim_the_rules_refuse_shows_why_and_files_nothing(
    client: TestClient, center: RentCenter, code: str, fields: dict[str, str], message: str
) -> None:
    _as(client, center, "zhang")
    files = PURCHASE_FILES if code == "WD-PURCHASE" else RENT_FILES
    refused = _apply(client, center, code, {**fields, "form_key": "x"}, files)
    assert refused.status_code == 409
    assert "不符合提取条件，申请未提交" in refused.text and message in refused.text
    assert 'id="sheet"' in refused.text  # how the amount would be reached
    assert 'name="payee_card" value="' + CARD + '"' in refused.text  # what was typed comes back
    assert _count(center) == 0


def test_a_missing_material_or_a_bad_card_refuses_the_whole_form(
    client: TestClient, center: RentCenter
) -> None:
    _as(client, center, "zhang")
    fields = {"rent_monthly_fen": "1500"}
    missing = _apply(client, center, "WD-RENT", fields, {"m_M-ID": RENT_FILES["m_M-ID"]})
    assert missing.status_code == 422 and "申请材料不全，请补齐：申请人本人银行卡（I类账户）" in missing.text
    bad_card = _apply(client, center, "WD-RENT", {**fields, "payee_card": "6222020200001234563"}, RENT_FILES)
    assert bad_card.status_code == 422 and 'id="apply-error"' in bad_card.text
    assert _count(center) == 0


def test_a_teller_applies_for_the_member_at_the_counter(client: TestClient, center: RentCenter) -> None:
    _as(client, center, "teller01")
    application_id = _id_of(_apply(client, center, "WD-RENT", {"rent_monthly_fen": "1500"}, RENT_FILES))
    with read_transaction(center.engine) as conn:
        row = conn.execute(select(application).where(application.c.id == application_id)).mappings().one()
    assert (row["member_id"], row["channel"], row["state"]) == (center.member.id, "counter", "approved")
    _as(client, center, "li")  # another member: neither the form nor 张三's account
    assert client.get(f"/members/{center.member.account_no}/withdrawals/WD-RENT/apply").status_code == 404


def test_the_receipt_is_the_members_own_printable_and_audited(
    client: TestClient, center: RentCenter, bank: Any
) -> None:
    _as(client, center, "zhang")
    fields = {"rent_monthly_fen": "1500", "requested_fen": "3000"}
    application_id = _id_of(_apply(client, center, "WD-RENT", fields, RENT_FILES))
    url = f"/applications/{application_id}/receipt"
    got = client.get(url)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    disposition = got.headers["content-disposition"]
    assert disposition.startswith(f'attachment; filename="receipt-{application_id}.html"')
    assert "filename*=UTF-8''%E5%9B%9E%E6%89%A7" in disposition  # 回执
    html = got.text
    resident_id = center.member.resident_id
    assert "示范市住房公积金管理中心" in html and "业务办理回执" in html and "租房提取（WD-RENT）" in html
    assert f'id="r-id">{application_id}<' in html and 'id="r-applicant">张三<' in html
    assert (
        resident_id not in html and f"{resident_id[0]}{'*' * 16}{resident_id[-1]}" in html
    )  # masked ID (0017)
    assert 'id="r-amount">3,000.00 元<' in html and "已预留资金，等待银行付款" in html
    assert re.search(r'id="r-digest">[0-9a-f]{64}<', html) and "业务办结后归档封存" in html
    assert "@media print" in html and "<script" not in html
    with read_transaction(center.engine) as conn:
        reads = conn.execute(
            select(audit_log.c.action).where(audit_log.c.detail["path"].as_string() == url)
        ).scalars().all()  # fmt: skip
    assert {"application.read", "member.read"} <= set(reads)

    assert _as(client, center, "li").get(url).status_code == 404  # not theirs: as if it did not exist
    assert _as(client, center, "teller01").get(url).status_code == 200  # staff with application:read

    send_reserved(center.engine, center.ctx, bank)
    executed = _as(client, center, "zhang").get(url).text
    with read_transaction(center.engine) as conn:
        seal = archives.get_archive(conn, application_id).sm3
    assert f'id="r-archive">{seal}<' in executed and "已付款（2025-04-15）" in executed
    assert re.search(r'id="r-digest">([0-9a-f]{64})<', executed).group(1) != re.search(
        r'id="r-digest">([0-9a-f]{64})<', html
    ).group(1)  # the receipt's digest covers its facts


def test_a_risk_sends_it_to_a_reviewer_with_the_reason_then_the_refusal_is_shown(
    client: TestClient, center: RentCenter
) -> None:
    li_url = f"/members/{center.colleague.account_no}/withdrawals/WD-RENT/apply"
    li = _as(client, center, "li").post(
        li_url, data={**PAYEE, "payee_name": "李四", "rent_monthly_fen": "1500"}, files=RENT_FILES,
        follow_redirects=False,
    )  # fmt: skip
    assert "已批准" in client.get(f"/applications/{_id_of(li)}").text
    _as(client, center, "zhang")  # the same card as 李四, who is not declared family
    application_id = _id_of(_apply(client, center, "WD-RENT", {"rent_monthly_fen": "1500"}, RENT_FILES))
    html = client.get(f"/applications/{application_id}").text
    assert "已转人工审核" in html and "收款银行卡已被1名非家庭成员的职工使用" in html
    assert 'id="payment-state">—<' in html and "已批准" not in html

    _as(client, center, "reviewer01").post(
        f"/applications/{application_id}/reject", data={"reason": "收款卡非本人所有"}
    )
    refused = _as(client, center, "zhang").get(f"/applications/{application_id}").text
    assert "不予办理" in refused and "收款卡非本人所有" in refused
    receipt = client.get(f"/applications/{application_id}/receipt").text
    assert "不予办理：收款卡非本人所有" in receipt and 'id="r-archive">' in receipt  # ended: archived


def test_every_error_of_the_form_comes_at_once(client: TestClient, center: RentCenter) -> None:
    _as(client, center, "zhang")
    url = f"/members/{center.member.account_no}/withdrawals/WD-PURCHASE/apply"
    fields = {"cost_fen": "12.345", "payee_name": "", "family_resident_ids": "123", "payee_card": CARD,
              "payee_bank": "中国工商银行济南分行"}  # fmt: skip
    refused = client.post(url, data=fields, files=PURCHASE_FILES, follow_redirects=False)
    assert refused.status_code == 422
    box = refused.text.split('id="apply-error"')[1].split("</p>")[0]
    assert (
        "请修改以下5处" in box
        and "格式不正确" in box
        and "请填写“收款人户名”" in box
        and "身份证号码长度不正确" in box
    )
    assert _count(center) == 0
