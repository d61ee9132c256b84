"""The supervision messages the hub takes from a center (decision 0040): SUP202 (a problem's
rectification steps), SUP211 (the center's credit list) and SUP213 (the center's events for the
monitoring: transfers past their deadline, e-audit cases confirmed). Kept, not answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from hpf.hub import service
from hpf.hub.supervision import credit, problems, run
from hpf.messages.bodies import Body, SupervisionEvents
from hpf.messages.envelope import Envelope

EVENTS = "SUP213"
TAKEN = frozenset({problems.REPORT, credit.LISTING, EVENTS})


def take(conn: Connection, hub: service.Hub, envelope: Envelope, body: Body, now: datetime) -> None:
    if envelope.type == problems.REPORT:
        problems.take_report(conn, envelope, body, now)
    elif envelope.type == EVENTS:
        assert isinstance(body, SupervisionEvents)
        for event in body.events:  # the sender is the verified center: it speaks of itself only
            run.record_event(conn, center=envelope.sender, month=body.month, kind=event.kind, ref=event.ref,
                             detail_zh=event.detail_zh, now=now)  # fmt: skip
    else:
        credit.take_listing(conn, hub, envelope, body, now)
