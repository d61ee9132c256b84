"""Composing, sending and checking messages: pure functions, keys and clocks handed in.

The receiver's checks, in the order both roles apply them (each refusal has no effect):

1. the request parses as a :class:`~hpf.messages.envelope.Delivery` (``message.malformed``);
2. the hop's sender is known and active (``message.sender_unknown`` / ``sender_suspended``)
   and its signature verifies (``message.signature_missing`` / ``bad_signature``);
3. the hop was sent within ±``WINDOW_SECONDS`` of the receiver's clock (``outside_window``);
4. the envelope's originator signature verifies with the originator's key;
5. the message id is new, or was seen with the same content (then: a duplicate, no new effect);
   seen with other content: ``message.id_reused`` (:func:`check_duplicate`);
6. the body opens with the receiver's key (``undecryptable``) and fits its type's model
   (``malformed``; a type with no handler here: ``type_unhandled``).

Both roles also share what a receiver answers (:class:`Receipt`), a delivery round's counts
(:class:`Round`) and the outcome of one sending attempt (:func:`attempt_outcome`: delivered,
refused for good, or queued again after the backoff).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from pydantic import ValidationError

from hpf.messages import crypto, errors
from hpf.messages.bodies import Body, body_model
from hpf.messages.envelope import CenterInfo, Delivery, Envelope, Hop, Sealed
from hpf.messages.keys import KeyPair

WINDOW_SECONDS = 300  # ±5 minutes on the receiver's wall clock
MAX_DELIVERY_BYTES = 4 * 1024 * 1024


def compose(
    keys: KeyPair,
    *,
    sender: str,
    recipient: str,
    recipient_encrypt_key: bytes,
    message_type: str,
    body: Body,
    now: datetime,
    reply_to: UUID | None = None,
    message_id: UUID | None = None,
) -> Envelope:
    """A new envelope: ``body`` sealed to the recipient, signed by the sender."""
    model = body_model(message_type, reply_to is not None)
    if model is None or not isinstance(body, model):
        raise errors.malformed(
            f"a {message_type} {'answer' if reply_to else 'request'} body must be a {model}"
        )
    placeholder = Sealed(alg="SM2+SM4-GCM", key="", nonce="", data="")
    draft = Envelope(
        message_id=message_id or uuid4(),
        type=message_type,  # type: ignore[arg-type]
        sender=sender,
        recipient=recipient,
        created_at=now,
        reply_to=reply_to,
        body=placeholder,
    )
    wrapped, nonce, data = crypto.seal(
        recipient_encrypt_key, body.model_dump_json().encode("utf-8"), draft.header_bytes()
    )
    sealed = draft.model_copy(
        update={"body": Sealed(alg=crypto.ALGORITHM, key=wrapped, nonce=nonce, data=data)}
    )
    signature = crypto.sign(keys.sign_private, keys.sign_public, sealed.signed_bytes())
    return sealed.model_copy(update={"signature": signature})


def hop(
    keys: KeyPair, by: str, envelope: Envelope, now: datetime, *, sender: CenterInfo | None = None
) -> Delivery:
    """One sending of ``envelope`` by ``by`` at ``now`` (the hub names the originator: ``sender``)."""
    unsigned = Hop(by=by, sent_at=now, sender=sender)
    signature = crypto.sign(keys.sign_private, keys.sign_public, unsigned.signed_bytes(envelope))
    return Delivery(envelope=envelope, hop=unsigned.model_copy(update={"signature": signature}))


def parse_delivery(raw: bytes | str | dict[str, Any]) -> Delivery:
    """The delivery a request carries; refused ``message.malformed`` with what is wrong."""
    try:
        if isinstance(raw, dict):
            return Delivery.model_validate(raw)
        return Delivery.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()[:20]
        ]
        raise errors.malformed(
            "the request is not a message delivery of schema version 1", errors=problems
        ) from exc


def check_hop(delivery: Delivery, signer_key: bytes) -> None:
    """The hop is signed by ``signer_key``."""
    signature = delivery.hop.signature
    if not signature:
        raise errors.signature_missing("hop")
    if not crypto.verifies(signer_key, delivery.hop.signed_bytes(delivery.envelope), signature):
        raise errors.bad_signature("hop")


def check_window(sent_at: datetime, now: datetime, window_seconds: int = WINDOW_SECONDS) -> None:
    skew = abs((now - sent_at).total_seconds())
    if skew > window_seconds:
        raise errors.outside_window(skew, window_seconds)


def check_envelope(envelope: Envelope, originator_key: bytes) -> None:
    """The envelope is signed by its originator's key."""
    if not envelope.signature:
        raise errors.signature_missing("envelope")
    if not crypto.verifies(originator_key, envelope.signed_bytes(), envelope.signature):
        raise errors.bad_signature("envelope")


def open_body(envelope: Envelope, keys: KeyPair) -> Body:
    """The body, opened with the recipient's encryption key and validated against its model."""
    model = body_model(envelope.type, envelope.is_answer)
    if model is None:
        raise errors.type_unhandled(envelope.type, envelope.is_answer)
    sealed = envelope.body
    plain = crypto.unseal(
        keys.encrypt_private, sealed.key, sealed.nonce, sealed.data, envelope.header_bytes()
    )
    if plain is None:
        raise errors.undecryptable()
    try:
        return model.model_validate_json(plain)
    except ValidationError as exc:
        problems = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")} for e in exc.errors()[:20]
        ]
        raise errors.malformed(f"the body does not fit a {envelope.type} message", errors=problems) from exc


def backoff_seconds(attempts: int, *, base: float = 1.0, cap: float = 300.0) -> float:
    """Wait before the next attempt after ``attempts`` failed ones: 1, 2, 4 … s, at most ``cap``."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def envelope_json(envelope: Envelope) -> dict[str, Any]:
    """The envelope as stored (JSON types)."""
    stored: dict[str, Any] = json.loads(envelope.model_dump_json())
    return stored


def envelope_of(stored: dict[str, Any] | str) -> Envelope:
    """A stored envelope read back."""
    if isinstance(stored, str):
        return Envelope.model_validate_json(stored)
    return Envelope.model_validate(stored)


FINAL_STATUSES = frozenset({400, 401, 403, 404, 409, 410, 413, 422})
# Refusals that a later attempt may pass: a receiver not linked yet (its configuration is being
# fixed), a sending outside the window (clocks apart; the next hop is signed anew).
RETRYABLE_CODES = frozenset({"transfers.hub_unconfigured", "message.outside_window"})


def is_final_refusal(status: int, code: object = None) -> bool:
    """A refusal that a retry cannot change (the message is marked refused, not retried)."""
    return status in FINAL_STATUSES and code not in RETRYABLE_CODES


# Types that pass between a center and the hub only: the hub answers them from its registry, and
# never forwards one from a center to another (a center takes a BDC909 answer from the hub alone).
HUB_ONLY_TYPES = frozenset({"BDC909"})
# Co-investigation and the registry feed (decision 0031): addressed to the hub, never forwarded.
HUB_ONLY_TYPES |= frozenset({"XC01", "XC02", "XC03", "XC04"})  # XC04: decision 0035
# Supervision reporting (decision 0039): a center reports to the hub, never to another center.
HUB_ONLY_TYPES |= frozenset({"SUP101"})
# Supervision (decision 0040): problems and the credit list, between a center and the hub only.
HUB_ONLY_TYPES |= frozenset({"SUP201", "SUP202", "SUP211", "SUP212", "SUP213"})


def check_duplicate(stored_digest: str | None, envelope: Envelope) -> bool:
    """Whether the message was taken before (``stored_digest``: the digest stored under its id,
    None if none): the same content is a duplicate (no new effect); other content is refused."""
    if stored_digest is None:
        return False
    if stored_digest != envelope.digest():
        raise errors.id_reused(str(envelope.message_id))
    return True


@dataclass(frozen=True)
class Receipt:
    """What the receiver answers a delivery: accepted or duplicate (and, at the hub, the route)."""

    message_id: str
    status: str  # accepted | duplicate
    route: str | None = None  # the hub's: hub | forward

    def as_json(self) -> dict[str, str]:
        taken = {"message_id": self.message_id, "status": self.status}
        return taken if self.route is None else {**taken, "route": self.route}


@dataclass(frozen=True)
class Round:
    """One round of a delivery worker: what it sent, and with what outcome."""

    delivered: int = 0
    refused: int = 0
    retried: int = 0
    scheduled: int = 0  # the center's: messages its outbox consumer made due this round

    @property
    def attempted(self) -> int:
        return self.delivered + self.refused + self.retried

    @staticmethod
    def of(outcomes: list[str], scheduled: int = 0) -> Round:
        return Round(
            outcomes.count("delivered"), outcomes.count("refused"), outcomes.count("queued"), scheduled
        )


def error_text(status: int, answer: Mapping[str, Any]) -> str:
    return f"{status} {answer.get('code', '')} {answer.get('detail', '')}".strip()[:300]


def attempt_outcome(
    attempts: int, status: int, answer: Mapping[str, Any], now: datetime, backoff_base: float
) -> tuple[str, dict[str, Any]]:
    """The state a queued message takes after one more attempt answered ``status``/``answer``, and
    the columns to write: ``delivered`` (2xx), ``refused`` (a final refusal) or ``queued`` again
    after the backoff."""
    values: dict[str, Any] = {"attempts": attempts + 1}
    if 200 <= status < 300:
        return "delivered", values | {"delivered_at": now, "next_attempt_at": None, "last_error": None}
    if is_final_refusal(status, answer.get("code")):
        return "refused", values | {"next_attempt_at": None, "last_error": error_text(status, answer)}
    wait = backoff_seconds(attempts + 1, base=backoff_base)
    return "queued", values | {
        "next_attempt_at": now + timedelta(seconds=wait),
        "last_error": error_text(status, answer),
    }
