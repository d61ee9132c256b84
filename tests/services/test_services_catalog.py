"""The catalog (E1): the national list, local tightening (and refusals), effective dates,
maker-checker publishing."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from hpf.approvals import service as approvals
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity.identity import Forbidden
from hpf.kernel.errors import HpfError, InvalidInput
from hpf.kernel.findings import require_ok
from hpf.services import catalog, handlers, rules, service
from services_support import FakeWithdrawals, build_center

REASON_CODES = {"01", "02", "03", "04", "05", "06", "07", "08", "09", "99"}  # REFERENCE §3.2


def national(code: str) -> dict[str, Any]:
    return copy.deepcopy(catalog.national_at(date(2025, 1, 1)).items[_index(code)])


def _index(code: str) -> int:
    return [i["code"] for i in catalog.national_at(date(2025, 1, 1)).items].index(code)


def findings(local: dict[str, Any], code: str = "WD-RENT") -> list[str]:
    return [f.code for f in rules.check_local_item(national(code), local)]


# ------------------------------------------------------------------------------------ national


def test_the_national_list_has_every_withdrawal_reason_and_the_account_items() -> None:
    items = catalog.national_at(date(2025, 1, 1)).items
    codes = {i["code"] for i in items}
    assert {
        "WD-PURCHASE", "WD-BUILD", "WD-RETIRE", "WD-DISABILITY", "WD-LEAVE", "WD-REPAY-ONCE",
        "WD-REPAY-MONTHLY", "WD-RENT", "WD-DEATH", "WD-ILLNESS", "WD-OTHER",
        "AC-OPEN", "AC-CHANGE", "AC-TRANSFER-IN",
    } <= codes  # fmt: skip
    assert {i["business_code"] for i in items if i["category"] == "withdrawal"} == REASON_CODES
    for item in items:
        assert rules.validate_item(item) == [], item["code"]
        assert item["conditions"] and item["steps"] and item["applicants"] and item["result_zh"]
    withdrawals = [i for i in items if i["category"] == "withdrawal"]
    assert all(
        i["time_limit_days"] == 3 and not i["time_limit_placeholder"] for i in withdrawals
    )  # 《条例》 art. 25
    assert all(i["time_limit_placeholder"] for i in items if i["category"] == "account")
    assert national("WD-DEATH")["applicants"] == ["heir"]
    assert {i["code"] for i in items if i["closes_account"]} == {
        "WD-RETIRE",
        "WD-DISABILITY",
        "WD-LEAVE",
        "WD-DEATH",
    }


def test_there_is_no_catalog_before_the_first_national_version() -> None:
    with pytest.raises(HpfError) as refused:
        catalog.national_at(date(2020, 1, 1))
    assert refused.value.code == "service.no_catalog"


# ------------------------------------------------------------------------------------- local


def test_a_local_item_may_tighten_every_parameter() -> None:
    local = national("WD-RENT")
    local["time_limit_days"] = 2
    local["conditions"].append({"id": "L1", "text_zh": "租赁合同须在本市住房租赁平台备案"})
    local["steps"].append({"id": "L1", "name_zh": "回访", "text_zh": "办结后电话回访。"})
    lease = next(m for m in local["materials"] if m["code"] == "M-LEASE")
    lease["required"] = True
    lease["file_types"] = ["pdf"]
    lease["max_size_kb"] = 1024
    local["materials"].append(
        {
            "code": "M-L-TAX",
            "name_zh": "房租发票",
            "required": True,
            "file_types": ["pdf"],
            "max_size_kb": 2048,
        }
    )
    local["summary_zh"] = "本市职工租房提取。"
    assert findings(local) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda i: i["materials"].pop(0), "catalog.material_dropped"),
        (lambda i: i["conditions"].pop(), "catalog.condition_dropped"),
        (lambda i: i["conditions"][0].update(text_zh="随便写"), "catalog.condition_dropped"),
        (lambda i: i["steps"].pop(1), "catalog.step_dropped"),
        (lambda i: i.update(time_limit_days=5), "catalog.time_limit_longer"),
        (lambda i: i["materials"][0].update(required=False), "catalog.material_optional"),
        (
            lambda i: i["materials"][0].update(file_types=["pdf", "jpg", "png", "gif"]),
            "catalog.invalid_material",
        ),
        (lambda i: i["materials"][0].update(max_size_kb=10240), "catalog.size_larger"),
        (lambda i: i.update(applicants=["member", "employer"]), "catalog.applicants_changed"),
        (lambda i: i.update(channels=["counter"]), "catalog.channel_dropped"),
        (lambda i: i.update(result_zh=""), "catalog.element_missing"),
        (lambda i: i.pop("result_zh"), "catalog.element_missing"),
        (lambda i: i.update(name_zh="别的名字"), "catalog.element_changed"),
        (lambda i: i.update(drop=["M-ID"]), "catalog.unknown_element"),
    ],
)
def test_a_local_item_that_drops_or_loosens_an_element_is_refused(change: Any, code: str) -> None:
    local = national("WD-RENT")
    change(local)
    assert code in findings(local)


def test_a_file_type_the_nation_does_not_accept_is_refused() -> None:
    local = national("WD-RENT")
    local["materials"][0]["file_types"] = ["pdf"]
    national_item = national("WD-RENT")
    national_item["materials"][0]["file_types"] = ["png"]
    assert [f.code for f in rules.check_local_item(national_item, local)] == ["catalog.file_type_added"]


def test_a_local_list_names_only_national_items_once_and_refuses_with_every_finding() -> None:
    by_code = {i["code"]: i for i in catalog.national_at(date(2025, 1, 1)).items}
    bad = national("WD-RENT")
    bad["time_limit_days"] = 9
    bad["materials"] = []
    invented = {**national("WD-RENT"), "code": "WD-LOTTERY"}
    got = rules.check_local_list(by_code, [bad, invented, national("WD-RENT"), national("WD-RENT")])
    assert {f.code for f in got} >= {
        "catalog.time_limit_longer",
        "catalog.material_dropped",
        "catalog.unknown_item",
        "catalog.duplicate",
    }
    with pytest.raises(InvalidInput) as refused:
        require_ok(got)
    assert len(refused.value.extra["findings"]) == len(got)
    assert (
        rules.check_local_list(by_code, [])
        and rules.check_local_list(by_code, [])[0].code == "catalog.empty_list"
    )


# --------------------------------------------------------------------------- stored versions


def _tighter_rent(days: int = 2) -> dict[str, Any]:
    local = national("WD-RENT")
    local["time_limit_days"] = days
    return local


def test_a_local_list_is_published_by_maker_checker_and_applies_from_its_date(engine: Engine) -> None:
    center = build_center(engine)
    ctx, admin, admin2 = center.ctx, center.people["admin01"], center.people["admin02"]
    start = date(2025, 4, 1)
    payload = {
        "effective_from": start.isoformat(),
        "items": [_tighter_rent()],
        "reason": "济公积金〔2025〕1号",
    }
    with write_transaction(engine) as conn:
        request = approvals.submit(conn, ctx, admin, approvals.CATALOG_PUBLISH, payload, "实施清单")
        with pytest.raises(Forbidden) as same:
            approvals.approve(conn, ctx, admin, request.id)
        assert same.value.code == "approval.same_person"
    with read_transaction(engine) as conn:
        assert catalog.list_local_versions(conn) == []  # nothing before the checker approves
    with write_transaction(engine) as conn:
        done = approvals.approve(conn, ctx, admin2, request.id)
    assert done.result["codes"] == ["WD-RENT"]
    with read_transaction(engine) as conn:
        before = catalog.catalog_at(conn, date(2025, 3, 31))
        after = catalog.catalog_at(conn, start)
        assert before.item("WD-RENT")["time_limit_days"] == 3 and before.version == "N2023.1"
        assert after.item("WD-RENT")["time_limit_days"] == 2 and after.item("WD-RENT")["local"]
        assert after.version == f"N2023.1+L{done.result['version']}"
        assert after.item("WD-PURCHASE") == {**national("WD-PURCHASE"), "local": False}  # inherited
        # A version id resolves the item as it was, whatever is in force later.
        assert catalog.item_of_version(conn, "WD-RENT", after.version)["time_limit_days"] == 2
        assert catalog.item_of_version(conn, "WD-RENT", "N2023.1")["time_limit_days"] == 3


def test_publishing_refuses_a_loosening_a_past_date_and_a_second_list_on_one_day(engine: Engine) -> None:
    center = build_center(engine)
    ctx, admin = center.ctx, center.people["admin01"]
    loose = _tighter_rent(days=7)
    with write_transaction(engine) as conn:
        with pytest.raises(InvalidInput) as refused:
            approvals.submit(conn, ctx, admin, approvals.CATALOG_PUBLISH,
                             {"effective_from": "2025-04-01", "items": [loose], "reason": "r"}, "x")  # fmt: skip
        assert refused.value.code == "catalog.time_limit_longer"
        with pytest.raises(InvalidInput) as past:
            catalog.publish_local_version(conn, ctx, date(2025, 3, 1), [_tighter_rent()], "r")
        assert past.value.code == "catalog.retroactive"
        catalog.publish_local_version(conn, ctx, date(2025, 4, 1), [_tighter_rent()], "r")
        with pytest.raises(HpfError) as twice:
            catalog.publish_local_version(conn, ctx, date(2025, 4, 1), [_tighter_rent(1)], "r")
        assert twice.value.code == "catalog.duplicate"
        assert approvals.list_requests(conn, kind=approvals.CATALOG_PUBLISH) == []


def test_an_application_keeps_the_time_limit_of_its_version(engine: Engine) -> None:
    center = build_center(engine)
    with handlers.registered(FakeWithdrawals()), write_transaction(engine) as conn:
        catalog.publish_local_version(conn, center.ctx, date(2025, 3, 14), [_tighter_rent(1)], "从严")
        app = service.submit(conn, center.ctx, center.people["a"], "WD-RENT", {"rent_monthly_fen": 100})
        assert app.catalog_version.startswith("N2023.1+L")
        assert service.item_of(conn, app)["time_limit_days"] == 1
