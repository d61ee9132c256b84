"""The hub application and a center application in one process, each on its own SQLite file,
talking over their real HTTP endpoints (the test client as transport): BDC909 through the hub,
a BDC904 status exchange both ways with a second center, and the center's refusals."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hpf import events
from hpf.app import create_app
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.messages import protocol
from hpf.messages.bodies import CenterCodeAnswer, CenterCodeQuery, StatusAnswer, StatusQuery
from hpf.messages.envelope import CenterInfo
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH
from hpf.schema import upgrade
from hpf.settings import Settings
from hpf.transfers import service as transfers
from hub_support import HUB_CODE, HUB_KEYS, compose, delivery, make_hub, now, router

A_CODE, B_CODE = "330100", "440300"
B = KeyPair.generate()  # the second center, played by the test
B_INFO = CenterInfo(
    code=B_CODE, name="深圳市住房公积金管理中心", province="广东", state="active",
    sign_key=B.public().sign, encrypt_key=B.public().encrypt,
)  # fmt: skip
LETTER = "4403002612060001"


@pytest.fixture
def network(tmp_path):
    """A hub, center A (a real app) and center B (the test, answering at http://b.test)."""
    a_keys = KeyPair.generate()
    a_keys.write(tmp_path / "a-keys.json")
    at_b: list[dict[str, Any]] = []
    clients: dict[str, TestClient] = {}
    to_centers = router(clients)

    def hub_post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if url.startswith("http://b.test"):
            at_b.append(payload)
            return 200, {"status": "accepted"}
        return to_centers(url, payload)

    hub = make_hub(tmp_path, post=hub_post)
    hub.register(A_CODE, a_keys, "http://a.test", name="杭州住房公积金管理中心")
    hub.register(B_CODE, B, "http://b.test", name="深圳市住房公积金管理中心")
    public = HUB_KEYS.public()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/a.sqlite3",
        env="development",
        center_code=A_CODE,
        hub_url="http://hub.test",
        hub_code=HUB_CODE,
        hub_public_keys=f"{public.sign}:{public.encrypt}",
        message_key_file=str(tmp_path / "a-keys.json"),
    )
    engine = make_engine(settings.database_url)
    upgrade(engine)
    clock = FixedClock(date(2026, 12, 7))
    app = create_app(settings, engine=engine, clock=clock, deliver_messages=False)
    clients["http://a.test"] = TestClient(app)
    ctx = Context(actor="teller", clock=clock, center_code=A_CODE, source="test")
    yield {
        "hub": hub, "engine": engine, "ctx": ctx, "at_b": at_b, "a_client": clients["http://a.test"],
        "a_post": router({"http://hub.test": hub.client}),
    }  # fmt: skip
    engine.dispose()


def deliver_a(net) -> transfers.Round:
    return transfers.deliver_due(net["engine"], net["ctx"], net["a_post"])


def test_bdc909_through_the_hub_fills_the_known_centers(network):
    net = network
    with write_transaction(net["engine"]) as conn:
        asked = transfers.lookup_centers(conn, net["ctx"], [B_CODE, "110000"])
        assert transfers.message_of(conn, asked).state == "recorded"
    done = deliver_a(net)
    assert (done.scheduled, done.delivered) == (1, 1)
    assert net["hub"].deliver().delivered == 1  # the hub's answer, to A's endpoint
    with read_transaction(net["engine"]) as conn:
        assert transfers.peers(conn) == {B_CODE: "active"}
        query = transfers.message_of(conn, asked)
        assert query.state == "delivered" and query.answered_by is not None
        answer = transfers.message_of(conn, query.answered_by)
        assert (answer.direction, answer.type, answer.peer, answer.reply_to) == (
            "in",
            "BDC909",
            HUB_CODE,
            str(asked),
        )
    assert deliver_a(net).attempted == 0  # nothing left


def learn_b(net) -> None:
    with write_transaction(net["engine"]) as conn:
        transfers.lookup_centers(conn, net["ctx"], [B_CODE])
    deliver_a(net)
    net["hub"].deliver()


def test_bdc904_both_ways_between_two_centers_through_the_hub(network):
    net = network
    learn_b(net)
    # A asks B: sealed to B, forwarded by the hub with A's signature and the hub's.
    with write_transaction(net["engine"]) as conn:
        asked = transfers.ask_status(conn, net["ctx"], B_CODE, LETTER)
    assert deliver_a(net).delivered == 1
    assert net["hub"].deliver().delivered == 1
    got = protocol.parse_delivery(net["at_b"][-1])
    protocol.check_hop(got, HUB_KEYS.sign_public)
    protocol.check_envelope(got.envelope, bytes.fromhex(got.hop.sender.sign_key))
    assert got.envelope.message_id == asked and protocol.open_body(got.envelope, B) == StatusQuery(
        letter_no=LETTER
    )
    # B answers through the hub; A links the answer to its query and records the feedback.
    reply = compose(
        B, B_CODE, A_CODE, _a_keys(net), "BDC904", StatusAnswer(letter_no=LETTER, feedback_code="2", feedback="处理中", status="02"), reply_to=asked,
    )  # fmt: skip
    assert net["hub"].client.post(PATH, json=delivery(B, B_CODE, reply)).status_code == 200
    assert net["hub"].deliver().delivered == 1
    with read_transaction(net["engine"]) as conn:
        assert transfers.message_of(conn, asked).answered_by == str(reply.message_id)
        told = [
            e for e in events.events_of(conn, "hub_message", asked) if e.type == "hub_message.status_answered"
        ]
    assert [(e.payload["feedback_code"], e.payload["status"]) for e in told] == [("2", "02")]
    # B asks A: A's handler answers at once (in the same transaction), A's worker sends it.
    query = compose(B, B_CODE, A_CODE, _a_keys(net), "BDC904", StatusQuery(letter_no="3301002612060009"))
    assert net["hub"].client.post(PATH, json=delivery(B, B_CODE, query)).status_code == 200
    assert net["hub"].deliver().delivered == 1
    assert deliver_a(net).delivered == 1
    assert net["hub"].deliver().delivered == 1
    answer = protocol.parse_delivery(net["at_b"][-1]).envelope
    assert answer.reply_to == query.message_id and answer.sender == A_CODE
    body = protocol.open_body(answer, B)
    assert (body.feedback_code, body.feedback) == ("1", "联系函编号不存在")


def _a_keys(net) -> KeyPair:
    database = str(net["engine"].url.database)
    return KeyPair.from_file(database.replace("a.sqlite3", "a-keys.json"))


def a_rows(net) -> tuple[int, int]:
    with read_transaction(net["engine"]) as conn:
        from hpf.events.service import events_since

        received = events_since(conn, 0, ["hub_message.received"])
        return len(transfers.messages(conn, direction="in")), len(received)


def test_the_center_takes_a_delivery_once_and_refuses_what_the_hub_did_not_send(network):
    net = network
    a_client, a_keys = net["a_client"], _a_keys(net)
    query = compose(B, B_CODE, A_CODE, a_keys, "BDC904", StatusQuery(letter_no="3301002612060009"))
    forwarded = delivery(HUB_KEYS, HUB_CODE, query, sender=B_INFO)
    first = a_client.post(PATH, json=forwarded)
    again = a_client.post(PATH, json=delivery(HUB_KEYS, HUB_CODE, query, sender=B_INFO))
    assert first.json()["status"] == "accepted" and again.json()["status"] == "duplicate"
    assert a_rows(net) == (1, 1)
    with read_transaction(net["engine"]) as conn:  # one answer queued, not two
        assert len(transfers.messages(conn, direction="out")) == 1

    def refused(payload: dict[str, Any]) -> str:
        answer = a_client.post(PATH, json=payload)
        assert answer.status_code >= 400 and answer.headers["content-type"] == "application/problem+json"
        return answer.json()["code"]

    other = compose(B, B_CODE, A_CODE, a_keys, "BDC904", StatusQuery(letter_no="3301002612060010"))
    assert (
        refused(delivery(B, B_CODE, other)) == "message.sender_unknown"
    )  # B straight to A: not through the hub
    assert refused(delivery(HUB_KEYS, HUB_CODE, other)) == "message.malformed"  # no vouched key
    assert (
        refused(
            delivery(
                HUB_KEYS, HUB_CODE, other, sender=B_INFO.model_copy(update={"sign_key": a_keys.public().sign})
            )
        )
        == "message.bad_signature"
    )
    stale = delivery(HUB_KEYS, HUB_CODE, other, sender=B_INFO, at=now() - timedelta(minutes=6))
    assert refused(stale) == "message.outside_window"
    elsewhere = compose(B, B_CODE, "110000", a_keys, "BDC904", StatusQuery(letter_no="3301002612060010"))
    assert refused(delivery(HUB_KEYS, HUB_CODE, elsewhere, sender=B_INFO)) == "message.misrouted"
    reused = protocol.compose(
        B, sender=B_CODE, recipient=A_CODE, recipient_encrypt_key=a_keys.encrypt_public, message_type="BDC904",
        body=StatusQuery(letter_no="3301002612060011"), now=now(), message_id=query.message_id,
    )  # fmt: skip
    assert refused(delivery(HUB_KEYS, HUB_CODE, reused, sender=B_INFO)) == "message.id_reused"
    from_b = compose(B, B_CODE, A_CODE, a_keys, "BDC909", CenterCodeQuery(codes=[A_CODE]))
    assert refused(delivery(HUB_KEYS, HUB_CODE, from_b, sender=B_INFO)) == "message.hub_only"
    unhandled = compose(
        HUB_KEYS, HUB_CODE, A_CODE, a_keys, "BDC909", CenterCodeQuery(codes=[A_CODE])
    )  # A is no hub
    assert refused(delivery(HUB_KEYS, HUB_CODE, unhandled)) == "message.type_unhandled"
    assert refused({"envelope": {}, "hop": {}}) == "message.malformed"
    assert a_rows(net) == (1, 1)  # no refusal left anything


def test_send_writes_the_outbox_in_the_callers_transaction(network):
    net = network

    def failing_change() -> None:
        with write_transaction(net["engine"]) as conn:
            transfers.lookup_centers(conn, net["ctx"], [B_CODE])
            raise RuntimeError("the business change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    with read_transaction(net["engine"]) as conn:
        assert transfers.messages(conn) == []
        assert events.events_since(conn, 0, [transfers.QUEUED]) == []
    assert deliver_a(net).attempted == 0
    with write_transaction(net["engine"]) as conn, pytest.raises(Exception) as unknown:
        transfers.ask_status(conn, net["ctx"], "110000", LETTER)  # not looked up: no key to seal to
    assert getattr(unknown.value, "code", None) == "transfers.peer_unknown"


def peer_rows(net) -> dict[str, tuple[str, str]]:
    with read_transaction(net["engine"]) as conn:
        from hpf.transfers.tables import peer_center

        return {r.code: (r.state, r.sign_key) for r in conn.execute(peer_center.select())}


def test_a_center_cannot_answer_bdc909_in_the_hubs_place(network):
    """Review fix 1: B's forged BDC909 answer to A (B's keys for another code) is refused by the
    hub, and by A if some hub forwarded it; A's known centers stay as the hub described them."""
    net = network
    learn_b(net)
    before, rows = peer_rows(net), a_rows(net)
    with write_transaction(net["engine"]) as conn:
        asked = transfers.lookup_centers(conn, net["ctx"], ["110000"])
    deliver_a(net)
    forged_info = B_INFO.model_copy(update={"code": "110000", "name": "北京"})
    forged = compose(
        B, B_CODE, A_CODE, _a_keys(net), "BDC909",
        CenterCodeAnswer(centers=[forged_info, B_INFO.model_copy(update={"state": "suspended"})], unknown=[]),
        reply_to=asked,
    )  # fmt: skip
    at_hub = net["hub"].client.post(PATH, json=delivery(B, B_CODE, forged))
    assert (at_hub.status_code, at_hub.json()["code"]) == (403, "message.hub_only")
    assert net["hub"].deliver().attempted == 1  # the hub's own answer only, nothing of B's
    forwarded = net["a_client"].post(PATH, json=delivery(HUB_KEYS, HUB_CODE, forged, sender=B_INFO))
    assert (forwarded.status_code, forwarded.json()["code"]) == (403, "message.hub_only")
    assert peer_rows(net) == before  # B still active with its own key; no 110000
    assert a_rows(net)[0] == rows[0] + 1  # the hub's real answer (110000 unknown), nothing else


def test_an_answer_must_answer_a_question_we_sent_to_its_sender(network):
    """Review fix 2: an answer to no question, to another center's question, of another type or
    to a question already answered is refused 422 and changes nothing."""
    net = network
    learn_b(net)
    with write_transaction(net["engine"]) as conn:
        to_hub = transfers.lookup_centers(conn, net["ctx"], [B_CODE])  # asked of the hub
        to_b = transfers.ask_status(conn, net["ctx"], B_CODE, LETTER)
    a_keys = _a_keys(net)
    status = StatusAnswer(letter_no=LETTER, feedback_code="0", feedback="已完成", status="00")

    def answer_from_b(reply_to) -> Any:
        reply = compose(B, B_CODE, A_CODE, a_keys, "BDC904", status, reply_to=reply_to)
        return net["a_client"].post(PATH, json=delivery(HUB_KEYS, HUB_CODE, reply, sender=B_INFO))

    rows = a_rows(net)
    from uuid import uuid4

    for reply_to in (uuid4(), to_hub):  # no such question; a BDC909 question, asked of the hub
        refused = answer_from_b(reply_to)
        assert (refused.status_code, refused.json()["code"]) == (422, "message.unexpected_answer")
    # B's answer to a question A asked of the hub (a BDC904 one), as if from a third center
    c_keys = KeyPair.generate()
    c_info = CenterInfo(code="310000", name="上海", province="上海", state="active",
                        sign_key=c_keys.public().sign, encrypt_key=c_keys.public().encrypt)  # fmt: skip
    from_c = compose(c_keys, "310000", A_CODE, a_keys, "BDC904", status, reply_to=to_b)
    refused = net["a_client"].post(PATH, json=delivery(HUB_KEYS, HUB_CODE, from_c, sender=c_info))
    assert (refused.status_code, refused.json()["code"]) == (422, "message.unexpected_answer")
    assert a_rows(net) == rows
    with read_transaction(net["engine"]) as conn:
        assert transfers.message_of(conn, to_hub).answered_by is None
        assert transfers.message_of(conn, to_b).answered_by is None
        assert events.events_of(conn, "hub_message", to_b) and not [
            e for e in events.events_of(conn, "hub_message", to_b) if e.type == "hub_message.status_answered"
        ]
    assert "310000" not in peer_rows(net)
    assert answer_from_b(to_b).status_code == 200  # the real answer
    again = answer_from_b(to_b)  # a second, different answer to the same question
    assert (again.status_code, again.json()["code"]) == (422, "message.unexpected_answer")
