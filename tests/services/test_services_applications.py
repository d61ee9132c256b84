"""Applications (E2) on both engines: straight-through, review and refusal with a test handler,
maker-checker, materials, idempotent submission, deadlines, withdrawal, ratings, completion."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from hpf.db.engine import read_transaction, write_transaction
from hpf.kernel.errors import HpfError
from hpf.services import handlers, service
from hpf.services.tables import application_blob, application_transition
from services_support import JPG, PDF, PNG, Center, FakeWithdrawals, build_center


@pytest.fixture
def fake() -> Iterator[FakeWithdrawals]:
    handler = FakeWithdrawals()
    with handlers.registered(handler):
        yield handler


@pytest.fixture
def center(engine: Engine) -> Center:
    return build_center(engine)


def rent(center: Center, who: str = "a", key: str | None = None, **payload: Any) -> service.Application:
    """Submit a rent withdrawal with its two required materials."""
    with write_transaction(center.engine) as conn:
        app = service.submit(
            conn,
            center.ctx,
            center.people[who],
            "WD-RENT",
            {"rent_monthly_fen": 150_000, **payload},
            idempotency_key=key,
        )
        service.add_material(conn, center.ctx, center.people[who], app.id, "M-ID", "id.png", PNG)
        service.add_material(conn, center.ctx, center.people[who], app.id, "M-BANK", "card.jpg", JPG)
    return app


def do(center: Center, fn: Any, *args: Any) -> Any:
    with write_transaction(center.engine) as conn:
        return fn(conn, center.ctx, *args)


def states(center: Center, application_id: int) -> list[tuple[str | None, str, str]]:
    with read_transaction(center.engine) as conn:
        return [(t.from_state, t.to_state, t.actor) for t in service.transitions(conn, application_id)]


def test_every_rule_passing_and_no_risk_flag_is_approved_straight_through(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center)
    assert app.state == "submitted" and app.catalog_version == "N2023.1"
    assert app.evaluation["eligible"] and app.amount_fen == 450_000  # the preview the member sees
    done = do(center, service.complete_submission, center.people["a"], app.id)
    assert done.state == "approved" and done.decided_by == "system" and done.decision == "approved"
    assert done.accepted_on == date(2025, 3, 14) and done.due_on == date(2025, 3, 19)
    assert done.outputs == {"reserved_fen": 450_000, "ledger_entry_ids": [900 + app.id]}
    assert fake.approved == [app.id] and fake.reserved == {app.id: 450_000}
    assert states(center, app.id) == [
        (None, "submitted", center.people["a"].login),
        ("submitted", "accepted", "system"),
        ("accepted", "under_review", "system"),
        ("under_review", "approved", "system"),
    ]
    finished = do(center, service.mark_executed, app.id, {"paid_on": "2025-03-14"})
    assert finished.state == "executed" and finished.outputs["paid_on"] == "2025-03-14"
    assert finished.outputs["reserved_fen"] == 450_000
    with pytest.raises(HpfError) as twice:
        do(center, service.mark_executed, app.id)
    assert twice.value.code == "application.illegal_transition"


def test_a_handler_that_finishes_at_once_executes_the_application(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center, now=True)
    assert do(center, service.complete_submission, center.people["a"], app.id).state == "executed"


def test_a_risk_flag_sends_it_to_review_and_the_reviewer_approves(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center, risky=True)
    waiting = do(center, service.complete_submission, center.people["a"], app.id)
    assert waiting.state == "under_review" and fake.approved == []
    assert waiting.evaluation["risk_flags"][0]["code"] == "risk.frequent"
    with read_transaction(center.engine) as conn:
        assert [r.id for r in service.review_queue(conn, center.clock.today())] == [app.id]
    done = do(center, service.approve, center.people["reviewer01"], app.id, "已电话核实")
    assert done.state == "approved" and done.decided_by == "reviewer01"
    assert done.decision_reason == "已电话核实" and fake.approved == [app.id]


def test_a_failed_rule_waits_for_a_person_who_cannot_approve_it_only_reject(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center, fail=True)
    waiting = do(center, service.complete_submission, center.people["a"], app.id)
    assert waiting.state == "under_review" and not waiting.evaluation["eligible"]
    with pytest.raises(HpfError) as refused:
        do(center, service.approve, center.people["reviewer01"], app.id)
    assert refused.value.code == "application.rules_failed" and "无自有住房" in refused.value.title
    with pytest.raises(HpfError) as no_reason:
        do(center, service.reject, center.people["reviewer01"], app.id, "  ")
    assert no_reason.value.code == "application.reason_required"
    done = do(center, service.reject, center.people["reviewer01"], app.id, "在本市有自有住房")
    assert done.state == "rejected" and done.decision_reason == "在本市有自有住房"
    assert fake.ended == [(app.id, "rejected")] and fake.approved == []


def test_an_item_without_a_handler_always_goes_to_review(center: Center) -> None:
    with write_transaction(center.engine) as conn:
        app = service.submit(
            conn, center.ctx, center.people["a"], "AC-CHANGE", {"field": "phone", "value": "x"}, complete=True
        )
    assert app.state == "under_review" and app.evaluation is None
    done = do(center, service.approve, center.people["reviewer01"], app.id)
    assert done.state == "executed"  # nothing asynchronous to wait for


def test_whoever_submitted_or_accepted_cannot_approve(center: Center, fake: FakeWithdrawals) -> None:
    teller, reviewer = center.people["teller01"], center.people["reviewer01"]
    # At the counter the clerk submits for member A and accepts.
    with write_transaction(center.engine) as conn:
        app = service.submit(conn, center.ctx, teller, "WD-RENT", {"rent_monthly_fen": 1, "risky": True},
                             member_account_no=center.member.account_no)  # fmt: skip
        assert app.channel == "counter" and app.member_id == center.member.id
        service.add_material(conn, center.ctx, teller, app.id, "M-ID", "a.pdf", PDF)
        service.add_material(conn, center.ctx, teller, app.id, "M-BANK", "b.pdf", PDF)
        accepted = service.complete_submission(conn, center.ctx, teller, app.id)
    assert accepted.accepted_by == "teller01" and accepted.state == "under_review"
    with pytest.raises(HpfError) as same:
        do(center, service.approve, teller, app.id)
    assert same.value.code == "application.same_person" and same.value.status == 403
    assert do(center, service.approve, reviewer, app.id).state == "approved"


def test_materials_must_be_complete_before_acceptance(center: Center, fake: FakeWithdrawals) -> None:
    a = center.people["a"]
    with write_transaction(center.engine) as conn:
        app = service.submit(conn, center.ctx, a, "WD-RENT", {"rent_monthly_fen": 1})
        service.add_material(conn, center.ctx, a, app.id, "M-ID", "id.png", PNG)
    with pytest.raises(HpfError) as missing:
        do(center, service.complete_submission, a, app.id)
    assert missing.value.code == "application.materials_missing" and missing.value.extra["missing"] == [
        "M-BANK"
    ]
    assert "本人银行卡" in missing.value.title
    with pytest.raises(HpfError) as unknown:
        do(center, service.add_material, a, app.id, "M-PASSPORT", "p.png", PNG)
    assert unknown.value.code == "application.unknown_material"
    with pytest.raises(HpfError) as wrong:
        do(center, service.add_material, a, app.id, "M-BANK", "card.gif", b"GIF89a" + b"\x00" * 10)
    assert wrong.value.code == "application.file_type"
    with pytest.raises(HpfError) as big:
        do(
            center,
            service.add_material,
            a,
            app.id,
            "M-BANK",
            "card.png",
            PNG + b"\x00" * (5 * 1024 * 1024),
        )
    assert big.value.code == "application.file_too_large"
    with read_transaction(center.engine) as conn:
        [stored] = service.materials(conn, app.id)
        assert stored.sha256 == hashlib.sha256(PNG).hexdigest()
        assert service.material_content(conn, a, app.id, stored.id)[1] == PNG
        blob = conn.execute(select(application_blob)).mappings().one()
        assert PNG not in blob["content_enc"].encode() and ":" in blob["content_enc"]  # SM4 token
    done = do(center, service.add_material, a, app.id, "M-BANK", "card.png", PNG)  # same bytes: one blob
    assert done.sha256 == stored.sha256
    with read_transaction(center.engine) as conn:
        assert len(conn.execute(select(application_blob)).all()) == 1
    do(center, service.complete_submission, a, app.id)
    with pytest.raises(HpfError) as closed:
        do(center, service.add_material, a, app.id, "M-ID", "id.png", PNG)
    assert closed.value.code == "application.materials_closed"


def test_altered_material_bytes_are_refused_on_read(center: Center, fake: FakeWithdrawals) -> None:
    app = rent(center)
    from hpf.protection import protect

    with write_transaction(center.engine) as conn:
        forged = protect.to_stored("application_blob", {"content": base64.b64encode(PDF).decode()})
        conn.execute(
            update(application_blob).where(application_blob.c.size_bytes == len(PNG)).values(**forged)
        )
    with read_transaction(center.engine) as conn:
        material = service.materials(conn, app.id)[0]
        with pytest.raises(HpfError) as altered:
            service.material_content(conn, center.people["a"], app.id, material.id)
    assert altered.value.code == "application.material_altered"


def test_submitting_twice_with_one_key_gives_one_application(center: Center, fake: FakeWithdrawals) -> None:
    first = rent(center, key="k-1")
    with write_transaction(center.engine) as conn:
        again = service.submit(
            conn,
            center.ctx,
            center.people["a"],
            "WD-RENT",
            {"rent_monthly_fen": 150_000},
            idempotency_key="k-1",
        )
        assert again.id == first.id
        with pytest.raises(HpfError) as reused:
            service.submit(
                conn,
                center.ctx,
                center.people["a"],
                "WD-RENT",
                {"rent_monthly_fen": 1},
                idempotency_key="k-1",
            )
        assert reused.value.code == "application.key_reused"
        other = service.submit(
            conn, center.ctx, center.people["b"], "WD-RENT", {"rent_monthly_fen": 1}, idempotency_key="k-1"
        )
        assert other.id != first.id  # keys are per applicant


def test_bad_submissions_change_nothing(center: Center, fake: FakeWithdrawals) -> None:
    cases = [
        ("a", "WD-NOPE", {}, "service.not_found"),
        ("a", "WD-RENT", {}, "withdrawal.rent_required"),  # the handler cannot read it
        ("a", "WD-DEATH", {}, "application.applicant_not_allowed"),  # heirs apply at the counter
        ("e", "WD-RENT", {"rent_monthly_fen": 1}, "application.applicant_not_allowed"),
        ("a", "AC-CHANGE", {"x": "y" * 20_000}, "application.invalid_payload"),
    ]
    for who, code, payload, expected in cases:
        with pytest.raises(HpfError) as refused, write_transaction(center.engine) as conn:
            service.submit(conn, center.ctx, center.people[who], code, payload)
        assert refused.value.code == expected, code
        assert refused.value.title and refused.value.detail
    with read_transaction(center.engine) as conn:
        assert service.list_own(conn, center.people["teller01"]) == []
        assert conn.execute(select(application_transition)).all() == []


def test_the_applicant_withdraws_before_a_decision_and_reservations_are_released(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center, risky=True)
    do(center, service.complete_submission, center.people["a"], app.id)
    with pytest.raises(HpfError) as stranger:
        do(center, service.withdraw, center.people["b"], app.id)
    assert stranger.value.code == "application.not_found"
    done = do(center, service.withdraw, center.people["a"], app.id, "不需要了")
    assert done.state == "withdrawn" and fake.ended == [(app.id, "withdrawn")]
    with pytest.raises(HpfError) as late:
        do(center, service.approve, center.people["reviewer01"], app.id)
    assert late.value.code == "application.illegal_transition"


def test_a_failed_payout_ends_the_application_and_releases_the_reservation(
    center: Center, fake: FakeWithdrawals
) -> None:
    app = rent(center)
    do(center, service.complete_submission, center.people["a"], app.id)
    assert fake.reserved
    done = do(center, service.mark_failed, app.id, "银行退票：账户已销户", {"bank_ref": "R1"})
    assert done.state == "failed" and done.outputs["bank_ref"] == "R1"
    assert fake.reserved == {} and fake.ended == [(app.id, "failed")]


def test_a_rating_comes_once_after_the_end_from_the_applicant(center: Center, fake: FakeWithdrawals) -> None:
    app = rent(center, now=True)
    a = center.people["a"]
    with pytest.raises(HpfError) as early:
        do(center, service.rate, a, app.id, 5, "")
    assert early.value.code == "application.not_ended"
    do(center, service.complete_submission, a, app.id)
    with pytest.raises(HpfError) as stranger:
        do(center, service.rate, center.people["c"], app.id, 1, "")
    assert stranger.value.code == "application.not_found"
    with pytest.raises(HpfError) as clerk:
        do(center, service.rate, center.people["teller01"], app.id, 1, "")
    assert clerk.value.code == "application.not_applicant"
    rated = do(center, service.rate, a, app.id, 5, "一点就能办")
    assert (rated.rating, rated.rating_comment) == (5, "一点就能办")
    with pytest.raises(HpfError) as twice:
        do(center, service.rate, a, app.id, 1, "")
    assert twice.value.code == "application.already_rated"


def test_the_queue_is_ordered_by_due_date_and_flags_the_overdue_across_a_holiday(engine: Engine) -> None:
    center = build_center(engine, today=date(2025, 9, 30))
    a = center.people["a"]
    with write_transaction(engine) as conn:
        first = service.submit(
            conn,
            center.ctx,
            a,
            "AC-TRANSFER-IN",
            {"from_center": "110000", "old_account_no": "1"},
            complete=True,
        )
    assert first.due_on == date(2025, 10, 11)  # 3 working days: 1–8 October are holidays
    center.clock.set(date(2025, 10, 9))
    with write_transaction(engine) as conn:
        second = service.submit(
            conn, center.ctx, a, "AC-CHANGE", {"field": "phone", "value": "x"}, complete=True
        )
    assert second.due_on == date(2025, 10, 10)
    for today, overdue in (
        (date(2025, 10, 11), {second.id}),
        (date(2025, 10, 13), {first.id, second.id}),
    ):
        with read_transaction(engine) as conn:
            queue = service.review_queue(conn, today)
        assert [r.id for r in queue] == [second.id, first.id]
        assert {r.id for r in queue if r.overdue} == overdue
