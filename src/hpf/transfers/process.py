"""Cross-center transfer (转移接续, C4; decision 0030): both sides of one transfer.

**New center** (``side`` ``in``). The member applies (catalog item ``AC-TRANSFER-IN``,
``hpf.transfers.handler``); on approval :func:`start` writes the transfer and sends the contact
letter (BDC901) in the same transaction. The old center's BDC905 (:func:`transfers_out_received`)
and the bank's credit (:func:`credit_received`, a listener of ``bank_notice.credit_received``)
may come in either order: whichever is second completes the transfer — the member credited
through the ledger (Dr 101 / Cr 201, business type 08 外部转入), the carried months recorded
(``hpf.contributions.service.record_carried_months``), the BDC905 answered "00 正常办结" and the
application executed. The credit is found by the old center's 业务流水号, which the BDC905 names
and the bank's notice carries.

**Old center** (``side`` ``out``). The BDC901 (:func:`letters_received`) records the request and
runs the checks (``rules.out_checks``); staff approve (:func:`approve`) or refuse with a reason
(:func:`refuse`, the BDC901 answered "13 转出审核不通过"). Approval, in one transaction: interest
settled to date (``hpf.interest``), the whole balance reserved through settlement to the new
center's fund account (owner kind ``transfer``, key ``transfer:<letter>``), the account closed
as transferred out (04), the BDC901 answered "08" and the BDC905 sent with the history. The
BDC905 answer completes it.

**Negotiation, cancellation, status.** The new center may answer a BDC905 with 06 (协商: what
to amend, :func:`negotiate`); the old center sends it amended (:func:`amend`, ``tx_func`` 1) and
the credit, which waited, completes it (20). The new center cancels before the money moved
(:func:`cancel`, BDC903). Either side asks where a letter stands (:func:`ask_status`, BDC904);
a 40 (the old center's bank refused the payout) ends the transfer at the new center.

**Exactly once.** The inbox makes a message's effect once; a second BDC901 with the same letter
number (another message id) finds the row and changes nothing; approving twice finds the row
``transferred``; the payout is keyed by the letter; the credit is claimed once
(``settlement.claim_credit``) and the ledger entry keyed by the letter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Connection, bindparam, func, insert, select, update

from hpf import events
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.accounts.rules import CloseKind, MemberState
from hpf.contributions import queries as contributions_queries
from hpf.contributions import service as contributions
from hpf.db.locks import lock_names
from hpf.events import Event
from hpf.interest.service import settle_on_close_many
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput, NotFound
from hpf.kernel.findings import Finding
from hpf.ledger import service as ledger
from hpf.ledger.chart import BANK_DEPOSITS, MEMBER_CONTROL
from hpf.ledger.chart import Side as EntrySide
from hpf.ledger.rules import BalancePart, JournalEntry, Line
from hpf.loans.application.handler import household_loans
from hpf.messages.bodies import (
    CancelRequest,
    ContactLetter,
    StatusAnswer,
    StatusQuery,
    TransferFeedback,
    TransferOut,
)
from hpf.policy.queries import transfer_policy_at
from hpf.policy.rules import TransferPolicy
from hpf.protection.protect import blind_index
from hpf.services import service as applications
from hpf.settlement import service as settlement
from hpf.settlement.owners import PayoutOutcome
from hpf.settlement.rules import AccountClass, Payee, PayoutRequest, Source
from hpf.transfers import filing, rules
from hpf.transfers.filing import Request
from hpf.transfers.link import Handler, Incoming, Outcomes, SetHandler
from hpf.transfers.rules import FINAL, Side, State
from hpf.transfers.service import send, send_many, stored_bodies
from hpf.transfers.service import status_answered as service_status_answered
from hpf.transfers.tables import exchanged_message, peer_center, transfer

OWNER_KIND = "transfer"

# ------------------------------------------------------------------------------------ reads


@dataclass(frozen=True)
class Transfer:
    id: int
    letter_no: str
    side: str  # in | out
    peer: str
    state: str
    state_zh: str
    platform_status: str
    status_zh: str
    feedback_code: str
    member_id: int | None
    application_id: int | None
    principal_fen: int | None
    interest_fen: int | None
    amount_fen: int | None
    order_no: str | None
    checks: tuple[Mapping[str, Any], ...]
    carried: Mapping[str, Any] | None
    reason: str | None
    started_on: date
    due_on: date | None
    ended_on: date | None
    overdue: bool


def _transfer_of(row: Mapping[str, Any], today: date) -> Transfer:
    state = State(row["state"])
    status = rules.platform_status(state, row["side"])
    if state is State.COMPLETED and (row["carried"] or {}).get("negotiated"):
        status = "20"  # 协商后业务办结
    return Transfer(
        id=int(row["id"]), letter_no=row["letter_no"], side=row["side"], peer=row["peer"], state=state.value,
        state_zh=rules.STATE_ZH[state], platform_status=status, status_zh=rules.STATUS_ZH[status],
        feedback_code=rules.feedback_code(state), member_id=row["member_id"], application_id=row["application_id"],
        principal_fen=row["principal_fen"], interest_fen=row["interest_fen"], amount_fen=row["amount_fen"],
        order_no=row["order_no"], checks=tuple(row["checks"] or ()), carried=row["carried"], reason=row["reason"],
        started_on=row["started_on"], due_on=row["due_on"], ended_on=row["ended_on"],
        overdue=rules.is_overdue(state, row["due_on"], today),
    )  # fmt: skip


def _row(conn: Connection, *, lock: bool = False, **where: Any) -> dict[str, Any] | None:
    """The transfer row; ``lock``: held until the transaction ends (PostgreSQL), so that two
    messages or two clicks about one transfer take turns."""
    query = select(transfer)
    for name, value in where.items():
        query = query.where(transfer.c[name] == value)
    found = conn.execute(query.with_for_update() if lock else query).mappings().first()
    return dict(found) if found is not None else None


def not_found(what: object) -> NotFound:
    return NotFound("transfer.not_found", "转移接续业务不存在", f"no transfer {what}")


def get(conn: Connection, today: date, transfer_id: int) -> Transfer:
    row = _row(conn, id=transfer_id)
    if row is None:
        raise not_found(transfer_id)
    return _transfer_of(row, today)


def by_letter(conn: Connection, today: date, letter_no: str) -> Transfer | None:
    row = _row(conn, letter_no=letter_no)
    return _transfer_of(row, today) if row is not None else None


def listing(
    conn: Connection, today: date, *, side: str | None = None, member_id: int | None = None, limit: int = 200
) -> list[Transfer]:
    query = select(transfer).order_by(transfer.c.id.desc()).limit(limit)
    if side is not None:
        query = query.where(transfer.c.side == side)
    if member_id is not None:
        query = query.where(transfer.c.member_id == member_id)
    return [_transfer_of(dict(r), today) for r in conn.execute(query).mappings()]


@dataclass(frozen=True)
class CarriedIn:
    """The contribution history a completed transfer carried in from another center (decision
    0043: shown on the member's account page): the old center, the months it sent, the money."""

    transfer_id: int
    letter_no: str
    center: str
    center_name: str
    months: int  # 转入前缴存月数: the months of deposit the old center's BDC905 listed
    first_month: str | None  # YYYY-MM
    last_month: str | None
    opened_month: str | None  # 开户年月 at the old center, as it said (YYYYMM)
    paid_through: str | None  # 缴至年月 there (YYYYMM)
    amount_fen: int | None
    credited_on: date | None


def carried_in(conn: Connection, member_id: int) -> list[CarriedIn]:
    """The member's completed transfers in, newest first, with the history each carried."""
    t = transfer.c
    rows = conn.execute(
        select(t.id, t.letter_no, t.peer, t.carried, t.amount_fen, t.ended_on, peer_center.c.name)
        .select_from(transfer.outerjoin(peer_center, peer_center.c.code == t.peer))
        .where(t.side == Side.IN.value, t.member_id == member_id, t.state == State.COMPLETED.value)
        .order_by(t.ended_on.desc(), t.id.desc())
    ).all()
    out = []
    for r in rows:
        carried = r.carried or {}
        months = sorted(set(carried.get("months") or []))
        first, last = (months[0], months[-1]) if months else (None, None)
        shown = CarriedIn(
            transfer_id=int(r.id), letter_no=r.letter_no, center=r.peer, center_name=r.name or r.peer,
            months=len(months), first_month=first, last_month=last, opened_month=carried.get("opened_month"),
            paid_through=carried.get("paid_through"), amount_fen=r.amount_fen, credited_on=r.ended_on,
        )  # fmt: skip
        out.append(shown)
    return out


@dataclass(frozen=True)
class TimelineMessage:
    """A message of the transfer as exchanged (header only, never the body)."""

    message_id: str
    direction: str
    type: str
    peer: str
    is_answer: bool
    state: str
    created_at: datetime
    delivered_at: datetime | None


def timeline(conn: Connection, letter_no: str) -> list[TimelineMessage]:
    m = exchanged_message.c
    rows = conn.execute(
        select(m.message_id, m.direction, m.type, m.peer, m.reply_to, m.state, m.created_at, m.delivered_at)
        .where(m.letter_no == letter_no)
        .order_by(m.created_at, m.message_id)
    )
    return [
        TimelineMessage(
            r.message_id,
            r.direction,
            r.type,
            r.peer,
            r.reply_to is not None,
            r.state,
            r.created_at,
            r.delivered_at,
        )
        for r in rows
    ]


def peer_name(conn: Connection, code: str) -> str | None:
    name: str | None = conn.scalar(select(peer_center.c.name).where(peer_center.c.code == code))
    return name


def _update(conn: Connection, ctx: Context, row: Mapping[str, Any], target: State, **values: Any) -> None:
    rules.require_move(Side(row["side"]), State(row["state"]), target)
    ended = {"ended_on": ctx.clock.today()} if target in FINAL else {}
    conn.execute(
        update(transfer)
        .where(transfer.c.id == row["id"])
        .values(state=target.value, updated_at=ctx.clock.now(), **ended, **values)
    )
    events.record(conn, ctx, f"transfer.{target.value}", "transfer", row["id"],
                  {"letter_no": row["letter_no"], "side": row["side"], "from": row["state"]})  # fmt: skip


# ------------------------------------------------------------------------------- new center


_POLICY = "hpf.transfers.policy"


def _policy(conn: Connection, day: date) -> TransferPolicy:
    """The transfer policy of ``day``, read once per transaction: a batch's letters (decision
    0036) and a bulk filing would read it for each."""
    txn = conn.get_transaction()
    kept = conn.info.get(_POLICY)
    if kept is not None and kept[0] is txn and kept[1] == day:
        return cast(TransferPolicy, kept[2])
    policy = transfer_policy_at(conn, day)
    conn.info[_POLICY] = (txn, day, policy)
    return policy


def require_peer(conn: Connection, code: str, own: str) -> None:
    refused = filing.peer_refusal(code, own, filing.peers(conn, [code]).get(code))
    if refused is not None:
        raise refused


def open_transfer_of(conn: Connection, member_id: int) -> str | None:
    """The letter number of the member's transfer in that is not final, if any."""
    return filing.open_transfers_of(conn, [member_id]).get(member_id)


def _contact_letter(
    conn: Connection, member_id: int, request: Request, letter_no: str, created_on: date
) -> ContactLetter:
    member = accounts.get_member(conn, accounts.account_numbers_of(conn, [member_id])[member_id])
    return filing.contact_letter(member, request, letter_no, created_on)


def start(conn: Connection, ctx: Context, application_id: int, member_id: int, request: Request) -> Transfer:
    """The member's application approved: the transfer and its contact letter (BDC901), both in
    the caller's transaction. Idempotent per application. The set form's path with one
    application (``filing.start_many``, decision 0044)."""
    today = ctx.clock.today()
    [started] = filing.start_many(
        conn, ctx, [filing.Starting(application_id, member_id, request)], policy=_policy(conn, today)
    )
    return get(conn, today, started.transfer_id)


def cancel(conn: Connection, ctx: Context, transfer_id: int, reason: str) -> Transfer:
    """撤销 at the new center, before the money moved: the old center is asked (BDC903); its
    answer cancels (or not, when it has transferred already)."""
    row = _row(conn, lock=True, id=transfer_id)
    if row is None or row["side"] != Side.IN.value:
        raise not_found(transfer_id)
    text = " ".join(reason.split())[:200]
    if not text:
        raise InvalidInput("transfer.reason_required", "撤销须说明原因", "a cancellation needs a reason")
    rules.require_move(Side.IN, State(row["state"]), State.CANCELLED)
    if row["state"] == State.PEER_SUSPENDED.value:  # the letter never arrived: nobody to ask
        _update(conn, ctx, row, State.CANCELLED, reason=text)
        _tell_application(conn, ctx, row, False, f"申请人撤销：{text}")
        return get(conn, ctx.clock.today(), transfer_id)
    asked = conn.scalar(
        select(func.count()).where(
            exchanged_message.c.letter_no == row["letter_no"],
            exchanged_message.c.type == "BDC903",
            exchanged_message.c.direction == "out",
        )
    )
    if not asked:
        send(conn, ctx, row["peer"], "BDC903", CancelRequest(letter_no=row["letter_no"], reason=text))
        conn.execute(update(transfer).where(transfer.c.id == transfer_id).values(reason=text))
        events.record(conn, ctx, "transfer.cancel_requested", "transfer", transfer_id,
                      {"letter_no": row["letter_no"], "reason": text})  # fmt: skip
    return get(conn, ctx.clock.today(), transfer_id)


def _tell_application(
    conn: Connection, ctx: Context, row: Mapping[str, Any], done: bool, reason: str
) -> None:
    if row["application_id"] is None:
        return
    current = applications.find(conn, int(row["application_id"]))
    if current is None or current.state != "approved":
        return
    outputs = {"letter_no": row["letter_no"]}
    if done:
        applications.mark_executed(conn, ctx, current.id, outputs)
    else:
        applications.mark_failed(conn, ctx, current.id, reason[:200], outputs)


def _incoming_row(conn: Connection, letter_no: str, side: Side, sender: str) -> dict[str, Any]:
    row = _row(conn, lock=True, letter_no=letter_no)
    if row is None or row["side"] != side.value or row["peer"] != sender:
        raise HpfError(
            "transfer.unknown_letter",
            "联系函编号不存在",
            f"no transfer {letter_no} ({side.value}) with center {sender}",
            status=422,
        )
    return row


def _unknown_letter(letter_no: str, side: Side, sender: str) -> HpfError:
    return HpfError(
        "transfer.unknown_letter",
        "联系函编号不存在",
        f"no transfer {letter_no} ({side.value}) with center {sender}",
        status=422,
    )


def _once_each(letters: list[str]) -> None:
    """The same letter twice among messages taken together: each sees what the one before did
    when taken one by one, so the set is refused and its messages are taken one by one."""
    if len(set(letters)) != len(letters):
        raise Conflict(
            "transfer.letter_twice", "同一联系函的报文须逐笔处理", "a letter named twice in one set"
        )


def _rows_of(conn: Connection, column: str, values: list[str], **where: Any) -> dict[str, dict[str, Any]]:
    """The transfer rows whose ``column`` is among ``values`` (locked on PostgreSQL): by that
    value, the first by id where several share it."""
    found: dict[str, dict[str, Any]] = {}
    keys = sorted(set(values))
    for start in range(0, len(keys), 900):
        query = (
            select(transfer).where(transfer.c[column].in_(keys[start : start + 900])).order_by(transfer.c.id)
        )
        for name, value in where.items():
            query = query.where(transfer.c[name] == value)
        for r in conn.execute(query.with_for_update()).mappings():
            found.setdefault(str(r[column]), dict(r))
    return found


def letters_answered(conn: Connection, ctx: Context, messages: Sequence[Incoming]) -> Outcomes:
    """BDC901 answers at the new center, together: the rows in one read; the refusals (13) move
    their transfers in one executemany and end their applications."""
    bodies = [cast(TransferFeedback, m.body) for m in messages]
    _once_each([b.letter_no for b in bodies])
    rows = _rows_of(conn, "letter_no", [b.letter_no for b in bodies])
    outcomes: Outcomes = []
    refusing: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    for message, body in zip(messages, bodies, strict=True):
        row = rows.get(body.letter_no)
        if row is None or row["side"] != Side.IN.value or row["peer"] != message.envelope.sender:
            outcomes.append(_unknown_letter(body.letter_no, Side.IN, message.envelope.sender))
            continue
        outcomes.append(None)
        if body.status == "13" and row["state"] == State.LETTER_SENT.value:
            refusing.append((row, {"reason": body.feedback or "转出审核不通过"}))
    _update_set(conn, ctx, refusing, State.REFUSED)
    for ended, values in refusing:  # (rare: an application ended one by one)
        _tell_application(conn, ctx, ended, False, f"转出地不同意转出：{values['reason']}")
    return outcomes


def transfers_out_received(conn: Connection, ctx: Context, messages: Sequence[Incoming]) -> Outcomes:
    """BDC905s at the new center, together (a BDC906's items, decision 0045): the rows and the
    applicants read once; each checked as one alone would be — a letter unknown here, another
    person's money or a changed amount refused alone, a repeat or an unasked one changes
    nothing —; the others move to ``info_received`` in one executemany, and those whose credit is
    here (or that carry no money) are completed together (:func:`_complete_set`)."""
    bodies = [cast(TransferOut, m.body) for m in messages]
    _once_each([b.letter_no for b in bodies])
    # the bank's credits may be arriving at the same moment: whichever takes the locks second
    # sees the other's commit (see credits_received), so the two never both wait for each other
    lock_names(conn, "transfer.credit", [b.order_no for b in bodies])
    rows = _rows_of(conn, "letter_no", [b.letter_no for b in bodies])
    profiles = accounts_queries.member_profiles(
        conn, [int(r["member_id"]) for r in rows.values() if r["member_id"] is not None]
    )
    outcomes: Outcomes = []
    moving: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    for message, body in zip(messages, bodies, strict=True):
        row = rows.get(body.letter_no)
        if row is None or row["side"] != Side.IN.value or row["peer"] != message.envelope.sender:
            outcomes.append(_unknown_letter(body.letter_no, Side.IN, message.envelope.sender))
            continue
        refused = _other_person(profiles.get(int(row["member_id"])) if row["member_id"] else None, body)
        amended = body.tx_func == "1" and row["state"] == State.NEGOTIATING.value
        # an empty account has no payout: the message's placeholder is not kept as a number
        order_no = body.order_no if body.amount_fen else None
        if (
            refused is None
            and amended
            and (body.amount_fen, order_no) != (row["amount_fen"], row["order_no"])
        ):
            refused = HpfError(
                "transfer.amount_changed", "协商修改不能变更已划转的金额",
                f"amended information names {body.amount_fen} fen / {body.order_no}, the transfer has "
                f"{row['amount_fen']} fen / {row['order_no']}", status=422,
            )  # fmt: skip
        outcomes.append(refused)
        if refused is not None:
            continue
        if not amended and not (body.tx_func == "0" and row["state"] == State.LETTER_SENT.value):
            continue  # told already (the same facts under another message id), or not asked: no change
        carried = {
            "opened_month": body.opened_month, "paid_through": body.paid_through,
            "six_months_continuous": body.six_months_continuous, "loan_count": body.loan_count,
            "unsettled_loan": body.unsettled_loan, "fraud": body.fraud, "months": list(body.months),
            "negotiated": amended,
        }  # fmt: skip
        moving.append((row, {
            "principal_fen": body.principal_fen, "interest_fen": body.interest_fen, "amount_fen": body.amount_fen,
            "order_no": order_no, "carried": carried, "out_message_id": str(message.envelope.message_id),
            "ref": body.order_no,
        }))  # fmt: skip
    refs = {int(row["id"]): values.pop("ref") for row, values in moving}
    _update_set(conn, ctx, moving, State.INFO_RECEIVED)
    moved = [{**row, **values, "state": State.INFO_RECEIVED.value} for row, values in moving]
    credits = settlement.unclaimed_credits(conn, [refs[r["id"]] for r in moved if r["amount_fen"]])
    completing: list[tuple[Mapping[str, Any], settlement.IncomingCredit | None]] = []
    for r in moved:
        if not r["amount_fen"]:  # an empty account: only the history moves
            completing.append((r, None))
        elif (credit := credits.get(refs[r["id"]])) is not None:
            completing.append((r, credit))
    _complete_set(conn, ctx, completing)
    return outcomes


def _other_person(member: accounts_queries.MemberProfile | None, body: TransferOut) -> HpfError | None:
    """The BDC905 is about the member who applied here (same ID number, same name): another
    person's money and months are refused, never credited to ours. (No member known here yet:
    nothing to credit wrongly — the credit needs one.)"""
    if member is None:
        return None
    same = member.resident_id_bidx == blind_index("member", "resident_id", body.cert_no.strip().upper())
    if same and member.name == body.name.strip():
        return None
    return HpfError(
        "transfer.other_person", "转出信息与申请人不符",
        f"the transfer-out information of {body.letter_no} names another person than the applicant",
        status=422,
    )  # fmt: skip


def credit_received(conn: Connection, ctx: Context, event: Event) -> None:
    """A bank credit no order of ours names (listener of ``bank_notice.credit_received``): a
    transfer's money if its reference is the payout number a BDC905 gave; otherwise nothing.
    The set form with one credit (:func:`credits_received`)."""
    credits_received(conn, ctx, [event])


def credits_received(conn: Connection, ctx: Context, events_: Sequence[Event]) -> None:
    """Bank credits recorded together (a group of notices, decision 0041), matched to transfers
    together: the transfers their references name read in one statement, their credits in one,
    those whose BDC905 is here completed together (:func:`_complete_set`); a credit whose
    BDC905 is not here waits, unclaimed."""
    refs = list(dict.fromkeys(str(e.payload.get("ref_seq_no") or "") for e in events_))
    refs = [r for r in refs if r]
    if not refs:
        return
    lock_names(conn, "transfer.credit", refs)  # see transfers_out_received
    rows = _rows_of(conn, "order_no", refs, side=Side.IN.value)
    waiting = [rows[r] for r in refs if r in rows and rows[r]["state"] == State.INFO_RECEIVED.value]
    credits = settlement.unclaimed_credits(conn, [str(r["order_no"]) for r in waiting])
    _complete_set(
        conn, ctx, [(r, credits[str(r["order_no"])]) for r in waiting if str(r["order_no"]) in credits]
    )


def _complete(
    conn: Connection, ctx: Context, row: Mapping[str, Any], credit: settlement.IncomingCredit | None
) -> None:
    """:func:`_complete_set` of one transfer."""
    _complete_set(conn, ctx, [(row, credit)])


def _credit_entry(ctx: Context, row: Mapping[str, Any], credit: settlement.IncomingCredit) -> JournalEntry:
    """The member credited with a transfer's money: Dr 101 / Cr 201 (carried part), business type
    08 外部转入, keyed by the letter."""
    today = ctx.clock.today()
    return JournalEntry(
        business_type="08",  # 外部转入
        business_id=credit.ref_seq_no,  # the bank statement's reference: reconciliation matches it
        idempotency_key=f"transfer-in:{row['letter_no']}",
        value_date=today,
        posting_date=today,
        lines=(
            Line(BANK_DEPOSITS, EntrySide.DEBIT, credit.amount_fen),
            Line(
                MEMBER_CONTROL,
                EntrySide.CREDIT,
                credit.amount_fen,
                member_id=int(row["member_id"]),
                part=BalancePart.CARRIED,
            ),
        ),
        memo=f"异地转移接续转入 联系函{row['letter_no']}",
        actor=ctx.actor,
    )


def _complete_set(
    conn: Connection,
    ctx: Context,
    completing: Sequence[tuple[Mapping[str, Any], settlement.IncomingCredit | None]],
) -> None:
    """Transfers credited together (decision 0045), each as it would be alone: the member credited
    with the matched credit (none: an empty account moved only its history) — a credit of
    another amount is left to finance, the transfer waits —; the credits claimed in one UPDATE,
    the entries posted by one ``ledger.post_many``, the carried months recorded in one INSERT,
    the transfers moved and their events in one statement each, the BDC905s answered (one
    multi-row INSERT of items per center, with batches on), the applications executed."""
    mismatched = [(r, c) for r, c in completing if c is not None and c.amount_fen != r["amount_fen"]]
    events.record_many(conn, ctx, [
        ("transfer.amount_mismatch", "transfer", r["id"], {
            "letter_no": r["letter_no"], "expected_fen": r["amount_fen"], "credited_fen": c.amount_fen,
            "notice_no": c.notice_no,
        }) for r, c in mismatched
    ])  # fmt: skip
    matched = [(r, c) for r, c in completing if c is None or c.amount_fen == r["amount_fen"]]
    claimed = settlement.claim_credits(conn, [c.notice_no for _, c in matched if c is not None])
    going = [(r, c) for r, c in matched if c is None or c.notice_no in claimed]
    if not going:
        return
    crediting = [(r, c) for r, c in going if c is not None]
    entries = [_credit_entry(ctx, r, c) for r, c in crediting]
    entry_ids = dict(
        zip([int(r["id"]) for r, _ in crediting], ledger.post_many(conn, entries, ctx.clock), strict=True)
    )
    added = contributions.record_carried_months_many(conn, ctx, [
        (int(r["member_id"]), list((r["carried"] or {}).get("months") or []), r["letter_no"]) for r, _ in going
    ])  # fmt: skip
    _update_set(conn, ctx, [
        (r, {"notice_no": c.notice_no if c else None, "credit_entry_id": entry_ids.get(int(r["id"]))})
        for r, c in going
    ], State.COMPLETED)  # fmt: skip
    events.record_many(conn, ctx, [
        ("transfer.credited", "transfer", r["id"], {
            "letter_no": r["letter_no"], "member_id": int(r["member_id"]), "amount_fen": c.amount_fen if c else 0,
            "entry_id": entry_ids.get(int(r["id"])), "months_added": n,
        }) for (r, c), n in zip(going, added, strict=True)
    ])  # fmt: skip
    by_peer: dict[str, list[tuple[str, Any, UUID | None]]] = {}
    for r, _ in going:
        if r["out_message_id"]:
            negotiated = bool((r["carried"] or {}).get("negotiated"))
            answer = TransferFeedback(
                letter_no=r["letter_no"], feedback_code="0", feedback="转入确认办结",
                status="20" if negotiated else "00",
            )  # fmt: skip
            by_peer.setdefault(r["peer"], []).append(("BDC905", answer, _uuid(r["out_message_id"])))
    for peer, answers in by_peer.items():
        # queued even to a center the hub has suspended since: the credit (a bank notice's
        # listener) must not fail, or the bank would send its notice forever
        send_many(conn, ctx, peer, answers, suspended_ok=True)
    for r, _ in going:  # (the application engine moves one application at a time)
        _tell_application(conn, ctx, r, True, "")


def cancel_answered(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC903 answer at the new center: cancelled (0) ends the transfer and its application."""
    body = message.body
    assert isinstance(body, TransferFeedback)
    row = _incoming_row(conn, body.letter_no, Side.IN, message.envelope.sender)
    if body.feedback_code == "0" and row["state"] == State.LETTER_SENT.value:
        _update(conn, ctx, row, State.CANCELLED)
        _tell_application(conn, ctx, row, False, f"申请人撤销：{row['reason'] or '撤销'}")
    else:
        events.record(conn, ctx, "transfer.cancel_refused", "transfer", row["id"],
                      {"letter_no": row["letter_no"], "feedback": body.feedback})  # fmt: skip


# ------------------------------------------------------------------------------- old center


_NO_FACTS = rules.OutFacts(False, None, None, 0, 0)


def _facts_many(
    conn: Connection, letters: Sequence[ContactLetter]
) -> list[tuple[accounts.Member | None, rules.OutFacts, tuple[int, bool]]]:
    """For each letter: its account (when its holder is the letter's person), the facts the
    checks read, and the household's loans (count used, any unsettled) — the accounts with their
    balances, the last seal dates and the loans read once for all (the household's loans of each
    member only where some loan exists among them)."""
    members = accounts.get_members(conn, [letter.old_account_no for letter in letters])
    ids = [m.id for m in members.values()]
    sealed = accounts_queries.last_sealed_on_many(conn, ids)
    any_loans = household_loans(conn, ids) if ids else (0, False)
    out: list[tuple[accounts.Member | None, rules.OutFacts, tuple[int, bool]]] = []
    for letter in letters:
        member = members.get(letter.old_account_no)
        if member is None or not _same_person(member, letter):
            out.append((None, _NO_FACTS, (0, False)))
            continue
        used, unsettled = household_loans(conn, [member.id]) if any_loans[0] else (0, False)
        facts = rules.OutFacts(
            True, member.state, sealed.get(member.id), 1 if unsettled else 0, member.balance_fen
        )
        out.append((member, facts, (used, bool(unsettled))))
    return out


def _min_sealed_months(conn: Connection, ctx: Context) -> int:
    return _policy(conn, ctx.clock.today()).out_min_sealed_months


def _checks_json(findings: list[Finding]) -> list[dict[str, Any]]:
    return [{"code": f.code, "passed": f.passed, "message_zh": f.message_zh} for f in findings]


def letters_received(conn: Connection, ctx: Context, messages: Sequence[Incoming]) -> Outcomes:
    """BDC901s at the old center, together (a BDC902's items, decision 0045), each recorded with
    its checks as it would be alone: the letters known here read in one statement (a letter
    number seen before — or twice here — changes nothing), a letter whose number is not its
    sender's refused alone, the facts of all read once (:func:`_facts_many`), the checks
    (``rules.out_checks``) run per letter, the transfers inserted in one statement and their
    events in one."""
    letters = [cast(ContactLetter, m.body) for m in messages]
    known = set(_rows_of(conn, "letter_no", [letter.letter_no for letter in letters]))
    outcomes: Outcomes = []
    fresh: list[tuple[Incoming, ContactLetter]] = []
    for message, letter in zip(messages, letters, strict=True):
        if letter.letter_no in known:
            outcomes.append(None)  # the same letter again (under another message id): nothing changes
        elif letter.letter_no[:6] != message.envelope.sender:
            outcomes.append(InvalidInput(
                "transfer.letter_not_senders", "联系函编号与发函中心不符",
                "a letter number starts with its sender's code",
            ))  # fmt: skip
        else:
            outcomes.append(None)
            known.add(letter.letter_no)
            fresh.append((message, letter))
    if not fresh:
        return outcomes
    today, now = ctx.clock.today(), ctx.clock.now()
    min_months = _min_sealed_months(conn, ctx)
    due_on = rules.due_on(today, _policy(conn, today).out_decide_working_days)
    rows, passed = [], []
    for (message, letter), (member, facts, _loans) in zip(
        fresh, _facts_many(conn, [f[1] for f in fresh]), strict=True
    ):
        findings = rules.out_checks(facts, today, min_months)
        passed.append(all(f.passed for f in findings))
        rows.append({
            "letter_no": letter.letter_no, "side": Side.OUT.value, "peer": message.envelope.sender,
            "state": State.RECEIVED.value, "member_id": member.id if member is not None else None,
            "letter_message_id": str(message.envelope.message_id), "checks": _checks_json(findings),
            "started_on": today, "due_on": due_on, "updated_at": now,
        })  # fmt: skip
    # one multi-row INSERT (SQLite returns its rows in no promised order: matched by letter number)
    made = conn.execute(insert(transfer).returning(transfer.c.id, transfer.c.letter_no), rows)
    by_letter = {str(letter_no): int(transfer_id) for transfer_id, letter_no in made}
    ids = [by_letter[str(row["letter_no"])] for row in rows]
    events.record_many(conn, ctx, [
        ("transfer.letter_received", "transfer", transfer_id,
         {"letter_no": row["letter_no"], "from": row["peer"], "passed": ok})
        for transfer_id, row, ok in zip(ids, rows, passed, strict=True)
    ])  # fmt: skip
    return outcomes


def _out_row(conn: Connection, transfer_id: int) -> dict[str, Any]:
    row = _row(conn, lock=True, id=transfer_id)
    if row is None or row["side"] != Side.OUT.value:
        raise not_found(transfer_id)
    return row


def _uuid(text: str) -> UUID:
    return UUID(text)


def approve(conn: Connection, ctx: Context, transfer_id: int) -> Transfer:
    """Staff approve a letter at the old center (see the module docstring); approving again
    changes nothing. The bulk approval's set-based path with one letter (:func:`_approve_set`)."""
    row = _out_row(conn, transfer_id)
    if row["state"] in (State.TRANSFERRED.value, State.COMPLETED.value):
        return get(conn, ctx.clock.today(), transfer_id)  # approved before: nothing changes
    rules.require_move(Side.OUT, State(row["state"]), State.TRANSFERRED)
    _approved, refused = _approve_set(conn, ctx, [transfer_id])
    if refused:
        raise refused[0][1]
    return get(conn, ctx.clock.today(), transfer_id)


@dataclass(frozen=True)
class _Approving:
    """A letter that passed its checks at approval: its row, letter, account and loans."""

    row: Mapping[str, Any]
    letter: ContactLetter
    member: accounts.Member
    findings: list[Finding]
    loans: tuple[int, bool]


def _approve_set(
    conn: Connection, ctx: Context, transfer_ids: list[int]
) -> tuple[list[int], list[tuple[int, HpfError]]]:
    """Approve letters set-based (decision 0041), as :func:`approve` would one by one: the rows,
    letters, accounts, seal dates and loans read once for all; the checks (``rules.out_checks``)
    pre-filter — a letter that fails, or is not a received letter here, is refused with its
    reason and left as it was; then for the others together: the interest to date
    (``interest.settle_on_close_many``), the payouts reserved (``settlement.reserve_many``), the
    accounts closed (``accounts.close_members``), the BDC901 answers and BDC905s queued
    (``send_many``), the transfers moved with their events. (The approved, the refused.)"""
    t = transfer.c
    query = select(transfer).where(t.id.in_(transfer_ids))
    rows = {int(r["id"]): dict(r) for r in conn.execute(query.with_for_update()).mappings()}
    approved: list[int] = []
    refused: list[tuple[int, HpfError]] = []
    waiting: list[dict[str, Any]] = []
    for transfer_id in transfer_ids:
        row = rows.get(transfer_id)
        if row is None or row["side"] != Side.OUT.value:
            refused.append((transfer_id, not_found(transfer_id)))
        elif row["state"] in (State.TRANSFERRED.value, State.COMPLETED.value):
            approved.append(transfer_id)  # approved before: nothing changes
        elif not rules.can_move(Side.OUT, State(row["state"]), State.TRANSFERRED):
            try:
                rules.require_move(Side.OUT, State(row["state"]), State.TRANSFERRED)
            except HpfError as exc:
                refused.append((transfer_id, exc))
        else:
            waiting.append(row)
    going, failing = _checked_set(conn, ctx, waiting)
    refused.extend(failing)
    if going:
        _transfer_out_set(conn, ctx, going)
        approved.extend(int(a.row["id"]) for a in going)
    order = {i: n for n, i in enumerate(transfer_ids)}
    approved.sort(key=order.__getitem__)
    refused.sort(key=lambda r: order[r[0]])
    return approved, refused


def _checked_set(
    conn: Connection, ctx: Context, rows: list[dict[str, Any]]
) -> tuple[list[_Approving], list[tuple[int, HpfError]]]:
    """The checks of :func:`_checked` for many letters, each fact read once for all."""
    if not rows:
        return [], []
    bodies = stored_bodies(conn, [r["letter_message_id"] for r in rows])
    letters: dict[str, ContactLetter] = {}
    for r in rows:
        body = bodies.get(r["letter_message_id"])
        if body is None:
            raise not_found(r["letter_no"])
        assert isinstance(body, ContactLetter)
        letters[r["letter_message_id"]] = body
    facts = dict(zip(letters, _facts_many(conn, list(letters.values())), strict=True))
    min_months = _min_sealed_months(conn, ctx)
    going: list[_Approving] = []
    failing: list[tuple[int, HpfError]] = []
    for row in rows:
        letter = letters[row["letter_message_id"]]
        member, checked, loans = facts[row["letter_message_id"]]
        findings = rules.out_checks(checked, ctx.clock.today(), min_months)
        failed = [f for f in findings if not f.passed]
        if failed or member is None:
            failing.append((int(row["id"]), _checks_failed(failed)))
        else:
            going.append(_Approving(row, letter, member, findings, loans))
    return going, failing


def _same_person(member: accounts.Member, letter: ContactLetter) -> bool:
    return (
        blind_index("member", "resident_id", member.resident_id)
        == blind_index("member", "resident_id", letter.cert_no.strip().upper())
        and member.name == letter.name.strip()
    )


def _checks_failed(failed: list[Finding]) -> Conflict:
    return Conflict(
        "transfer.checks_failed",
        "不符合转出条件：" + "；".join(f.message_zh for f in failed),
        "a check fails: refuse the letter with the reason instead",
        checks=[f.code for f in failed],
    )


def _payout(
    letter: ContactLetter, transfer_id: int, letter_no: str, balances: tuple[int, int], member_id: int
) -> PayoutRequest:
    carried, current = balances
    sources = tuple(
        Source(MEMBER_CONTROL, fen, member_id, part)
        for part, fen in ((BalancePart.CARRIED, carried), (BalancePart.CURRENT, current))
        if fen
    )
    return PayoutRequest(
        owner_kind=OWNER_KIND, owner_id=str(transfer_id), amount_fen=carried + current, sources=sources,
        payee=Payee(letter.in_fund_account_name[:60], letter.in_fund_account_no, letter.in_bank_name[:60],
                    account_class=AccountClass.CORPORATE),
        business_type="07", fund_business_type="07", idempotency_key=f"transfer:{letter_no}",
        summary=f"转移接续 {letter_no}",
    )  # fmt: skip


def _transfer_out_set(conn: Connection, ctx: Context, going: list[_Approving]) -> None:
    """The approval's effects for letters that passed (see :func:`_approve_set`); an empty
    account has no payout: only its history moves."""
    member_ids = [a.member.id for a in going]
    interest = settle_on_close_many(conn, ctx, member_ids, ctx.clock.today())
    balances = ledger.member_balances(conn, member_ids)
    amounts = {a.member.id: sum(balances.get(a.member.id, (0, 0))) for a in going}
    paying = [a for a in going if amounts[a.member.id] > 0]
    requests = [
        _payout(a.letter, int(a.row["id"]), a.row["letter_no"], balances[a.member.id], a.member.id)
        for a in paying
    ]
    orders = dict(
        zip([a.member.id for a in paying], settlement.reserve_many(conn, ctx, requests), strict=True)
    )
    accounts.close_members(
        conn, ctx, [(a.member.account_no, f"异地转出（联系函{a.row['letter_no']}）") for a in going],
        CloseKind.TRANSFERRED_OUT,
    )  # fmt: skip
    months = contributions_queries.posted_months(conn, member_ids)
    by_peer: dict[str, list[_Approving]] = {}
    for a in going:
        by_peer.setdefault(a.row["peer"], []).append(a)
    moved: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    for peer, group in by_peer.items():
        messages: list[tuple[str, Any, UUID | None]] = []
        for a in group:
            order = orders.get(a.member.id)
            interest_fen, amount = interest[a.member.id][0], amounts[a.member.id]
            body = _transfer_out(
                conn, a.row["letter_no"], a.member, (amount - interest_fen, interest_fen),
                (order.order_no if order else None) or "NONE", sorted(months[a.member.id]), loans=a.loans,
            )  # fmt: skip
            taken = TransferFeedback(
                letter_no=a.row["letter_no"], feedback_code="2", feedback="账户信息复核通过", status="08"
            )
            messages += [("BDC901", taken, _uuid(a.row["letter_message_id"])), ("BDC905", body, None)]
        sent = send_many(conn, ctx, peer, messages)
        for a, out_id in zip(group, sent[1::2], strict=True):
            order = orders.get(a.member.id)
            interest_fen, amount = interest[a.member.id][0], amounts[a.member.id]
            moved.append((a.row, {
                "member_id": a.member.id, "principal_fen": amount - interest_fen, "interest_fen": interest_fen,
                "amount_fen": amount, "order_no": order.order_no if order else None,
                "payment_order_id": order.id if order else None, "out_message_id": str(out_id),
                "checks": _checks_json(a.findings),
            }))  # fmt: skip
    _update_set(conn, ctx, moved, State.TRANSFERRED)


def _update_set(
    conn: Connection, ctx: Context, moved: list[tuple[Mapping[str, Any], dict[str, Any]]], target: State
) -> None:
    """:func:`_update` of many transfers: one executemany, one INSERT of their events."""
    if not moved:
        return
    for row, _ in moved:
        rules.require_move(Side(row["side"]), State(row["state"]), target)
    ended = {"ended_on": ctx.clock.today()} if target in FINAL else {}
    names = sorted(moved[0][1])
    conn.execute(
        update(transfer)
        .where(transfer.c.id == bindparam("tid"))
        .values(
            state=target.value, updated_at=ctx.clock.now(), **ended, **{n: bindparam(f"v_{n}") for n in names}
        ),
        [{"tid": row["id"], **{f"v_{n}": values[n] for n in names}} for row, values in moved],
    )
    events.record_many(conn, ctx, [
        (f"transfer.{target.value}", "transfer", row["id"],
         {"letter_no": row["letter_no"], "side": row["side"], "from": row["state"]})
        for row, _ in moved
    ])  # fmt: skip


BULK_MOST = 500  # letters approved in one call (one transaction)


@dataclass(frozen=True)
class Skipped:
    """A letter a bulk approval left as it was, and why."""

    id: int
    letter_no: str
    code: str
    message_zh: str


@dataclass(frozen=True)
class BulkApproval:
    approved: tuple[int, ...]
    skipped: tuple[Skipped, ...]


def approvable(conn: Connection, limit: int = BULK_MOST) -> list[int]:
    """The letters received here, undecided, whose checks all passed when they came (oldest first)."""
    query = (
        select(transfer.c.id, transfer.c.checks)
        .where(transfer.c.side == Side.OUT.value, transfer.c.state == State.RECEIVED.value)
        .order_by(transfer.c.id)
    )
    found: list[int] = []
    with conn.execute(query) as rows:  # until ``limit``: not every waiting letter's checks each call
        for r in rows:
            if all(c.get("passed") for c in (r.checks or ())):
                found.append(int(r.id))
                if len(found) >= limit:
                    break
    return found


def approve_many(
    conn: Connection, ctx: Context, transfer_ids: list[int] | None = None, *, most: int = BULK_MOST
) -> BulkApproval:
    """Staff approve letters in bulk (decision 0036): ``transfer_ids`` (at most ``BULK_MOST``), or
    none for every letter that passes its checks (:func:`approvable`), set-based
    (:func:`_approve_set`, decision 0041): a letter that fails at approval (a check no longer
    holds, another state) is skipped with its reason, and its neighbours are approved together;
    should the set still fail, each letter is approved alone in its own savepoint. ``most``: of
    every letter that passes, this many (fewer per call: shorter write transactions)."""
    ids = (
        approvable(conn, max(1, min(most, BULK_MOST)))
        if transfer_ids is None
        else list(dict.fromkeys(transfer_ids))
    )
    if len(ids) > BULK_MOST:
        raise InvalidInput(
            "transfer.bulk_too_many", f"一次最多批量审批{BULK_MOST}笔", f"at most {BULK_MOST} letters at once"
        )
    try:
        with conn.begin_nested():
            approved, refused = _approve_set(conn, ctx, ids)
    except HpfError:  # a refusal the pre-filter did not foresee: each letter alone, in its savepoint
        approved, refused = [], []
        for transfer_id in ids:
            try:
                with conn.begin_nested():
                    got, lost = _approve_set(conn, ctx, [transfer_id])
                approved += got
                refused += lost
            except HpfError as exc:
                refused.append((transfer_id, exc))
    named = select(transfer.c.id, transfer.c.letter_no).where(transfer.c.id.in_([i for i, _ in refused]))
    letters = {int(i): str(no) for i, no in conn.execute(named)}
    skipped = [Skipped(i, letters.get(i) or "", exc.code, exc.title) for i, exc in refused]
    return BulkApproval(tuple(approved), tuple(skipped))


def _transfer_out(
    conn: Connection,
    letter_no: str,
    member: accounts.Member,
    amounts: tuple[int, int],
    order_no: str,
    months: list[str],
    *,
    tx_func: str = "0",
    loans: tuple[int, bool] | None = None,
) -> TransferOut:
    """The BDC905 body: the money (principal, interest), the history and its summary, loans
    (``loans``: as the checks read them in this transaction; none: read now)."""
    principal, interest = amounts
    history = rules.summarize(member.opened_on, months)
    used, unsettled = loans if loans is not None else household_loans(conn, [member.id])
    return TransferOut(
        letter_no=letter_no, tx_func=tx_func, name=member.name, cert_no=member.resident_id,  # type: ignore[arg-type]
        amount_fen=principal + interest, principal_fen=principal, interest_fen=interest,
        opened_month=history.opened_month, paid_through=history.paid_through,
        six_months_continuous=history.six_months_continuous,  # type: ignore[arg-type]
        loan_count=min(used, 99), unsettled_loan="1" if unsettled else "2", fraud="2",
        contact_phone="12329", order_no=order_no, months=months,
    )  # fmt: skip


def amend(conn: Connection, ctx: Context, transfer_id: int, months: list[str] | None = None) -> Transfer:
    """协商 at the old center: the new center asked to amend the transfer-out information (06);
    staff send it again (BDC905, ``tx_func`` 1) with the history corrected (``months``: the
    deposited months as they should be; none: as the ledger has them now). The money is what it
    was: it has been paid already."""
    row = _out_row(conn, transfer_id)
    if row["state"] != State.NEGOTIATING.value:
        raise Conflict(
            "transfer.not_negotiating", "转入地未发起协商，不能修改转出信息",
            f"transfer {transfer_id} is {row['state']}, not negotiating",
        )  # fmt: skip
    member_id = int(row["member_id"])
    member = accounts.get_member(conn, accounts.account_numbers_of(conn, [member_id])[member_id])
    corrected = sorted(set(months)) if months is not None else None
    if corrected is not None:
        rules.new_months([], corrected)  # each a month YYYY-MM, or refused
    body = _transfer_out(
        conn, row["letter_no"], member, (int(row["principal_fen"] or 0), int(row["interest_fen"] or 0)),
        row["order_no"] or "NONE",
        corrected if corrected is not None else sorted(contributions_queries.member_posted_months(conn, member_id)),
        tx_func="1",
    )  # fmt: skip
    out_id = send(conn, ctx, row["peer"], "BDC905", body)
    _update(conn, ctx, row, State.TRANSFERRED, out_message_id=str(out_id))
    return get(conn, ctx.clock.today(), transfer_id)


def negotiate(conn: Connection, ctx: Context, transfer_id: int, reason: str) -> Transfer:
    """协商 at the new center: the transfer-out information is wrong (a history that does not
    match the member's own records, …): the BDC905 is answered 06 with what to amend; the
    money, if it arrives meanwhile, waits unclaimed for the amended information."""
    row = _row(conn, lock=True, id=transfer_id)
    if row is None or row["side"] != Side.IN.value:
        raise not_found(transfer_id)
    text = " ".join(reason.split())[:200]
    if not text:
        raise InvalidInput(
            "transfer.reason_required", "协商须说明需修改的内容", "a negotiation needs a reason"
        )
    rules.require_move(Side.IN, State(row["state"]), State.NEGOTIATING)
    answer = TransferFeedback(letter_no=row["letter_no"], feedback_code="2", feedback=text, status="06")
    send(conn, ctx, row["peer"], "BDC905", answer, reply_to=_uuid(row["out_message_id"]))
    _update(conn, ctx, row, State.NEGOTIATING, reason=text)
    return get(conn, ctx.clock.today(), transfer_id)


def refuse(conn: Connection, ctx: Context, transfer_id: int, reason: str) -> Transfer:
    """Staff refuse a letter at the old center; the reason goes back (BDC901, 13)."""
    row = _out_row(conn, transfer_id)
    text = " ".join(reason.split())[:200]
    if not text:
        raise InvalidInput("transfer.reason_required", "不予转出须说明原因", "a refusal needs a reason")
    if row["state"] == State.REFUSED.value:
        return get(conn, ctx.clock.today(), transfer_id)
    _update(conn, ctx, row, State.REFUSED, reason=text)
    answer = TransferFeedback(letter_no=row["letter_no"], feedback_code="1", feedback=text, status="13")
    send(conn, ctx, row["peer"], "BDC901", answer, reply_to=_uuid(row["letter_message_id"]))
    return get(conn, ctx.clock.today(), transfer_id)


def cancel_asked(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC903 at the old center: cancelled while undecided; refused once the money moved."""
    body = message.body
    assert isinstance(body, CancelRequest)
    row = _row(conn, lock=True, letter_no=body.letter_no)
    if row is None or row["side"] != Side.OUT.value or row["peer"] != message.envelope.sender:
        answer = TransferFeedback(
            letter_no=body.letter_no, feedback_code="1", feedback="联系函编号不存在", status="05"
        )
    elif row["state"] in (State.RECEIVED.value, State.CANCELLED.value):
        if row["state"] == State.RECEIVED.value:
            _update(conn, ctx, row, State.CANCELLED, reason=body.reason)
        answer = TransferFeedback(
            letter_no=body.letter_no, feedback_code="0", feedback="转入撤销业务办结", status="05"
        )
    else:
        state = State(row["state"])
        answer = TransferFeedback(
            letter_no=body.letter_no, feedback_code="1", feedback=f"不能撤销：{rules.STATE_ZH[state]}",
            status=rules.PLATFORM_STATUS[state],  # type: ignore[arg-type]
        )  # fmt: skip
    send(conn, ctx, message.envelope.sender, "BDC903", answer, reply_to=message.envelope.message_id)


def completions_received(conn: Connection, ctx: Context, messages: Sequence[Incoming]) -> Outcomes:
    """BDC905 answers at the old center, together: the rows in one read, the transfers completed
    (or negotiating) in one executemany each with their events. An answer about a transfer that
    is not ours with that center, or to another BDC905 than its last, changes nothing."""
    bodies = [cast(TransferFeedback, m.body) for m in messages]
    _once_each([b.letter_no for b in bodies])
    rows = _rows_of(conn, "letter_no", [b.letter_no for b in bodies])
    completing: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    negotiating: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
    for message, body in zip(messages, bodies, strict=True):
        row = rows.get(body.letter_no)
        if row is None or row["side"] != Side.OUT.value or row["peer"] != message.envelope.sender:
            continue  # not a transfer of ours with the center that answers
        if row["out_message_id"] != str(message.envelope.reply_to):
            continue  # an answer to another BDC905 than the one this transfer sent last
        if body.status in ("00", "20") and row["state"] == State.TRANSFERRED.value:
            completing.append((row, {}))
        elif body.status == "06" and row["state"] == State.TRANSFERRED.value:
            negotiating.append((row, {"reason": body.feedback[:200]}))
    _update_set(conn, ctx, completing, State.COMPLETED)
    _update_set(conn, ctx, negotiating, State.NEGOTIATING)
    return [None] * len(messages)


def payout_settled(conn: Connection, ctx: Context, outcome: PayoutOutcome) -> None:
    """The transfer's payout ended (owner listener): a failure ends the transfer ``40``; the
    reversal has put the money back in the (closed) account, which staff reopen by hand."""
    row = _row(conn, lock=True, id=int(outcome.owner_id))
    if row is None or row["side"] != Side.OUT.value:
        return
    # a negotiation may be open when the bank answers: the money did not move either way
    held = (State.TRANSFERRED.value, State.NEGOTIATING.value, State.PEER_SUSPENDED.value)
    if outcome.state != "paid" and row["state"] in held:
        _update(
            conn,
            ctx,
            row,
            State.PAYMENT_FAILED,
            reason=str(outcome.payload().get("failure_reason") or "")[:200],
        )


# ------------------------------------------------------------------- the other center suspended


def message_refused(conn: Connection, ctx: Context, event: Event) -> None:
    """A message of a transfer refused by the hub because the other center is suspended
    (listener of ``hub_message.refused``, decision 0043): the transfer waiting on it — the new
    center's letter sent, the old center's money transferred — is held (``peer_suspended``, 对方中心
    已暂停) instead of waiting for an answer that cannot come; staff send it again once the center
    is back (:func:`resend`), or, at the new center, cancel it."""
    if event.payload.get("code") != "message.recipient_suspended":
        return
    m = exchanged_message.c
    letters = conn.execute(
        select(m.letter_no)
        .where(
            (m.message_id == event.object_id) | (m.batch_id == event.object_id),
            m.direction == "out",
            m.letter_no.is_not(None),
        )
        .distinct()
    ).scalars()
    for letter_no in sorted(letters):
        row = _row(conn, lock=True, letter_no=letter_no)
        if row is None or row["state"] != rules.HELD_FROM[row["side"]]:
            continue  # not waiting on this message (ended, or held already)
        what = "联系函未能送达" if row["side"] == Side.IN.value else "转出信息未能送达"
        _update(conn, ctx, row, State.PEER_SUSPENDED, reason=f"{rules.PEER_SUSPENDED_REASON}，{what}")


def _send_letter_again(conn: Connection, ctx: Context, row: Mapping[str, Any]) -> UUID:
    from hpf.transfers.handler import request_of  # (the handler reads the application: above here)

    application = applications.with_secrets(conn, applications.get(conn, int(row["application_id"])))
    letter = _contact_letter(
        conn, int(row["member_id"]), request_of(application), row["letter_no"], row["started_on"]
    )
    return send(conn, ctx, row["peer"], "BDC901", letter, suspended_ok=True)


def resend(conn: Connection, ctx: Context, transfer_id: int) -> Transfer:
    """Send a held transfer's refused messages again, as they were (the same message ids: the
    other center takes each once), and wait as before. Refused again if the center is still
    suspended: the transfer is held again."""
    row = _row(conn, lock=True, id=transfer_id)
    if row is None:
        raise not_found(transfer_id)
    if row["state"] != State.PEER_SUSPENDED.value:
        raise Conflict(
            "transfer.not_held",
            f"转移接续业务当前状态为“{rules.STATE_ZH[State(row['state'])]}”，无需重新发送",
            f"transfer {transfer_id} is {row['state']}, not held for a suspended center",
        )
    m = exchanged_message.c
    refused = conn.execute(
        select(m.message_id, m.envelope, m.type).where(
            m.letter_no == row["letter_no"],
            m.direction == "out",
            m.state == "refused",
            m.last_error.like("%recipient_suspended%"),
        )
    ).all()
    items = [r.message_id for r in refused if "item" in (r.envelope or {})]
    singles = [r.message_id for r in refused if r.message_id not in items]
    if singles:  # the same sealed envelope, in a new hop when the worker next runs
        conn.execute(
            update(exchanged_message)
            .where(m.message_id.in_(singles))
            .values(state="queued", next_attempt_at=ctx.clock.now(), last_error=None)
        )
    if items:  # packed again into the next batch
        conn.execute(
            update(exchanged_message)
            .where(m.message_id.in_(items))
            .values(state="item", batch_id=None, last_error=None)
        )
    fresh = {}
    letter_refused = any(r.message_id in singles + items and r.type == "BDC901" for r in refused)
    if row["side"] == Side.IN.value and not letter_refused and row["application_id"] is not None:
        # the hub took the letter but could not deliver it (the center suspended since): it keeps
        # that message refused, so the letter goes again as a new message of the same 联系函编号,
        # which the old center takes once (a letter number it has is not taken again)
        fresh = {"letter_message_id": str(_send_letter_again(conn, ctx, row))}
    _update(conn, ctx, row, State(rules.HELD_FROM[row["side"]]), reason=None, **fresh)
    events.record(conn, ctx, "transfer.resent", "transfer", transfer_id,
                  {"letter_no": row["letter_no"], "messages": len(refused) + len(fresh)})  # fmt: skip
    return get(conn, ctx.clock.today(), transfer_id)


# ------------------------------------------------------------------------------------ status


def ask_status(conn: Connection, ctx: Context, transfer_id: int) -> Transfer:
    """Ask the other center where the transfer stands (BDC904); its answer is recorded, and a
    payout the old center's bank refused (40) ends the transfer here too."""
    row = _row(conn, id=transfer_id)
    if row is None:
        raise not_found(transfer_id)
    send(conn, ctx, row["peer"], "BDC904", StatusQuery(letter_no=row["letter_no"]))
    return get(conn, ctx.clock.today(), transfer_id)


def status_answered(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC904 answer: recorded on the query (``transfers.service.status_answered``); at the new
    center a 40 (转出失败业务办结: the old center's bank refused the payout, the money is back
    there) ends the transfer and fails the application."""
    service_status_answered(conn, ctx, message)
    body = message.body
    assert isinstance(body, StatusAnswer)
    row = _row(conn, lock=True, letter_no=body.letter_no)
    if row is None or row["side"] != Side.IN.value or row["peer"] != message.envelope.sender:
        return
    if body.status == "40" and rules.can_move(Side.IN, State(row["state"]), State.PAYMENT_FAILED):
        _update(conn, ctx, row, State.PAYMENT_FAILED, reason=body.feedback[:200])
        _tell_application(conn, ctx, row, False, "转出地资金划转失败")


def status_asked(conn: Connection, ctx: Context, message: Incoming) -> None:
    """BDC904 request: where the letter's transfer stands here (or 1 失败 联系函编号不存在)."""
    body = message.body
    assert isinstance(body, StatusQuery)
    row = _row(conn, letter_no=body.letter_no)
    if row is None or row["peer"] != message.envelope.sender:
        answer = StatusAnswer(letter_no=body.letter_no, feedback_code="1", feedback="联系函编号不存在")
    else:
        state = State(row["state"])
        answer = StatusAnswer(
            letter_no=body.letter_no, feedback_code=rules.feedback_code(state),  # type: ignore[arg-type]
            feedback=rules.STATE_ZH[state], status=rules.platform_status(state, row["side"]),  # type: ignore[arg-type]
        )  # fmt: skip
    send(conn, ctx, message.envelope.sender, "BDC904", answer, reply_to=message.envelope.message_id)


def member_state_ok(state: str) -> bool:
    return state == MemberState.NORMAL.value


# Declared in hpf.bootstrap.message_handlers (with the link's own: BDC909, BDC904 answers).
# The batch forms' handlers take a BDC902's/BDC906's items together (``SetHandler``, decision 0045).
HANDLERS: dict[tuple[str, bool], Handler] = {
    ("BDC901", False): SetHandler(letters_received),
    ("BDC901", True): SetHandler(letters_answered),
    ("BDC903", False): cancel_asked,
    ("BDC903", True): cancel_answered,
    ("BDC904", False): status_asked,
    ("BDC904", True): status_answered,
    ("BDC905", False): SetHandler(transfers_out_received),
    ("BDC905", True): SetHandler(completions_received),
}
