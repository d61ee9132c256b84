"""Filing transfer-in applications in bulk (单位批量办理转入, decision 0044) leaves exactly what
filing them one by one leaves: the same application rows, state history, events, transfers,
contact letters queued and letter numbers; refused items change nothing.

Two networks built alike (``test_transfer_batch``'s three people, who deposited January–March
2025 at Shenzhen and hold accounts at Hangzhou since 1 April; today 15 April 2025). On both, 王五
applied already (his transfer is under way). On one, the counter files 张三 and 李四 one by one
(``services.submit`` with ``complete``); on the other, in one bulk call with three refusals among
them: an account unknown here, 王五 (a transfer under way), 张三 named twice.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest
import test_transfer_batch as case
from sqlalchemy import Connection, text
from transfer_support import NEW, OLD, TODAY, Center, Network, make_network

from factories import employer_payload, member_payload
from hpf.access.permissions import Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.identity import identity
from hpf.kernel.errors import InvalidInput
from hpf.oversight import incentive
from hpf.services import bulk
from hpf.services import service as applications
from hpf.transfers import filing
from hpf.transfers import service as transfers
from signing_in import FAST_PASSWORDS, PASSWORD, add_staff, bearer


def _network(tmp_path, *, batches: bool = True, wall: datetime | None = None) -> Network:
    """``wall``: the new center's clock stopped at that moment (timestamps compared across networks)."""
    net = make_network(tmp_path, TODAY, {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"})
    old, new = net.centers[OLD], net.centers[NEW]
    case._populate(old, case.date(2025, 1, 2), ("2025-01", "2025-02", "2025-03"), seq=1)
    case._populate(new, case.date(2025, 4, 1), (), seq=2)
    with old.write() as conn:
        for who in case.PEOPLE:
            accounts.seal_member(conn, old.ctx, old.members[who].account_no, "离职封存")
    for center in net.centers.values():
        case._batches(center, batches)
    new.people["teller"] = add_staff(new.app, "teller01", [Role.TELLER])
    if wall is not None:
        new.clock._wall = wall
    case._apply(net, "wang")  # his transfer under way before the filing
    return net


def _payload(net: Network, who: str) -> dict[str, Any]:
    return {
        "from_center": OLD,
        "old_account_no": net.centers[OLD].members[who].account_no,
        "old_employer_name": "深圳某公司",
    }


def _rows(conn: Connection, sql: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql)).mappings()]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _snapshot(center: Center) -> dict[str, Any]:
    """Everything the filing writes at the new center, ids of messages left out (random)."""
    with center.use(), center.read() as conn:
        apps = [
            {k: (_json(v) if k in ("payload", "evaluation", "outputs") else v) for k, v in r.items()}
            for r in _rows(conn, "SELECT * FROM application ORDER BY id")
        ]
        history = [
            {k: v for k, v in r.items() if k != "id"}
            for r in _rows(conn, "SELECT * FROM application_transition ORDER BY application_id, id")
        ]
        per_object: dict[str, list[Any]] = defaultdict(list)  # each object's events in order
        for e in _rows(conn, "SELECT * FROM business_event ORDER BY id"):
            if e["object_kind"] in ("application", "transfer"):
                per_object[f"{e['object_kind']}:{e['object_id']}"].append(
                    (e["type"], _json(e["payload"]), e["actor"], e["source"], str(e["business_date"]),
                     str(e["recorded_at"]))
                )  # fmt: skip
        moved = [
            {k: v for k, v in r.items() if k != "letter_message_id"}
            for r in _rows(conn, "SELECT * FROM transfer ORDER BY id")
        ]
        letters = sorted(
            json.dumps(
                [m["type"], m["peer"], m["letter_no"], m["state"], m["reply_to"], str(m["created_at"]),
                 transfers.stored_body(conn, m["message_id"]).model_dump(mode="json")],  # type: ignore[union-attr]
                sort_keys=True, default=str,
            )
            for m in _rows(conn, "SELECT * FROM exchanged_message WHERE direction = 'out' AND type = 'BDC901'")
        )  # fmt: skip
    return {"applications": apps, "history": history, "events": dict(per_object), "transfers": moved,
            "letters": letters}  # fmt: skip


@pytest.mark.slow
def test_bulk_filing_leaves_what_filing_one_by_one_leaves(tmp_path, monkeypatch) -> None:
    # 张三's employer is of good credit (诚信单位): his application fast-tracked on acceptance
    # (decision 0042), its event between acceptance and review as on the single path; 李四's not
    good: set[int] = set()
    monkeypatch.setattr(
        incentive, "_employer_of_member_is_good_credit", lambda conn, member_id, on, rule: member_id in good
    )
    wall = datetime(2025, 4, 15, 2, 30, tzinfo=UTC)
    single, many = _network(tmp_path / "single", wall=wall), _network(tmp_path / "bulk", wall=wall)
    good.update(net.centers[NEW].members["zhang"].id for net in (single, many))

    new = single.centers[NEW]
    for who in ("zhang", "li"):
        with new.write() as conn:
            done = applications.submit(
                conn, new.ctx, new.people["teller"], "AC-TRANSFER-IN", _payload(single, who),
                member_account_no=new.members[who].account_no, complete=True,
            )  # fmt: skip
        assert done.state == "approved"

    new = many.centers[NEW]
    accounts_no = {who: new.members[who].account_no for who in case.PEOPLE}
    items = [
        bulk.BulkItem(_payload(many, "zhang"), accounts_no["zhang"]),
        bulk.BulkItem(_payload(many, "zhang"), "330100999999999"),  # no such account here
        bulk.BulkItem(_payload(many, "li"), accounts_no["li"]),
        bulk.BulkItem(_payload(many, "wang"), accounts_no["wang"]),  # his transfer is under way
        bulk.BulkItem(_payload(many, "zhang"), accounts_no["zhang"]),  # named twice
    ]
    before = _snapshot(new)
    with new.write() as conn:
        outcomes = bulk.submit_many(conn, new.ctx, new.people["teller"], "AC-TRANSFER-IN", items)
    filed = {o.index: o for o in outcomes if isinstance(o, bulk.Filed)}
    refused = {o.index: o for o in outcomes if isinstance(o, bulk.Refused)}
    assert sorted(filed) == [0, 2] and sorted(refused) == [1, 3, 4]
    assert [filed[0].outputs["letter_no"], filed[2].outputs["letter_no"]] == [
        f"{NEW}2504150002",  # 王五's letter was the day's first
        f"{NEW}2504150003",
    ]
    assert {i: filed[i].state for i in filed} == {0: "approved", 2: "approved"}
    assert refused[1].code == "member.not_found"
    assert refused[3].code == "application.rules_failed" and refused[3].rules == ("transfer.none_running",)
    assert "已有正在办理的转移接续" in refused[3].message_zh
    assert refused[4].code == "application.duplicate"

    one, other = _snapshot(single.centers[NEW]), _snapshot(new)
    zhang_app = next(a for a in other["applications"] if a["member_id"] == new.members["zhang"].id)
    assert zhang_app["fast_track"] == "诚信单位"
    assert [e[0] for e in other["events"][f"application:{zhang_app['id']}"]] == [
        "application.submitted", "application.accepted", "application.fast_tracked",
        "application.under_review", "application.approved",
    ]  # fmt: skip
    for part in one:
        if one[part] != other[part] and isinstance(one[part], list):  # name the first difference
            for a, b in zip(one[part], other[part], strict=False):
                assert a == b, part
        assert one[part] == other[part], part
    # what the refused items would have touched did not move: 王五 has his one application and transfer
    assert sum(a["member_id"] == new.members["wang"].id for a in other["applications"]) == 1
    assert len(other["transfers"]) == len(before["transfers"]) + 2 == 3
    assert len(other["letters"]) == 3 and len(other["history"]) == 12  # four moves each
    states = [
        [t["to_state"] for t in other["history"] if t["application_id"] == a["id"]]
        for a in other["applications"]
    ]
    assert states == [["submitted", "accepted", "under_review", "approved"]] * 3


@pytest.mark.slow
def test_bulk_filed_transfers_complete_through_the_network(tmp_path) -> None:
    """Single messages this time (batches off): the letters filed in bulk reach the old center,
    which approves and pays; each member is credited at the new center (figures of
    ``test_transfer_batch``: 576,840 fen for 张三, 360,525 fen for 李四)."""
    net = _network(tmp_path, batches=False)
    new, old = net.centers[NEW], net.centers[OLD]
    items = [bulk.BulkItem(_payload(net, w), new.members[w].account_no) for w in ("zhang", "li")]
    with new.write() as conn:
        outcomes = bulk.submit_many(conn, new.ctx, new.people["teller"], "AC-TRANSFER-IN", items)
    assert [type(o) for o in outcomes] == [bulk.Filed, bulk.Filed]
    net.run()
    with old.write() as conn:
        from hpf.transfers import process

        approved = process.approve_many(conn, old.ctx)
    assert len(approved.approved) == 3 and approved.skipped == ()  # 王五's too
    old.pay()
    new.take_bank_notices()
    net.run()
    for who in ("zhang", "li", "wang"):
        assert case._balance(new, who) == case.AMOUNT[who]
    with new.read() as conn:
        for o in outcomes:
            assert isinstance(o, bulk.Filed)
            assert applications.get(conn, o.application_id).state == "executed"
    assert new.check() == [] and old.check() == []


def test_a_day_numbers_at_most_9999_letters_and_the_rest_are_refused_alone(tmp_path, monkeypatch) -> None:
    net = _network(tmp_path)
    new = net.centers[NEW]
    monkeypatch.setattr(filing, "letters_left", lambda conn, code, day: 1)  # the day's 9,998th letter written
    items = [bulk.BulkItem(_payload(net, w), new.members[w].account_no) for w in ("zhang", "li")]
    with new.write() as conn:
        first, second = bulk.submit_many(conn, new.ctx, new.people["teller"], "AC-TRANSFER-IN", items)
    assert isinstance(first, bulk.Filed) and isinstance(second, bulk.Refused)
    assert second.code == "transfer.letter_sequence"
    with new.write() as conn, pytest.raises(InvalidInput) as exhausted:
        filing.next_letter_nos(conn, NEW, TODAY.replace(day=16), 10_000)
    assert exhausted.value.code == "transfer.letter_sequence"
    with new.read() as conn:
        assert len(filing.next_letter_nos(conn, NEW, TODAY, 9_997)) == 9_997  # 0003 … 9999


def test_bulk_filing_over_the_api_by_an_employer_for_its_staff(tmp_path) -> None:
    net = _network(tmp_path)
    new = net.centers[NEW]
    with new.write() as conn:  # another employer and its employee 赵六
        other = accounts.register_employer(conn, new.ctx, employer_payload(9, contact_phone="13800138009"))
        zhao = accounts.open_member(conn, new.ctx, other.account_no, member_payload(4, name="赵六"))
        login = identity.create_employer_login(
            conn, new.ctx, new.members["zhang"].employer_id, PASSWORD, passwords=FAST_PASSWORDS,
            directory=DIRECTORY,
        )  # fmt: skip
    headers = {**bearer(new.app, login), "Idempotency-Key": "batch-2025-04-15"}
    body = {
        "item_code": "AC-TRANSFER-IN",
        "items": [
            {"member_account_no": new.members["zhang"].account_no, "payload": _payload(net, "zhang")},
            {"member_account_no": zhao.account_no, "payload": _payload(net, "zhang")},  # not its employee
            {"member_account_no": new.members["li"].account_no, "payload": {"from_center": "12"}},
        ],
    }
    with new.use():
        missing = new.client.post("/api/v1/applications/batch", json=body, headers=bearer(new.app, login))
        answer = new.client.post("/api/v1/applications/batch", json=body, headers=headers)
        again = new.client.post("/api/v1/applications/batch", json=body, headers=headers)
        too_many = new.client.post(
            "/api/v1/applications/batch", headers={**headers, "Idempotency-Key": "other"},
            json={**body, "items": body["items"] * 167},
        )  # fmt: skip
        member = new.client.post(
            "/api/v1/applications/batch", json=body,
            headers={**bearer(new.app, new.people["zhang"]), "Idempotency-Key": "k"},
        )  # fmt: skip
        shown = new.client.get(f"/api/v1/applications/{answer.json()['items'][0]['application_id']}",
                               headers=bearer(new.app, login))  # fmt: skip
        listed = new.client.get("/api/v1/applications", headers=bearer(new.app, login))
        own = new.client.get("/api/v1/applications", headers=bearer(new.app, new.people["zhang"]))
    assert shown.status_code == 200 and shown.json()["member_id"] == new.members["zhang"].id
    assert [a["id"] for a in listed.json()] == [answer.json()["items"][0]["application_id"]]
    assert answer.json()["items"][0]["application_id"] in [a["id"] for a in own.json()]  # the member's too
    assert missing.status_code == 422 and missing.json()["code"] == "idempotency.key_required"
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["filed"], result["refused"]) == (1, 2)
    first, second, third = result["items"]
    assert first["state"] == "approved" and first["letter_no"] == f"{NEW}2504150002"
    assert second["code"] == "member.not_found"
    assert third["code"] == "transfer.payload.from_center"
    assert again.json()["items"][0] == {**first, "replayed": True}  # nothing filed twice
    assert too_many.status_code == 422 and too_many.json()["code"] == "application.batch_size"
    assert member.status_code == 403 and member.json()["code"] == "application.bulk_forbidden"
    with new.read() as conn:
        filed = applications.get(conn, first["application_id"])
        assert (filed.applicant_kind, filed.member_id, filed.employer_id, filed.channel) == (
            "member", new.members["zhang"].id, new.members["zhang"].employer_id, "online",
        )  # fmt: skip
        assert filed.idempotency_key == "batch-2025-04-15:0"
        audited = _rows(
            conn,
            "SELECT object_type, object_id, action, actor FROM audit_log WHERE action = 'application.batch_submit'",
        )
    assert audited == [
        {"object_type": "application", "object_id": str(filed.id), "action": "application.batch_submit",
         "actor": login.login},
    ]  # fmt: skip
