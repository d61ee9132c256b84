"""Each audit rule on a lived city: the defect planted is found, its clean look-alike is not.

The city (``conftest.lived_city``) is healthy: the whole pack finds nothing in it. Each test
plants one defect with the rule's planter (``hpf.sim.defects.audit``) and builds, by hand, the
nearest record the rule must leave alone (a value exactly on the limit, a relative's card, a
reversal a second person approved …); the rule's SQL then names exactly the planted object.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from factories import make_resident_id
from hpf.access.permissions import Role
from hpf.accounts import bulk as accounts_bulk
from hpf.accounts import queries as accounts_queries
from hpf.accounts import service as accounts
from hpf.approvals import service as approvals
from hpf.contributions import service as contributions
from hpf.contributions.rules import add_months, month_of
from hpf.db.engine import read_transaction, write_transaction
from hpf.identity import identity
from hpf.inspection.rules import rule_of, rules
from hpf.inspection.service import find
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import InvalidInput, NotFound
from hpf.loans.book import service as loans
from hpf.loans.calculator.schedule import Method
from hpf.loans.queries import active_loans_subquery
from hpf.policy.queries import policy_at, withdrawal_policy_at
from hpf.sim.defects.audit import PLANTERS, STOCK_APPLICATION, file_claim, members_with_balance
from hpf.sim.withdrawals import staff
from inspection_city import TODAY

CTX = Context("auditor-test", FixedClock(TODAY), "990001", source="sim")


def found(engine: Engine, rule_id: str) -> list[str]:
    with read_transaction(engine) as conn:
        return [r.object for r in find(conn, TODAY, [rule_of(rule_id)])[rule_id]]


def plant_one(engine: Engine, kind: str) -> str:
    with write_transaction(engine) as conn:
        planted = PLANTERS[kind](conn, random.Random(11), 1, TODAY)
    assert [p.kind for p in planted] == [kind]
    return planted[0].object


def card(n: int) -> dict[str, str]:
    from hpf.kernel.identifiers import luhn_check_digit

    first = f"6222021234{n:08d}"
    return {"payee_name": "本人", "payee_card": first + luhn_check_digit(first), "payee_bank": "中国工商银行"}


def test_the_lived_city_is_clean_for_every_rule(city):
    with read_transaction(city) as conn:
        assert find(conn, TODAY) == {rule.id: [] for rule in rules()}


def test_rates_over_the_cap_and_exactly_on_it(city):
    planted = plant_one(city, "A-RATE-OVER-CAP")
    with write_transaction(city) as conn:
        p = policy_at(conn, TODAY)
        other = next(
            e for e in accounts_queries.employers_in_states(conn, ("01",)) if e.account_no != planted
        )
        accounts_bulk.load_legacy_employer(
            conn, other.account_no, {"employer_rate": p.employer_rate_max, "member_rate": p.member_rate_max}
        )
    assert found(city, "A-RATE-OVER-CAP") == [planted]
    assert found(city, "A-RATE-UNDER-FLOOR") == []


def test_rates_under_the_floor_and_exactly_on_it(city):
    planted = plant_one(city, "A-RATE-UNDER-FLOOR")
    with write_transaction(city) as conn:
        p = policy_at(conn, TODAY)
        other = next(
            e for e in accounts_queries.employers_in_states(conn, ("01",)) if e.account_no != planted
        )
        accounts_bulk.load_legacy_employer(
            conn, other.account_no, {"employer_rate": p.employer_rate_min, "member_rate": Decimal("0.05")}
        )
    assert found(city, "A-RATE-UNDER-FLOOR") == [planted]


def test_bases_over_the_cap_and_under_the_floor_against_their_limits(city):
    over, under = plant_one(city, "A-BASE-OVER-CAP"), plant_one(city, "A-BASE-UNDER-FLOOR")
    with write_transaction(city) as conn:
        p = policy_at(conn, TODAY)
        others = [m for m in members_with_balance(conn) if m.account_no not in (over, under)]
        accounts_bulk.load_legacy_member(
            conn, others[0].account_no, {"base_fen": p.base_cap_fen}
        )  # on the cap: clean
        accounts_bulk.load_legacy_member(
            conn, others[1].account_no, {"base_fen": p.base_floor_fen}
        )  # on the floor: clean
        refs = accounts_queries.member_refs_subquery()
        sealed = conn.scalar(select(refs.c.account_no).where(refs.c.state == "02").limit(1))
    assert found(city, "A-BASE-OVER-CAP") == [over]
    assert found(city, "A-BASE-UNDER-FLOOR") == [under]
    with write_transaction(city) as conn:  # a sealed account's old base is no current breach
        accounts_bulk.load_legacy_member(conn, sealed, {"base_fen": p.base_cap_fen * 2})
    assert found(city, "A-BASE-OVER-CAP") == [over]


def test_a_base_raised_by_half_before_a_claim_and_one_raised_by_a_fifth(city):
    planted = plant_one(city, "A-BASE-RAISED-BEFORE-WITHDRAWAL")
    with write_transaction(city) as conn:
        people = staff(conn, CTX)
        member = next(
            m for m in members_with_balance(conn, min_balance=100_000) if m.base_fen * 6 // 5 <= 3_000_000
            and str(m.account_no) not in planted
        )  # fmt: skip
        accounts.change_member(conn, CTX, member.account_no, {"base_fen": member.base_fen * 6 // 5}, "调薪")
        clean = file_claim(
            conn, CTX, people, "WD-ILLNESS", member.account_no, {**card(1), "cost_fen": 1_000_000}
        )
    assert clean is not None
    assert found(city, "A-BASE-RAISED-BEFORE-WITHDRAWAL") == [planted]


def test_rent_twice_in_a_year_over_the_limit_and_once_exactly_on_it(city):
    planted = plant_one(city, "A-RENT-OVER-YEARLY-LIMIT")
    with write_transaction(city) as conn:
        cap = withdrawal_policy_at(conn, TODAY).rent_monthly_cap_fen
        people = staff(conn, CTX)
        candidates = members_with_balance(conn, min_balance=cap * 12, opened_before=date(2024, 1, 1))
        member = next(m for m in candidates if m.account_no != planted)
        claim = file_claim(
            conn, CTX, people, "WD-RENT", member.account_no, {**card(2), "rent_monthly_fen": cap * 2}
        )
    assert claim is not None  # one claim of a whole year's rent: 12 × the monthly cap, not more
    assert found(city, "A-RENT-OVER-YEARLY-LIMIT") == [planted]


def _family_pair(city: Engine, code: str, extra: dict[str, object]) -> None:
    """Two claims on one card or contract by a member and a declared family member: clean."""
    with write_transaction(city) as conn:
        people = staff(conn, CTX)
        first, second = members_with_balance(conn, min_balance=100_000)[-2:]
        relative = accounts.get_member(conn, first.account_no).resident_id
        assert file_claim(conn, CTX, people, code, first.account_no, extra) is not None
        declared = {**extra, "family_resident_ids": [relative]}
        assert file_claim(conn, CTX, people, code, second.account_no, declared) is not None


def test_one_card_for_strangers_and_one_card_within_a_family(city):
    planted = plant_one(city, "A-SAME-PAYEE-CARD")
    _family_pair(city, "WD-ILLNESS", {**card(3), "cost_fen": 900_000})
    assert found(city, "A-SAME-PAYEE-CARD") == [planted]
    assert found(city, "A-SAME-CONTRACT") == []


def test_one_contract_for_strangers_and_one_contract_within_a_family(city):
    planted = plant_one(city, "A-SAME-CONTRACT")
    signed = (TODAY - timedelta(days=30)).isoformat()
    _family_pair(city, "WD-PURCHASE", {**card(4), "document_no": "家庭共有购房合同001", "document_date": signed,
                                         "cost_fen": 90_000_000})  # fmt: skip
    assert found(city, "A-SAME-CONTRACT") == [planted]


def test_a_claim_on_an_account_sealed_for_years_and_one_sealed_for_months(city):
    planted = plant_one(city, "A-WITHDRAW-LONG-SEALED")
    months = rule_of("A-WITHDRAW-LONG-SEALED").params["months"]
    sealed = add_months(month_of(TODAY), -(months - 4))  # long enough to leave, not long sealed
    with write_transaction(city) as conn:
        people = staff(conn, CTX)
        member = members_with_balance(conn, min_balance=1, opened_before=date(2023, 1, 1))[0]
        accounts.seal_member(conn, replace(CTX, clock=FixedClock(date.fromisoformat(sealed + "-15"))),
                             member.account_no, "离职")  # fmt: skip
        leave = {**card(5), "labour_ended": True, "emigrated": False}
        assert file_claim(conn, CTX, people, "WD-LEAVE", member.account_no, leave) is not None
    assert found(city, "A-WITHDRAW-LONG-SEALED") == [planted]


def test_a_reversal_by_hand_and_one_a_second_person_approved(city):
    planted = plant_one(city, "A-MANUAL-ENTRY-NO-APPROVAL")
    with write_transaction(city) as conn:
        maker = identity.create_staff(conn, CTX, "fin-maker", "财务甲", [Role.FINANCE], "Passw0rd-Maker-1")
        checker = identity.create_staff(
            conn, CTX, "fin-checker", "财务乙", [Role.FINANCE], "Passw0rd-Check-1"
        )
        employer = accounts_queries.employers_in_states(conn, ("01",))[0]
        twice = contributions.record_receipt(conn, CTX, employer.account_no, 12_345, "TWICE0001", TODAY)
        request = approvals.submit(conn, replace(CTX, actor="fin-maker"), maker, approvals.LEDGER_REVERSAL,
                                   {"entry_id": twice.entry_id, "reason": "重复录入"}, "冲销重复到账")  # fmt: skip
        approved = approvals.approve(conn, replace(CTX, actor="fin-checker"), checker, request.id)
    assert approved.result and approved.result["entry_id"]
    assert found(city, "A-MANUAL-ENTRY-NO-APPROVAL") == [planted]


def test_a_released_mortgage_of_a_loan_owed_and_a_seizure_reported(city):
    planted = plant_one(city, "A-COLLATERAL-RELEASED-UNSETTLED")
    with write_transaction(city) as conn:
        active = active_loans_subquery()
        other = next(i for i in conn.scalars(select(active.c.id)) if str(i) != planted)
        certificate = loans.loan_view(conn, other).certificate_no
        assert certificate
        notice = loans.CollateralNotice("SEIZE-1", certificate, "seizure", TODAY)
        assert loans.ingest_collateral_events(conn, CTX, [notice], source="registry")["stored"] == 1
    assert found(city, "A-COLLATERAL-RELEASED-UNSETTLED") == [planted]


def test_a_second_contract_for_a_borrower_and_a_first_for_another(city):
    planted = plant_one(city, "A-BORROWER-MULTIPLE-LOANS")
    with write_transaction(city) as conn:
        held = loans.loan_view(conn, int(planted))
        borrowers = {
            loans.loan_view(conn, int(i)).borrower_id
            for i in conn.scalars(select(active_loans_subquery().c.id))
        }
        newcomer = next(m for m in members_with_balance(conn) if m.id not in borrowers | {held.borrower_id})
        terms = loans.LoanTerms(
            application_id=STOCK_APPLICATION + 999_999, borrower_id=newcomer.id, principal_fen=30_000_000,
            annual_rate=Decimal("0.026"), term_months=240, method=Method.EQUAL_INSTALLMENT, contract_date=TODAY,
            first_due_date=TODAY + timedelta(days=31), repayment_source=loans.RepaymentSource.HPF_ACCOUNT,
            house_nature="01", second_home=False, house_price_fen=100_000_000, floor_area=Decimal("90"),
            guarantee_type="01", certificate_no="存量新户0001",
        )  # fmt: skip
        loans.create_loan(conn, CTX, terms)
    assert found(city, "A-BORROWER-MULTIPLE-LOANS") == [planted]


def test_staff_on_their_own_or_a_relatives_account_and_on_a_strangers(city):
    planted = plant_one(city, "A-STAFF-OWN-ACCOUNT")
    relative_id = make_resident_id(987_654, birth="19700101", region="110101")
    with write_transaction(city) as conn:
        reviewer = staff(conn, CTX)[1]
        first, second, third = members_with_balance(conn, min_balance=100_000)[-3:]
        kin = identity.create_staff(conn, CTX, "kin-teller", "柜员丙", [Role.TELLER], "Passw0rd-Kin-123",
                                    resident_id=relative_id)  # fmt: skip
        declared = {**card(6), "cost_fen": 800_000, "family_resident_ids": [relative_id]}  # the teller's kin
        by_kin = file_claim(conn, CTX, (kin, reviewer), "WD-ILLNESS", first.account_no, declared)
        stranger = make_resident_id(987_655, birth="19710101", region="110101")
        clerk = identity.create_staff(conn, CTX, "clerk-teller", "柜员丁", [Role.TELLER], "Passw0rd-Clerk-123",
                                      resident_id=stranger)  # fmt: skip
        assert file_claim(
            conn, CTX, (clerk, reviewer), "WD-ILLNESS", second.account_no, {**card(8), "cost_fen": 700_000}
        )
        unregistered = identity.create_staff(
            conn, CTX, "new-teller", "柜员戊", [Role.TELLER], "Passw0rd-New-1234"
        )
        assert file_claim(
            conn,
            CTX,
            (unregistered, reviewer),
            "WD-ILLNESS",
            third.account_no,
            {**card(9), "cost_fen": 600_000},
        )
    assert by_kin is not None
    assert sorted(found(city, "A-STAFF-OWN-ACCOUNT")) == sorted([planted, str(by_kin)])
    with read_transaction(city) as conn:
        facts = {
            r.object: r.facts
            for r in find(conn, TODAY, [rule_of("A-STAFF-OWN-ACCOUNT")])["A-STAFF-OWN-ACCOUNT"]
        }
    assert facts[planted]["relation"] == "self" and facts[planted]["staff"].startswith("sim-own-")
    assert facts[str(by_kin)]["relation"] == "relative" and facts[str(by_kin)]["staff"] == "kin-teller"


def test_a_staff_id_number_is_checked_and_kept_only_as_its_blind_index(city):
    with write_transaction(city) as conn:
        with pytest.raises(InvalidInput) as wrong:
            identity.create_staff(conn, CTX, "bad-id", "柜员己", [Role.TELLER], "Passw0rd-Bad-123",
                                  resident_id="110101197001010000")  # fmt: skip
        assert wrong.value.extra["field"] == "resident_id"
        with pytest.raises(NotFound):
            identity.register_staff_identity(conn, CTX, "nobody-here", make_resident_id(1))
        number = make_resident_id(7, birth="19800101")
        identity.create_staff(
            conn, CTX, "ok-id", "柜员庚", [Role.TELLER], "Passw0rd-Ok-1234", resident_id=number
        )
        (stored,) = conn.execute(
            select(identity.staff_identity.c.resident_id_bidx)
            .join(identity.principal, identity.principal.c.id == identity.staff_identity.c.principal_id)
            .where(identity.principal.c.login == "ok-id")
        ).one()
    assert stored and number not in str(stored) and len(stored) == 32
