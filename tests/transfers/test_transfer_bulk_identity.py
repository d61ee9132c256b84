"""The bulk approval (decision 0041) leaves exactly what approving the same letters one by one
leaves: the same ledger lines, balances, payment orders, account changes, events and outbound
messages.

Two networks built alike (``test_transfer_batch``'s three people at Shenzhen, sealed, applying at
Hangzhou on 15 April 2025); 李四's account is unsealed before the decision, so his letter fails
its checks in both; 赵六's account at Shenzhen is empty (no payout, only the history moves). On one, staff approve each letter in its own transaction; on the other, all
three in one bulk approval. Then every row the approval wrote at the old center is compared,
with entry ids (which follow the order of posting) translated to their idempotency keys and message ids to what they answer.

Figures (worked by hand in ``test_transfer_batch``): 张三 and 王五 576,000 fen principal +
840 fen interest = 576,840 fen each; 李四 untouched at 360,000 fen; 赵六 0.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import test_transfer_batch as case
from sqlalchemy import Connection, text
from transfer_support import NEW, OLD, TODAY, Center, Network, make_network

from factories import member_payload
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.identity import identity
from hpf.kernel.errors import Conflict
from hpf.transfers import process
from hpf.transfers import service as transfers
from signing_in import FAST_PASSWORDS, PASSWORD

PEOPLE = tuple(case.PEOPLE)


def _network(tmp_path) -> Network:
    net = make_network(tmp_path, TODAY, {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"})
    old, new = net.centers[OLD], net.centers[NEW]
    case._populate(old, case.date(2025, 1, 2), ("2025-01", "2025-02", "2025-03"), seq=1)
    case._populate(new, case.date(2025, 4, 1), (), seq=2)
    with old.write() as conn:
        for who in PEOPLE:
            accounts.seal_member(conn, old.ctx, old.members[who].account_no, "离职封存")
    for center in net.centers.values():
        case._batches(center, True)
    for center in (old, new):  # 赵六 never deposited at Shenzhen: an empty account, only its history moves
        with center.write() as conn:
            employer_no = accounts.employer_account_no(conn, center.members["zhang"].employer_id)
            center.members["zhao"] = accounts.open_member(
                conn, center.ctx, employer_no, member_payload(4, name="赵六")
            )
            center.people["zhao"] = identity.create_member_login(
                conn,
                center.ctx,
                center.members["zhao"].id,
                PASSWORD,
                passwords=FAST_PASSWORDS,
                directory=DIRECTORY,
            )
    with old.write() as conn:
        accounts.seal_member(conn, old.ctx, old.members["zhao"].account_no, "离职封存")
    for who in (*PEOPLE, "zhao"):
        case._apply(net, who)
    net.run()
    with old.write() as conn:  # 李四 found work again at Shenzhen: his letter fails its checks
        accounts.unseal_member(conn, old.ctx, old.members["li"].account_no, "重新就业")
    return net


def _mark(conn: Connection) -> dict[str, int]:
    """The last row id of each table the approval writes to, before it."""
    tables = ("journal_entry", "business_event", "payment_order_event", "account_history")
    return {t: int(conn.scalar(text(f"SELECT COALESCE(MAX(id), 0) FROM {t}")) or 0) for t in tables}


def _rows(conn: Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def _snapshot(center: Center, mark: dict[str, int]) -> dict[str, Any]:
    with center.use(), center.read() as conn:
        keys = {
            int(r["id"]): r["idempotency_key"]
            for r in _rows(conn, "SELECT id, idempotency_key FROM journal_entry")
        }

        def key(entry_id: Any) -> Any:
            return keys.get(int(entry_id)) if entry_id is not None else None

        entries = {
            e["idempotency_key"]: (
                e["business_type"], e["business_id"], str(e["value_date"]), str(e["posting_date"]), e["memo"],
                sorted(
                    (ln["subject_code"], ln["side"], ln["amount_fen"], ln["member_id"], ln["employer_id"],
                     ln["balance_part"], str(ln["value_date"]), ln["accrual_days"])
                    for ln in _rows(conn, "SELECT * FROM journal_line WHERE entry_id = :e", e=e["id"])
                ),
            )
            for e in _rows(conn, "SELECT * FROM journal_entry WHERE id > :m", m=mark["journal_entry"])
        }  # fmt: skip
        events = sorted(
            json.dumps(
                [e["type"], e["object_kind"], e["object_id"], _translated(_payload(e["payload"]), key), e["actor"]],
                sort_keys=True, default=str,
            )
            for e in _rows(conn, "SELECT * FROM business_event WHERE id > :m", m=mark["business_event"])
        )  # fmt: skip
        orders = [
            {k: (key(v) if k in ("reserve_entry_id", "settle_entry_id") else v) for k, v in o.items() if k != "recorded_at" and not k.endswith("_enc")}
            for o in _rows(conn, "SELECT * FROM payment_order ORDER BY id")
        ]  # fmt: skip
        order_events = [
            {k: (re.sub(r"#(\d+)", lambda m: f"#{key(m.group(1))}", v) if k == "note" else v)
             for k, v in r.items() if k not in ("id", "recorded_at")}
            for r in _rows(conn, "SELECT * FROM payment_order_event WHERE id > :m ORDER BY order_id, id",
                           m=mark["payment_order_event"])
        ]  # fmt: skip
        history = sorted(
            json.dumps({k: v for k, v in r.items() if k not in ("id", "recorded_at")}, sort_keys=True, default=str)
            for r in _rows(conn, "SELECT * FROM account_history WHERE id > :m", m=mark["account_history"])
        )  # fmt: skip
        members = _rows(conn, "SELECT id, state, closed_on, version FROM member ORDER BY id")
        balances = _rows(conn, "SELECT * FROM member_balance ORDER BY member_id")
        subjects = _rows(
            conn, "SELECT subject_code, SUM(debit_fen) d, SUM(credit_fen) c FROM subject_balance "
            "GROUP BY subject_code ORDER BY subject_code"
        )  # fmt: skip
        moved = [
            {
                k: v
                for k, v in r.items()
                if k not in ("id", "updated_at", "out_message_id", "letter_message_id")
            }
            for r in _rows(conn, "SELECT * FROM transfer ORDER BY letter_no")
        ]
        answered = {
            r["message_id"]: r["letter_no"]
            for r in _rows(conn, "SELECT message_id, letter_no FROM exchanged_message")
        }
        outbound = sorted(
            json.dumps(
                [m["type"], m["peer"], m["letter_no"], answered.get(m["reply_to"]), m["state"],
                 transfers.stored_body(conn, m["message_id"]).model_dump(mode="json")],  # type: ignore[union-attr]
                sort_keys=True, default=str,
            )
            for m in _rows(conn, "SELECT * FROM exchanged_message WHERE direction = 'out' AND state = 'item'")
        )  # fmt: skip
    return {
        "entries": entries, "events": events, "orders": orders, "order_events": order_events, "history": history,
        "members": members, "balances": balances, "subjects": subjects, "transfers": moved, "outbound": outbound,
    }  # fmt: skip


def _letter_of(old: Center, who: str) -> str:
    """The letter number of ``who``'s transfer at the old center."""
    member_id = old.members[who].id
    return next(t.letter_no for t in case._transfers(old).values() if t.member_id == member_id)


def _payload(stored: Any) -> Any:
    return json.loads(stored) if isinstance(stored, str) else stored


def _translated(payload: dict[str, Any], key: Any) -> dict[str, Any]:
    """Entry ids (which differ with the order of posting) as their idempotency keys."""
    return {k: (key(v) if k.endswith("entry_id") and v is not None else v) for k, v in payload.items()}


@pytest.mark.slow
def test_bulk_approval_leaves_what_approving_one_by_one_leaves(tmp_path) -> None:
    single, bulk = _network(tmp_path / "single"), _network(tmp_path / "bulk")
    snapshots = []
    for net, one_by_one in ((single, True), (bulk, False)):
        old = net.centers[OLD]
        ids = sorted(t.id for t in case._transfers(old).values())
        with old.read() as conn:
            mark = _mark(conn)
        if one_by_one:
            li = case._transfers(old)[_letter_of(old, "li")].id
            approved = []
            for transfer_id in ids:
                if transfer_id == li:
                    with old.write() as conn, pytest.raises(Conflict) as refused:
                        process.approve(conn, old.ctx, transfer_id)
                    assert (
                        refused.value.code == "transfer.checks_failed" and "账户未封存" in refused.value.title
                    )
                    continue
                with old.write() as conn:
                    approved.append(process.approve(conn, old.ctx, transfer_id).id)
        else:
            with old.write() as conn:
                done = process.approve_many(conn, old.ctx, ids)
            approved = list(done.approved)
            [skipped] = done.skipped
            assert skipped.code == "transfer.checks_failed" and "账户未封存" in skipped.message_zh
        assert len(approved) == 3
        assert old.balance("li") == case.PRINCIPAL["li"] == 360_000
        assert old.balance("zhang") == 0 == old.balance("wang") == old.balance("zhao")
        assert not old.check()
        snapshots.append(_snapshot(old, mark))
    one, many = snapshots
    for part in one:
        assert one[part] == many[part], part
    moved = [(t["amount_fen"], t["interest_fen"]) for t in one["transfers"] if t["state"] == "transferred"]
    assert sorted(moved) == [(0, 0), (576_840, 840), (576_840, 840)]
    assert len(one["entries"]) == 4  # two interest entries, two reservations (none for the empty account)
    assert len(one["orders"]) == 2
    assert len(one["outbound"]) == 6  # three BDC901 answers (08), three BDC905s
