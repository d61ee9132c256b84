"""The bulk-reading alert counts reads, not rows: a masked list of search results is one read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select

from hpf.audit.trail import append_many, audit_log
from hpf.db.engine import read_transaction, write_transaction
from hpf.disclosure import alerts


def _read(
    engine: Engine, ctx, clock, at: datetime, member_ids: list[int], action: str = "member.read"
) -> None:
    clock._wall = at
    with write_transaction(engine) as conn:
        append_many(
            conn, ctx, role="teller", source_ip="10.0.0.8", action=action, object_type="member",
            object_ids=member_ids, purpose="业务办理", detail={"path": "/members/search"},
        )  # fmt: skip
        alerts.after_reads(conn, ctx, actor=ctx.actor, source_ip="10.0.0.8")


def _alerts(engine: Engine) -> list[alerts.Alert]:
    with read_transaction(engine) as conn:
        return alerts.list_alerts(conn)


def test_three_searches_of_fifty_results_do_not_alert_but_sixty_members_one_by_one_do(engine, ctx, clock):
    start = datetime(2025, 3, 17, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in China
    for n in range(3):  # three ordinary name searches, 50 masked rows each
        _read(engine, ctx, clock, start + timedelta(minutes=n), list(range(1 + 50 * n, 51 + 50 * n)))
    with read_transaction(engine) as conn:
        rows = conn.scalar(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "member.read")
        )
        assert rows == 150  # the audit log still says which members were shown
        assert alerts.read_count(conn, ctx, actor=ctx.actor, since=start) == 3
    assert _alerts(engine) == []

    later = start + timedelta(hours=1)  # outside the window of the searches
    for n in range(60):  # one member after another, every 10 s: 60 reads in 10 minutes
        _read(engine, ctx, clock, later + timedelta(seconds=10 * n), [1000 + n])
    (alert,) = _alerts(engine)
    assert (alert.kind, alert.subject) == ("bulk_reads", ctx.actor)
    assert alert.detail["reads"] == 50  # the default threshold (alert_member_reads)


def test_members_shown_in_full_count_one_each(engine, ctx, clock):
    start = datetime(2025, 3, 17, 2, 0, tzinfo=UTC)
    _read(engine, ctx, clock, start, list(range(1, 61)), action="member.unmask")  # a list unmasked
    (alert,) = _alerts(engine)
    assert alert.kind == "bulk_reads" and alert.detail["reads"] == 60
