"""Masks that hide (issue 11, item 3; decision 0017): an attacker holding a copy of the database but
no key reads every column that is not an ``_enc`` token or a ``_bidx`` blind index, and tries to
rebuild each member's ID number, phone and bank card from everything stored in clear: the birth
date and sex of the member row, every masked value in history snapshots, application payloads,
audit and alert rows, and the bank names next to the cards. No number may come out unique: each
keeps at least ``THRESHOLD`` candidates.

The attacker is given more than a real one has: every fragment consistent with the true number
is assumed to be linked to the right person, and the first six digits of a card (the BIN) are
assumed known once any bank name is stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, timedelta
from functools import cache
from typing import Any

import pytest
import stdnum
from sqlalchemy import Engine, select

from factories import make_resident_id, member_payload
from hpf.accounts import service as accounts
from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.identifiers import _region_known
from hpf.schema import metadata
from hpf.services import service as applications
from services_support import JPG, PDF, PNG, build_center
from settlement_support import CARD, deposit

THRESHOLD = 10_000
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
# Extra members: regions of several provinces, both sexes, birth dates of several decades.
_PEOPLE = (
    ("110101", "19650412", False, "13811112222"),
    ("440305", "19851130", True, "15922223333"),
    ("650102", "20000229", False, "18633334444"),
    ("210102", "19780101", True, "13044445555"),
)


# ----------------------------------------------------------------------------- the attacker


def _strings(value: Any) -> Iterator[str]:
    """Every string inside a stored value (JSON documents included), dates as ISO text."""
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, date):
        yield value.isoformat()
    else:
        yield str(value)


def clear_text(engine: Engine) -> list[str]:
    """What a copy of the database shows without keys: every clear column of every table."""
    out: list[str] = []
    with read_transaction(engine) as conn:
        for table in metadata.sorted_tables:
            columns = [c for c in table.c if not c.name.endswith(("_enc", "_bidx"))]
            for row in conn.execute(select(*columns)):
                for value in row:
                    out.extend(_strings(value))
    return out


def fragments(texts: Iterable[str], length: int, alphabet: str = "0-9") -> set[str]:
    """Runs of digits and ``*`` (separators removed) of exactly ``length`` characters: the masked
    (or clear) forms of numbers of that length."""
    found: set[str] = set()
    pattern = re.compile(rf"(?<![0-9A-Za-z*])[{alphabet}*]{{{length}}}(?![0-9A-Za-z*])")
    for text in texts:
        for candidate in {text, re.sub(r"[\s-]", "", text)}:
            found.update(pattern.findall(candidate))
    return found


def revealed(true: str, masks: Iterable[str]) -> set[int]:
    """Positions of ``true`` shown by any fragment consistent with it (the attacker's best link)."""
    shown: set[int] = set()
    for m in masks:
        if len(m) == len(true) and all(c == "*" or c == t for c, t in zip(m, true, strict=True)):
            shown |= {i for i, c in enumerate(m) if c != "*"}
    return shown


@cache
def region_codes() -> tuple[str, ...]:
    """Every six-digit division code in stdnum's table (the table ``hpf.kernel.identifiers`` uses)."""
    codes: list[str] = []
    province = ""
    with open(f"{stdnum.__path__[0]}/cn/loc.dat", encoding="utf-8") as data:
        for line in data:
            if line.startswith("#") or not line.strip():
                continue
            if not line.startswith(" "):
                province = line[:2]
            elif "county=" in line:
                codes.append(province + line.strip()[:4])
    return tuple(codes)


def _residues(parts: Iterable[str], offset: int) -> list[int]:
    """How many of ``parts`` (digits at positions ``offset``…) give each weighted sum mod 11."""
    counts = [0] * 11
    for part in parts:
        counts[sum(int(d) * _WEIGHTS[offset + i] for i, d in enumerate(part)) % 11] += 1
    return counts


def id_candidates(true: str, birth: date, gender: str, masks: Iterable[str]) -> int:
    """ID numbers consistent with the clear birth date and sex, every fragment and the check digit."""
    shown = revealed(true, masks)
    if shown >= set(range(18)):
        return 1
    stamp = birth.strftime("%Y%m%d")
    regions = [
        r for r in region_codes()
        if all(r[i] == true[i] for i in shown if i < 6) and _region_known(r + stamp + "0000")
    ]  # fmt: skip
    odd = gender == "1"
    orders = [
        f"{n:03d}" for n in range(1000)
        if (n % 2 == 1) == odd and all(f"{n:03d}"[i - 14] == true[i] for i in shown if 14 <= i < 17)
    ]  # fmt: skip
    fixed = sum(int(d) * _WEIGHTS[6 + i] for i, d in enumerate(stamp))
    by_region, by_order = _residues(regions, 0), _residues(orders, 14)
    total = 0
    for a in range(11):
        for b in range(11):
            if 17 in shown and _CHECK[(a + b + fixed) % 11] != true[17]:
                continue
            total += by_region[a] * by_order[b]
    return total


def digits_candidates(true: str, masks: Iterable[str], *, known: int = 0, luhn: bool = False) -> int:
    """Numbers of ``true``'s length consistent with the fragments (the first ``known`` digits given)."""
    shown = revealed(true, masks) | set(range(known))
    hidden = len(true) - len(shown)
    if hidden == 0:
        return 1
    return 10 ** (hidden - 1) if luhn else 10**hidden


# ------------------------------------------------------------------------------- the center


@pytest.fixture
def center(engine: Engine) -> Any:
    """Three members with sign-ins, four more of other regions, changes, and a paid withdrawal."""
    c = build_center(engine, today=date(2025, 3, 14))
    with write_transaction(engine) as conn:
        for seq, (region, birth, female, phone) in enumerate(_PEOPLE, 10):
            opened = accounts.open_member(
                conn, c.ctx, c.employer.account_no,
                member_payload(seq, resident_id=make_resident_id(seq, birth, region, female), phone=phone),
            )  # fmt: skip
            accounts.change_member(conn, c.ctx, opened.account_no, {"phone": "137" + phone[3:]}, "换号")
            accounts.change_member(conn, c.ctx, opened.account_no, {"phone": phone}, "换回")
            accounts.seal_member(conn, c.ctx, opened.account_no, "封存")
        accounts.change_member(conn, c.ctx, c.member.account_no, {"phone": "13700137001"}, "换号")
        deposit(conn, c.ctx, c.member.id, 100_000)
    with write_transaction(engine) as conn:
        person = c.people["a"]
        payload = {"payee_name": "张三", "payee_card": CARD, "payee_bank": "中国工商银行济南分行",
                   "cost_fen": 50_000, "requested_fen": 40_000}  # fmt: skip
        app = applications.submit(conn, c.ctx, person, "WD-ILLNESS", payload, idempotency_key="k-masks")
        for code, name, data in (("M-ID", "id.png", PNG), ("M-DIAGNOSIS", "d.pdf", PDF),
                                 ("M-MEDICAL", "m.pdf", PDF), ("M-BANK", "card.jpg", JPG)):  # fmt: skip
            applications.add_material(conn, c.ctx, person, app.id, code, name, data)
        done = applications.complete_submission(conn, c.ctx, person, app.id)
    assert done.state == "approved"
    return c


def _members(engine: Engine) -> list[dict[str, Any]]:
    with read_transaction(engine) as conn:
        return [
            accounts.get_member(conn, no)
            for no in conn.scalars(select(metadata.tables["member"].c.account_no))
        ]


def test_no_id_number_is_rebuilt_from_what_is_stored_in_clear(center, engine):
    texts = clear_text(engine)
    masks = fragments(texts, 18, "0-9X")
    people = _members(engine)
    assert len(people) == 3 + len(_PEOPLE)
    for person in people:
        rid = person.resident_id
        assert any("*" in m and revealed(rid, [m]) for m in masks)  # history holds a mask of it
        count = id_candidates(rid, person.birth_date, person.gender, masks)
        assert count >= THRESHOLD, f"{person.account_no}: {count} candidate ID numbers"


def test_no_phone_is_rebuilt_from_what_is_stored_in_clear(center, engine):
    masks = fragments(clear_text(engine), 11)
    phones = [p.phone for p in _members(engine)] + [center.employer.contact_phone]
    for phone in phones:
        assert any("*" in m and revealed(phone, [m]) for m in masks)  # history holds a mask of it
        count = digits_candidates(phone, masks)
        assert count >= THRESHOLD, f"{phone[:3]}…: {count} candidate phones"


def test_no_card_is_rebuilt_from_what_is_stored_in_clear(center, engine):
    masks = fragments(clear_text(engine), len(CARD))
    assert any("*" in m and m.endswith(CARD[-4:]) for m in masks)  # the payload keeps a masked card
    assert digits_candidates(CARD, masks, known=6, luhn=True) >= THRESHOLD
    account = center.employer.bank_account_no  # the employer's account, in its history
    masks = fragments(clear_text(engine), len(account))
    assert any("*" in m and revealed(account, [m]) for m in masks)
    assert digits_candidates(account, masks, known=6) >= THRESHOLD


def test_the_attacker_would_rebuild_the_old_masks():
    """The measure itself: region + eight stars + last four, with the clear birth date, is unique."""
    rid = make_resident_id(7, "19900307", "110101")
    old = rid[:6] + "*" * 8 + rid[-4:]
    assert id_candidates(rid, date(1990, 3, 7), "1", [old]) == 1
    assert id_candidates(rid, date(1990, 3, 7), "1", []) >= 1_000_000
    assert digits_candidates("13900139000", ["139****9000"]) == 10_000


def test_snapshots_keep_masks_and_the_birth_year_only():
    from hpf.protection.protect import without_secrets

    rid = make_resident_id(7, "19900307", "110101")
    snap = without_secrets(
        "member", {"resident_id": rid, "birth_date": date(1990, 3, 7), "gender": "1", "phone": "13900139000"}
    )
    assert snap == {"resident_id": f"1{'*' * 16}{rid[-1]}", "birth_date": "1990-**-**", "gender": "1",
                    "phone": "139****9000"}  # fmt: skip
    assert without_secrets("member", {"birth_date": None}) == {"birth_date": None}


def test_the_sms_mask_is_the_phone_mask():
    from hpf.identity.sms import mask_phone
    from hpf.protection.masking import mask

    for phone in ("13900139000", "+8613912345678", "0101234567"):
        assert mask_phone(phone) == mask(phone, "phone")


# ------------------------------------------------------------------- stored masks, re-masked


def _revision_before_remasking(engine: Engine) -> str:
    """The revision the re-masking migration follows (found by its title, not its number)."""
    from alembic.script import ScriptDirectory

    from hpf.db.migrate import alembic_config

    scripts = ScriptDirectory.from_config(alembic_config(engine))
    found = [s for s in scripts.walk_revisions() if (s.doc or "").startswith("masks that do not combine")]
    assert len(found) == 1
    return str(found[0].down_revision)


@pytest.fixture(params=["sqlite", "postgresql"])
def before_remasking(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Engine]:
    """A database migrated to just before the re-masking: written with the old masks."""
    from sqlalchemy import text

    from hpf.db.engine import make_engine
    from hpf.schema import upgrade

    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path}/old.sqlite3")
        upgrade(eng, _revision_before_remasking(eng))
        yield eng
        eng.dispose()
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = f"m{tmp_path.name[-20:].lower().replace('-', '_')}"
    admin = make_engine(cluster.url())
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng = make_engine(cluster.url(name))
    upgrade(eng, _revision_before_remasking(eng))
    yield eng
    eng.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE "{name}"'))
    admin.dispose()


def _old_id(rid: str) -> str:
    return rid[:6] + "*" * 8 + rid[-4:]


def test_upgrading_re_masks_what_is_stored(before_remasking):
    """A database written with the old masks (region + eight stars + last four, the birth date in
    the snapshot) holds none of them after ``hpf db upgrade``; the audit log is not touched."""
    from sqlalchemy import func, update

    from hpf.accounts.tables import account_history
    from hpf.audit import trail as audit
    from hpf.disclosure import alerts
    from hpf.schema import upgrade
    from hpf.services.tables import application

    engine = before_remasking
    later = _add_later_tables(engine)  # the use cases below write tables of later revisions too
    later_columns = _add_later_columns(engine)  # and columns later revisions add to older tables
    _stripe_subject_balances(engine)  # and the subject balances in their later layout
    c = build_center(engine, today=date(2025, 3, 14))
    spouse = c.colleague
    with write_transaction(engine) as conn:
        opened = conn.execute(
            select(account_history.c.id, account_history.c.subject_id, account_history.c.after).where(
                account_history.c.subject_kind == "member", account_history.c.action == "open"
            )
        ).all()
        by_id = {p.id: p for p in _members_in(conn)}
        for row in opened:
            m = by_id[row.subject_id]
            after = {
                **row.after,
                "resident_id": _old_id(m.resident_id),
                "birth_date": m.birth_date.isoformat(),
            }
            conn.execute(update(account_history).where(account_history.c.id == row.id).values(after=after))
        employer_open = conn.scalar(
            select(func.min(account_history.c.id)).where(account_history.c.subject_kind == "employer")
        )
        conn.execute(
            update(account_history)
            .where(account_history.c.id == employer_open)
            .values(after={"contact_phone": "138****8001", "bank_account_no": "1602***********3456"})
        )
        app = applications.submit(
            conn, c.ctx, c.people["a"], "WD-ILLNESS",
            {"payee_name": "张三", "payee_card": CARD, "payee_bank": "中国工商银行济南分行",
             "cost_fen": 50_000, "requested_fen": 40_000},
            idempotency_key="k-old",
        )  # fmt: skip
        payload = conn.scalar(select(application.c.payload).where(application.c.id == app.id))
        old_payload = {**payload, "family_resident_ids": [_old_id(spouse.resident_id)],
                       "debit_card": "6222****3456"}  # fmt: skip
        conn.execute(update(application).where(application.c.id == app.id).values(payload=old_payload))
        alerts.raise_alert(
            conn, c.ctx, "sign_in_failures", _old_id(spouse.resident_id),
            f"登录名 {_old_id(spouse.resident_id)} 连续登录失败", window=timedelta(minutes=15),
            detail={"login": _old_id(spouse.resident_id)},
        )  # fmt: skip
        audit.append(
            conn, c.ctx, role="anonymous", source_ip=None, action="sign_in", object_type="login",
            object_id=_old_id(spouse.resident_id), purpose="登录", outcome="denied", detail={"event": "x"},
        )  # fmt: skip
    before = fragments(clear_text(engine), 18, "0-9X")
    assert _old_id(spouse.resident_id) in before  # the attack works on the old data
    _drop_columns(engine, later_columns)  # their own migrations add them
    _drop(engine, later)  # their own migrations create them
    _unstripe_subject_balances(engine)  # migration 0021 stripes them

    upgrade(engine)

    texts = clear_text(engine)
    masks = fragments(texts, 18, "0-9X")
    with read_transaction(engine) as conn:
        people = _members_in(conn)
        audit_ids = set(conn.scalars(select(audit.audit_log.c.object_id)))
        payload = conn.scalar(select(application.c.payload).where(application.c.id == app.id))
        history = conn.execute(select(account_history.c.subject_kind, account_history.c.after)).all()
    for person in people:
        rid = person.resident_id
        count = id_candidates(rid, person.birth_date, person.gender, masks - audit_ids)
        assert count >= THRESHOLD, f"{person.account_no}: {count} candidate ID numbers"
    assert _old_id(spouse.resident_id) in audit_ids  # the hash-chained audit log keeps its rows
    assert payload["family_resident_ids"] == [f"{spouse.resident_id[0]}{'*' * 16}{spouse.resident_id[-1]}"]
    assert payload["debit_card"] == "*********456" and payload["payee_card"] == "6222***********4562"
    members_after = [a for k, a in history if k == "member" and a and "birth_date" in a]
    assert members_after and all(a["birth_date"].endswith("-**-**") for a in members_after)
    assert {"contact_phone": "138****8001", "bank_account_no": "1602***********3456"} in [
        a for _, a in history
    ]
    with read_transaction(engine) as conn:
        assert audit.verify(conn) == []


def _add_later_tables(engine: Engine) -> list[Any]:
    """Create the tables of the current schema that the old revision does not have yet."""
    from sqlalchemy import inspect

    missing = [t for t in metadata.sorted_tables if not inspect(engine).has_table(t.name)]
    metadata.create_all(engine, tables=missing)
    return missing


def _add_later_columns(engine: Engine) -> list[tuple[str, str]]:
    """Add to the old revision's tables the nullable columns later revisions give them (e.g.
    ``remittance.review``, ``application.fast_track``: migration 0030), for today's code."""
    from sqlalchemy import inspect, text

    inspector = inspect(engine)
    added = []
    with write_transaction(engine) as conn:
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name) or table.name == "subject_balance":  # striped below
                continue
            have = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in have:
                    assert column.nullable, f"{table.name}.{column.name}"
                    kind = column.type.compile(engine.dialect)
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))
                    added.append((table.name, column.name))
    return added


def _drop_columns(engine: Engine, added: list[tuple[str, str]]) -> None:
    from sqlalchemy import text

    with write_transaction(engine) as conn:
        for table, column in added:
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def _stripe_subject_balances(engine: Engine) -> None:
    """``subject_balance`` as migration 0021 leaves it (decision 0034), for today's posting code,
    and the chart in it."""
    from sqlalchemy import text

    from hpf.ledger.service import sync_chart
    from hpf.ledger.tables import subject_balance
    from hpf.schema import ensure_sequences

    with write_transaction(engine) as conn:
        conn.execute(text("DROP TABLE subject_balance"))
        subject_balance.create(conn)
        sync_chart(conn)  # the reference data an upgrade to the head syncs, by today's code
        ensure_sequences(conn)


def _unstripe_subject_balances(engine: Engine) -> None:
    """Back to one row per subject, as the old revision had it, its totals the stripes' sum."""
    from sqlalchemy import text

    with write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE old_totals AS SELECT subject_code, SUM(debit_fen) AS d, "
                          "SUM(credit_fen) AS c FROM subject_balance GROUP BY subject_code"))  # fmt: skip
        conn.execute(text("DROP TABLE subject_balance"))
        conn.execute(text(
            "CREATE TABLE subject_balance (subject_code VARCHAR(10) NOT NULL REFERENCES ledger_subject (code), "
            "debit_fen BIGINT DEFAULT '0' NOT NULL, credit_fen BIGINT DEFAULT '0' NOT NULL, "
            "CONSTRAINT pk_subject_balance PRIMARY KEY (subject_code))"
        ))  # fmt: skip
        conn.execute(text("INSERT INTO subject_balance SELECT subject_code, d, c FROM old_totals"))
        conn.execute(text("DROP TABLE old_totals"))


def _drop(engine: Engine, tables: list[Any]) -> None:
    metadata.drop_all(engine, tables=tables)


def _members_in(conn: Any) -> list[dict[str, Any]]:
    return [
        accounts.get_member(conn, no) for no in conn.scalars(select(metadata.tables["member"].c.account_no))
    ]
