"""The hub: its own database, the registry, taking messages (each refusal without effect),
routing without reading, answering BDC909, delivering with retries, and its admin page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select

from hpf.db.engine import read_transaction, write_transaction
from hpf.hub import registry, service, staff
from hpf.hub.tables import hub_message
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.errors import HpfError
from hpf.messages import protocol
from hpf.messages.bodies import CenterCodeAnswer, CenterCodeQuery, StatusQuery
from hpf.messages.keys import KeyPair
from hub_support import HUB_CODE, HUB_KEYS, compose, delivery, make_hub, now, router

A, B, STRANGER = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()
PATH = "/api/v1/hub/messages"
LETTER = StatusQuery(letter_no="3301002612060001")


@pytest.fixture
def hub(tmp_path):
    h = make_hub(tmp_path)
    h.register("330100", A, "http://a.test", name="杭州住房公积金管理中心")
    h.register("440300", B, "http://b.test", name="深圳市住房公积金管理中心")
    return h


def messages_stored(hub) -> int:
    with read_transaction(hub.engine) as conn:
        return int(conn.scalar(select(func.count()).select_from(hub_message)))


def a_to_b(**kw):
    return compose(A, "330100", "440300", B, "BDC904", LETTER, **kw)


def test_the_hub_has_its_own_schema_and_no_center_tables(hub):
    names = set(inspect(hub.engine).get_table_names())
    assert {"hub_center", "hub_message", "hub_staff", "hub_session", "hub_alembic_version"} <= names
    assert not names & {"member", "journal_entry", "journal_line", "business_event", "alembic_version"}


def test_registry_refuses_bad_fields_and_a_second_registration(hub):
    with write_transaction(hub.engine) as conn:
        for code, endpoint in (("33010", "http://x"), (HUB_CODE, "http://x"), ("110000", "ftp://x")):
            with pytest.raises(HpfError):
                registry.register(
                    conn, code=code, name="北京", province="北京", endpoint=endpoint, keys=A.public(),
                    actor="t", now=now(), hub_code=HUB_CODE,
                )  # fmt: skip
        with pytest.raises(HpfError) as again:
            registry.register(
                conn, code="330100", name="杭州", province="浙江", endpoint="http://a", keys=A.public(),
                actor="t", now=now(), hub_code=HUB_CODE,
            )  # fmt: skip
    assert again.value.code == "hub.center_exists"


def test_a_message_to_another_center_is_stored_sealed_and_forwarded_with_both_signatures(tmp_path):
    sent = []
    h = make_hub(tmp_path)
    h.register("330100", A, "http://a.test")
    h.register("440300", B, "http://b.test")
    envelope = a_to_b()
    answer = h.client.post(PATH, json=delivery(A, "330100", envelope))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"message_id": str(envelope.message_id), "status": "accepted", "route": "forward"}
    # The hub cannot read the body: it is sealed to B.
    with pytest.raises(HpfError) as sealed:
        protocol.open_body(envelope, HUB_KEYS)
    assert sealed.value.code == "message.undecryptable"
    # Delivered by the hub's worker: a new hop signed by the hub, naming A's key; the envelope as A signed it.
    post = router({}, sent)
    done = service.deliver_due(h.engine, service.Hub(HUB_CODE, HUB_KEYS), post, now)
    assert done.retried == 1  # nothing answers at b.test yet
    url, payload = sent[0]
    assert url == "http://b.test/api/v1/hub/messages"
    forwarded = protocol.parse_delivery(payload)
    protocol.check_hop(forwarded, HUB_KEYS.sign_public)
    assert forwarded.hop.by == HUB_CODE and forwarded.hop.sender.sign_key == A.public().sign
    assert forwarded.hop.sender.encrypt_key == A.public().encrypt  # so that B can answer A
    protocol.check_envelope(forwarded.envelope, bytes.fromhex(forwarded.hop.sender.sign_key))
    assert forwarded.envelope == envelope
    assert protocol.open_body(forwarded.envelope, B) == LETTER


def test_delivery_retries_with_backoff_then_delivers_once(hub):
    hub.client.post(PATH, json=delivery(A, "330100", a_to_b()))
    answers = iter([(0, {}), (503, {"code": "db.unavailable"}), (200, {"status": "accepted"})])
    calls = []

    def flaky(url, payload):
        calls.append(url)
        return next(answers)

    hub_ = service.Hub(HUB_CODE, HUB_KEYS)
    t0 = now()
    assert service.deliver_due(hub.engine, hub_, flaky, lambda: t0).retried == 1
    assert (
        service.deliver_due(hub.engine, hub_, flaky, lambda: t0 + timedelta(seconds=0.5)).attempted == 0
    )  # waits 1 s
    assert service.deliver_due(hub.engine, hub_, flaky, lambda: t0 + timedelta(seconds=1)).retried == 1
    assert (
        service.deliver_due(hub.engine, hub_, flaky, lambda: t0 + timedelta(seconds=2.5)).attempted == 0
    )  # waits 2 s
    assert service.deliver_due(hub.engine, hub_, flaky, lambda: t0 + timedelta(seconds=3)).delivered == 1
    assert service.deliver_due(hub.engine, hub_, flaky, lambda: t0 + timedelta(hours=1)).attempted == 0
    assert len(calls) == 3
    with read_transaction(hub.engine) as conn:
        row = conn.execute(select(hub_message)).one()
    assert (row.state, row.attempts) == ("delivered", 3)


def test_a_final_refusal_is_not_retried(hub):
    hub.client.post(PATH, json=delivery(A, "330100", a_to_b()))
    hub_ = service.Hub(HUB_CODE, HUB_KEYS)
    refused = lambda url, payload: (401, {"code": "message.bad_signature"})  # noqa: E731
    assert service.deliver_due(hub.engine, hub_, refused, now).refused == 1
    assert service.deliver_due(hub.engine, hub_, refused, lambda: now() + timedelta(hours=1)).attempted == 0


def test_bdc909_asked_by_message_is_answered_from_the_registry_sealed_to_the_asker(hub):
    query = compose(A, "330100", HUB_CODE, HUB_KEYS, "BDC909", CenterCodeQuery(codes=["440300", "110000"]))
    assert hub.client.post(PATH, json=delivery(A, "330100", query)).json()["route"] == "hub"
    sent = []
    service.deliver_due(hub.engine, service.Hub(HUB_CODE, HUB_KEYS), router({}, sent), now)
    url, payload = sent[0]
    assert url == "http://a.test/api/v1/hub/messages"
    answer = protocol.parse_delivery(payload)
    assert answer.envelope.sender == HUB_CODE and answer.envelope.reply_to == query.message_id
    assert answer.hop.sender is None  # the hub's own message: its own key verifies it
    protocol.check_envelope(answer.envelope, HUB_KEYS.sign_public)
    body = protocol.open_body(answer.envelope, A)
    assert isinstance(body, CenterCodeAnswer)
    assert [c.code for c in body.centers] == ["440300"] and body.unknown == ["110000"]
    assert body.centers[0].encrypt_key == B.public().encrypt
    # The same lookup as an API; the endpoint is not disclosed.
    found = hub.client.get("/api/v1/hub/centers/440300").json()
    assert found["name"] == "深圳市住房公积金管理中心" and "endpoint" not in found
    missing = hub.client.get("/api/v1/hub/centers/110000")
    assert missing.status_code == 404 and missing.json()["code"] == "hub.center_unknown"
    assert [c["code"] for c in hub.client.get("/api/v1/hub/centers").json()] == ["330100", "440300"]


def test_a_message_delivered_twice_is_taken_once(hub):
    envelope = a_to_b()
    first = hub.client.post(PATH, json=delivery(A, "330100", envelope))
    second = hub.client.post(PATH, json=delivery(A, "330100", envelope))  # a retry: a new hop
    assert first.json()["status"] == "accepted" and second.json()["status"] == "duplicate"
    assert messages_stored(hub) == 1


@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("tampered body", "message.bad_signature", 401),
        ("wrong key", "message.bad_signature", 401),
        ("missing signature", "message.signature_missing", 401),
        ("unknown center", "message.sender_unknown", 403),
        ("suspended center", "message.sender_suspended", 403),
        ("replay outside the window", "message.outside_window", 401),
        ("same id, other content", "message.id_reused", 409),
        ("malformed", "message.malformed", 422),
        ("not its own message", "message.malformed", 422),
        ("unknown recipient", "message.recipient_unknown", 422),
        ("suspended recipient", "message.recipient_suspended", 422),
        ("undecryptable to the hub", "message.undecryptable", 422),
    ],
)
def test_each_refusal_is_problem_json_and_has_no_effect(hub, case, code, status):
    envelope = a_to_b()
    payload = delivery(A, "330100", envelope)
    if case == "tampered body":
        payload["envelope"]["body"]["data"] = payload["envelope"]["body"]["data"][::-1]
        payload = delivery(A, "330100", protocol.envelope_of(payload["envelope"]))  # hop re-signed
    elif case == "wrong key":
        payload = delivery(STRANGER, "330100", compose(STRANGER, "330100", "440300", B, "BDC904", LETTER))
    elif case == "missing signature":
        payload["hop"]["signature"] = None
    elif case == "unknown center":
        payload = delivery(STRANGER, "110000", compose(STRANGER, "110000", "440300", B, "BDC904", LETTER))
    elif case == "suspended center":
        hub.suspend("330100")
    elif case == "replay outside the window":
        payload = delivery(A, "330100", envelope, at=now() - timedelta(seconds=301))
    elif case == "same id, other content":
        assert hub.client.post(PATH, json=payload).status_code == 200
        other = protocol.compose(
            A, sender="330100", recipient="440300", recipient_encrypt_key=B.encrypt_public,
            message_type="BDC904", body=StatusQuery(letter_no="3301002612060002"), now=now(),
            message_id=envelope.message_id,
        )  # fmt: skip
        payload = delivery(A, "330100", other)
    elif case == "malformed":
        payload["envelope"]["type"] = "XYZ"
    elif case == "not its own message":
        payload = delivery(A, "330100", compose(B, "440300", "330100", A, "BDC904", LETTER))
    elif case == "unknown recipient":
        payload = delivery(A, "330100", compose(A, "330100", "110000", B, "BDC904", LETTER))
    elif case == "suspended recipient":
        hub.suspend("440300")
    elif case == "undecryptable to the hub":
        payload = delivery(
            A, "330100", compose(A, "330100", HUB_CODE, B, "BDC909", CenterCodeQuery(codes=["440300"]))
        )
    before = messages_stored(hub)
    answer = hub.client.post(PATH, json=payload)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code and answer.json()["title"]
    assert messages_stored(hub) == before


def test_hub_staff_sign_in_and_see_centers_and_messages_in_chinese(hub):
    with write_transaction(hub.engine) as conn:
        staff.add_staff(
            conn,
            login="ops",
            name="平台值班员",
            password="Relay-Desk-2026-安全",
            passwords=Passwords(FAST_FOR_TESTS),
            now=now(),
        )
    envelope = a_to_b()
    hub.client.post(PATH, json=delivery(A, "330100", envelope))
    assert hub.client.get("/", follow_redirects=False).headers["location"] == "/login"
    wrong = hub.client.post("/login", data={"login": "ops", "password": "nope"})
    assert wrong.status_code == 401 and "登录名或密码不正确" in wrong.text
    signed = hub.client.post("/login", data={"login": "ops", "password": "Relay-Desk-2026-安全"})
    assert signed.status_code == 200, signed.text
    page = signed.text
    assert "接入中心与报文" in page and "杭州住房公积金管理中心" in page and "440300" in page
    assert str(envelope.message_id) in page and "申请进度查询" in page and "待投递" in page
    assert "3301002612060001" not in page  # the hub shows headers, never a body
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = hub.client.post("/logout", data={"csrf_token": "x"})
    assert refused.status_code == 403
    assert (
        refused.headers["content-type"].startswith("text/html") and "页面已过期，请刷新后重试" in refused.text
    )
    assert refused.headers["X-HPF-Error"] == "auth.csrf" and "CSRF" not in refused.text
    out = hub.client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert hub.client.get("/", follow_redirects=False).status_code == 303


def test_a_hub_outside_development_does_not_start_without_its_key_file(tmp_path):
    from hpf.hub.app import hub_keys
    from hpf.hub.settings import HubSettings

    production = HubSettings.from_env({"HPF_DATABASE_URL": f"sqlite:///{tmp_path}/h.sqlite3"})
    assert (production.env, production.hub_code, production.window_seconds) == ("production", "000000", 300)
    with pytest.raises(HpfError) as refused:
        hub_keys(production)
    assert refused.value.code == "hub.keys_missing"
    HUB_KEYS.write(tmp_path / "hub.json")
    configured = HubSettings.from_env(
        {"HPF_MESSAGE_KEY_FILE": str(tmp_path / "hub.json"), "HPF_HUB_CODE": "100000"}
    )
    assert hub_keys(configured).public() == HUB_KEYS.public() and configured.hub_code == "100000"
    assert configured.database_url == "sqlite:///hpf-data/hub.sqlite3"


def test_a_center_cannot_send_a_bdc909_to_another_center(hub):
    """Review fix 1: BDC909 passes between a center and the hub only; the hub forwards none."""
    for forged in (
        compose(A, "330100", "440300", B, "BDC909", CenterCodeQuery(codes=["110000"])),
        compose(
            A,
            "330100",
            "440300",
            B,
            "BDC909",
            CenterCodeAnswer(centers=[], unknown=["110000"]),
            reply_to=a_to_b().message_id,
        ),
    ):
        answer = hub.client.post(PATH, json=delivery(A, "330100", forged))
        assert (answer.status_code, answer.json()["code"]) == (403, "message.hub_only")
    assert messages_stored(hub) == 0


def test_a_chunked_body_is_refused_once_it_passes_the_limit_without_reading_the_rest(tmp_path):
    """Review fix 4: no Content-Length; the hub counts while the body streams and stops at 413."""
    import asyncio

    from hpf.hub.app import create_hub_app
    from hpf.hub.settings import HubSettings

    base = make_hub(tmp_path)
    app = create_hub_app(
        HubSettings(database_url="unused", env="development", hub_code=HUB_CODE, max_body_bytes=1000),
        engine=base.engine, keys=HUB_KEYS, deliver=False,
    )  # fmt: skip
    pulled, sent = 0, []

    async def receive():
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": pulled < 1000}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"hub.test"), (b"transfer-encoding", b"chunked"),
                    (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1), "server": ("hub.test", 80),
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413 and (b"content-type", b"application/problem+json") in start["headers"]
    assert pulled <= 11  # 1000 bytes allowed: the 11th chunk passes the limit, nothing more is read


def test_a_message_for_a_center_suspended_since_is_refused_not_retried_for_ever(hub):
    """Review fix 7: the recipient suspended after the hub took the message: refused, with why."""
    hub.client.post(PATH, json=delivery(A, "330100", a_to_b()))
    hub.suspend("440300")
    hub_ = service.Hub(HUB_CODE, HUB_KEYS)
    never = lambda url, payload: pytest.fail("nothing is sent to a suspended center")  # noqa: E731
    assert service.deliver_due(hub.engine, hub_, never, now).refused == 1
    assert service.deliver_due(hub.engine, hub_, never, lambda: now() + timedelta(hours=1)).attempted == 0
    with read_transaction(hub.engine) as conn:
        row = conn.execute(select(hub_message)).one()
    assert row.state == "refused" and "message.recipient_suspended" in row.last_error


def test_bdc909_lookup_is_one_query(hub):
    """Review fix 7: the registry answers a lookup of many codes in one query."""
    from sqlalchemy import event

    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(hub.engine, "before_cursor_execute", listener)
    try:
        with read_transaction(hub.engine) as conn:
            found, unknown = registry.lookup(conn, ["440300", "110000", "330100", "440300"])
    finally:
        event.remove(hub.engine, "before_cursor_execute", listener)
    assert [c.code for c in found] == ["440300", "330100"] and unknown == ["110000"]
    assert len([s for s in statements if "hub_center" in s]) == 1
