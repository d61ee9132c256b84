"""Planted data quality defects (issue 16 item 5): one planter per rule of ``hpf.quality`` that
stock data can break, each writing ``count`` defects of its kind into a simulated center and
saying which objects it touched — the answer key the quality scan (``hpf data scan --json``) must
meet: ``{"kind": <rule id>, "object": <account number>}``.

A defect a use case would refuse (a wrong checksum, a birth date the ID number contradicts, a
code outside its table) stands for legacy stock data: it is written through the owner's stock
loader (``hpf.accounts.bulk.load_legacy_member`` / ``load_legacy_employer``), never through its
tables. Where one planted defect necessarily breaks a second rule (a stored rate outside policy
no longer matches the employer's last list), the planter says so with a second key line.

Candidates are split between the planters by id (member id mod 9, employer id mod 7), so two
planters never touch the same object and one defect never hides another. Rules with no planter:
the balance against the ledger and the loan against its schedule (no stock loader writes them:
the books are built by postings), one person with two open accounts (the unique blind index of
the member table refuses it), and the timeliness rules (late lists and receipts are behaviours:
the simulator makes them itself, as real defects).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from hpf.accounts import bulk
from hpf.accounts import queries as accounts
from hpf.accounts.rules import MEMBER_CLOSED, EmployerState, MemberState
from hpf.contributions import queries as contributions
from hpf.kernel.identifiers import resident_id_check_digit
from hpf.policy.service import policy_at
from hpf.protection.protect import reveal
from hpf.sim.defects import PlantedDefect, Planter

_MEMBER_SLOTS = 9
_EMPLOYER_SLOTS = 7
_OPEN_MEMBER = sorted(s.value for s in MEMBER_CLOSED)


def _members(conn: Connection, slot: int, *, state: str | None = None) -> list[Any]:
    m = accounts.member_records_subquery("m")
    query = select(m).where(m.c.id % _MEMBER_SLOTS == slot, m.c.state.not_in(_OPEN_MEMBER)).order_by(m.c.id)
    if state is not None:
        query = query.where(m.c.state == state)
    return list(conn.execute(query).all())


def _employers(conn: Connection, slot: int, *, state: str | None = EmployerState.NORMAL.value) -> list[Any]:
    e = accounts.employer_records_subquery("e")
    query = select(e).where(e.c.id % _EMPLOYER_SLOTS == slot).order_by(e.c.id)
    if state is not None:
        query = query.where(e.c.state == state)
    return list(conn.execute(query).all())


def _pick(rng: random.Random, rows: list[Any], count: int) -> list[Any]:
    return rng.sample(rows, min(count, len(rows)))


# ---------------------------------------------------------------------------------- members


def plant_id_checksum(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A resident ID whose check character is wrong (the rest of the number intact)."""
    done = []
    for row in _pick(rng, _members(conn, 0), count):
        number = reveal("member", "resident_id", row.resident_id_enc) or ""
        right = resident_id_check_digit(number[:17])
        wrong = rng.choice([c for c in "0123456789X" if c != right])
        bulk.load_legacy_member(conn, row.account_no, {"resident_id": number[:17] + wrong})
        done.append(PlantedDefect("Q-VAL-ID-CHECKSUM", row.account_no))
    return done


def plant_birth_date(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A birth date some weeks to years before the one the ID number encodes."""
    done = []
    for row in _pick(rng, _members(conn, 1), count):
        wrong = row.birth_date - timedelta(days=rng.randint(20, 900))
        bulk.load_legacy_member(conn, row.account_no, {"birth_date": wrong})
        done.append(PlantedDefect("Q-CON-ID-BIRTH", row.account_no))
    return done


def plant_sex(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """The other sex than the ID number's 17th digit says."""
    done = []
    for row in _pick(rng, _members(conn, 2), count):
        bulk.load_legacy_member(conn, row.account_no, {"gender": "2" if row.gender == "1" else "1"})
        done.append(PlantedDefect("Q-CON-ID-SEX", row.account_no))
    return done


def plant_impossible_date(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """An account opened before its holder was born."""
    done = []
    for row in _pick(rng, _members(conn, 3), count):
        wrong = row.birth_date - timedelta(days=rng.randint(1, 3000))
        bulk.load_legacy_member(conn, row.account_no, {"opened_on": wrong})
        done.append(PlantedDefect("Q-VAL-DATE-POSSIBLE", row.account_no))
    return done


def plant_missing_pinyin(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """A name's pinyin (姓名全拼) left blank by the old system."""
    done = []
    for row in _pick(rng, _members(conn, 4), count):
        bulk.load_legacy_member(conn, row.account_no, {"name_pinyin": ""})
        done.append(PlantedDefect("Q-COM-MEMBER-REQUIRED", row.account_no))
    return done


def plant_shared_phone(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """Groups of four open accounts given one phone number (the employer contact's, typed for
    each); ``count`` accounts, rounded down to whole groups."""
    done: list[PlantedDefect] = []
    rows = _members(conn, 5)
    rng.shuffle(rows)
    for start in range(0, min(count, len(rows)) - 3, 4):
        phone = "1" + rng.choice("3589") + "".join(rng.choice("0123456789") for _ in range(9))
        for row in rows[start : start + 4]:
            bulk.load_legacy_member(conn, row.account_no, {"phone": phone})
            done.append(PlantedDefect("Q-UNI-MEMBER-PHONE", row.account_no))
    return done


def plant_base_over_cap(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A registered contribution base above the policy's cap (an old system's unchecked entry)."""
    cap = policy_at(conn, today).base_cap_fen
    done = []
    for row in _pick(rng, _members(conn, 6, state=MemberState.NORMAL.value), count):
        bulk.load_legacy_member(conn, row.account_no, {"base_fen": cap + rng.randint(100, 500_000)})
        done.append(PlantedDefect("Q-VAL-BASE-RANGE", row.account_no))
    return done


def plant_certificate_code(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """A certificate type outside its code table."""
    done = []
    for row in _pick(rng, _members(conn, 7), count):
        bulk.load_legacy_member(conn, row.account_no, {"certificate_type": rng.choice(["00", "10", "ZZ"])})
        done.append(PlantedDefect("Q-VAL-CODE-CERT-TYPE", row.account_no))
    return done


def plant_gender_code(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A sex outside GB/T 2261.1 (which then also contradicts the ID number)."""
    done = []
    for row in _pick(rng, _members(conn, 8), count):
        bulk.load_legacy_member(conn, row.account_no, {"gender": rng.choice(["0", "M", "F"])})
        done += [
            PlantedDefect("Q-VAL-CODE-GENDER", row.account_no),
            PlantedDefect("Q-CON-ID-SEX", row.account_no),
        ]
    return done


# -------------------------------------------------------------------------------- employers

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def plant_uscc_checksum(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """A USCC whose check character is wrong."""
    done = []
    for row in _pick(rng, _employers(conn, 0, state=None), count):
        wrong = rng.choice([c for c in _USCC_ALPHABET if c != row.uscc[17]])
        bulk.load_legacy_employer(conn, row.account_no, {"uscc": row.uscc[:17] + wrong})
        done.append(PlantedDefect("Q-VAL-USCC-CHECKSUM", row.account_no))
    return done


def plant_economic_code(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """An economic type (单位经济类型) outside its code table."""
    done = []
    for row in _pick(rng, _employers(conn, 1, state=None), count):
        bulk.load_legacy_employer(conn, row.account_no, {"economic_type": rng.choice(["000", "012", "999"])})
        done.append(PlantedDefect("Q-VAL-CODE-ECONOMIC-TYPE", row.account_no))
    return done


def plant_missing_economic_type(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """An employer registered without its economic type (required by the standard)."""
    done = []
    e = _employers(conn, 2, state=None)
    for row in _pick(rng, [r for r in e if r.state != EmployerState.CLOSED.value], count):
        bulk.load_legacy_employer(conn, row.account_no, {"economic_type": None})
        done.append(PlantedDefect("Q-COM-EMPLOYER-REQUIRED", row.account_no))
    return done


def plant_employer_state_code(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """An employer account state outside its code table."""
    done = []
    for row in _pick(rng, _employers(conn, 3), count):
        bulk.load_legacy_employer(conn, row.account_no, {"state": rng.choice(["00", "06", "10"])})
        done.append(PlantedDefect("Q-VAL-CODE-EMPLOYER-STATE", row.account_no))
    return done


def _with_normal_members(conn: Connection, rows: list[Any]) -> list[Any]:
    m = accounts.member_refs_subquery("m")
    having = set(
        conn.execute(
            select(m.c.employer_id).where(m.c.state == MemberState.NORMAL.value).group_by(m.c.employer_id)
        ).scalars()
    )
    return [r for r in rows if r.id in having]


def plant_sealed_with_members(
    conn: Connection, rng: random.Random, count: int, today: date
) -> list[PlantedDefect]:
    """An employer recorded sealed (封存) while its staff's accounts stayed normal."""
    done = []
    for row in _pick(rng, _with_normal_members(conn, _employers(conn, 4)), count):
        bulk.load_legacy_employer(conn, row.account_no, {"state": EmployerState.SEALED.value})
        done.append(PlantedDefect("Q-CON-MEMBER-EMPLOYER-STATE", row.account_no))
    return done


def _with_posted_lists(conn: Connection, rows: list[Any]) -> list[Any]:
    r = contributions.remittances_subquery("r")
    having = set(
        conn.execute(
            select(r.c.employer_id).where(r.c.state == "posted", r.c.kind == "01").group_by(r.c.employer_id)
        ).scalars()
    )
    return [row for row in rows if row.id in having]


def plant_rate_mismatch(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """An employer whose registered member rate was changed without its lists (still within
    policy): its latest list no longer equals base × rate."""
    policy = policy_at(conn, today)
    low, high = policy.member_rate_min, policy.member_rate_max
    steps = [low + Decimal("0.01") * i for i in range(int((high - low) / Decimal("0.01")) + 1)]
    done = []
    for row in _pick(rng, _with_posted_lists(conn, _employers(conn, 5)), count):
        other = [s for s in steps if s != Decimal(row.member_rate).quantize(Decimal("0.0001"))]
        bulk.load_legacy_employer(conn, row.account_no, {"member_rate": rng.choice(other)})
        done.append(PlantedDefect("Q-CON-CONTRIBUTION-RATE", row.account_no))
    return done


def plant_rate_over_cap(conn: Connection, rng: random.Random, count: int, today: date) -> list[PlantedDefect]:
    """An employer rate above the policy's maximum (which its latest list then contradicts too)."""
    high = policy_at(conn, today).employer_rate_max
    done = []
    for row in _pick(rng, _with_posted_lists(conn, _employers(conn, 6)), count):
        bulk.load_legacy_employer(conn, row.account_no, {"employer_rate": high + Decimal("0.02")})
        done += [
            PlantedDefect("Q-VAL-RATE-RANGE", row.account_no),
            PlantedDefect("Q-CON-CONTRIBUTION-RATE", row.account_no),
        ]
    return done


PLANTERS: dict[str, Planter] = {
    "Q-VAL-ID-CHECKSUM": plant_id_checksum,
    "Q-CON-ID-BIRTH": plant_birth_date,
    "Q-CON-ID-SEX": plant_sex,
    "Q-VAL-DATE-POSSIBLE": plant_impossible_date,
    "Q-COM-MEMBER-REQUIRED": plant_missing_pinyin,
    "Q-UNI-MEMBER-PHONE": plant_shared_phone,
    "Q-VAL-BASE-RANGE": plant_base_over_cap,
    "Q-VAL-CODE-CERT-TYPE": plant_certificate_code,
    "Q-VAL-CODE-GENDER": plant_gender_code,
    "Q-VAL-USCC-CHECKSUM": plant_uscc_checksum,
    "Q-VAL-CODE-ECONOMIC-TYPE": plant_economic_code,
    "Q-COM-EMPLOYER-REQUIRED": plant_missing_economic_type,
    "Q-VAL-CODE-EMPLOYER-STATE": plant_employer_state_code,
    "Q-CON-MEMBER-EMPLOYER-STATE": plant_sealed_with_members,
    "Q-CON-CONTRIBUTION-RATE": plant_rate_mismatch,
    "Q-VAL-RATE-RANGE": plant_rate_over_cap,
}
