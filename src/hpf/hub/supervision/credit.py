"""The national credit list at the hub (decision 0040, issue 15 item 5).

A center publishes its dishonest entries as ``SUP211`` (:func:`take_listing`): an employer by
its unified social credit code and name, a person by resident ID sealed to the hub, kept only
as the hub's pseudonym (``loan_registry.pseudonym``, decision 0031) — no hub table holds the
number. An entry is replaced only by a later ``seq`` of the same center and entry (a late
retry never goes back in time); a center speaks only of its own entries (the verified sender).
Each listing taken is followed by the whole national list in force sent to every active center
(``SUP212``: persons without any identifier). A center matches its own applicants through the
co-investigation (``XC03``): :func:`hits` gives the listings in force of the asked persons —
``listed`` or ``appealed`` (an appeal does not lift the restriction until the listing center
removes the entry), ``listed_on`` ≤ the day ≤ ``until`` (after the period the entry no longer
restricts, and leaves the distributed list).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, insert, or_, select, update

from hpf.hub import loan_registry, registry, service
from hpf.hub.supervision.problems import send_to_center
from hpf.hub.supervision.tables import hub_credit_entry
from hpf.messages.bodies import Body, CreditListing, NationalCreditList, NationalEntry
from hpf.messages.envelope import Envelope

LISTING = "SUP211"
NATIONAL = "SUP212"
IN_FORCE = ("listed", "appealed")
STATE_ZH = {"listed": "已列入", "appealed": "申诉中", "removed": "已移出"}


def take_listing(conn: Connection, hub: service.Hub, envelope: Envelope, body: Body, now: datetime) -> None:
    assert isinstance(body, CreditListing)
    key = loan_registry.pseudonym_key(hub.keys)
    c = hub_credit_entry.c
    center, message_id = envelope.sender, str(envelope.message_id)
    for entry in body.entries:
        values = {
            "kind": entry.kind,
            "person": loan_registry.pseudonym(key, entry.resident_id) if entry.resident_id else None,
            "uscc": entry.uscc, "employer_name": entry.employer_name, "grounds": entry.grounds,
            "grounds_zh": entry.grounds_zh, "listed_on": entry.listed_on, "until": entry.until,
            "state": entry.state, "seq": entry.seq, "message_id": message_id, "updated_at": now,
        }  # fmt: skip
        held = conn.scalar(select(c.seq).where(c.center == center, c.entry_ref == entry.entry_ref))
        if held is None:
            conn.execute(insert(hub_credit_entry).values(center=center, entry_ref=entry.entry_ref, **values))
        elif held < entry.seq:
            conn.execute(
                update(hub_credit_entry)
                .where(c.center == center, c.entry_ref == entry.entry_ref)
                .values(**values)
            )
    distribute(conn, hub, now.date(), now)


def _in_force(today: date):  # type: ignore[no-untyped-def]
    c = hub_credit_entry.c
    return (c.state.in_(IN_FORCE), c.listed_on <= today, c.until >= today)


def national_list(conn: Connection, today: date) -> NationalCreditList:
    c = hub_credit_entry.c
    names = {x.code: x.name for x in registry.centers(conn)}
    rows = conn.execute(
        select(hub_credit_entry).where(*_in_force(today)).order_by(c.listed_on, c.center, c.entry_ref)
    ).all()
    return NationalCreditList(
        as_of=today,
        entries=[
            NationalEntry(
                center=r.center,
                center_name=names.get(r.center, r.center),
                entry_ref=r.entry_ref,
                kind=r.kind,
                uscc=r.uscc,
                employer_name=r.employer_name,
                grounds=r.grounds,
                grounds_zh=r.grounds_zh,
                listed_on=r.listed_on,
                until=r.until,
                state=r.state,
            )
            for r in rows
        ],
    )


def distribute(conn: Connection, hub: service.Hub, today: date, now: datetime) -> int:
    """The national list in force, to every active center (SUP212); how many were sent."""
    listing = national_list(conn, today)
    sent = 0
    for center in registry.centers(conn):
        if center.active:
            send_to_center(conn, hub, center.code, NATIONAL, listing, now)
            sent += 1
    return sent


@dataclass(frozen=True)
class Hit:
    center: str
    grounds: str
    grounds_zh: str
    listed_on: date
    until: date
    state: str


def hits(conn: Connection, people: list[str], today: date) -> dict[str, list[Hit]]:
    """The listings in force of each pseudonym (an empty list for one not listed)."""
    c = hub_credit_entry.c
    found: dict[str, list[Hit]] = defaultdict(list)
    if people:
        rows = conn.execute(
            select(c.person, c.center, c.grounds, c.grounds_zh, c.listed_on, c.until, c.state)
            .where(c.kind == "person", c.person.in_(people), *_in_force(today))
            .order_by(c.listed_on, c.center)
        ).all()
        for r in rows:
            found[r.person].append(Hit(r.center, r.grounds, r.grounds_zh, r.listed_on, r.until, r.state))
    return found


@dataclass(frozen=True)
class EntryRow:
    center: str
    entry_ref: str
    kind: str
    uscc: str | None
    employer_name: str | None
    grounds_zh: str
    listed_on: date
    until: date
    state: str


def entries(
    conn: Connection, *, centers: set[str] | None = None, today: date | None = None
) -> list[EntryRow]:
    """The entries the hub holds (persons without identifier), of ``centers`` if given."""
    c = hub_credit_entry.c
    query = select(c.center, c.entry_ref, c.kind, c.uscc, c.employer_name, c.grounds_zh, c.listed_on, c.until,
                   c.state).order_by(c.listed_on.desc(), c.center)  # fmt: skip
    if today is not None:
        query = query.where(or_(c.state == "removed", c.until >= today))
    return [EntryRow(**r._mapping) for r in conn.execute(query) if centers is None or r.center in centers]
