"""Supervision policy at the hub (decision 0040): versions with effective dates, maker-checker
by two national supervisors, a month classified under the version in force on its last day."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from hpf.db.engine import read_transaction, write_transaction
from hpf.hub.staff import add_staff
from hpf.hub.supervision import inputs, policy, run
from hpf.hub.supervision.scope import supervisor_of
from hpf.hub.supervision.tables import hub_center_class, hub_problem
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.errors import HpfError
from hpf.messages.keys import KeyPair
from hub_support import make_hub

LOAN = "0302020301"
CENTER = "330100"


@pytest.fixture
def hub(tmp_path):
    hub = make_hub(tmp_path)
    hub.register(CENTER, KeyPair.generate(), "http://a.test")
    now = datetime.now(UTC)
    with write_transaction(hub.engine) as conn:
        for login, scope, role in (("sup1", "nation", "supervisor"), ("sup2", "nation", "supervisor"),
                                   ("zj1", "浙江", "supervisor"), ("admin", "nation", "admin")):  # fmt: skip
            add_staff(conn, login=login, name=login, password="Hub-Supervisor-2026!",
                      passwords=Passwords(FAST_FOR_TESTS), now=now, role=role, scope=scope)  # fmt: skip
    yield hub
    hub.engine.dispose()


def test_a_new_version_takes_effect_only_once_another_supervisor_approves_it(hub):
    now = datetime.now(UTC)
    with read_transaction(hub.engine) as conn:
        sup1, sup2, zj1 = (supervisor_of(conn, x) for x in ("sup1", "sup2", "zj1"))
        with pytest.raises(HpfError) as admin:
            supervisor_of(conn, "admin")
        assert admin.value.code == "supervision.not_supervisor"
        shipped = policy.policy_for(conn, date(2025, 3, 31))
    assert shipped.version == 0
    document = copy.deepcopy(shipped.document)
    document["indicators"][LOAN]["warning"] = "90"  # the 个贷率 line moved from 85% to 90%
    with write_transaction(hub.engine) as conn:
        inputs.record_values(
            conn, CENTER, "2025-03",
            {LOAN: Decimal("86.5"), "0302020401": Decimal("0.02"), "0301020101": Decimal("92"),
             "0301020501": Decimal("88")},
            now,
        )  # fmt: skip
        first = run.reporting_run(conn, hub.app.state.hub, "2025-03", today=date(2025, 4, 1), now=now)
        with pytest.raises(HpfError) as provincial:
            policy.propose(conn, zj1, document, date(2025, 3, 1), now)
        assert provincial.value.code == "supervision.national_only"
        bad = copy.deepcopy(document)
        bad["indicators"][LOAN]["weight"] = 31
        with pytest.raises(HpfError) as invalid:
            policy.propose(conn, sup1, bad, date(2025, 3, 1), now)
        assert invalid.value.code == "supervision.policy_invalid"
        proposal = policy.propose(conn, sup1, document, date(2025, 3, 1), now)
        later = policy.propose(conn, sup1, document, date(2025, 5, 1), now)
    # under the shipped version, 86.5 is beyond the 85% line: 0 + 30 + 20 + 20 = 70 → C
    assert first.classified == {CENTER: "C"}
    with write_transaction(hub.engine) as conn:
        with pytest.raises(HpfError) as own:
            policy.decide(conn, sup1, proposal, True, now)
        assert own.value.code == "supervision.same_person"
        assert policy.policy_for(conn, date(2025, 3, 31)).version == 0  # proposed is not in force
        assert policy.decide(conn, sup2, proposal, True, now) == 1
        assert policy.decide(conn, sup2, later, False, now) is None
        with pytest.raises(HpfError) as again:
            policy.decide(conn, sup2, proposal, True, now)
        assert again.value.code == "supervision.policy_decided"
    with write_transaction(hub.engine) as conn:
        assert policy.policy_for(conn, date(2025, 2, 28)).version == 0  # before its effective date
        assert policy.policy_for(conn, date(2025, 3, 31)).version == 1
        second = run.reporting_run(conn, hub.app.state.hub, "2025-03", today=date(2025, 4, 1), now=now)
        row = conn.execute(select(hub_center_class).where(hub_center_class.c.center == CENTER)).one()
        rows = policy.policy_rows(conn)
    # under version 1, 86.5 lies between good 80 and the new line 90: 15 + 30 + 20 + 20 = 85 → B
    assert second.classified == {CENTER: "B"} and (row.policy_version, str(row.score)) == (1, "85.00")
    assert [(p.state, p.version, p.decided_by) for p in rows] == [
        ("rejected", None, "sup2"),
        ("approved", 1, "sup2"),
    ]


def test_the_supervise_command_runs_the_month(tmp_path):
    from typer.testing import CliRunner

    from hpf.cli import app as hpf_cli

    runner = CliRunner()
    env = {"HPF_DATABASE_URL": f"sqlite:///{tmp_path}/hub.sqlite3", "HPF_ENV": "development",
           "HPF_HUB_STAFF_PASSWORD": "Hub-Supervisor-2026!"}  # fmt: skip
    public = runner.invoke(
        hpf_cli, ["transfers", "keygen", "--out", str(tmp_path / "a.json")], env=env
    ).output.strip()
    register = ["hub", "register-center", "--code", CENTER, "--name", "杭州住房公积金管理中心",
                "--province", "浙江", "--endpoint", "http://127.0.0.1:8001", "--public-keys", public]  # fmt: skip
    assert runner.invoke(hpf_cli, register, env=env).exit_code == 0
    added = runner.invoke(
        hpf_cli,
        ["hub", "add-staff", "zj1", "--name", "浙江监督员", "--role", "supervisor", "--scope", "浙江"],
        env=env,
    )
    assert added.exit_code == 0, added.output
    from hpf.db.engine import make_engine

    engine = make_engine(env["HPF_DATABASE_URL"])
    with write_transaction(engine) as conn:
        assert supervisor_of(conn, "zj1").scope == "浙江"
        inputs.record_values(conn, CENTER, "2025-03", {LOAN: Decimal("90")}, datetime.now(UTC))
    engine.dispose()
    done = runner.invoke(hpf_cli, ["hub", "supervise", "--month", "2025-03"], env=env)
    assert done.exit_code == 0, done.output
    # only 个贷率 reported, beyond its line: 0 of 100 → D; one problem dispatched
    assert "policy v0, classified 330100:D; problems dispatched 1" in done.output
    assert runner.invoke(hpf_cli, ["hub", "supervise", "--month", "2025-13"], env=env).exit_code == 2


def test_hub_events_raise_problems_in_the_reporting_run_once(hub):
    now = datetime.now(UTC)
    with write_transaction(hub.engine) as conn:
        inputs.record_values(conn, CENTER, "2025-03", {LOAN: Decimal("70")}, now)
        assert run.record_event(conn, center=CENTER, month="2025-03", kind="transfer_overdue",
                                ref="3301002503100001", detail_zh="转移接续超过15个工作日未办结", now=now)  # fmt: skip
        assert not run.record_event(conn, center=CENTER, month="2025-03", kind="transfer_overdue",
                                    ref="3301002503100001", detail_zh="重复", now=now)  # fmt: skip
        run.record_event(conn, center=CENTER, month="2025-03", kind="audit_finding", ref="A-DUP-PAYOUT/17",
                         detail_zh="电子稽查：重复支付", now=now)  # fmt: skip
        done = run.reporting_run(conn, hub.app.state.hub, "2025-03", today=date(2025, 4, 1), now=now)
        again = run.reporting_run(conn, hub.app.state.hub, "2025-03", today=date(2025, 4, 1), now=now)
        found = conn.execute(select(hub_problem.c.rule, hub_problem.c.subject, hub_problem.c.state)).all()
    assert len(done.problems) == 2 and again.problems == []
    assert sorted(found) == [
        ("M-AUDIT-FINDING", "A-DUP-PAYOUT/17", "dispatched"),
        ("M-TRANSFER-OVERDUE", "3301002503100001", "dispatched"),
    ]


def test_a_report_over_the_warning_line_gets_its_problem_with_the_report(tmp_path):
    """SUP101 taken (decision 0039) → the seam holds its figures → the month's reporting run in
    the same transaction (0040): the center's problem is dispatched before the hub answers."""
    from uuid import uuid4

    from fastapi.testclient import TestClient

    from hpf.db.engine import make_engine
    from hpf.hub.app import create_hub_app
    from hpf.hub.schema import upgrade
    from hpf.hub.settings import HubSettings
    from hpf.messages.bodies import IndicatorValue, SupervisionReport
    from hpf.messages.transport import PATH
    from hub_support import HUB_CODE, HUB_KEYS, compose, delivery

    engine = make_engine(f"sqlite:///{tmp_path}/hub.sqlite3")
    upgrade(engine)
    settings = HubSettings(
        database_url="unused", env="development", hub_code=HUB_CODE, warehouse_dir=tmp_path / "warehouse"
    )
    app = create_hub_app(settings, engine=engine, keys=HUB_KEYS, post=lambda url, payload: (0, {}),
                         passwords=Passwords(FAST_FOR_TESTS), deliver=False)  # fmt: skip
    keys = KeyPair.generate()
    with write_transaction(engine) as conn:
        from hpf.hub import registry

        registry.register(conn, code=CENTER, name="杭州", province="浙江", endpoint="http://a.test",
                          keys=keys.public(), actor="test", now=datetime.now(UTC), hub_code=HUB_CODE)  # fmt: skip

    def report(version: int, loan_ratio: str) -> int:
        body = SupervisionReport(
            report_id=uuid4(), month="2026-10", version=version, chunk=0, chunks=1, members_total=1,
            indicators=[IndicatorValue(code=LOAN, value=Decimal(loan_ratio)),
                        IndicatorValue(code=LOAN, dim="bm_dwjjlx=110", value=Decimal("99"))],
            members=[("cd" * 32, "01", False, 100, 0, 0, 0, 0, 0, 0, 5000, 0, 0)],
        )  # fmt: skip
        envelope = compose(keys, CENTER, HUB_CODE, HUB_KEYS, "SUP101", body)
        with TestClient(app) as client:
            return client.post(PATH, json=delivery(keys, CENTER, envelope)).status_code

    assert report(1, "91.5") == 200
    with read_transaction(engine) as conn:
        found = conn.execute(select(hub_problem.c.center, hub_problem.c.rule, hub_problem.c.state)).all()
        grade = conn.scalar(select(hub_center_class.c.grade).where(hub_center_class.c.center == CENTER))
        seam = inputs.indicator_values(conn, "2026-10")
    assert found == [(CENTER, "M-LOAN-RATIO", "dispatched")]
    assert [(v.indicator_code, v.value) for v in seam] == [
        (LOAN, Decimal("91.5"))
    ]  # the total, not a dimension
    assert grade is not None
    assert report(2, "70") == 200  # a restatement under the line: its figures replace the first's
    with read_transaction(engine) as conn:
        seam = inputs.indicator_values(conn, "2026-10")
        problems_now = conn.scalar(select(func.count()).select_from(hub_problem))
    assert [(v.indicator_code, v.value) for v in seam] == [(LOAN, Decimal("70"))]
    assert problems_now == 1  # the problem raised stays on its way to closure; none is added
    engine.dispose()
