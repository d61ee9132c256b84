"""masks that do not combine (data migration)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06

Stored masks are re-masked with the masks of decision 0017, so that an upgraded database no
longer holds masks that the birth date stored in clear completes:

- ``account_history`` snapshots: a member's ID number ``110101********1234`` becomes
  ``1****************4``, the birth date keeps its year (``1990-**-**``), phones, the employer's
  contact phone and bank account are masked again with their minimum hidden digits;
- ``application.payload`` of applications not yet sealed in an archive: family ID numbers, the
  payee's and the debit card (a sealed archive is checked against its application row, so both
  keep what they were sealed with; decision 0017 says so);
- ``security_alert`` subject, summary and detail: a mistyped ID number used as a login.

``audit_log`` is hash-chained and append-only: its rows keep their masks (decision 0017).

The rules are copied here, frozen, rather than imported: a later change of
``hpf.protection.masking`` must not change what this migration did. Masking a mask again gives
the same or a stricter mask (``*`` counts as a character), so the migration is idempotent.
Downgrade changes nothing: what a mask hides cannot be restored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_BATCH = 1000
_OLD_ID_MASK = re.compile(r"(?<![0-9A-Za-z*])[0-9]{6}\*{8}[0-9]{3}[0-9X](?![0-9A-Za-z*])")


def _partial(value: str, head: int, tail: int, min_hidden: int) -> str:
    positions = [i for i, ch in enumerate(value) if ch.isalnum() or ch == "*"]
    n = len(positions)
    if n - head - tail < max(min_hidden, n // 3):
        head, tail = 0, min(tail, n // 4)
    keep = set(positions[:head]) | set(positions[n - tail :] if tail else ())
    hide = set(positions) - keep
    return "".join("*" if i in hide else ch for i, ch in enumerate(value))


def resident_id(value: str) -> str:
    return _partial(value, 1 if value.lstrip()[:1] in "123456" and value.strip() else 0, 1, 7)


def phone(value: str) -> str:
    return _partial(value, 3, 4, 4)


def bank(value: str) -> str:
    return _partial(value, 4, 4, 8)


def birth_date(value: str) -> str:
    if len(value) >= 4 and value[:4].isdigit():
        return value[:4] + "".join("*" if ch.isalnum() else ch for ch in value[4:])
    return "****"


def in_text(value: str) -> str:
    """Old ID masks inside free text (an alert's summary)."""
    return _OLD_ID_MASK.sub(lambda m: resident_id(m.group(0)), value)


_SNAPSHOT_RULES: dict[str, dict[str, Callable[[str], str]]] = {
    "member": {"resident_id": resident_id, "phone": phone, "birth_date": birth_date},
    "employer": {"contact_phone": phone, "bank_account_no": bank},
}
_PAYLOAD_RULES: dict[str, Callable[[str], str]] = {
    "family_resident_ids": resident_id,
    "payee_card": bank,
    "debit_card": bank,
}


def _remask(value: Any, rules: dict[str, Callable[[str], str]]) -> Any:
    """A JSON object with the fields named in ``rules`` re-masked (lists item by item)."""
    if not isinstance(value, dict):
        return value
    out = dict(value)
    for key, rule in rules.items():
        field = out.get(key)
        if isinstance(field, str) and field:
            out[key] = rule(field)
        elif isinstance(field, list):
            out[key] = [rule(v) if isinstance(v, str) and v else v for v in field]
    return out


def _deep_text(value: Any) -> Any:
    if isinstance(value, str):
        return in_text(value)
    if isinstance(value, dict):
        return {k: _deep_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_text(v) for v in value]
    return value


def _rewrite(
    conn: sa.Connection,
    table: sa.TableClause,
    columns: tuple[str, ...],
    change: Callable[[sa.Row[Any]], dict[str, Any]],
    where: Any = None,
) -> None:
    """Every row of ``table`` through ``change``, in id order and batches; only changed rows written."""
    last = 0
    while True:
        query = sa.select(table.c.id, *(table.c[c] for c in columns)).where(table.c.id > last)
        if where is not None:
            query = query.where(where)
        rows = conn.execute(query.order_by(table.c.id).limit(_BATCH)).all()
        if not rows:
            return
        for row in rows:
            new = change(row)
            if any(new[c] != getattr(row, c) for c in new):
                conn.execute(sa.update(table).where(table.c.id == row.id).values(**new))
        last = rows[-1].id


def upgrade() -> None:
    conn = op.get_bind()
    history = sa.table(
        "account_history",
        sa.column("id", sa.BigInteger),
        sa.column("subject_kind", sa.String),
        sa.column("before", sa.JSON),
        sa.column("after", sa.JSON),
    )

    def snapshots(row: sa.Row[Any]) -> dict[str, Any]:
        rules = _SNAPSHOT_RULES.get(row.subject_kind, {})
        return {"before": _remask(row.before, rules), "after": _remask(row.after, rules)}

    _rewrite(conn, history, ("subject_kind", "before", "after"), snapshots)

    application = sa.table("application", sa.column("id", sa.BigInteger), sa.column("payload", sa.JSON))
    archive = sa.table("application_archive", sa.column("application_id", sa.BigInteger))
    unsealed = ~sa.exists().where(archive.c.application_id == application.c.id)
    _rewrite(
        conn,
        application,
        ("payload",),
        lambda row: {"payload": _remask(row.payload, _PAYLOAD_RULES)},
        unsealed,
    )

    alert = sa.table(
        "security_alert",
        sa.column("id", sa.BigInteger),
        sa.column("subject", sa.String),
        sa.column("summary", sa.String),
        sa.column("detail", sa.JSON(none_as_null=True)),
    )
    _rewrite(
        conn,
        alert,
        ("subject", "summary", "detail"),
        lambda row: {
            "subject": in_text(row.subject),
            "summary": in_text(row.summary),
            "detail": _deep_text(row.detail),
        },
    )


def downgrade() -> None:
    """Nothing to undo: the hidden characters are gone."""
