"""Reporting a month to the hub (监管报送, decision 0039).

:func:`report_month`, in one write transaction: every member account opened since the last
report gets its **reporting pseudonym** (the resident ID revealed once and HMAC-SM3'd under the
national reporting key, :func:`pseudonym`); the month's indicators are computed
(:mod:`hpf.supervision.indicators`) and the member-level data set read, each set-based; the
version is the next of the month (1, or a restatement 更正报送: 2, 3 …, with its reason); the
report is sent through the outbox (``hpf.transfers.service.send``: signed, sealed to the hub,
delivered by the worker with retries) as SUP101 messages of at most
``hpf.messages.bodies.MEMBER_CHUNK`` member rows, the indicators in the first; and the
report's row records what was sent. Everything commits together or not at all.

**The pseudonym's key.** A person must be the same pseudonym in every center (so that the hub
counts a person with accounts in two centers once) and the hub must not be able to compute it
(a resident ID has few enough values to try them all: a key the hub holds — its own, or one
derived from anything it has — would let it recover every number). So the key is the
**national reporting key** that the centers hold and the hub never does: ``HPF_REPORT_PSEUDONYM_KEY``
(64 hex digits, issued to the centers by the ministry out of band; a development process without
it uses a fixed development key, a production one refuses to report). It is not the hub's
pseudonym of decision 0031 (computed at the hub, under the hub's key, for the loan registry):
the warehouse's persons cannot be joined to the registry's.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import Connection, func, insert, select

from hpf.accounts import queries as accounts
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.messages.bodies import MEMBER_CHUNK, IndicatorValue, SupervisionReport
from hpf.protection.protect import reveal
from hpf.settings import Settings
from hpf.supervision import indicators
from hpf.supervision.tables import supervision_person, supervision_report
from hpf.transfers import service as transfers
from hpf.transfers.link import current_link

MESSAGE_TYPE = "SUP101"
DEVELOPMENT_KEY = hashlib.sha256(b"hpf development reporting pseudonym key").digest()
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
REVEAL_CHUNK = 5000


def pseudonym_key(settings: Settings) -> bytes:
    """The national reporting key from ``HPF_REPORT_PSEUDONYM_KEY`` (see the module docstring)."""
    raw = settings.report_pseudonym_key
    if raw:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", raw):
            raise HpfError(
                "supervision.key_invalid",
                "监管报送假名密钥格式不正确",
                "HPF_REPORT_PSEUDONYM_KEY: 64 hex digits",
                status=500,
            )
        return bytes.fromhex(raw)
    if settings.env == "development":
        return DEVELOPMENT_KEY
    raise HpfError(
        "supervision.key_missing",
        "未配置监管报送假名密钥，不能报送",
        "set HPF_REPORT_PSEUDONYM_KEY (the national reporting key, 64 hex digits)",
        status=500,
    )


def pseudonym(key: bytes, resident_id: str) -> str:
    """A person's national reporting pseudonym: HMAC-SM3 of the resident ID (upper case), hex."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(resident_id.strip().upper().encode("ascii"))
    return mac.finalize().hex()


def month_of(value: str) -> str:
    if not _MONTH.match(value):
        raise HpfError(
            "supervision.month_invalid", "月份格式应为 YYYY-MM", f"not a month: {value!r}", status=422
        )
    return value


def assign_pseudonyms(conn: Connection, key: bytes) -> int:
    """Give every member account without one its pseudonym; how many were added."""
    m = accounts.member_records_subquery("m")
    added = 0
    after = 0
    while True:
        rows = conn.execute(
            select(m.c.id, m.c.resident_id_enc)
            .where(m.c.id > after, m.c.id.not_in(select(supervision_person.c.member_id)))
            .order_by(m.c.id)
            .limit(REVEAL_CHUNK)
        ).all()
        if not rows:
            return added
        values = [
            {
                "member_id": int(r.id),
                "person": pseudonym(key, reveal("member", "resident_id", r.resident_id_enc) or ""),
            }
            for r in rows
        ]
        conn.execute(insert(supervision_person), values)
        added += len(values)
        after = int(rows[-1].id)


@dataclass(frozen=True)
class SentReport:
    report_id: UUID
    month: str
    version: int
    chunks: int
    indicators: int
    members: int
    message_ids: list[str]


def report_month(
    conn: Connection, ctx: Context, month: str, *, key: bytes, reason: str | None = None
) -> SentReport:
    """Compute and send ``month`` (see the module docstring); a month reported before is restated."""
    month = month_of(month)
    link = current_link()
    start, end = indicators.month_bounds(month)
    if end >= ctx.clock.today():
        raise HpfError(
            "supervision.month_open", "该月份尚未结束，不能报送", f"{month} ends {end}, today is {ctx.clock.today()}",
            status=409,
        )  # fmt: skip
    version = (
        int(
            conn.scalar(
                select(func.max(supervision_report.c.version)).where(supervision_report.c.month == month)
            )
            or 0
        )
        + 1
    )
    if version > 1 and not (reason or "").strip():
        raise HpfError(
            "supervision.reason_required", "更正报送须说明原因", f"{month} was reported: a restatement needs a reason",
            status=422,
        )  # fmt: skip
    assign_pseudonyms(conn, key)
    figures = indicators.compute(conn, month)
    values = [
        IndicatorValue(code=code, dim=dim, value=Decimal(v)) for (code, dim), v in sorted(figures.items())
    ]
    source = indicators.member_rows_query(start, end).subquery("rows")
    rows = conn.execute(
        select(supervision_person.c.person, *[c for c in source.c if c.name != "member_id"])
        .join(supervision_person, supervision_person.c.member_id == source.c.member_id)
        .order_by(source.c.member_id)
    ).all()
    members = [(r[0], str(r[1]), bool(r[2]), *(int(v) for v in r[3:])) for r in rows]
    chunks = max(1, -(-len(members) // MEMBER_CHUNK))
    report_id = uuid4()
    message_ids = []
    for chunk in range(chunks):
        body = SupervisionReport(
            report_id=report_id, month=month, version=version, chunk=chunk, chunks=chunks,
            members_total=len(members), indicators=values if chunk == 0 else [],
            members=members[chunk * MEMBER_CHUNK : (chunk + 1) * MEMBER_CHUNK],
        )  # fmt: skip
        message_ids.append(str(transfers.send(conn, ctx, link.hub_code, MESSAGE_TYPE, body)))
    conn.execute(
        insert(supervision_report).values(
            report_id=str(report_id), month=month, version=version, chunks=chunks, indicators=len(values),
            members=len(members), message_ids=message_ids, reason=(reason or "").strip() or None,
            figures=[[v.code, v.dim, str(v.value)] for v in values],
            actor=ctx.actor, sent_at=ctx.clock.now(),
        )
    )  # fmt: skip
    return SentReport(report_id, month, version, chunks, len(values), len(members), message_ids)


@dataclass(frozen=True)
class ReportRow:
    report_id: str
    month: str
    version: int
    chunks: int
    indicators: int
    members: int
    reason: str | None
    actor: str
    sent_at: datetime
    delivered: int  # chunks the hub accepted
    refused: int


def reports(conn: Connection, *, limit: int = 120) -> list[ReportRow]:
    """What this center sent, newest first, with how many chunks the hub has accepted."""
    s = supervision_report.c
    out = []
    for r in conn.execute(
        select(s.report_id, s.month, s.version, s.chunks, s.indicators, s.members, s.reason, s.actor, s.sent_at, s.message_ids)
        .order_by(s.month.desc(), s.version.desc())
        .limit(limit)
    ):  # fmt: skip
        states = [m.state if (m := transfers.message_of(conn, i)) is not None else "" for i in r.message_ids]
        out.append(
            ReportRow(
                r.report_id, r.month, r.version, r.chunks, r.indicators, r.members, r.reason, r.actor, r.sent_at,
                states.count("delivered"), states.count("refused"),
            )
        )  # fmt: skip
    return out


def reported_months(conn: Connection) -> set[str]:
    return {str(m) for m in conn.scalars(select(supervision_report.c.month).distinct())}


def sent_figures(conn: Connection, month: str) -> indicators.Figures:
    """The figures of the month's latest version as this center sent them (the hub holds the
    same); empty if the month was not reported."""
    s = supervision_report.c
    figures = conn.scalar(
        select(s.figures).where(s.month == month_of(month)).order_by(s.version.desc()).limit(1)
    )
    return {(str(code), str(dim)): Decimal(value) for code, dim, value in (figures or [])}
