"""Batch forms (BDC902/BDC906, decision 0036): many transfers in one envelope, each item taken as
its single message would be.

Shenzhen (440300, old) holds three people who deposited January–March 2025, each list paid and
allocated on the 10th of the next month, their accounts sealed; each has an account at
Hangzhou (330100, new) since 1 April and applies there on 15 April.

Interest to date (REFERENCE §2.4; 1.50 %, day basis 360; the deposits earn 64, 36 and 5 days):

- 张三 and 王五, base 8,000.00 yuan, 12 % + 12 %: 192,000 fen a month; principal 576,000 fen;
  192,000 × 105 = 20,160,000 fen·days × 0.015 ÷ 360 = 840 fen; amount 576,840 fen.
- 李四, base 5,000.00 yuan: 120,000 fen a month; principal 360,000 fen;
  120,000 × 105 = 12,600,000 fen·days × 0.015 ÷ 360 = 525 fen; amount 360,525 fen.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from transfer_support import NEW, OLD, TODAY, Center, Network, make_network

from factories import employer_payload, member_payload
from hpf import events
from hpf.access.permissions import Role
from hpf.accounts import service as accounts
from hpf.accounts.directory import DIRECTORY
from hpf.contributions import service as contributions
from hpf.contributions.rules import Kind, ListRow
from hpf.identity import identity
from hpf.messages.bodies import ContactLetter, TransferBatch
from hpf.services import service as applications
from hpf.transfers import process
from hpf.transfers import service as transfers
from hpf.transfers.tables import exchanged_message
from signing_in import FAST_PASSWORDS, PASSWORD, add_staff, bearer, use_session

PEOPLE = {"zhang": (1, "张三", 800_000), "li": (2, "李四", 500_000), "wang": (3, "王五", 800_000)}
AMOUNT = {"zhang": 576_840, "li": 360_525, "wang": 576_840}
INTEREST = {"zhang": 840, "li": 525, "wang": 840}
PRINCIPAL = {who: AMOUNT[who] - INTEREST[who] for who in PEOPLE}


def _part(base: int) -> int:
    return (base * 12 + 50) // 100


def _populate(center: Center, opened: date, months: tuple[str, ...], *, seq: int) -> None:
    clock, ctx = center.clock, center.ctx
    clock.set(opened)
    with center.write() as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload(seq, contact_phone="13800138001"))
        for who, (n, name, base) in PEOPLE.items():
            member = accounts.open_member(
                conn, ctx, emp.account_no, member_payload(n, name=name, base_fen=base)
            )
            center.members[who] = member
            center.people[who] = identity.create_member_login(
                conn, ctx, member.id, PASSWORD, passwords=FAST_PASSWORDS, directory=DIRECTORY
            )
    for month in months:
        year, mm = int(month[:4]), int(month[5:])
        clock.set(date(year + mm // 12, mm % 12 + 1, 10))
        rows = [
            ListRow(i, center.members[who].account_no, name, base, _part(base), _part(base))
            for i, (who, (_, name, base)) in enumerate(PEOPLE.items(), 1)
        ]
        with center.write() as conn:
            rem = contributions.submit_list(
                conn, ctx, emp.account_no, kind=Kind.REMITTANCE, month=month, rows=rows,
                source="api", idempotency_key=f"e-{month}",
            )  # fmt: skip
            contributions.record_receipt(
                conn, ctx, emp.account_no, rem.total_fen, f"BANK-{month}", clock.today()
            )
            contributions.allocate(conn, ctx, rem.id)
    clock.set(TODAY)


def _batches(center: Center, on: bool) -> None:
    link = center.app.state.hub_link
    center.app.state.hub_link = dataclasses.replace(link, batch_max=500 if on else 0)


@pytest.fixture
def net(tmp_path) -> Network:
    network = make_network(tmp_path, TODAY, {NEW: "杭州住房公积金管理中心", OLD: "深圳市住房公积金管理中心"})
    old, new = network.centers[OLD], network.centers[NEW]
    _populate(old, date(2025, 1, 2), ("2025-01", "2025-02", "2025-03"), seq=1)
    _populate(new, date(2025, 4, 1), (), seq=2)
    with old.write() as conn:
        for who in PEOPLE:
            accounts.seal_member(conn, old.ctx, old.members[who].account_no, "离职封存")
    for center in network.centers.values():
        _batches(center, True)
    return network


def _apply(net: Network, who: str) -> applications.Application:
    new, old = net.centers[NEW], net.centers[OLD]
    payload = {
        "from_center": OLD,
        "old_account_no": old.members[who].account_no,
        "old_employer_name": "深圳某公司",
    }
    with new.write() as conn:
        return applications.submit(conn, new.ctx, new.people[who], "AC-TRANSFER-IN", payload, complete=True)


def _transfers(center: Center) -> dict[str, process.Transfer]:
    with center.read() as conn:
        return {t.letter_no: t for t in process.listing(conn, TODAY)}


def _balance(center: Center, who: str) -> int:
    return center.balance(who)


def _messages(center: Center) -> list[Any]:
    m = exchanged_message.c
    with center.read() as conn:
        return list(conn.execute(select(m.direction, m.type, m.state, m.batch_id, m.message_id, m.reply_to)))


def _received_batches(center: Center) -> list[dict[str, Any]]:
    with center.read() as conn:
        found = []
        for row in _messages(center):
            if row.direction == "in" and row.type in ("BDC902", "BDC906"):
                found += [e.payload for e in events.events_of(conn, "hub_message", row.message_id)]
        return found


def _forged_letter(old: Center) -> ContactLetter:
    """A contact letter whose number is not the sender's (another center's code): refused."""
    return ContactLetter(
        letter_no=f"{OLD}2504150009", out_center_code=OLD, name="赵六", cert_no="370102199003070071",
        old_account_no=old.members["zhang"].account_no, in_fund_account_no="9558800000000001",
        in_fund_account_name="杭州住房公积金管理中心", in_bank_name="结算银行", created_on=TODAY,
    )  # fmt: skip


def test_three_transfers_move_in_batches_and_an_item_refused_alone(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    before = sum(_balance(old, w) + _balance(new, w) for w in PEOPLE)
    assert before == sum(PRINCIPAL.values()) == 1_512_000
    submitted = {who: _apply(net, who) for who in PEOPLE}
    letters = {who: a.outputs["letter_no"] for who, a in submitted.items()}
    assert sorted(letters.values()) == [f"{NEW}250415000{n}" for n in (1, 2, 3)]
    with new.write() as conn:  # and one item its receiver refuses
        transfers.send(conn, new.ctx, OLD, "BDC901", _forged_letter(old))
    queued = [r for r in _messages(new) if r.direction == "out" and r.type == "BDC901"]
    assert [r.state for r in queued] == ["item"] * 4  # nothing signed or sealed yet

    net.run()  # one BDC902: new → hub → old
    sent = _messages(new)
    containers = [r for r in sent if r.direction == "out" and r.type == "BDC902"]
    assert len(containers) == 1 and containers[0].state == "delivered"
    assert (
        sorted((r.state, r.batch_id) for r in sent if r.type == "BDC901")
        == [("delivered", containers[0].message_id)] * 4
    )
    at_old = _transfers(old)
    assert sorted(at_old) == sorted(letters.values())  # the three letters, not the forged one
    assert {t.state for t in at_old.values()} == {"received"}
    [taken] = _received_batches(old)
    assert (taken["items"], taken["taken"], taken["duplicates"]) == (4, 3, 0)
    assert [r["code"] for r in taken["refused"]] == ["transfer.letter_not_senders"]

    with old.write() as conn:  # staff approve in bulk: every letter that passes its checks
        assert process.approvable(conn) == sorted(t.id for t in at_old.values())
        bulk = process.approve_many(conn, old.ctx)
    assert len(bulk.approved) == 3 and bulk.skipped == ()
    done = _transfers(old)
    for who, letter in letters.items():
        t = done[letter]
        assert (t.state, t.principal_fen, t.interest_fen, t.amount_fen) == (
            "transferred", PRINCIPAL[who], INTEREST[who], AMOUNT[who],
        )  # fmt: skip
        assert _balance(old, who) == 0
    with old.write() as conn:  # approving again in bulk finds nothing left to approve
        assert process.approve_many(conn, old.ctx) == process.BulkApproval((), ())

    assert old.pay() == {"paid": 3}  # one payment run pays the three payouts
    assert new.fake.balance_fen == new.fake.opening_fen + sum(AMOUNT.values())  # 1,514,205 fen
    assert new.take_bank_notices() == ["unmatched"] * 3  # the credits wait for their BDC905
    net.run()  # old → new: a BDC902 of three answers (08) and a BDC906 of three BDC905; back: a BDC906 (00)
    for who, letter in letters.items():
        assert _transfers(new)[letter].state == "completed"
        assert _transfers(old)[letter].state == "completed"
        assert _balance(new, who) == AMOUNT[who]
    after = sum(_balance(old, w) + _balance(new, w) for w in PEOPLE)
    assert after == before + sum(INTEREST.values()) == 1_514_205

    def envelopes(center: Center, direction: str) -> list[str]:
        return sorted(r.type for r in _messages(center) if r.direction == direction and r.type.startswith("BDC90")
                      and r.batch_id is None and r.type != "BDC909")  # fmt: skip

    assert envelopes(old, "out") == ["BDC902", "BDC906"]  # six items in two envelopes
    assert envelopes(new, "in") == ["BDC902", "BDC906"]
    assert envelopes(new, "out") == ["BDC902", "BDC906"]  # four letters; three answers (00)
    with new.read() as conn:
        for who in PEOPLE:
            assert applications.get(conn, submitted[who].id).state == "executed"
    assert old.check() == [] and new.check() == []


def test_a_redelivered_batch_and_a_batch_repacked_change_nothing(net: Network) -> None:
    new, old = net.centers[NEW], net.centers[OLD]
    for who in PEOPLE:
        _apply(net, who)
    net.run()
    with old.write() as conn:
        process.approve_many(conn, old.ctx)
    old.pay()
    new.take_bank_notices()
    net.run()
    settled = {who: (_balance(old, who), _balance(new, who)) for who in PEOPLE}
    assert settled == {who: (0, AMOUNT[who]) for who in PEOPLE}
    states = {k: t.state for c in (old, new) for k, t in _transfers(c).items()}
    count = {c.code: len(_messages(c)) for c in (old, new)}

    # Every delivery the hub made, made again: each batch is a duplicate.
    for url, payload in list(net.log):
        center = net.centers[url.split("//")[1][:6]]
        with center.use():
            again = center.client.post("/api/v1/hub/messages", json=payload)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"

    # The same items packed again into a new BDC902 (a new envelope, the same item ids).
    with new.read() as conn:
        rows = conn.execute(
            select(exchanged_message.c.envelope).where(
                exchanged_message.c.direction == "out", exchanged_message.c.type == "BDC901"
            )
        ).scalars()
        items = [transfers._item_of(stored) for stored in rows]
    with new.write() as conn:
        transfers.send(conn, new.ctx, OLD, "BDC902", TransferBatch(items=items))
    net.run()
    repacked = [p for p in _received_batches(old) if p["type"] == "BDC902"][-1]
    assert (repacked["items"], repacked["taken"], repacked["duplicates"], repacked["refused"]) == (
        3,
        0,
        3,
        [],
    )
    assert {who: (_balance(old, who), _balance(new, who)) for who in PEOPLE} == settled
    assert {k: t.state for c in (old, new) for k, t in _transfers(c).items()} == states
    assert len(_messages(old)) == count[OLD] + 1  # the new envelope only
    assert old.check() == [] and new.check() == []


def test_a_single_message_and_a_batch_item_for_one_letter_are_one_transfer(net: Network) -> None:
    """The new center sends in batches, the old one single messages: they understand each other;
    the letter sent again as a single BDC901 (another message id) finds the transfer its batch item
    made, and changes nothing."""
    new, old = net.centers[NEW], net.centers[OLD]
    _batches(old, False)
    letter_no = _apply(net, "li").outputs["letter_no"]
    net.run()
    [received] = _transfers(old).values()
    with new.read() as conn:
        letter_id = conn.scalar(
            select(exchanged_message.c.message_id).where(
                exchanged_message.c.letter_no == letter_no, exchanged_message.c.type == "BDC901"
            )
        )
        letter = transfers.stored_body(conn, letter_id)
    assert isinstance(letter, ContactLetter) and letter.letter_no == letter_no
    _batches(new, False)
    with new.write() as conn:
        single = transfers.send(conn, new.ctx, OLD, "BDC901", letter)
    net.run()
    with old.read() as conn:
        assert transfers.message_of(conn, single).type == "BDC901"  # taken as a single message …
    assert list(_transfers(old).values()) == [received]  # … about the same transfer: nothing changed
    _batches(new, True)

    with old.write() as conn:
        process.approve(conn, old.ctx, received.id)
    old.pay()
    net.run()  # single BDC901 answer and BDC905 from old; the BDC905 answer from new as an item
    new.take_bank_notices()
    net.run()
    assert _transfers(new)[letter_no].state == "completed" and _transfers(old)[letter_no].state == "completed"
    assert (_balance(old, "li"), _balance(new, "li")) == (0, AMOUNT["li"])
    answer = [r for r in _messages(new) if r.direction == "out" and r.type == "BDC905"]
    assert len(answer) == 1 and answer[0].batch_id is not None  # the 00 went in a BDC906
    assert old.check() == [] and new.check() == []


def test_bulk_approval_skips_a_letter_that_fails_and_approves_its_neighbours(net: Network) -> None:
    old = net.centers[OLD]
    for who in PEOPLE:
        _apply(net, who)
    net.run()
    with old.write() as conn:  # 李四 found work again at Shenzhen: his account is no longer sealed
        accounts.unseal_member(conn, old.ctx, old.members["li"].account_no, "重新就业")
    ids = sorted(t.id for t in _transfers(old).values())
    with old.write() as conn:
        bulk = process.approve_many(conn, old.ctx, ids)
    [skipped] = bulk.skipped
    assert skipped.code == "transfer.checks_failed" and len(bulk.approved) == 2
    assert _balance(old, "li") == PRINCIPAL["li"] and _balance(old, "zhang") == 0 == _balance(old, "wang")
    with old.write() as conn, pytest.raises(Exception) as too_many:
        process.approve_many(conn, old.ctx, list(range(1, process.BULK_MOST + 2)))
    assert getattr(too_many.value, "code", "") == "transfer.bulk_too_many"


def test_bulk_approval_over_the_api_and_on_the_page(net: Network) -> None:
    old = net.centers[OLD]
    for who in PEOPLE:
        _apply(net, who)
    net.run()
    ids = {t.letter_no[-1]: t.id for t in _transfers(old).values()}
    reviewer = add_staff(old.app, "oldreviewer", [Role.REVIEWER])
    teller = add_staff(old.app, "oldteller", [Role.TELLER])
    with old.use():
        denied = old.client.post("/api/v1/transfers/approve", json={}, headers=bearer(old.app, teller))
        assert denied.status_code == 403
        chosen = old.client.post(
            "/api/v1/transfers/approve", json={"ids": [ids["1"]]}, headers=bearer(old.app, reviewer)
        )
        assert chosen.status_code == 200, chosen.text
        assert chosen.json() == {"approved": [ids["1"]], "skipped": []}
        use_session(old.client, reviewer)
        listed = old.client.get("/transfers")
        assert "待审核的转出联系函 2 笔" in listed.text and "同意全部符合条件的" in listed.text
        assert f'name="ids" value="{ids["2"]}"' in listed.text
        assert f'name="ids" value="{ids["1"]}"' not in listed.text  # approved already
        done = old.client.post("/transfers/approve", data={"every": "1"}, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/transfers?approved=2&skipped=0"
        after = old.client.get(done.headers["location"])
        assert "已批量同意转出 2 笔" in after.text and "待审核的转出联系函" not in after.text
    assert {t.state for t in _transfers(old).values()} == {"transferred"}
    assert all(_balance(old, who) == 0 for who in PEOPLE)
