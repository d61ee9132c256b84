"""The center's feed of the national loan registry and account index at the hub (decision 0031).

The consumer ``hub.registry`` (``hpf.events.consume_batch``) reads the center's loan and account
events once each, in order, and turns each round's into at most two messages to the hub, queued
through the outbox (``hpf.transfers.service.send``, in the consumer's transaction with its
cursor): ``XC01`` with every loan the round's events touched (signed, disbursed, settled or paid
off, written off, void after a failed disbursement) as it stands now, and ``XC02`` with every
member account they touched (opened, sealed, unsealed, frozen, closed, changed …, or on a list
posted: ``remittance.allocated``) with its 缴至年月 (the last month posted); at most 500 loans or
accounts a message. The loans' and accounts' persons are named by resident ID number, sealed
to the hub: the hub keeps a pseudonym of it (``hpf.hub.loan_registry``). Each notice carries its
latest event id (``seq``), so that the hub never lets an older notice replace a newer one.

The delivery worker's round (``hpf.transfers.service.deliver_due``) runs :func:`feed` first, so
the messages it queues go out in the same round. An idle round reads the cursor and one indexed
row: no lock on the event stream. The first round after a center is linked sends the loans and
accounts of its whole history, 500 events a message.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, Engine

from hpf import events
from hpf.accounts import queries as accounts_queries
from hpf.contributions.queries import posted_months, remittance_members
from hpf.db.engine import read_transaction
from hpf.events import Event
from hpf.events.service import events_since
from hpf.kernel.context import Context
from hpf.loans import queries as loans_queries
from hpf.messages.bodies import (
    AccountNotice,
    AccountRegistration,
    LoanNotice,
    LoanPerson,
    LoanRegistration,
)
from hpf.transfers import service
from hpf.transfers.link import current_link

CONSUMER = "hub.registry"
LOAN_EVENTS = (
    "loan.created",
    "loan.activated",
    "loan.settled",
    "loan.paid_off",
    "loan.written_off",
    "loan.disbursement_failed",
)
ACCOUNT_EVENTS = (
    "member.opened",
    "member.reopened",
    "member.sealed",
    "member.unsealed",
    "member.frozen",
    "member.unfrozen",
    "member.transferred",
    "member.changed",
    "member.closed",
)
# a list posted: its members' 缴至年月 moved
REMITTANCE_EVENTS = ("remittance.allocated",)
EVENT_TYPES = LOAN_EVENTS + ACCOUNT_EVENTS + REMITTANCE_EVENTS
BATCH = 500  # events a round
PER_MESSAGE = 500  # loans or accounts a message (the bodies' limit)


def _latest(batch: list[Event], kind: str) -> dict[int, int]:
    """The objects of ``kind`` the events touched, each with its latest event id."""
    latest: dict[int, int] = {}
    for event in batch:
        if event.object_kind == kind:
            latest[int(event.object_id)] = max(latest.get(int(event.object_id), 0), event.id)
    return latest


# A resident ID number as the bodies take it; an account opened on another document (none today:
# every account is opened on a resident ID) is left out rather than stopping the feed.
RESIDENT_ID = re.compile(r"\d{17}[\dX]")


def loan_notices(conn: Connection, latest: dict[int, int]) -> list[LoanNotice]:
    loans = loans_queries.registry_loans(conn, list(latest))
    people = {i for x in loans for i in (x.borrower_id, *x.co_borrower_ids)}
    ids = {
        i: n for i, n in accounts_queries.resident_ids(conn, list(people)).items() if RESIDENT_ID.fullmatch(n)
    }
    notices = []
    for x in loans:
        if x.borrower_id not in ids:
            continue
        persons = [LoanPerson(resident_id=ids[x.borrower_id], role="borrower")]
        persons += [LoanPerson(resident_id=ids[i], role="co_borrower") for i in x.co_borrower_ids if i in ids]
        notices.append(
            LoanNotice(
                loan_ref=str(x.id),
                seq=latest[x.id],
                state=x.state,  # type: ignore[arg-type]
                principal_fen=x.principal_fen,
                contract_date=x.contract_date,
                disbursed_on=x.disbursed_on,
                settled_on=x.settled_on,
                persons=persons,
            )
        )
    return notices


def account_notices(conn: Connection, latest: dict[int, int]) -> list[AccountNotice]:
    accounts = accounts_queries.network_accounts(conn, list(latest))
    months = posted_months(conn, list(accounts))
    return [
        AccountNotice(
            account_ref=str(a.id),
            seq=latest[a.id],
            resident_id=a.resident_id,
            state=a.state,
            opened_on=a.opened_on,
            closed_on=a.closed_on,
            paid_through=max(months[a.id], default=None),
        )
        for a in accounts.values()
        if RESIDENT_ID.fullmatch(a.resident_id)
    ]


def _accounts_touched(conn: Connection, batch: list[Event]) -> dict[int, int]:
    """The member accounts the round's events touched: by an account event, or on a list posted."""
    latest = _latest(batch, "member")
    posted = _latest(batch, "remittance")
    for remittance_id, members in remittance_members(conn, list(posted)).items():
        for member_id in members:
            latest[member_id] = max(latest.get(member_id, 0), posted[remittance_id])
    return latest


def _send_round(conn: Connection, ctx: Context, batch: list[Event]) -> None:
    hub = current_link().hub_code
    loans = loan_notices(conn, _latest(batch, "loan"))
    for start in range(0, len(loans), PER_MESSAGE):
        service.send(conn, ctx, hub, "XC01", LoanRegistration(loans=loans[start : start + PER_MESSAGE]))
    accounts = sorted(account_notices(conn, _accounts_touched(conn, batch)), key=lambda a: int(a.account_ref))
    for start in range(0, len(accounts), PER_MESSAGE):
        service.send(
            conn, ctx, hub, "XC02", AccountRegistration(accounts=accounts[start : start + PER_MESSAGE])
        )


def _waiting(engine: Engine) -> bool:
    """Whether an event of the feed's types is after its cursor (an indexed read, no lock)."""
    with read_transaction(engine) as conn:
        cursor = events.cursor_of(conn, CONSUMER)
        return bool(events_since(conn, cursor, EVENT_TYPES, limit=1))


def feed(engine: Engine, ctx: Context) -> int:
    """Queue the registry messages of every loan and account event not fed yet; how many events."""
    current_link()  # a center without a hub link feeds nothing (refused: transfers.hub_unconfigured)
    if not _waiting(engine):
        return 0
    fed = 0
    while n := events.consume_batch(engine, ctx, CONSUMER, EVENT_TYPES, _send_round, limit=BATCH):
        fed += n
    return fed


def fed_through(conn: Connection) -> int:
    """The last event the feed has taken (0: none yet)."""
    return events.cursor_of(conn, CONSUMER)
