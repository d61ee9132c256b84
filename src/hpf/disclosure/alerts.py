"""Security alerts (G4): raised from the audit trail, listed on the admin page, closed with a note.

Five kinds, each with its threshold as policy (``hpf.policy`` keys ``alert_*``, scheduled like
any parameter):

=================  ==========================================================================
``sign_in_failures``  one login failed ``alert_failed_sign_ins`` times within the window
``bulk_reads``        one staff member made ``alert_member_reads`` reads of members within the window
                      (a read: one answer showing members masked — a page, a record, a list of
                      search results, however many rows it holds — or each member shown in full)
``bulk_export``       one export held ``alert_export_rows`` or more personal records
``off_hours``         a privileged role signed in outside working hours (China time, official
                      working days from ``hpf.kernel.workdays``)
``new_address``       a privileged role signed in from an address it never signed in from before
=================  ==========================================================================

The counts are read from ``audit_log`` (indexed by actor and time, and by object), so an alert
is only as good as the audit trail — which is the point: both are written in the same
transaction. One alert per kind and subject stays open at a time within a window: a burst
raises one alert, not hundreds. Every alert is also emitted as a WARNING on the
``hpf.disclosure.alerts`` logger, the event stream a SIEM would collect.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Connection,
    Date,
    Index,
    String,
    Table,
    func,
    insert,
    select,
    update,
)

from hpf.access.permissions import Role
from hpf.audit.trail import audit_log
from hpf.db.metadata import Id, UtcDateTime, metadata
from hpf.kernel.clock import CHINA_TZ
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput, NotFound
from hpf.kernel.workdays import is_working_day
from hpf.policy.rules import AlertPolicy
from hpf.policy.service import alert_policy_at

log = logging.getLogger("hpf.disclosure.alerts")

KINDS_ZH = {
    "sign_in_failures": "登录失败次数过多",
    "bulk_reads": "短时间内大量查阅职工信息",
    "bulk_export": "批量导出个人信息",
    "off_hours": "非工作时间登录",
    "new_address": "特权账号从新地址登录",
}
# Roles whose sign-ins are watched for time and place: they can change money, keys or policy,
# or see everything.
PRIVILEGED = frozenset({Role.ADMIN, Role.FINANCE, Role.AUDITOR, Role.RISK, Role.SUPERVISOR})
READ_ACTIONS = ("member.read", "member.unmask")
MASKED_READ, FULL_READ = READ_ACTIONS

security_alert = Table(
    "security_alert",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(20), nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("center_code", String(12), nullable=False),
    Column("subject", String(64), nullable=False),  # the login the alert is about
    Column("source_ip", String(45)),
    Column("summary", String(200), nullable=False),
    Column("detail", JSON(none_as_null=True)),
    Column("state", String(8), nullable=False),
    Column("closed_by", String(64)),
    Column("closed_at", UtcDateTime()),
    Column("note", String(200)),
    CheckConstraint("state IN ('open', 'closed')", name="state"),
    Index(None, "state", "id"),
    Index(None, "kind", "subject", "raised_at"),
)


def _now(ctx: Context) -> datetime:
    now = ctx.clock.now()
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def thresholds(conn: Connection, ctx: Context) -> AlertPolicy:
    return alert_policy_at(conn, ctx.clock.today())


def raise_alert(
    conn: Connection,
    ctx: Context,
    kind: str,
    subject: str,
    summary: str,
    *,
    window: timedelta,
    source_ip: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int | None:
    """Record an alert unless one of this kind about ``subject`` is open and was raised within
    ``window``; its id, or None when it was folded into the open one."""
    now = _now(ctx)
    recent = conn.scalar(
        select(security_alert.c.id).where(
            security_alert.c.kind == kind,
            security_alert.c.subject == subject,
            security_alert.c.state == "open",
            security_alert.c.raised_at >= now - window,
        )
    )
    if recent is not None:
        return None
    alert_id = conn.execute(
        insert(security_alert)
        .values(
            kind=kind,
            raised_at=now,
            business_date=ctx.clock.today(),
            center_code=ctx.center_code,
            subject=subject[:64],
            source_ip=source_ip,
            summary=summary[:200],
            detail=dict(detail) if detail else None,
            state="open",
        )
        .returning(security_alert.c.id)
    ).scalar_one()
    log.warning("security alert %s kind=%s subject=%s ip=%s: %s", alert_id, kind, subject, source_ip, summary)
    return int(alert_id)


def _window(policy: AlertPolicy) -> timedelta:
    return timedelta(minutes=policy.window_minutes)


def after_sign_in(
    conn: Connection,
    ctx: Context,
    *,
    login: str,
    ok: bool,
    roles: Iterable[Role],
    source_ip: str | None,
) -> list[int]:
    """Alerts a sign-in outcome raises (call after its audit row is written)."""
    policy = thresholds(conn, ctx)
    window = _window(policy)
    since = _now(ctx) - window
    raised: list[int | None] = []
    if not ok:
        failures = conn.scalar(
            select(func.count())
            .select_from(audit_log)
            .where(
                audit_log.c.object_type == "login",
                audit_log.c.object_id == login,
                audit_log.c.action == "sign_in",
                audit_log.c.outcome == "denied",
                audit_log.c.recorded_at >= since,
            )
        )
        if (failures or 0) >= policy.failed_sign_ins:
            raised.append(
                raise_alert(
                    conn,
                    ctx,
                    "sign_in_failures",
                    login,
                    f"{login} 在{policy.window_minutes}分钟内登录失败{failures}次",
                    window=window,
                    source_ip=source_ip,
                    detail={"failures": failures, "window_minutes": policy.window_minutes},
                )
            )
        return [i for i in raised if i is not None]
    if not PRIVILEGED & set(roles):
        return []
    local = _now(ctx).astimezone(CHINA_TZ)
    minute = local.hour * 60 + local.minute
    start, end = policy.working_hours
    if not (is_working_day(local.date()) and start <= minute < end):
        raised.append(
            raise_alert(
                conn,
                ctx,
                "off_hours",
                login,
                f"{login} 于非工作时间登录（{local:%Y-%m-%d %H:%M}）",
                window=window,
                source_ip=source_ip,
                detail={"local_time": local.isoformat(timespec="minutes")},
            )
        )
    if source_ip:
        earlier = select(audit_log.c.source_ip).where(
            audit_log.c.object_type == "login",
            audit_log.c.object_id == login,
            audit_log.c.action == "sign_in",
            audit_log.c.outcome == "ok",
        )
        # The row just written is one of these: a known address shows up at least twice.
        seen_here = conn.scalar(
            select(func.count()).select_from(earlier.where(audit_log.c.source_ip == source_ip).subquery())
        )
        seen_any = conn.scalar(select(func.count()).select_from(earlier.subquery()))
        if (seen_here or 0) <= 1 and (seen_any or 0) > 1:
            raised.append(
                raise_alert(
                    conn,
                    ctx,
                    "new_address",
                    login,
                    f"{login} 从新地址 {source_ip} 登录",
                    window=window,
                    source_ip=source_ip,
                )
            )
    return [i for i in raised if i is not None]


def read_count(conn: Connection, ctx: Context, *, actor: str, since: datetime) -> int:
    """The reads of members ``actor`` made since ``since``, as the ``bulk_reads`` alert counts them.

    The audit log keeps one row per member shown; the alert counts what the person did. One
    answer that showed members masked (a member's page, a list of 50 search results) is one
    read: its rows were written together and share their ``recorded_at``, so masked reads
    count as the distinct times they were recorded. Members shown in full (``member.unmask``)
    count one each: unmasking a list is reading every person on it.
    """
    mine = (audit_log.c.actor == actor, audit_log.c.recorded_at >= since)
    masked = conn.scalar(
        select(func.count(func.distinct(audit_log.c.recorded_at))).where(
            *mine, audit_log.c.action == MASKED_READ
        )
    )
    full = conn.scalar(
        select(func.count()).select_from(audit_log).where(*mine, audit_log.c.action == FULL_READ)
    )
    return int(masked or 0) + int(full or 0)


def after_reads(conn: Connection, ctx: Context, *, actor: str, source_ip: str | None) -> int | None:
    """A ``bulk_reads`` alert when ``actor`` made ``alert_member_reads`` reads of members within
    the window (counted by :func:`read_count`: a masked list is one read)."""
    policy = thresholds(conn, ctx)
    window = _window(policy)
    reads = read_count(conn, ctx, actor=actor, since=_now(ctx) - window)
    if reads < policy.member_reads:
        return None
    return raise_alert(
        conn,
        ctx,
        "bulk_reads",
        actor,
        f"{actor} 在{policy.window_minutes}分钟内查阅职工信息{reads}次",
        window=window,
        source_ip=source_ip,
        detail={"reads": reads, "window_minutes": policy.window_minutes},
    )


def after_export(
    conn: Connection, ctx: Context, *, actor: str, rows: int, what: str, source_ip: str | None
) -> int | None:
    """A ``bulk_export`` alert when one export holds too many personal records."""
    policy = thresholds(conn, ctx)
    if rows < policy.export_rows:
        return None
    return raise_alert(
        conn,
        ctx,
        "bulk_export",
        actor,
        f"{actor} 导出{what}{rows}条",
        window=_window(policy),
        source_ip=source_ip,
        detail={"rows": rows, "what": what},
    )


@dataclass(frozen=True, slots=True)
class Alert:
    """A security alert, with its kind in Chinese."""

    id: int
    kind: str
    raised_at: datetime
    business_date: date
    center_code: str
    subject: str  # the login the alert is about
    source_ip: str | None
    summary: str
    detail: Mapping[str, Any] | None  # the figures that raised it (reads, rows, window …)
    state: str  # open | closed
    closed_by: str | None
    closed_at: datetime | None
    note: str | None
    kind_zh: str


def _alert_of(row: Mapping[Any, Any], **changed: Any) -> Alert:
    values = {**row, **changed}
    return Alert(
        id=values["id"], kind=values["kind"], raised_at=values["raised_at"],
        business_date=values["business_date"], center_code=values["center_code"], subject=values["subject"],
        source_ip=values["source_ip"], summary=values["summary"], detail=values["detail"],
        state=values["state"], closed_by=values["closed_by"], closed_at=values["closed_at"],
        note=values["note"], kind_zh=KINDS_ZH.get(values["kind"], values["kind"]),
    )  # fmt: skip


def list_alerts(conn: Connection, *, state: str | None = "open", limit: int = 200) -> list[Alert]:
    query = select(security_alert).order_by(security_alert.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(security_alert.c.state == state)
    return [_alert_of(row) for row in conn.execute(query).mappings()]


def close_alert(conn: Connection, ctx: Context, alert_id: int, note: str) -> Alert:
    """Close an open alert with what was found (the note is required)."""
    text = " ".join((note or "").split())
    if not text:
        raise InvalidInput("alert.note_required", "请填写处理说明", "a note on what was found is required")
    row = conn.execute(select(security_alert).where(security_alert.c.id == alert_id)).mappings().first()
    if row is None:
        raise NotFound("alert.not_found", "告警不存在", f"no alert {alert_id}")
    done = conn.execute(
        update(security_alert)
        .where(security_alert.c.id == alert_id, security_alert.c.state == "open")
        .values(state="closed", closed_by=ctx.actor, closed_at=_now(ctx), note=text[:200])
    )
    if done.rowcount != 1:
        raise Conflict("alert.closed", "告警已处理", f"alert {alert_id} is already closed")
    return _alert_of(row, state="closed", closed_by=ctx.actor, note=text[:200])
