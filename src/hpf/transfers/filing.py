"""Starting transfers at the new center, one or many at once (decision 0044).

An approved transfer-in application (``AC-TRANSFER-IN``) starts its transfer: the row (``in``,
``letter_sent``) and the contact letter (BDC901) queued to the old center, in the approving
transaction. :func:`start_many` does that for a set of applications — a bulk filing
(``hpf.services.bulk.submit_many``) — in a handful of statements whatever their number: the
transfers already started for them, the old centers, the day's last letter number and the members
read once; the letters queued by ``service.send_many`` (one multi-row INSERT with batches on);
the transfers in one multi-row INSERT; their events by one ``events.record_many``.
``process.start`` is the same path with one application.

Letter numbers (联系函编号, REFERENCE §5.2: code, YYMMDD, 4-digit sequence) follow the order of
the applications, after the day's last; a center writes at most 9,999 letters a day
(``rules.letter_no`` refuses the 10,000th: the whole call, as a single start would be).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from hpf import events
from hpf.accounts import service as accounts
from hpf.db.bulk import insert_with_ids
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, HpfError, InvalidInput
from hpf.messages.bodies import ContactLetter
from hpf.policy.queries import transfer_policy_at
from hpf.policy.rules import TransferPolicy
from hpf.transfers import rules
from hpf.transfers.link import current_link
from hpf.transfers.rules import FINAL, Side, State
from hpf.transfers.service import send_many
from hpf.transfers.tables import peer_center, transfer


@dataclass(frozen=True)
class Request:
    """What the member's application says: where the money is, and the old account."""

    out_center: str
    old_account_no: str
    old_employer_name: str = ""


@dataclass(frozen=True)
class Starting:
    """One approved application whose transfer is to start."""

    application_id: int
    member_id: int
    request: Request


@dataclass(frozen=True)
class Started:
    transfer_id: int
    letter_no: str


@dataclass(frozen=True)
class Peer:
    """Another center as this one knows it (the hub's BDC909 answer)."""

    code: str
    name: str
    state: str


def peers(conn: Connection, codes: Sequence[str]) -> dict[str, Peer]:
    """The known centers among ``codes``, in one read."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    p = peer_center.c
    rows = conn.execute(select(p.code, p.name, p.state).where(p.code.in_(wanted)))
    return {r.code: Peer(r.code, r.name, r.state) for r in rows}


def peer_refusal(code: str, own: str, peer: Peer | None) -> HpfError | None:
    """Why a transfer cannot be asked of center ``code`` (``peer``: as known here), or None."""
    if code == own:
        return InvalidInput("transfer.same_center", "转出中心不能是本中心", "the old center is this center")
    if peer is None:
        return InvalidInput(
            "transfer.center_unknown",
            "转出地管理中心代码未在转移接续平台登记（或尚未查询）",
            f"center {code} is not known here: look it up through the hub (BDC909)",
        )
    if peer.state != "active":
        return Conflict(
            "transfer.center_suspended", "转出地管理中心已暂停接入", f"center {code} is {peer.state}"
        )
    return None


def open_transfers_of(conn: Connection, member_ids: Sequence[int]) -> dict[int, str]:
    """The letter number of each member's transfer in that is not final, for those that have one."""
    ids = sorted(set(member_ids))
    found: dict[int, str] = {}
    t = transfer.c
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(t.member_id, t.letter_no)
            .where(
                t.side == Side.IN.value,
                t.member_id.in_(ids[start : start + 900]),
                t.state.not_in([s.value for s in FINAL]),
            )
            .order_by(t.id)
        )
        for r in rows:
            found.setdefault(int(r.member_id), r.letter_no)
    return found


def next_letter_nos(conn: Connection, center_code: str, day: date, count: int) -> list[str]:
    """The next ``count`` letter numbers of ``center_code`` on ``day``, after the last written."""
    prefix = f"{center_code}{day:%y%m%d}"
    # a range on the unique index (SQLite's LIKE, case-insensitive, would scan every transfer)
    last = conn.scalar(
        select(func.max(transfer.c.letter_no)).where(
            transfer.c.letter_no.between(f"{prefix}0000", f"{prefix}9999")
        )
    )
    first = int(last[-4:]) + 1 if last else 1
    return [rules.letter_no(center_code, day, first + n) for n in range(count)]


def contact_letter(
    member: accounts.Member, request: Request, letter_no: str, created_on: date
) -> ContactLetter:
    """The BDC901 body of ``member``'s transfer."""
    link = current_link()
    return ContactLetter(
        letter_no=letter_no, out_center_code=request.out_center, name=member.name,
        cert_type="01", cert_no=member.resident_id, old_employer_name=request.old_employer_name[:100],
        old_account_no=request.old_account_no, in_fund_account_no=link.fund_account_no,
        in_fund_account_name=link.fund_account_name, in_bank_name=link.fund_bank_name,
        in_contact="12329", created_on=created_on,
    )  # fmt: skip


def started_for(conn: Connection, application_ids: Sequence[int]) -> dict[int, Started]:
    """The transfers started already for ``application_ids``."""
    ids = sorted(set(application_ids))
    t = transfer.c
    out: dict[int, Started] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(t.application_id, t.id, t.letter_no).where(t.application_id.in_(ids[start : start + 900]))
        )
        out.update({int(r.application_id): Started(int(r.id), r.letter_no) for r in rows})
    return out


def start_many(
    conn: Connection, ctx: Context, starting: Sequence[Starting], *, policy: TransferPolicy | None = None
) -> list[Started]:
    """Start the transfers of ``starting`` (approved applications), in the caller's transaction:
    each its row and its contact letter; an application whose transfer started before gets that
    one (idempotent per application). In the order given; ``policy``: the day's transfer policy
    when the caller has it."""
    if not starting:
        return []
    known = started_for(conn, [s.application_id for s in starting])
    fresh = [s for s in starting if s.application_id not in known]
    if fresh:
        _start_fresh(conn, ctx, fresh, known, policy)
    return [known[s.application_id] for s in starting]


def _start_fresh(
    conn: Connection,
    ctx: Context,
    fresh: Sequence[Starting],
    known: dict[int, Started],
    policy: TransferPolicy | None,
) -> None:
    link = current_link()
    found = peers(conn, [s.request.out_center for s in fresh])
    for s in fresh:
        refused = peer_refusal(s.request.out_center, link.center_code, found.get(s.request.out_center))
        if refused is not None:
            raise refused
    today = ctx.clock.today()
    numbers = next_letter_nos(conn, link.center_code, today, len(fresh))
    nos = accounts.account_numbers_of(conn, [s.member_id for s in fresh])
    members = accounts.get_members(conn, list(nos.values()))
    letters = [
        contact_letter(members[nos[s.member_id]], s.request, letter_no, today)
        for s, letter_no in zip(fresh, numbers, strict=True)
    ]
    message_ids: list[str] = [""] * len(fresh)
    by_peer: dict[str, list[int]] = {}
    for n, s in enumerate(fresh):
        by_peer.setdefault(s.request.out_center, []).append(n)
    for peer, indexes in by_peer.items():
        sent = send_many(conn, ctx, peer, [("BDC901", letters[n], None) for n in indexes])
        for n, message_id in zip(indexes, sent, strict=True):
            message_ids[n] = str(message_id)
    due = rules.due_on(today, (policy or transfer_policy_at(conn, today)).total_working_days)
    now = ctx.clock.now()
    rows = [
        {
            "letter_no": letter_no, "side": Side.IN.value, "peer": s.request.out_center,
            "state": State.LETTER_SENT.value, "member_id": s.member_id, "application_id": s.application_id,
            "letter_message_id": message_id, "started_on": today, "due_on": due, "updated_at": now,
        }
        for s, letter_no, message_id in zip(fresh, numbers, message_ids, strict=True)
    ]  # fmt: skip
    ids = insert_with_ids(conn, transfer, rows)
    events.record_many(
        conn,
        ctx,
        [
            ("transfer.letter_sent", "transfer", transfer_id,
             {"letter_no": letter_no, "to": s.request.out_center, "application_id": s.application_id})
            for s, letter_no, transfer_id in zip(fresh, numbers, ids, strict=True)
        ],
    )  # fmt: skip
    for s, letter_no, transfer_id in zip(fresh, numbers, ids, strict=True):
        known[s.application_id] = Started(int(transfer_id), letter_no)


def letters_left(conn: Connection, center_code: str, day: date) -> int:
    """How many more letters ``center_code`` may number on ``day`` (9,999 a day)."""
    prefix = f"{center_code}{day:%y%m%d}"
    last = conn.scalar(
        select(func.max(transfer.c.letter_no)).where(
            transfer.c.letter_no.between(f"{prefix}0000", f"{prefix}9999")
        )
    )
    return 9999 - (int(last[-4:]) if last else 0)
