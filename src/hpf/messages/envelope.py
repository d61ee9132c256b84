"""The versioned envelope of every message between a center and the hub, and its hop.

An **envelope** is what the originator writes once and signs: message id (UUID), type
(``BDC901`` … ``BDC909``), sender and recipient (6-digit center codes; the hub has its own),
creation time (aware, UTC), the schema version, the message it answers (``reply_to``) and the
body sealed to the recipient (``hpf.messages.crypto``). Its SM2 signature covers the canonical
bytes of everything but the signature: keys sorted, no spaces, UTF-8.

A **hop** is one sending of an envelope over HTTP (a :class:`Delivery`): who sends it now (the
originator, or the hub forwarding it), when (``sent_at``, checked against the receiver's clock:
outside ±5 minutes it is a replay), and, when the hub forwards, the originator as its registry
describes it (code, name, keys), which the hub vouches for. The hop's own signature covers those fields and the envelope's digest. A
retry is a new hop of the same envelope: the time window is the hop's, so a message that waited
hours for a receiver to come back is still accepted, while a captured request replayed later is
not. The receiver de-duplicates by message id (same id and same content: no new effect; same id
and other content: refused).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

SCHEMA_VERSION: Literal[1] = 1
CenterCode = Annotated[str, StringConstraints(pattern=r"^\d{6}$")]
PublicKeyHex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{128}$")]
Base64 = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=4_000_000)]
Signature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]*={0,2}$", max_length=200)]
MessageType = Literal["BDC901", "BDC902", "BDC903", "BDC904", "BDC905", "BDC906", "BDC909"]
# Co-investigation and the national registries (decision 0031): the BDC set has none for them.
NetworkMessageType = Literal["XC01", "XC02", "XC03", "XC04"]
# Supervision reporting (decision 0039): a center's month to the hub.
SupervisionMessageType = Literal["SUP101"]
# Supervision (decision 0040): problems to closure and the credit list, between a center and the hub.
OversightMessageType = Literal["SUP201", "SUP202", "SUP211", "SUP212", "SUP213"]
MESSAGE_TYPES_ZH = {
    "BDC901": "单笔转入申请（联系函）",
    "BDC902": "批量转入申请",
    "BDC903": "转入申请撤销",
    "BDC904": "申请进度查询",
    "BDC905": "单笔转出信息",
    "BDC906": "批量转出信息",
    "BDC909": "公积金中心代码查询",
}
# Co-investigation (decision 0031): between a center and the hub only, never forwarded.
MESSAGE_TYPES_ZH |= {
    "XC01": "贷款登记（全国贷款登记簿）",
    "XC02": "账户登记（全国账户索引）",
    "XC03": "信息协查",
    "XC04": "转移接续对账（一方事实）",  # decision 0035
}
MESSAGE_TYPES_ZH |= {"SUP101": "监管报送（月度指标与缴存人明细）"}
# Supervision (decision 0040): between a center and the hub only, never forwarded.
MESSAGE_TYPES_ZH |= {
    "SUP201": "监督问题下发（交办、退回、销号）",
    "SUP202": "问题整改报送",
    "SUP211": "失信名单报送",
    "SUP212": "全国失信名单分发",
    "SUP213": "监督事件报送（转移接续超期、电子稽查问题）",
}


def canonical(value: Any) -> bytes:
    """The canonical bytes of a JSON value: keys sorted, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class Sealed(BaseModel):
    """A body sealed to its recipient: SM4-GCM under a key wrapped with SM2."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: Literal["SM2+SM4-GCM"]
    key: Base64  # the SM4 key, SM2-encrypted to the recipient's encryption key
    nonce: Base64
    data: Base64  # ciphertext ‖ GCM tag


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    message_id: UUID
    type: MessageType | NetworkMessageType | SupervisionMessageType | OversightMessageType
    sender: CenterCode
    recipient: CenterCode
    created_at: AwareDatetime
    reply_to: UUID | None = None
    body: Sealed
    signature: Signature | None = None  # the sender's SM2 signature of signed_bytes()

    _utc_created = field_validator("created_at")(_utc)

    def header(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"body", "signature"})

    def header_bytes(self) -> bytes:
        """The associated data of the sealed body: the body belongs to this header only."""
        return canonical(self.header())

    def signed_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json", exclude={"signature"}))

    def digest(self) -> str:
        """SHA-256 of the signed content: what "the same message" means for de-duplication."""
        return hashlib.sha256(self.signed_bytes()).hexdigest()

    @property
    def is_answer(self) -> bool:
        return self.reply_to is not None


class CenterInfo(BaseModel):
    """A center as the hub's registry describes it (the BDC909 answer, and a forwarded hop)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: CenterCode
    name: str = Field(min_length=1, max_length=100)
    province: str = Field(min_length=1, max_length=20)
    state: Literal["active", "suspended"]
    sign_key: PublicKeyHex
    encrypt_key: PublicKeyHex


class Hop(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    by: CenterCode  # who sends the envelope now: its originator, or the hub forwarding it
    sent_at: AwareDatetime
    # forwarded: the originator as registered at the hub (its keys), vouched for by the hub's signature
    sender: CenterInfo | None = None
    signature: Signature | None = None

    _utc_sent = field_validator("sent_at")(_utc)

    def signed_bytes(self, envelope: Envelope) -> bytes:
        fields = self.model_dump(mode="json", exclude={"signature"})
        return canonical({**fields, "envelope": envelope.digest()})


class Delivery(BaseModel):
    """What one HTTP POST carries: an envelope and its hop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    envelope: Envelope
    hop: Hop
