"""The message envelope: SM2 signatures, sealed bodies, and every refusal of the receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from hpf.kernel.errors import HpfError
from hpf.messages import crypto, protocol
from hpf.messages.bodies import CenterCodeQuery, StatusAnswer, StatusQuery
from hpf.messages.envelope import CenterInfo, Delivery
from hpf.messages.keys import KeyPair, PublicKeys

NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)
A, B, HUB = KeyPair.generate(), KeyPair.generate(), KeyPair.generate()


def letter() -> StatusQuery:
    return StatusQuery(letter_no="3301002612060001")


def envelope_a_to_b(**kw):
    return protocol.compose(
        A,
        sender="330100",
        recipient="440300",
        recipient_encrypt_key=B.encrypt_public,
        message_type="BDC904",
        body=letter(),
        now=NOW,
        **kw,
    )


def refusal(call) -> str:
    with pytest.raises(HpfError) as caught:
        call()
    return caught.value.code


def test_a_signed_sealed_message_verifies_and_opens_for_its_recipient_only():
    env = envelope_a_to_b()
    protocol.check_envelope(env, A.sign_public)
    assert protocol.open_body(env, B) == letter()
    # The hub (or anyone but B) cannot read it: the body is sealed to B's encryption key.
    assert refusal(lambda: protocol.open_body(env, HUB)) == "message.undecryptable"
    assert "3301002612060001" not in env.model_dump_json()


def test_the_signature_covers_every_field_of_the_envelope():
    env = envelope_a_to_b()
    for change in (
        {"recipient": "110000"},
        {"created_at": NOW + timedelta(seconds=1)},
        {"message_id": uuid4()},
        {"body": env.body.model_copy(update={"nonce": crypto.b64(b"\0" * 12)})},
    ):
        tampered = env.model_copy(update=change)
        assert (
            refusal(lambda t=tampered: protocol.check_envelope(t, A.sign_public)) == "message.bad_signature"
        )


def test_a_tampered_body_does_not_open_even_if_someone_re_signs_it():
    env = envelope_a_to_b()
    raw = bytearray(crypto.unb64(env.body.data))
    raw[0] ^= 1
    tampered = env.model_copy(update={"body": env.body.model_copy(update={"data": crypto.b64(bytes(raw))})})
    assert refusal(lambda: protocol.check_envelope(tampered, A.sign_public)) == "message.bad_signature"
    assert refusal(lambda: protocol.open_body(tampered, B)) == "message.undecryptable"
    # The sealed body is bound to its header: moved under another header it does not open.
    moved = env.model_copy(update={"recipient": "440301"})
    assert refusal(lambda: protocol.open_body(moved, B)) == "message.undecryptable"


def test_a_wrong_key_and_a_missing_signature_are_refused():
    env = envelope_a_to_b()
    assert refusal(lambda: protocol.check_envelope(env, B.sign_public)) == "message.bad_signature"
    unsigned = env.model_copy(update={"signature": None})
    assert refusal(lambda: protocol.check_envelope(unsigned, A.sign_public)) == "message.signature_missing"
    garbage = env.model_copy(update={"signature": crypto.b64(b"not a signature")})
    assert refusal(lambda: protocol.check_envelope(garbage, A.sign_public)) == "message.bad_signature"


def test_a_hop_is_signed_by_who_sends_it_and_binds_the_envelope():
    env = envelope_a_to_b()
    a_info = CenterInfo(
        code="330100", name="杭州", province="浙江", state="active",
        sign_key=A.public().sign, encrypt_key=A.public().encrypt,
    )  # fmt: skip
    delivery = protocol.hop(HUB, "000000", env, NOW, sender=a_info)
    protocol.check_hop(delivery, HUB.sign_public)
    assert refusal(lambda: protocol.check_hop(delivery, A.sign_public)) == "message.bad_signature"
    other = envelope_a_to_b()  # another envelope under the same hop signature
    swapped = Delivery(envelope=other, hop=delivery.hop)
    assert refusal(lambda: protocol.check_hop(swapped, HUB.sign_public)) == "message.bad_signature"
    vouched = Delivery(
        envelope=env,
        hop=delivery.hop.model_copy(
            update={"sender": a_info.model_copy(update={"sign_key": B.public().sign})}
        ),
    )
    assert refusal(lambda: protocol.check_hop(vouched, HUB.sign_public)) == "message.bad_signature"
    unsigned = Delivery(envelope=env, hop=delivery.hop.model_copy(update={"signature": None}))
    assert refusal(lambda: protocol.check_hop(unsigned, HUB.sign_public)) == "message.signature_missing"


def test_the_time_window_is_five_minutes_either_way_on_the_receivers_clock():
    protocol.check_window(NOW, NOW + timedelta(seconds=300))
    protocol.check_window(NOW, NOW - timedelta(seconds=300))
    assert (
        refusal(lambda: protocol.check_window(NOW, NOW + timedelta(seconds=301))) == "message.outside_window"
    )
    assert (
        refusal(lambda: protocol.check_window(NOW, NOW - timedelta(seconds=301))) == "message.outside_window"
    )


def test_the_same_content_has_the_same_digest_and_other_content_another():
    env = envelope_a_to_b()
    again = protocol.envelope_of(protocol.envelope_json(env))
    assert again.digest() == env.digest()
    assert envelope_a_to_b(message_id=env.message_id).digest() != env.digest()  # a fresh seal


def test_malformed_deliveries_and_bodies_are_refused():
    env = envelope_a_to_b()
    good = protocol.hop(A, "330100", env, NOW).model_dump(mode="json")
    assert protocol.parse_delivery(good).envelope == env
    for broken in (
        b"not json",
        {"envelope": {}, "hop": good["hop"]},
        {**good, "extra": 1},
        {**good, "envelope": {**good["envelope"], "sender": "33010"}},
        {**good, "envelope": {**good["envelope"], "type": "BDC999"}},
        {**good, "envelope": {**good["envelope"], "schema_version": 2}},
        {**good, "envelope": {**good["envelope"], "created_at": "2026-12-06T14:00:00"}},  # no zone
    ):
        assert refusal(lambda b=broken: protocol.parse_delivery(b)) == "message.malformed"
    # A body that opens but does not fit its type's model.
    wrong = protocol.compose(
        A,
        sender="330100",
        recipient="440300",
        recipient_encrypt_key=B.encrypt_public,
        message_type="BDC909",
        body=CenterCodeQuery(codes=["440300"]),
        now=NOW,
    )
    relabelled = wrong.model_copy(update={"type": "BDC904"})
    # (relabelling breaks the header binding first; a body sealed under a BDC904 header but
    # holding a BDC909 body is malformed)
    draft = relabelled.model_copy(update={"body": wrong.body})
    assert refusal(lambda: protocol.open_body(draft, B)) == "message.undecryptable"
    wrapped, nonce, data = crypto.seal(B.encrypt_public, b'{"codes":["440300"]}', relabelled.header_bytes())
    odd = relabelled.model_copy(
        update={"body": relabelled.body.model_copy(update={"key": wrapped, "nonce": nonce, "data": data})}
    )
    assert refusal(lambda: protocol.open_body(odd, B)) == "message.malformed"
    # A type and direction no model is defined for (a batch is never answered: decision 0036).
    answer = env.model_copy(update={"type": "BDC906", "reply_to": env.message_id})
    assert refusal(lambda: protocol.open_body(answer, B)) == "message.type_unhandled"


def test_an_answer_carries_what_it_answers():
    query = envelope_a_to_b()
    answer = protocol.compose(
        B,
        sender="440300",
        recipient="330100",
        recipient_encrypt_key=A.encrypt_public,
        message_type="BDC904",
        body=StatusAnswer(letter_no="3301002612060001", feedback_code="1", feedback="联系函编号不存在"),
        now=NOW,
        reply_to=query.message_id,
    )
    assert answer.is_answer and answer.reply_to == query.message_id
    assert protocol.open_body(answer, A).feedback_code == "1"  # type: ignore[attr-defined]
    # A request body under an answer's header is refused when composing.
    assert refusal(
        lambda: protocol.compose(
            B, sender="440300", recipient="330100", recipient_encrypt_key=A.encrypt_public,
            message_type="BDC904", body=letter(), now=NOW, reply_to=query.message_id,
        )
    ) == "message.malformed"  # fmt: skip


def test_key_files_round_trip_and_bad_ones_are_refused(tmp_path):
    path = tmp_path / "keys.json"
    A.write(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = KeyPair.from_file(path)
    assert again.public() == A.public()
    assert "private" not in repr(again) and A.sign_private.hex() not in repr(again)
    path.write_text('{"sign": {"private": "zz"}}')
    assert refusal(lambda: KeyPair.from_file(path)) == "message.key_invalid"
    with pytest.raises(HpfError):
        PublicKeys(sign="00", encrypt=A.public().encrypt)


def test_backoff_doubles_and_is_capped():
    assert [protocol.backoff_seconds(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert protocol.backoff_seconds(30) == 300.0
    assert protocol.is_final_refusal(409) and not protocol.is_final_refusal(503)
    assert protocol.is_final_refusal(401, "message.bad_signature")
    assert not protocol.is_final_refusal(401, "message.outside_window")
    assert not protocol.is_final_refusal(409, "transfers.hub_unconfigured")
