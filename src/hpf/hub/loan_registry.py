"""The national loan registry and account index the hub keeps from the centers' events (decision 0031).

Each center's registry feed (``hpf.transfers.registry_feed``) sends, through its outbox, an
``XC01`` when loans change (signed, disbursed, settled, written off, void) and an ``XC02`` when
member accounts do (opened, sealed, frozen, closed …), sealed to the hub. The hub takes them like
any message addressed to it (``hpf.hub.service.receive``: signatures, window, de-duplication) and
then, in the same transaction, :func:`take`:

- every resident ID number in the body becomes the person's **national pseudonym**
  (:func:`pseudonym`: HMAC-SM3 under a key derived from the hub's own SM2 encryption key — the
  key the centers seal to, which only the hub holds); the number itself is never written;
- a notice replaces what the registry holds of that loan (all its persons) or account, unless
  the registry already holds a later one (``seq``, the center's event id: deliveries retried out
  of order never go back in time);
- a center speaks only of its own loans and accounts (the row's ``center`` is the envelope's
  sender, whose signature the hub checked).

Reads: :func:`facts_of` (one person's loans and accounts in every center, for an inquiry) and
the counts of the admin page.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Connection, delete, func, insert, select, update

from hpf.hub.tables import hub_account, hub_loan
from hpf.messages.bodies import AccountRegistration, Body, LoanRegistration
from hpf.messages.envelope import Envelope
from hpf.messages.keys import KeyPair

PSEUDONYM_INFO = b"hpf hub person pseudonym v1"
REGISTRY_TYPES = frozenset({"XC01", "XC02"})


def pseudonym_key(keys: KeyPair) -> bytes:
    """The hub's pseudonym key: HKDF-SM3 of its private encryption key (never leaves the hub)."""
    return HKDF(algorithm=hashes.SM3(), length=32, salt=None, info=PSEUDONYM_INFO).derive(
        keys.encrypt_private
    )


def pseudonym(key: bytes, resident_id: str) -> str:
    """A person's national pseudonym: HMAC-SM3 of the resident ID number (upper case), hex."""
    mac = hmac.HMAC(key, hashes.SM3())
    mac.update(resident_id.strip().upper().encode("ascii"))
    return mac.finalize().hex()


def take(conn: Connection, key: bytes, envelope: Envelope, body: Body, now: datetime) -> None:
    """Apply an XC01/XC02 the hub took (see the module docstring)."""
    center, message_id = envelope.sender, str(envelope.message_id)
    if isinstance(body, LoanRegistration):
        for notice in body.loans:
            held = conn.scalar(
                select(func.max(hub_loan.c.seq)).where(
                    hub_loan.c.center == center, hub_loan.c.loan_ref == notice.loan_ref
                )
            )
            if held is not None and held >= notice.seq:
                continue  # the registry holds this notice or a later one
            conn.execute(
                delete(hub_loan).where(hub_loan.c.center == center, hub_loan.c.loan_ref == notice.loan_ref)
            )
            persons = {pseudonym(key, p.resident_id): p.role for p in notice.persons}
            conn.execute(
                insert(hub_loan),
                [
                    {
                        "center": center,
                        "loan_ref": notice.loan_ref,
                        "person": person,
                        "role": role,
                        "state": notice.state,
                        "principal_fen": notice.principal_fen,
                        "contract_date": notice.contract_date,
                        "disbursed_on": notice.disbursed_on,
                        "settled_on": notice.settled_on,
                        "seq": notice.seq,
                        "message_id": message_id,
                        "updated_at": now,
                    }
                    for person, role in persons.items()
                ],
            )
    elif isinstance(body, AccountRegistration):
        for account in body.accounts:
            a = hub_account.c
            values = {
                "person": pseudonym(key, account.resident_id), "state": account.state,
                "opened_on": account.opened_on, "closed_on": account.closed_on,
                "paid_through": account.paid_through, "seq": account.seq, "message_id": message_id,
                "updated_at": now,
            }  # fmt: skip
            held = conn.scalar(select(a.seq).where(a.center == center, a.account_ref == account.account_ref))
            if held is None:
                conn.execute(
                    insert(hub_account).values(center=center, account_ref=account.account_ref, **values)
                )
            elif held < account.seq:
                conn.execute(
                    update(hub_account)
                    .where(a.center == center, a.account_ref == account.account_ref)
                    .values(**values)
                )
    else:  # pragma: no cover - the caller dispatches by REGISTRY_TYPES
        raise TypeError(f"not a registry notice: {type(body).__name__}")


@dataclass(frozen=True)
class LoanFact:
    center: str
    state: str
    role: str
    principal_fen: int
    contract_date: date
    disbursed_on: date | None
    settled_on: date | None


@dataclass(frozen=True)
class AccountFact:
    center: str
    state: str
    opened_on: date
    closed_on: date | None
    paid_through: str | None


def facts_of(
    conn: Connection, persons: Sequence[str], *, except_center: str
) -> tuple[dict[str, list[AccountFact]], dict[str, list[LoanFact]]]:
    """The accounts and loans of each pseudonym in every center but ``except_center``."""
    wanted = list(dict.fromkeys(persons))
    accounts: dict[str, list[AccountFact]] = {p: [] for p in wanted}
    loans: dict[str, list[LoanFact]] = {p: [] for p in wanted}
    a, lo = hub_account.c, hub_loan.c
    for r in conn.execute(
        select(a.person, a.center, a.state, a.opened_on, a.closed_on, a.paid_through)
        .where(a.person.in_(wanted), a.center != except_center)
        .order_by(a.center, a.opened_on, a.account_ref)
    ):
        accounts[r.person].append(AccountFact(r.center, r.state, r.opened_on, r.closed_on, r.paid_through))
    for x in conn.execute(
        select(lo.person, lo.center, lo.state, lo.role, lo.principal_fen, lo.contract_date, lo.disbursed_on, lo.settled_on)
        .where(lo.person.in_(wanted), lo.center != except_center)
        .order_by(lo.center, lo.contract_date, lo.loan_ref)
    ):  # fmt: skip
        loans[x.person].append(
            LoanFact(
                x.center, x.state, x.role, x.principal_fen, x.contract_date, x.disbursed_on, x.settled_on
            )
        )
    return accounts, loans


def registry_counts(conn: Connection) -> dict[str, int]:
    """What the registry holds, for the admin page: loans (unsettled among them) and accounts."""
    lo = hub_loan.c
    loans = conn.execute(
        select(func.count(func.distinct(lo.center + ":" + lo.loan_ref)), lo.state).group_by(lo.state)
    ).all()
    by_state = {str(state): int(n) for n, state in loans}
    return {
        "loans": sum(by_state.values()),
        "unsettled": sum(n for s, n in by_state.items() if s in ("approved", "active", "written_off")),
        "accounts": int(conn.scalar(select(func.count()).select_from(hub_account)) or 0),
    }
