"""Co-investigation (信息协查) at the center: ask the hub about persons, and keep the log (decision 0031).

:func:`inquire` asks, in the caller's transaction, synchronously over the hub's HTTP
(``POST /api/v1/hub/inquiries``): an ``XC03`` question sealed to the hub and signed by this center
— the persons' resident ID numbers and the purpose, from the code list (01 贷款申请, 02 提取风险核查,
03 转移接续, 04 人工查询) — and the hub's ``XC03`` answer in the same exchange. The answer is
checked as every message from the hub is (the hub's hop and envelope signatures, the window,
addressed here, the answer to this question, the body fits its model) and opened with this
center's key. Both messages are kept in ``exchanged_message`` (bodies sealed as they travelled,
the question linked to its answer) and the inquiry in ``network_inquiry``: purpose, who asked,
when, the blind index of the first person, the outcome, the facts answered. A hub that does not
answer, or answers what does not verify, is logged ``failed`` with the reason and reported as
:class:`Inquiry` with ``answer=None`` (the caller decides: the loan rules turn it into a finding
for the reviewer, the command exits non-zero).

The question is sent before anything is written: on SQLite no write lock is taken for the
exchange by this module. Called on a connection outside any transaction (the application engine
asks first, ``hpf.kernel.network.ask_first``, decision 0043), the exchange holds no lock at all
and the log is kept in a short write transaction of its own right after; called inside the
caller's transaction (a job, a test, the command), it is logged with the caller's change.

:class:`NetworkInquiry` is the port ``hpf.kernel.network.NetworkLookup`` that ``hpf.bootstrap``
installs for the business rules (the loan application, the withdrawal risk checks) when the
center has a hub link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, func, insert, select

from hpf.db.engine import short_write
from hpf.kernel import network
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.kernel.network import AccountElsewhere, CreditListing, LoanElsewhere, PersonElsewhere
from hpf.messages import errors, protocol
from hpf.messages.bodies import INQUIRY_PURPOSE_ZH, InquiryAnswer, InquiryQuery
from hpf.messages.envelope import Envelope
from hpf.messages.transport import Poster
from hpf.protection.protect import blind_index
from hpf.transfers.inquiry_tables import network_inquiry
from hpf.transfers.link import HubLink, current_link
from hpf.transfers.tables import exchanged_message

PATH = "/api/v1/hub/inquiries"
TYPE = "XC03"
PURPOSES = tuple(INQUIRY_PURPOSE_ZH)


def invalid_purpose(purpose: str) -> HpfError:
    return HpfError(
        "network.invalid_purpose",
        "协查用途不在代码表内（01贷款申请、02提取风险核查、03转移接续、04人工查询）",
        f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}",
        status=422,
        field="purpose",
    )


@dataclass(frozen=True)
class Inquiry:
    """One inquiry as logged: the answer per person (in the order asked), or the reason it failed."""

    message_id: str
    purpose: str
    answer: tuple[PersonElsewhere, ...] | None
    error: str | None = None

    @property
    def answered(self) -> bool:
        return self.answer is not None


def _persons(body: InquiryAnswer, asked: int) -> tuple[PersonElsewhere, ...]:
    found = {p.index: p for p in body.persons}  # each index once (checked by _opened)
    out = []
    for index in range(asked):
        p = found[index]
        out.append(
            PersonElsewhere(
                accounts=tuple(
                    AccountElsewhere(a.center, a.center_name, a.state, a.opened_on, a.paid_through)
                    for a in p.accounts
                ),
                loans=tuple(
                    LoanElsewhere(
                        x.center,
                        x.center_name,
                        x.state,
                        x.role,
                        x.contract_date,
                        x.principal_fen,
                        x.settled_on,
                    )
                    for x in p.loans
                ),
                listings=tuple(
                    CreditListing(
                        h.center, h.center_name, h.grounds, h.grounds_zh, h.listed_on, h.until, h.state
                    )
                    for h in p.listings
                ),
            )
        )
    return tuple(out)


def _opened(
    link: HubLink, question: Envelope, purpose: str, asked: int, raw: dict[str, Any], now: datetime
) -> tuple[Envelope, InquiryAnswer]:
    """The hub's answer, checked and opened; refused (``message.*``) otherwise."""
    delivery = protocol.parse_delivery(raw)
    envelope, hop = delivery.envelope, delivery.hop
    if hop.by != link.hub_code or envelope.sender != link.hub_code:
        raise errors.sender_unknown(hop.by)
    protocol.check_hop(delivery, link.hub_sign_key)
    protocol.check_window(hop.sent_at, now, link.window_seconds)
    if envelope.recipient != link.center_code:
        raise errors.not_for_me(envelope.recipient, link.center_code)
    if envelope.type != TYPE or envelope.reply_to != question.message_id:
        raise errors.unexpected_answer(str(envelope.reply_to))
    protocol.check_envelope(envelope, link.hub_sign_key)
    body = protocol.open_body(envelope, link.keys)
    assert isinstance(body, InquiryAnswer)
    if body.purpose != purpose:
        raise errors.malformed("the answer is for another purpose than the question's")
    if sorted(p.index for p in body.persons) != list(range(asked)):  # every person, once
        raise errors.malformed("the answer does not answer each person asked about once")
    return envelope, body


def _keep(
    conn: Connection, envelope: Envelope, direction: str, peer: str, now: datetime, **extra: Any
) -> None:
    conn.execute(
        insert(exchanged_message).values(
            message_id=str(envelope.message_id), direction=direction, type=envelope.type, peer=peer,
            reply_to=str(envelope.reply_to) if envelope.reply_to else None, created_at=envelope.created_at,
            digest=envelope.digest(), envelope=protocol.envelope_json(envelope),
            state="delivered" if direction == "out" else "handled", attempts=1 if direction == "out" else 0,
            delivered_at=now, **extra,
        )
    )  # fmt: skip


def inquire(
    conn: Connection, ctx: Context, resident_ids: Sequence[str], purpose: str, post: Poster
) -> Inquiry:
    """Ask the hub about ``resident_ids`` for ``purpose`` and log it (see the module docstring)."""
    if purpose not in PURPOSES:
        raise invalid_purpose(purpose)
    link = current_link()
    ids = [r.strip().upper() for r in resident_ids]
    query = InquiryQuery(purpose=purpose, persons=ids)  # type: ignore[arg-type]
    now = ctx.clock.now()
    question = protocol.compose(
        link.keys, sender=link.center_code, recipient=link.hub_code,
        recipient_encrypt_key=link.hub_encrypt_key, message_type=TYPE, body=query, now=now,
    )  # fmt: skip
    delivery = protocol.hop(link.keys, link.center_code, question, now)
    status, raw = post(link.hub_url + PATH, delivery.model_dump(mode="json"))
    answer: tuple[PersonElsewhere, ...] | None = None
    body: InquiryAnswer | None = None
    error: str | None = None
    reply: Envelope | None = None
    if 200 <= status < 300:
        try:
            reply, body = _opened(link, question, purpose, len(ids), raw, ctx.clock.now())
            answer = _persons(body, len(ids))
        except (HpfError, ValidationError) as exc:
            reply, body = None, None
            error = f"{getattr(exc, 'code', 'message.malformed')} {getattr(exc, 'detail', '')}".strip()
    else:
        error = protocol.error_text(status, raw)

    def log(conn: Connection) -> None:
        _keep(conn, question, "out", link.hub_code, now, answered_by=str(reply.message_id) if reply else None)
        if reply is not None:
            _keep(conn, reply, "in", link.hub_code, ctx.clock.now())
        conn.execute(
            insert(network_inquiry).values(
                message_id=str(question.message_id), purpose=purpose, persons=len(ids),
                subject_bidx=blind_index("member", "resident_id", ids[0]), asked_by=ctx.actor, asked_at=now,
                business_date=ctx.clock.today(), outcome="answered" if answer is not None else "failed",
                answer=body.model_dump(mode="json") if body is not None else None,
                error=(error or None) and error[:300],
            )
        )  # fmt: skip

    if conn.in_transaction():
        log(conn)  # with the caller's change
    else:  # asked before the caller's write transaction (decision 0043): a short one of its own
        with short_write(conn):
            log(conn)
    return Inquiry(str(question.message_id), purpose, answer, error)


@dataclass(frozen=True)
class NetworkInquiry:
    """The port the business rules ask through (``hpf.kernel.network.NetworkLookup``)."""

    post: Poster

    def __call__(
        self, conn: Any, ctx: Context, resident_ids: Sequence[str], purpose: str
    ) -> tuple[PersonElsewhere, ...]:
        asked = inquire(conn, ctx, resident_ids, purpose, self.post)
        if asked.answer is None:
            raise network.unavailable(f"the hub did not answer the inquiry {asked.message_id}: {asked.error}")
        return asked.answer


def current() -> NetworkInquiry:
    """The installed inquiry of this process (refused when the center has no hub link)."""
    current_link()  # transfers.hub_unconfigured
    lookup = network.lookup()
    if not isinstance(lookup, NetworkInquiry):  # pragma: no cover - bootstrap installs one with a link
        raise network.unavailable("no network inquiry is installed")
    return lookup


# -- reads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InquiryRow:
    id: int
    message_id: str
    purpose: str
    persons: int
    asked_by: str
    asked_at: datetime
    outcome: str
    answer: dict[str, Any] | None
    error: str | None

    @property
    def purpose_zh(self) -> str:
        return INQUIRY_PURPOSE_ZH.get(self.purpose, self.purpose)

    @property
    def answered_accounts(self) -> int:
        return sum(len(p["accounts"]) for p in (self.answer or {}).get("persons", []))

    @property
    def answered_loans(self) -> int:
        return sum(len(p["loans"]) for p in (self.answer or {}).get("persons", []))


def inquiries(conn: Connection, *, resident_id: str | None = None, limit: int = 50) -> list[InquiryRow]:
    """This center's latest inquiries, newest first (of one person, when ``resident_id`` is given)."""
    q = network_inquiry.c
    query = select(
        q.id, q.message_id, q.purpose, q.persons, q.asked_by, q.asked_at, q.outcome, q.answer, q.error
    )
    if resident_id:
        query = query.where(
            q.subject_bidx == blind_index("member", "resident_id", resident_id.strip().upper())
        )
    rows = conn.execute(query.order_by(q.asked_at.desc(), q.id.desc()).limit(limit)).all()
    return [InquiryRow(**r._mapping) for r in rows]


def inquiry_count(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(network_inquiry)) or 0)
