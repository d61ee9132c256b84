"""Policy use cases: the parameters in force on a day, the deposit rate history, scheduling.

National defaults ship in ``defaults.json`` (package data) and, for the withdrawal and loan
parameters, ``withdrawal_policy.json`` and ``loan_policy.json`` (decision 0022); a center's own
values are rows of ``policy_value`` (one per key and effective date; a withdrawal or loan
parameter under ``withdrawal.<name>`` / ``loan.<name>``), overlaid on the defaults: for each key
the latest entry with ``effective_from ≤ day`` wins, and a center row on the same date as a
default replaces it. Policy is never changed retroactively: a change takes effect on or after the
business date, and a stored row is never updated or deleted. Changes are made through
maker-checker (``hpf.approvals.service``, kind ``policy.change``, which runs
:func:`schedule_change` once another administrator approves).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from hpf import events
from hpf.kernel.context import Context
from hpf.kernel.errors import Conflict, InvalidInput
from hpf.kernel.findings import require_ok
from hpf.kernel.records import fields_of
from hpf.policy.rules import (
    DEPOSIT_RATE,
    KEYS,
    LABELS_ZH,
    PARAMS_OF,
    UNITS_ZH,
    AlertPolicy,
    DepositRate,
    LiquidityPolicy,
    LoanPolicy,
    Policy,
    TransferPolicy,
    WithdrawalPolicy,
    canonical,
    consistency,
    deposit_history,
    describe,
    kind_of_key,
    latest,
    require_known_key,
    resolve,
    resolve_alerts,
    resolve_liquidity_policy,
    resolve_loan_policy,
    resolve_transfer_policy,
    resolve_withdrawal_policy,
    shipped_entries,
    shipped_note,
    validate_value,
)
from hpf.policy.rules import LIQUIDITY as LIQUIDITY
from hpf.policy.rules import LOAN as LOAN
from hpf.policy.rules import TRANSFER as TRANSFER
from hpf.policy.rules import WITHDRAWAL as WITHDRAWAL
from hpf.policy.tables import policy_value

__all__ = [
    "LABELS_ZH",
    "LIQUIDITY",
    "LOAN",
    "SOURCE_ZH",
    "TRANSFER",
    "WITHDRAWAL",
    "DepositRateShown",
    "PolicyChange",
    "PolicyRow",
    "ScheduledValue",
    "ShippedEntry",
    "ShippedKey",
    "defaults",
    "deposit_rate_history",
    "deposit_rates",
    "kind_table",
    "liquidity_policy_at",
    "list_changes",
    "loan_policy_at",
    "policy_at",
    "policy_table",
    "schedule_change",
    "transfer_policy_at",
    "withdrawal_policy_at",
]

SOURCE_ZH = {"default": "国家默认", "center": "本中心"}
REASON_MAX = 200

Entry = tuple[date, Any]


# ------------------------------------------------------------------------------ typed results


@dataclass(frozen=True, slots=True)
class ShippedEntry:
    """A national default of a key from its effective date (``defaults.json``)."""

    effective_from: date
    value: object  # the key's JSON value
    source: str  # the reference tag of the notice
    source_zh: str  # the notice, in Chinese (待核实 where unverified)
    note: str = ""


@dataclass(frozen=True, slots=True)
class ShippedKey:
    """A key's shipped defaults: its notes and its entries, sorted by date."""

    note: str
    note_zh: str
    entries: tuple[ShippedEntry, ...]


@dataclass(frozen=True, slots=True)
class DepositRateShown:
    """A deposit rate of the history, for display (rates as decimal strings)."""

    effective_from: date
    current_rate: str
    carried_rate: str
    source: str  # default | center
    source_zh: str
    source_ref: str  # the reference tag of a default, the reason of a center's change
    source_note: str
    shown: str  # Chinese


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """A change the center recorded (a ``policy_value`` row) with its label and Chinese form."""

    id: int
    key: str
    label_zh: str
    effective_from: date
    value: object  # JSON form
    shown: str  # Chinese; the raw JSON for a key or value the rules no longer know
    recorded_at: datetime
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class ScheduledValue:
    """The next value of a key after a day."""

    effective_from: date
    value: object  # JSON form
    shown: str
    source: str  # default | center


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """A key as the policy page shows it on a day: the value in force and the next change."""

    key: str
    label_zh: str
    unit_zh: str
    value: object  # JSON form; None if no entry is in force yet
    shown: str  # Chinese; — if none
    effective_from: date | None
    source: str  # default | center
    source_zh: str
    note: str  # Chinese note on the default
    source_note: str  # the Chinese source of the default in force, for staff
    next: ScheduledValue | None


# ---------------------------------------------------------------------------------- defaults


@cache
def defaults() -> dict[str, ShippedKey]:
    """The shipped national defaults per key, entries sorted by date. Read once per process."""
    text = resources.files("hpf.policy").joinpath("defaults.json").read_text("utf-8")
    keys: dict[str, Any] = json.loads(text)["keys"]
    out: dict[str, ShippedKey] = {}
    for key, spec in keys.items():
        require_known_key(key)
        entries = []
        for raw in spec["entries"]:
            entry = ShippedEntry(
                effective_from=date.fromisoformat(raw["effective_from"]),
                value=raw["value"],
                source=raw.get("source", ""),
                source_zh=raw.get("source_zh", ""),
                note=raw.get("note", ""),
            )
            validate_value(key, entry.value)  # a broken package fails loudly, not on some later day
            entries.append(entry)
        out[key] = ShippedKey(
            note=spec.get("note", ""),
            note_zh=spec.get("note_zh", ""),
            entries=tuple(sorted(entries, key=lambda e: e.effective_from)),
        )
    missing = set(KEYS) - set(out)
    assert not missing, f"defaults.json lacks {sorted(missing)}"
    return out


def _default_entries(key: str) -> list[Entry]:
    return [(e.effective_from, e.value) for e in defaults()[key].entries]


def _stored(
    conn: Connection, *, up_to: date | None = None, key: str | None = None, kind: str | None = None
) -> list[dict[str, Any]]:
    query = select(policy_value).order_by(policy_value.c.effective_from, policy_value.c.id)
    if up_to is not None:
        query = query.where(policy_value.c.effective_from <= up_to)
    if key is not None:
        query = query.where(policy_value.c.key == key)
    if kind is not None:
        query = query.where(policy_value.c.key.like(f"{kind}.%"))
    return [{**row, "value": json.loads(row["value"])} for row in conn.execute(query).mappings()]


def _merged(stored: Sequence[Mapping[str, Any]]) -> dict[str, list[Entry]]:
    """Per key: the defaults, then the center's rows (so a center row wins a shared date)."""
    merged = {key: _default_entries(key) for key in KEYS}
    for row in stored:
        merged.setdefault(row["key"], []).append((row["effective_from"], row["value"]))
    return merged


# ------------------------------------------------------------------------------------ reading


def policy_at(conn: Connection, on: date) -> Policy:
    """The policy in force on ``on``: defaults overlaid by the center's rows (one query)."""
    return resolve(_merged(_stored(conn, up_to=on)), on)


def alert_policy_at(conn: Connection, on: date) -> AlertPolicy:
    """The security alert thresholds in force on ``on``."""
    return resolve_alerts(_merged(_stored(conn, up_to=on)), on)


# Built once: the parameters of one kind, with and without a last effective date.
_KIND_ROWS = (
    select(policy_value.c.key, policy_value.c.effective_from, policy_value.c.value)
    .where(policy_value.c.key.like(bindparam("pattern")))
    .order_by(policy_value.c.effective_from, policy_value.c.id)
)
_KIND_ROWS_UP_TO = _KIND_ROWS.where(policy_value.c.effective_from <= bindparam("up_to"))

KindRows = tuple[tuple[str, date, str], ...]


def _kind_rows(conn: Connection, kind: str, up_to: date | None) -> KindRows:
    """The center's stored rows of ``kind`` (key, effective date, JSON text), in order."""
    if up_to is None:
        rows = conn.execute(_KIND_ROWS, {"pattern": f"{kind}.%"})
    else:
        rows = conn.execute(_KIND_ROWS_UP_TO, {"pattern": f"{kind}.%", "up_to": up_to})
    return tuple((key, effective_from, value) for key, effective_from, value in rows)


def _entries_of(kind: str, rows: KindRows) -> dict[str, list[Entry]]:
    merged = shipped_entries(kind)
    for key, effective_from, value in rows:
        merged.setdefault(key.split(".", 1)[1], []).append((effective_from, json.loads(value)))
    return merged


def _kind_entries(conn: Connection, kind: str, *, up_to: date | None = None) -> dict[str, list[Entry]]:
    """Per parameter name of ``kind``: the shipped defaults, then the center's rows (one query)."""
    return _entries_of(kind, _kind_rows(conn, kind, up_to))


# The parameters of a kind in force on a day, resolved once per (kind, day, the center's stored
# rows): the rows are read every time (one small query), so a change of policy — by this process
# or another — is seen at once, and only the parsing and resolving are saved. The resolved
# policies are frozen dataclasses, shared safely.
_RESOLVED: dict[tuple[str, date, KindRows], Any] = {}
_RESOLVED_MAX = 512


def _resolved(conn: Connection, kind: str, on: date, resolve: Any) -> Any:
    rows = _kind_rows(conn, kind, on)
    key = (kind, on, rows)
    found = _RESOLVED.get(key)
    if found is None:
        found = resolve(_entries_of(kind, rows), on)
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.clear()
        _RESOLVED[key] = found
    return found


def withdrawal_policy_at(conn: Connection, on: date) -> WithdrawalPolicy:
    """The center's withdrawal parameters in force on ``on`` (the application's business date)."""
    policy: WithdrawalPolicy = _resolved(conn, WITHDRAWAL, on, resolve_withdrawal_policy)
    return policy


def loan_policy_at(conn: Connection, on: date) -> LoanPolicy:
    """The center's loan parameters in force on ``on`` (a contract's date, a job's day)."""
    policy: LoanPolicy = _resolved(conn, LOAN, on, resolve_loan_policy)
    return policy


def liquidity_policy_at(conn: Connection, on: date) -> LiquidityPolicy:
    """The center's fund operation thresholds in force on ``on`` (decision 0038)."""
    return resolve_liquidity_policy(_kind_entries(conn, LIQUIDITY, up_to=on), on)


def transfer_policy_at(conn: Connection, on: date) -> TransferPolicy:
    """The center's cross-center transfer parameters in force on ``on``."""
    return resolve_transfer_policy(_kind_entries(conn, TRANSFER, up_to=on), on)


def deposit_rates(conn: Connection) -> list[DepositRate]:
    """The whole deposit rate history, defaults and the center's changes, sorted by date."""
    return deposit_history(_merged(_stored(conn, key=DEPOSIT_RATE))[DEPOSIT_RATE])


def deposit_rate_history(conn: Connection) -> list[DepositRateShown]:
    """The deposit rate history for display, by date; a center's change replaces a default of
    the same date."""
    rows: dict[date, dict[str, Any]] = {}
    for e in defaults()[DEPOSIT_RATE].entries:
        rows[e.effective_from] = {
            "source": "default",
            "source_ref": e.source,
            "source_note": e.source_zh,
            "value": e.value,
        }
    for r in _stored(conn, key=DEPOSIT_RATE):
        rows[r["effective_from"]] = {
            "source": "center",
            "source_ref": r["reason"],
            "source_note": r["reason"],
            "value": r["value"],
        }
    out = []
    for day in sorted(rows):
        row = rows[day]
        rate = deposit_history([(day, row["value"])])[0]
        current, carried = rate.current_rate, rate.carried_rate
        out.append(
            DepositRateShown(
                effective_from=day,
                current_rate=str(current),
                carried_rate=str(carried),
                source=row["source"],
                source_zh=SOURCE_ZH[row["source"]],
                source_ref=row["source_ref"],
                source_note=row["source_note"],
                shown=describe(DEPOSIT_RATE, (current, carried)),
            )
        )
    return out


def _change_row(row: Mapping[str, Any]) -> PolicyChange:
    key = row["key"]
    try:
        shown = describe(key, validate_value(key, row["value"]))
    except InvalidInput:  # a key of a later version, or a value its rules now refuse: show it raw
        shown = json.dumps(row["value"], ensure_ascii=False)
    return PolicyChange(
        id=row["id"],
        key=key,
        label_zh=LABELS_ZH.get(key, key),
        effective_from=row["effective_from"],
        value=row["value"],
        shown=shown,
        recorded_at=_aware(row["recorded_at"]),
        actor=row["actor"],
        reason=row["reason"],
    )


def _aware(stamp: datetime) -> datetime:
    """``recorded_at`` is stored in UTC; SQLite gives it back without the zone."""
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def list_changes(conn: Connection) -> list[PolicyChange]:
    """Every change the center recorded, latest effective date first."""
    rows = _stored(conn)
    rows.sort(key=lambda r: (r["effective_from"], r["id"]), reverse=True)
    return [_change_row(r) for r in rows]


def _table_row(
    key: str, entries: Sequence[Entry], on: date, center_dates: set[tuple[str, date]], note: str,
    source_notes: Mapping[date, str],
) -> PolicyRow:  # fmt: skip
    found = latest(entries, on)
    upcoming = [e for e in entries if e[0] > on]
    nxt = None
    if upcoming:
        first = min(e[0] for e in upcoming)
        next_value = latest([e for e in upcoming if e[0] == first], first)
        assert next_value is not None
        nxt = ScheduledValue(
            effective_from=first,
            value=next_value[1],
            shown=describe(key, validate_value(key, next_value[1])),
            source="center" if (key, first) in center_dates else "default",
        )
    source = "center" if found is not None and (key, found[0]) in center_dates else "default"
    return PolicyRow(
        key=key,
        label_zh=LABELS_ZH[key],
        unit_zh=UNITS_ZH[key],
        value=None if found is None else found[1],
        shown="—" if found is None else describe(key, validate_value(key, found[1])),
        effective_from=None if found is None else found[0],
        source=source,
        source_zh=SOURCE_ZH[source],
        note=note,
        source_note="" if found is None else source_notes.get(found[0], ""),
        next=nxt,
    )


def policy_table(conn: Connection, on: date) -> list[PolicyRow]:
    """One row per key for display: the value in force on ``on`` (JSON form and Chinese), where it
    comes from, and the next scheduled change after ``on`` (or ``None``)."""
    stored = _stored(conn)
    center_dates = {(r["key"], r["effective_from"]) for r in stored}
    merged = _merged(stored)
    out = []
    for key in KEYS:
        sources = {e.effective_from: e.source_zh for e in defaults()[key].entries}
        out.append(_table_row(key, merged[key], on, center_dates, defaults()[key].note_zh, sources))
    return out


def kind_table(conn: Connection, kind: str, on: date) -> list[PolicyRow]:
    """The rows of :func:`policy_table` for the withdrawal (``"withdrawal"``) or loan (``"loan"``)
    parameters, in display order."""
    entries = _kind_entries(conn, kind)
    center_dates = {(r["key"], r["effective_from"]) for r in _stored(conn, kind=kind)}
    return [
        _table_row(p.key, entries[p.name], on, center_dates, shipped_note(kind, p.name), {})
        for p in PARAMS_OF[kind]
    ]


# ------------------------------------------------------------------------------------ writing


def _require_reason(reason: str | None) -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput("policy.reason_required", "请填写调整原因", "a reason is required", field="reason")
    if len(text) > REASON_MAX:
        raise InvalidInput(
            "policy.reason_too_long",
            f"调整原因不能超过{REASON_MAX}个字",
            f"reason is longer than {REASON_MAX} characters",
            field="reason",
        )
    return text


def schedule_change(
    conn: Connection, ctx: Context, key: str, effective_from: date, value: object, reason: str
) -> PolicyChange:
    """Record a change of ``key`` to ``value`` effective from ``effective_from``.

    ``key`` is a contribution, deposit-rate or alert key, or a withdrawal or loan parameter
    (``withdrawal.rent_monthly_cap_fen``, ``loan.ltv_first_home``, ...). Refused: an unknown key
    (``policy.unknown_key``), a bad value (``policy.invalid_value`` with the key as the field,
    also when it would put a floor above a cap or a minimum above a maximum on any day from
    ``effective_from``), a date before the business date (``policy.retroactive``: policy is
    never changed retroactively), a second change of the key on the same date
    (``policy.duplicate``), no reason (``policy.reason_required``).
    """
    require_known_key(key)
    stored_value = canonical(key, value)
    text = _require_reason(reason)
    today = ctx.clock.today()
    if effective_from < today:
        raise InvalidInput(
            "policy.retroactive",
            "政策参数不能追溯调整，生效日期不能早于当前业务日期",
            f"effective_from {effective_from.isoformat()} is before the business date {today.isoformat()}",
            field="effective_from",
        )
    stored = _stored(conn)
    if any(r["key"] == key and r["effective_from"] == effective_from for r in stored):
        raise _duplicate(key, effective_from)
    if key != DEPOSIT_RATE and kind_of_key(key) is None:  # withdrawal and loan values stand alone
        _check_consistent(stored, key, effective_from, stored_value)
    row = {
        "key": key,
        "effective_from": effective_from,
        "value": json.dumps(stored_value, ensure_ascii=False),
        "recorded_at": ctx.clock.now(),
        "actor": ctx.actor,
        "reason": text,
    }
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(policy_value).values(**row).returning(policy_value.c.id)
            ).scalar_one()
    except IntegrityError:  # a concurrent request recorded the same (key, date) first
        raise _duplicate(key, effective_from) from None
    events.record(conn, ctx, "policy_value.scheduled", "policy_value", new_id,
                  {"key": key, "effective_from": effective_from, "value": stored_value})  # fmt: skip
    return _change_row({**row, "id": new_id, "value": stored_value})


def schedule_as_approved(
    conn: Connection, ctx: Context, payload: Mapping[str, Any], key: str
) -> dict[str, object]:
    """Carry out an approved ``policy.change`` (maker-checker, ``hpf.approvals.service``); the
    change as JSON (what the approval stores as its result)."""
    row = schedule_change(
        conn, ctx, str(payload["key"]), date.fromisoformat(str(payload["effective_from"])), payload["value"],
        str(payload["reason"]),
    )  # fmt: skip
    shown: dict[str, object] = events.jsonable(fields_of(row))
    return shown


def _duplicate(key: str, effective_from: date) -> Conflict:
    return Conflict(
        "policy.duplicate",
        f"{LABELS_ZH[key]}在{effective_from.isoformat()}已有调整",
        f"{key} already has a change effective {effective_from.isoformat()}",
        field="effective_from",
    )


def _check_consistent(
    stored: Sequence[Mapping[str, Any]], key: str, effective_from: date, value: Any
) -> None:
    """The new entry must not contradict the other keys on its date or any later change date."""
    merged = _merged(stored)
    merged[key].append((effective_from, value))
    days = {effective_from} | {d for entries in merged.values() for d, _ in entries if d > effective_from}
    for day in sorted(days):
        require_ok(consistency(resolve(merged, day)))
