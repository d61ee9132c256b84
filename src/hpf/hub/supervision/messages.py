"""The supervision messages the hub takes from a center (decision 0040): SUP202 (a problem's
rectification steps) and SUP211 (the center's credit list). Kept, not answered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from hpf.hub import service
from hpf.hub.supervision import credit, problems
from hpf.messages.bodies import Body
from hpf.messages.envelope import Envelope

TAKEN = frozenset({problems.REPORT, credit.LISTING})


def take(conn: Connection, hub: service.Hub, envelope: Envelope, body: Body, now: datetime) -> None:
    if envelope.type == problems.REPORT:
        problems.take_report(conn, envelope, body, now)
    else:
        credit.take_listing(conn, hub, envelope, body, now)
