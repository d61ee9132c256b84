"""Co-investigation (信息协查) at the hub: a center's question about persons, answered at once.

``POST /api/v1/hub/inquiries`` carries an ``XC03`` question (a :class:`~hpf.messages.envelope.Delivery`
like any other message) and answers in the same HTTP exchange with the hub's ``XC03`` answer —
sealed to the asking center, signed by the hub, in a hop of the hub's. :func:`answer`, in one
write transaction:

1. the receiver's checks of ``hpf.messages.protocol`` in order (parse; the hop's sender is the
   envelope's, a registered and active center; the hop's signature; the window; addressed to the
   hub; the envelope's signature) — a refusal changes nothing;
2. a question taken before (the same id and content) is answered again with the answer stored
   then, in a new hop (a retry after a lost answer costs no second inquiry); other content under
   the same id is refused;
3. the body opens (sealed to the hub) and fits ``InquiryQuery``;
4. each resident ID becomes its pseudonym (``loan_registry.pseudonym``) and the registry is read
   for every other center than the asker (``loan_registry.facts_of``);
5. **what the purpose lets out** (:data:`DISCLOSED`): the asking center learns only the facts its
   purpose needs — for a loan application the loans (center, state, role, contract date), for a
   withdrawal's risk check the accounts' states and the loans' states, for a transfer also the
   accounts' opening dates and 缴至年月, for a staff inquiry (缴存使用证明) also the loans'
   amounts and settlement dates; settled and void loans only for a staff inquiry; to every
   purpose, the persons' listings in force on the national credit list, the asker's own too
   (``hpf.hub.supervision.credit.hits``, decision 0040);
6. the question and the answer are kept in ``hub_message`` (bodies sealed as they travelled),
   and one row of ``hub_inquiry``: who asked, the purpose, when, how many persons and facts —
   no ID number, no pseudonym, no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select

from hpf.hub import loan_registry, registry, service
from hpf.hub.supervision import credit
from hpf.hub.tables import hub_inquiry, hub_message
from hpf.messages import errors, protocol
from hpf.messages.bodies import (
    INQUIRY_PURPOSE_ZH,
    AccountElsewhere,
    CreditHit,
    InquiryAnswer,
    InquiryQuery,
    LoanElsewhere,
    PersonAnswer,
)
from hpf.messages.envelope import Delivery, Envelope

PATH = "/api/v1/hub/inquiries"
INQUIRY_TYPE = "XC03"
UNSETTLED = ("approved", "active", "written_off")
CHINA_OFFSET = timedelta(hours=8)  # a listing's dates are China's calendar days


@dataclass(frozen=True)
class Disclosed:
    """What an inquiry of one purpose lets the asking center learn."""

    accounts: bool
    account_dates: bool  # opened_on, paid_through
    loan_contract_date: bool
    loan_amounts: bool  # principal, settled_on
    settled_loans: bool  # settled and void loans too, not only the unsettled ones


DISCLOSED: dict[str, Disclosed] = {
    "01": Disclosed(accounts=False, account_dates=False, loan_contract_date=True, loan_amounts=False, settled_loans=False),
    "02": Disclosed(accounts=True, account_dates=False, loan_contract_date=False, loan_amounts=False, settled_loans=False),
    "03": Disclosed(accounts=True, account_dates=True, loan_contract_date=False, loan_amounts=False, settled_loans=False),
    "04": Disclosed(accounts=True, account_dates=True, loan_contract_date=True, loan_amounts=True, settled_loans=True),
}  # fmt: skip


def _answer_of(
    conn: Connection, key: bytes, asker: str, query: InquiryQuery, today: date | None = None
) -> tuple[InquiryAnswer, int, int]:
    rule = DISCLOSED[query.purpose]
    people = [loan_registry.pseudonym(key, rid) for rid in query.persons]
    accounts, loans = loan_registry.facts_of(conn, people, except_center=asker)
    listed = credit.hits(conn, people, today) if today is not None else {}  # decision 0040
    names = {c.code: c.name for c in registry.centers(conn)}
    answered, n_accounts, n_loans = [], 0, 0
    for index, person in enumerate(people):
        shown_accounts = (
            [
                AccountElsewhere(
                    center=a.center,
                    center_name=names.get(a.center, a.center),
                    state=a.state,
                    opened_on=a.opened_on if rule.account_dates else None,
                    paid_through=a.paid_through if rule.account_dates else None,
                )
                for a in accounts[person]
            ]
            if rule.accounts
            else []
        )
        shown_loans = [
            LoanElsewhere(
                center=x.center,
                center_name=names.get(x.center, x.center),
                state=x.state,  # type: ignore[arg-type]
                role=x.role,  # type: ignore[arg-type]
                contract_date=x.contract_date if rule.loan_contract_date else None,
                principal_fen=x.principal_fen if rule.loan_amounts else None,
                settled_on=x.settled_on if rule.loan_amounts else None,
            )
            for x in loans[person]
            if rule.settled_loans or x.state in UNSETTLED
        ]
        n_accounts, n_loans = n_accounts + len(shown_accounts), n_loans + len(shown_loans)
        listings = [
            CreditHit(
                center=h.center,
                center_name=names.get(h.center, h.center),
                grounds=h.grounds,
                grounds_zh=h.grounds_zh,
                listed_on=h.listed_on,
                until=h.until,
                state=h.state,  # type: ignore[arg-type]
            )
            for h in listed.get(person, [])
        ]
        answered.append(
            PersonAnswer(index=index, accounts=shown_accounts, loans=shown_loans, listings=listings)
        )
    return InquiryAnswer(purpose=query.purpose, persons=answered), n_accounts, n_loans


def _stored_answer(conn: Connection, question: Envelope) -> Envelope:
    m = hub_message.c
    stored = conn.scalar(
        select(m.envelope).where(m.reply_to == str(question.message_id), m.route == "origin")
    )
    if stored is None:  # pragma: no cover - a question is stored with its answer, or not at all
        raise errors.malformed("the inquiry was taken without an answer")
    return protocol.envelope_of(stored)


def answer(conn: Connection, hub: Any, raw: bytes | dict[str, Any], now: datetime) -> Delivery:
    """Take an XC03 question and answer it (see the module docstring); refusals change nothing.

    ``hub`` is the :class:`hpf.hub.service.Hub` (code, keys, window)."""
    delivery = protocol.parse_delivery(raw)
    envelope, hop = delivery.envelope, delivery.hop
    if hop.by != envelope.sender:
        raise errors.malformed("a center sends only its own messages (hop.by must be the envelope's sender)")
    if hop.sender is not None:
        raise errors.malformed("only the hub vouches for a sender")
    center = registry.center_of(conn, hop.by)
    if center is None:
        raise errors.sender_unknown(hop.by)
    if not center.active:
        raise errors.sender_suspended(hop.by)
    sign_key = bytes.fromhex(center.sign_key)
    protocol.check_hop(delivery, sign_key)
    protocol.check_window(hop.sent_at, now, hub.window_seconds)
    if envelope.recipient != hub.code:
        raise errors.not_for_me(envelope.recipient, hub.code)
    if envelope.type != INQUIRY_TYPE or envelope.is_answer:
        raise errors.malformed(f"{PATH} takes {INQUIRY_TYPE} questions only")
    protocol.check_envelope(envelope, sign_key)
    seen = conn.scalar(
        select(hub_message.c.digest).where(hub_message.c.message_id == str(envelope.message_id))
    )
    if protocol.check_duplicate(seen, envelope):
        return protocol.hop(hub.keys, hub.code, _stored_answer(conn, envelope), now)
    body = protocol.open_body(envelope, hub.keys)
    assert isinstance(body, InquiryQuery)
    found, n_accounts, n_loans = _answer_of(
        conn, loan_registry.pseudonym_key(hub.keys), center.code, body, (now + CHINA_OFFSET).date()
    )
    reply = protocol.compose(
        hub.keys,
        sender=hub.code,
        recipient=center.code,
        recipient_encrypt_key=bytes.fromhex(center.encrypt_key),
        message_type=INQUIRY_TYPE,
        body=found,
        now=now,
        reply_to=envelope.message_id,
    )
    if not service.store_message(
        conn, envelope, route="hub", state="handled", now=now
    ):  # taken meanwhile: that request's answer counts
        protocol.check_duplicate(
            conn.scalar(
                select(hub_message.c.digest).where(hub_message.c.message_id == str(envelope.message_id))
            ),
            envelope,
        )
        return protocol.hop(hub.keys, hub.code, _stored_answer(conn, envelope), now)
    service.store_message(conn, reply, route="origin", state="delivered", now=now, delivered=True)
    conn.execute(
        insert(hub_inquiry).values(
            message_id=str(envelope.message_id), center=center.code, purpose=body.purpose,
            persons=len(body.persons), accounts=n_accounts, loans=n_loans, asked_at=now,
        )
    )  # fmt: skip
    return protocol.hop(hub.keys, hub.code, reply, now)


@dataclass(frozen=True)
class InquiryRow:
    message_id: str
    center: str
    purpose: str
    persons: int
    accounts: int
    loans: int
    asked_at: datetime

    @property
    def purpose_zh(self) -> str:
        return INQUIRY_PURPOSE_ZH.get(self.purpose, self.purpose)


def recent_inquiries(conn: Connection, limit: int = 50) -> list[InquiryRow]:
    """The latest inquiries, newest first: who asked, for what, when — no personal data."""
    q = hub_inquiry.c
    rows = conn.execute(
        select(q.message_id, q.center, q.purpose, q.persons, q.accounts, q.loans, q.asked_at)
        .order_by(q.asked_at.desc(), q.id.desc())
        .limit(limit)
    ).all()
    return [InquiryRow(**r._mapping) for r in rows]


def inquiry_count(conn: Connection) -> int:
    return int(conn.scalar(select(func.count()).select_from(hub_inquiry)) or 0)
