"""A batch's items taken together (decision 0045) leave exactly what the same messages taken one
by one leave: the old center's letters (BDC902 against single BDC901s), the new center's
transfer-out information (BDC906 against single BDC905s) and the bank's credits (a group of
notices in one transaction against one notice per transaction), in either order.

Two networks built alike (``test_transfer_batch``'s people at Shenzhen, sealed, applying at
Hangzhou on 15 April 2025, and 赵六 with an empty account, as in ``test_transfer_bulk_identity``);
李四's account is unsealed before his letter arrives, so its checks fail when it comes (it is
recorded, not refused) and staff refuse it (13). Beside them, refused alone in a batch as a single
message is refused: a letter whose number is not its sender's, transfer-out information about a
letter unknown here and about another person than the applicant, a refusal (13) of a letter the
new center never sent. A letter about an account the old center does not have is recorded with
its checks failed.

Figures (worked by hand in ``test_transfer_batch``): 张三 and 王五 576,000 fen principal + 840 fen
interest = 576,840 fen each, credited at Hangzhou; 赵六 0 (only his history moves); 李四 untouched
at Shenzhen, 360,000 fen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import pytest
import test_transfer_batch as case
from sqlalchemy import Connection, Engine, event, text
from transfer_support import NEW, OLD, TODAY, Center, Network, make_network

from factories import member_payload
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.identity import identity
from hpf.messages.bodies import ContactLetter, TransferFeedback, TransferOut
from hpf.settlement import service as settlement
from hpf.transfers import process
from hpf.transfers import service as transfers
from signing_in import FAST_PASSWORDS, PASSWORD

pytestmark = pytest.mark.slow

WHO = ("zhang", "li", "wang", "zhao")
UNKNOWN_ACCOUNT_LETTER = f"{NEW}2504150099"  # a letter about an account Shenzhen does not have
UNSENT_LETTER = f"{NEW}2504150098"  # a letter number Hangzhou never used


def _network(tmp_path: Any, *, letters_batched: bool, engines: dict[str, Engine] | None = None) -> Network:
    """Both centers with batches on, but the new center's letters sent as ``letters_batched``
    says; the letters, a forged one and one about an unknown account queued, not delivered.
    ``engines``: a center's database other than a SQLite file (PostgreSQL)."""
    codes = {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"}
    net = make_network(tmp_path, TODAY, codes, engines)
    old, new = net.centers[OLD], net.centers[NEW]
    case._populate(old, date(2025, 1, 2), ("2025-01", "2025-02", "2025-03"), seq=1)
    case._populate(new, date(2025, 4, 1), (), seq=2)
    for center in (old, new):  # 赵六 never deposited at Shenzhen: an empty account
        with center.write() as conn:
            employer_no = accounts.employer_account_no(conn, center.members["zhang"].employer_id)
            center.members["zhao"] = accounts.open_member(
                conn, center.ctx, employer_no, member_payload(4, name="赵六")
            )
            center.people["zhao"] = identity.create_member_login(
                conn, center.ctx, center.members["zhao"].id, PASSWORD, passwords=FAST_PASSWORDS,
                directory=DIRECTORY,
            )  # fmt: skip
    with old.write() as conn:
        for who in ("zhang", "wang", "zhao"):  # 李四 found work again: his account stays open
            accounts.seal_member(conn, old.ctx, old.members[who].account_no, "离职封存")
    for center in net.centers.values():
        case._batches(center, True)
    case._batches(new, letters_batched)
    for who in WHO:
        case._apply(net, who)
    with new.write() as conn:
        transfers.send(conn, new.ctx, OLD, "BDC901", case._forged_letter(old))
        unknown = ContactLetter(
            letter_no=UNKNOWN_ACCOUNT_LETTER, out_center_code=OLD, name="钱七", cert_no="370102199003070098",
            old_account_no="999999999999", in_fund_account_no="9558800000000001",
            in_fund_account_name="杭州住房公积金管理中心", in_bank_name="结算银行", created_on=TODAY,
        )  # fmt: skip
        transfers.send(conn, new.ctx, OLD, "BDC901", unknown)
    case._batches(new, True)
    return net


@contextmanager
def _statements(center: Center) -> Iterator[list[str]]:
    """The SQL statements the center's database runs in the block (an executemany counts once)."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(center.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(center.engine, "before_cursor_execute", note)


def _count(statements: list[str], prefix: str) -> int:
    return sum(1 for s in statements if s.startswith(prefix))


def _plain(value: Any) -> Any:
    """A column's value as both engines give it: JSON documents opened, dates and times as text."""
    if isinstance(value, str) and value[:1] in "[{":
        return json.loads(value)
    if isinstance(value, date):  # (a datetime is a date)
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return value


def _rows(conn: Connection, sql: str) -> list[dict[str, Any]]:
    return [{k: _plain(v) for k, v in r.items()} for r in conn.execute(text(sql)).mappings()]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _snapshot(center: Center) -> dict[str, Any]:
    """Every row the transfer steps write, with ids that depend on the order of taking (entries,
    transfers, messages) translated to what they stand for; the hub messages' own events (one per
    single message, one per batch) left out."""
    with center.use(), center.read() as conn:
        keys = {
            int(r["id"]): r["idempotency_key"]
            for r in _rows(conn, "SELECT id, idempotency_key FROM journal_entry")
        }
        letters = {str(r["id"]): r["letter_no"] for r in _rows(conn, "SELECT id, letter_no FROM transfer")}
        answered = {r["message_id"]: r["letter_no"] for r in _rows(conn, "SELECT message_id, letter_no FROM exchanged_message")}  # fmt: skip

        def translated(payload: dict[str, Any]) -> dict[str, Any]:
            return {
                k: (keys.get(int(v)) if k.endswith("entry_id") and v is not None else v)
                for k, v in payload.items()
            }

        entries = {
            e["idempotency_key"]: (
                e["business_type"], e["business_id"], str(e["value_date"]), e["memo"],
                sorted(
                    (ln["subject_code"], ln["side"], ln["amount_fen"], ln["member_id"], ln["balance_part"],
                     str(ln["value_date"]), ln["accrual_days"])
                    for ln in _rows(conn, f"SELECT * FROM journal_line WHERE entry_id = {int(e['id'])}")
                ),
            )
            for e in _rows(conn, "SELECT * FROM journal_entry")
        }  # fmt: skip
        events = sorted(
            json.dumps(
                [e["type"], e["object_kind"], letters[e["object_id"]] if e["object_kind"] == "transfer" else e["object_id"],
                 translated(_json(e["payload"])), e["actor"]],
                sort_keys=True, default=str,
            )
            for e in _rows(conn, "SELECT * FROM business_event WHERE type NOT LIKE 'hub_message.%'")
        )  # fmt: skip
        moved = [
            {k: (_json(v) if k in ("checks", "carried") else keys.get(int(v)) if k == "credit_entry_id" and v else v)
             for k, v in r.items() if k not in ("id", "updated_at", "out_message_id", "letter_message_id")}
            for r in _rows(conn, "SELECT * FROM transfer ORDER BY letter_no")
        ]  # fmt: skip
        outbound = sorted(
            json.dumps(
                [m["type"], m["peer"], m["letter_no"], answered.get(m["reply_to"]),
                 transfers.stored_body(conn, m["message_id"]).model_dump(mode="json")],  # type: ignore[union-attr]
                sort_keys=True, default=str,
            )
            for m in _rows(conn, "SELECT * FROM exchanged_message WHERE direction = 'out' AND type IN ('BDC901', 'BDC905')")
        )  # fmt: skip
        return {
            "entries": entries, "events": events, "transfers": moved, "outbound": outbound,
            "balances": _rows(conn, "SELECT * FROM member_balance ORDER BY member_id"),
            "subjects": _rows(conn, "SELECT subject_code, SUM(debit_fen) d, SUM(credit_fen) c FROM subject_balance "
                                    "GROUP BY subject_code ORDER BY subject_code"),
            "carried": _rows(conn, "SELECT member_id, month, letter_no FROM carried_month ORDER BY member_id, month"),
            "notices": _rows(conn, "SELECT notice_no, direction, amount_fen, ref_seq_no, outcome FROM bank_notice "
                                   "ORDER BY notice_no"),
            "applications": _rows(conn, "SELECT id, state, outputs FROM application ORDER BY id"),
            "transitions": _rows(conn, "SELECT application_id, from_state, to_state, reason FROM application_transition "
                                       "ORDER BY application_id, id"),
        }  # fmt: skip


def _received(center: Center) -> list[dict[str, Any]]:
    """The payloads of the center's ``hub_message.received`` events of batches."""
    with center.read() as conn:
        rows = _rows(
            conn, "SELECT payload FROM business_event WHERE type = 'hub_message.received' ORDER BY id"
        )
    return [p for p in (_json(r["payload"]) for r in rows) if p.get("type") in ("BDC902", "BDC906")]


def test_a_batch_of_letters_leaves_what_single_letters_leave(tmp_path, engine: Engine) -> None:
    """One by one on SQLite; the batch at an old center on each engine (SQLite, PostgreSQL)."""
    snapshots = []
    for batched in (False, True):
        net = _network(
            tmp_path / f"letters-{batched}",
            letters_batched=batched,
            engines={OLD: engine} if batched else None,
        )
        old = net.centers[OLD]
        with _statements(old) as seen:
            net.run()
        inserts = _count(seen, "INSERT INTO transfer ")
        assert inserts == (1 if batched else 5)  # five letters recorded: in one statement from a batch
        if batched:
            [taken] = [p for p in _received(old) if p["type"] == "BDC902"]
            assert (taken["items"], taken["taken"], taken["duplicates"]) == (6, 5, 0)
            assert [r["code"] for r in taken["refused"]] == ["transfer.letter_not_senders"]  # refused alone
        snapshots.append(_snapshot(old))
    one, many = snapshots
    for part in one:
        assert one[part] == many[part], part
    passed = {t["letter_no"]: all(c["passed"] for c in t["checks"]) for t in one["transfers"]}
    assert len(passed) == 5 and passed[UNKNOWN_ACCOUNT_LETTER] is False
    assert sorted(passed.values()) == [False, False, True, True, True]  # 李四 unsealed, the unknown account
    assert {t["state"] for t in one["transfers"]} == {"received"}


def _credits(new: Center, notices: list[Any], *, together: bool) -> None:
    """The bank's notices taken as a group in one transaction, or one per transaction."""
    if together:
        with new.write() as conn:
            outcomes = settlement.apply_notices(conn, new.ctx, notices)
    else:
        outcomes = []
        for notice in notices:
            with new.write() as conn:
                outcomes.append(settlement.apply_notice(conn, new.ctx, notice))
    assert [o.outcome for o in outcomes] == ["unmatched", "unmatched"]  # waiting for their transfer


@pytest.mark.parametrize("credit_at", ["before", "after"])
def test_transfer_outs_and_credits_taken_together_leave_what_one_by_one_leaves(
    tmp_path, engine: Engine, credit_at: str
) -> None:
    """``before``: the bank's notices come first (waiting, unclaimed), then the BDC905s complete
    the transfers; ``after``: the BDC905s first, then the notices complete them. One by one on
    SQLite; together at a new center on each engine (SQLite, PostgreSQL)."""
    snapshots = []
    for together in (False, True):
        engines = {NEW: engine} if together else None
        net = _network(tmp_path / f"credits-{credit_at}-{together}", letters_batched=True, engines=engines)
        old, new = net.centers[OLD], net.centers[NEW]
        net.run()  # the letters at Shenzhen
        case._batches(old, together)  # its answers and transfer-out information: single, or in batches
        ids = {t.letter_no: t.id for t in case._transfers(old).values()}
        li = next(t.letter_no for t in case._transfers(old).values() if t.member_id == old.members["li"].id)
        with old.write() as conn:
            done = process.approve_many(conn, old.ctx, sorted(ids.values()))
            assert len(done.approved) == 3 and len(done.skipped) == 2
            process.refuse(conn, old.ctx, ids[li], "账户未封存")
            process.refuse(conn, old.ctx, ids[UNKNOWN_ACCOUNT_LETTER], "账户不存在")
            another = TransferOut(
                letter_no=li, name="冒名", cert_no="370102199003070098", amount_fen=1, principal_fen=1,
                interest_fen=0, opened_month="202501", paid_through="202503", six_months_continuous="2",
                loan_count=0, unsettled_loan="2", fraud="2", order_no="NONE", months=["2025-01"],
            )  # fmt: skip
            transfers.send(conn, old.ctx, NEW, "BDC905", another)  # another person than the applicant
            transfers.send(
                conn, old.ctx, NEW, "BDC905", another.model_copy(update={"letter_no": UNSENT_LETTER})
            )
        assert old.pay() == {"paid": 2}
        notices = list(new.fake.outbox)
        new.fake.outbox.clear()
        assert len(notices) == 2

        with _statements(new) as seen:
            if credit_at == "before":
                _credits(new, notices, together=together)
                net.run()
            else:
                net.run()
                _credits(new, notices, together=together)
        assert _count(seen, "UPDATE member_balance ") == (
            1 if together else 2
        )  # both credits: one posting's balances
        if together:
            [out] = [p for p in _received(new) if p["type"] == "BDC906" and p["items"] == 5]
            assert out["taken"] == 3
            assert sorted(r["code"] for r in out["refused"]) == [
                "transfer.other_person",
                "transfer.unknown_letter",
            ]
            [answers] = [p for p in _received(new) if p["type"] == "BDC902"]
            assert (answers["items"], answers["taken"]) == (5, 4)
            assert [r["code"] for r in answers["refused"]] == [
                "transfer.unknown_letter"
            ]  # 13 for a letter never sent
        for who in ("zhang", "wang"):
            assert new.balance(who) == case.AMOUNT[who] == 576_840
        assert new.balance("zhao") == 0 == new.balance("li") and old.balance("li") == 360_000
        net.run()  # the answers (00) back at Shenzhen
        assert {t.state for t in case._transfers(old).values()} == {"completed", "refused"}
        assert not old.check() and not new.check()
        snapshots.append(_snapshot(new))
    one, many = snapshots
    for part in one:
        assert one[part] == many[part], part
    states = sorted((t["state"], t["amount_fen"]) for t in one["transfers"])
    assert states == [("completed", 0), ("completed", 576_840), ("completed", 576_840), ("refused", None)]
    assert len(one["entries"]) == 2 and len(one["carried"]) == 6  # 张三's and 王五's three months each
    assert [n["outcome"] for n in one["notices"]] == ["claimed", "claimed"]
    assert sorted(a["state"] for a in one["applications"]) == ["executed", "executed", "executed", "failed"]
    answers = [json.loads(o) for o in one["outbound"] if json.loads(o)[0] == "BDC905"]
    assert sorted(a[4]["status"] for a in answers) == ["00", "00", "00"]
    assert isinstance(TransferFeedback.model_validate(answers[0][4]), TransferFeedback)
