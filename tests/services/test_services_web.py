"""The services API and pages end to end: the public guide, applying online, object-level
access (member A cannot read member B's application), the review queue, publishing a list."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hpf.app import create_app
from hpf.services import handlers
from hpf.settings import Settings
from services_support import JPG, PNG, Center, FakeWithdrawals, build_center
from signing_in import FAST_PASSWORDS, bearer, use_session


@pytest.fixture
def center(engine: Engine) -> Iterator[tuple[Center, TestClient]]:
    c = build_center(engine)
    app = create_app(Settings(env="development", database_url=str(engine.url), center_code="990001"), engine=engine, clock=c.clock,
                     passwords=FAST_PASSWORDS)  # fmt: skip
    with handlers.registered(FakeWithdrawals()), TestClient(app) as client:
        yield c, client


def as_(c: Center, client: TestClient, who: str) -> dict[str, str]:
    return bearer(client.app, c.people[who])  # type: ignore[arg-type]


def apply_rent(c: Center, client: TestClient, who: str = "a", **payload: Any) -> dict[str, Any]:
    headers = {**as_(c, client, who), "Idempotency-Key": f"{who}-{len(payload)}"}
    body = {"item_code": "WD-RENT", "payload": {"rent_monthly_fen": 150_000, **payload}}
    created = client.post("/api/v1/applications", json=body, headers=headers)
    assert created.status_code == 201, created.text
    app_id = created.json()["id"]
    for code, name, data in (("M-ID", "id.png", PNG), ("M-BANK", "card.jpg", JPG)):
        up = client.post(f"/api/v1/applications/{app_id}/materials", data={"material_code": code},
                         files={"file": (name, data)}, headers=as_(c, client, who))  # fmt: skip
        assert up.status_code == 201, up.text
    return created.json()


def test_anyone_reads_the_guide(center: tuple[Center, TestClient]) -> None:
    _, client = center
    listing = client.get("/api/v1/services")
    assert listing.status_code == 200 and listing.json()["version"] == "N2023.1"
    rent = client.get("/api/v1/services/WD-RENT").json()
    assert rent["time_limit_days"] == 3 and {m["code"] for m in rent["materials"]} >= {"M-ID", "M-BANK"}
    missing = client.get("/api/v1/services/WD-NOPE")
    assert missing.status_code == 404 and missing.json()["code"] == "service.not_found"
    page = client.get("/services")
    assert page.status_code == 200 and "租房提取" in page.text and 'name="viewport"' in page.text
    item = client.get("/services/WD-RENT")
    assert "受理条件" in item.text and "申请材料" in item.text and "登录后办理" in item.text


def test_a_member_applies_online_and_follows_it_to_the_end(center: tuple[Center, TestClient]) -> None:
    c, client = center
    app = apply_rent(c, client)
    me = as_(c, client, "a")
    again = client.post("/api/v1/applications", json={"item_code": "WD-RENT", "payload": {"rent_monthly_fen": 150_000}},
                        headers={**me, "Idempotency-Key": "a-0"})  # fmt: skip
    assert again.json()["id"] == app["id"]
    done = client.post(f"/api/v1/applications/{app['id']}/complete", headers=me)
    assert done.status_code == 200 and done.json()["state"] == "approved"
    detail = client.get(f"/api/v1/applications/{app['id']}", headers=me).json()
    assert [t["to_state"] for t in detail["transitions"]][-1] == "approved" and len(detail["materials"]) == 2
    assert detail["item_name_zh"] == "租房提取" and "idempotency_key" not in detail
    material = detail["materials"][0]
    got = client.get(f"/api/v1/applications/{app['id']}/materials/{material['id']}", headers=me)
    assert got.content == PNG and got.headers["content-type"] == "image/png"
    page = client.get(f"/applications/{app['id']}", headers=me)
    assert "已准予" in page.text and "连续缴存满3个月" in page.text and "月租金" in page.text
    mine = client.get("/api/v1/applications", headers=me).json()
    assert [m["id"] for m in mine] == [app["id"]]
    assert client.get("/api/v1/applications", headers=as_(c, client, "b")).json() == []


def test_member_a_cannot_reach_member_b_s_application(center: tuple[Center, TestClient]) -> None:
    c, client = center
    app = apply_rent(c, client, "b")
    missing_id = app["id"] + 1000
    for who in ("a", "e"):  # another member; an employer (not its staff, and not its application)
        headers = as_(c, client, who)
        for tail in ("", "/materials/1", "/archive"):
            theirs = client.get(f"/api/v1/applications/{app['id']}{tail}", headers=headers)
            absent = client.get(f"/api/v1/applications/{missing_id}{tail}", headers=headers)
            assert theirs.status_code == absent.status_code == 404
            assert theirs.json()["code"] == absent.json()["code"] == "application.not_found"
        for action, body in (("withdraw", {}), ("complete", None), ("rate", {"score": 1})):
            post = client.post(f"/api/v1/applications/{app['id']}/{action}", json=body, headers=headers)
            assert post.status_code == 404, (who, action)
        page = client.get(f"/applications/{app['id']}", headers=headers)
        assert page.status_code == 404 and page.headers["X-HPF-Error"] == "application.not_found"
    queue = client.get("/api/v1/applications/queue", headers=as_(c, client, "a"))
    assert queue.status_code == 403
    assert (
        client.get(f"/api/v1/applications/{app['id']}", headers=as_(c, client, "teller01")).status_code == 200
    )


def test_an_employer_sees_its_own_applications_only(center: tuple[Center, TestClient]) -> None:
    c, client = center
    body = {
        "item_code": "AC-CHANGE",
        "payload": {"field": "phone", "value": "1"},
        "member_account_no": c.member.account_no,
    }
    mine = client.post("/api/v1/applications", json=body, headers=as_(c, client, "e"))
    assert mine.status_code == 201 and mine.json()["applicant_kind"] == "employer"
    stranger = {**body, "member_account_no": c.stranger.account_no}
    refused = client.post("/api/v1/applications", json=stranger, headers=as_(c, client, "e"))
    assert refused.status_code == 404 and refused.json()["code"] == "member.not_found"
    assert (
        client.get(f"/api/v1/applications/{mine.json()['id']}", headers=as_(c, client, "e")).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/applications/{mine.json()['id']}", headers=as_(c, client, "f")).status_code
        == 404
    )
    assert (
        client.get(f"/api/v1/applications/{mine.json()['id']}", headers=as_(c, client, "a")).status_code
        == 404
    )


def test_reviewers_work_the_queue_on_pages(center: tuple[Center, TestClient]) -> None:
    c, client = center
    app = apply_rent(c, client, risky=True)
    client.post(f"/api/v1/applications/{app['id']}/complete", headers=as_(c, client, "a"))
    use_session(client, c.people["reviewer01"])
    queue = client.get("/applications/queue")
    assert (
        queue.status_code == 200
        and f"/applications/{app['id']}" in queue.text
        and "剩3个工作日" in queue.text
    )
    page = client.get(f"/applications/{app['id']}")
    assert "一年内多次提取" in page.text and 'id="approve-form"' in page.text
    empty = client.post(f"/applications/{app['id']}/reject", data={"reason": ""})
    assert empty.status_code == 422 and "请填写原因" in empty.text
    ok = client.post(f"/applications/{app['id']}/approve", data={"note": "核实无误"}, follow_redirects=False)
    assert ok.status_code == 303
    assert "已准予" in client.get(f"/applications/{app['id']}").text


def test_a_member_applies_through_the_pages(center: tuple[Center, TestClient]) -> None:
    c, client = center
    use_session(client, c.people["a"])
    form = client.get("/services/WD-RENT")
    assert 'id="apply-form"' in form.text
    bad = client.post("/services/WD-RENT/apply", data={"rent_monthly_fen": "abc", "form_key": "k1"})
    assert bad.status_code == 422 and "格式不正确" in bad.text
    sent = client.post(
        "/services/WD-RENT/apply", data={"rent_monthly_fen": "1500", "form_key": "k2"}, follow_redirects=False
    )
    assert sent.status_code == 303
    target = sent.headers["location"]
    app_id = int(target.rsplit("/", 1)[1])
    early = client.post(f"{target}/complete")
    assert early.status_code == 422 and "申请材料不全" in early.text
    up = client.post(
        f"{target}/materials", data={"material_code": "M-ID"}, files={"file": ("a.gif", b"GIF89a")}
    )
    assert up.status_code == 422 and "只接受" in up.text
    for code in ("M-ID", "M-BANK"):
        r = client.post(
            f"{target}/materials",
            data={"material_code": code},
            files={"file": ("a.png", PNG)},
            follow_redirects=False,
        )
        assert r.status_code == 303
    assert client.post(f"{target}/complete", follow_redirects=False).status_code == 303
    assert "已准予" in client.get(target).text
    assert client.get("/applications").text.count(f"/applications/{app_id}") == 1


def _rent_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "item": "WD-RENT", "effective_from": "2025-04-01", "reason": "从严", "time_limit_days": "2",
        "extra_conditions": "", "summary_zh": "",
    }  # fmt: skip
    for code in ("M-ID", "M-LEASE", "M-BANK"):
        form[f"required_{code}"] = "1"
        form[f"types_{code}"] = ["pdf", "jpg", "png"]
        form[f"size_{code}"] = "5120"
    return {**form, **changes}


def test_an_administrator_asks_to_publish_a_local_list_on_the_page(center: tuple[Center, TestClient]) -> None:
    c, client = center
    use_session(client, c.people["admin01"])
    rent = client.get("/api/v1/services/WD-RENT").json()
    rent.pop("version")
    rent.pop("local")
    page = client.get("/catalog?item=WD-RENT").text
    assert "JSON" not in page and 'name="time_limit_days"' in page and 'name="size_M-LEASE"' in page
    assert "不超过全国目录的 3 个工作日" in page

    refused = client.post("/catalog", data=_rent_form(time_limit_days="9", reason=""))
    box = refused.text.split('id="catalog-error"')[1].split("</div>")[0]
    assert refused.status_code == 422 and "请填写发布原因" in box and "办结时限不能长于" in box  # all at once
    refused = client.post("/catalog", data=_rent_form(time_limit_days="9", **{"size_M-ID": "9999"}))
    box = refused.text.split('id="catalog-error"')[1].split("</div>")[0]
    assert (
        refused.status_code == 422 and "办结时限不能长于" in box and "大小上限不能超过5120KB" in box
    )  # both at once
    sent = client.post(
        "/catalog",
        data=_rent_form(
            extra_conditions="租赁合同须已网签备案", **{"types_M-BANK": ["pdf"], "size_M-ID": "2048"}
        ),
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "待审批" in client.get("/catalog").text
    checker = as_(c, client, "admin02")
    [request] = client.get("/api/v1/approvals", params={"state": "pending"}, headers=checker).json()
    assert client.post(f"/api/v1/approvals/{request['id']}/approve", headers=checker).status_code == 200
    local = client.get("/api/v1/services/WD-RENT", params={"on": "2025-04-01"}).json()
    assert local["local"] and local["time_limit_days"] == 2
    assert local["conditions"][-1] == {"id": "L1", "text_zh": "租赁合同须已网签备案"}
    materials = {m["code"]: m for m in local["materials"]}
    assert materials["M-BANK"]["file_types"] == ["pdf"] and materials["M-ID"]["max_size_kb"] == 2048
    versions = client.get("/catalog").text.split('id="local-versions"')[1].split("</ul>")[0]
    assert "WD-RENT" in versions and "admin01" in versions  # the maker, named
    tight = {**rent, "time_limit_days": 2}
    api = client.post("/api/v1/catalog/versions", json={"effective_from": "2025-05-01", "items": [tight], "reason": "x"},
                      headers=as_(c, client, "admin02"))  # fmt: skip
    assert api.status_code == 202 and api.json()["state"] == "pending"


def test_the_item_page_reads_as_chinese_without_developer_notes(center: tuple[Center, TestClient]) -> None:
    import re

    c, client = center
    for code in ("WD-RENT", "LN-APPLY"):
        text = re.sub(r"<[^>]+>", " ", client.get(f"/services/{code}").text)
        assert "待核实" not in text and "解释" not in text and "占位" not in text
        assert "本中心按工作日计算办结时限" in text
    use_session(client, c.people["teller01"])
    form = client.get("/services/WD-DEATH").text.split('id="ap-kind"')[1].split("</select>")[0]
    assert ">heir<" not in form and ">staff<" not in form and "继承人" in form
