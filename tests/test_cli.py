"""The ``hpf`` command: upgrade, check (and its failure), clock, demo without serving."""

from sqlalchemy import text
from typer.testing import CliRunner

from hpf.cli import app
from hpf.db.engine import make_engine, read_transaction, write_transaction

runner = CliRunner()


def test_demo_check_and_a_broken_ledger(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/cli.sqlite3"
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    built = runner.invoke(
        app, ["demo", "--no-serve", "--members", "300", "--employers", "12", "--history-months", "2"]
    )
    assert built.exit_code == 0, built.output
    assert "已模拟 2 个月" in built.output and "职工 300 人" in built.output and "单位 12 家" in built.output
    assert "提取申请" in built.output and "贷款评分卡" in built.output and "/self/login" in built.output
    assert "Decimal(" not in built.output and "{'" not in built.output  # no raw Python dict
    assert "OpenHPF-Demo-2025" in built.output and "TOTP secret" in built.output  # demo sign-ins
    for login in ("admin", "admin2", "teller", "finance", "finance2", "auditor"):
        assert f" {login} " in built.output
    assert built.output.count("/self/login") == 3  # where to sign in; one member, one employer
    ok = runner.invoke(app, ["check"])
    assert ok.exit_code == 0, ok.output
    engine = make_engine(url)
    with write_transaction(engine) as conn:
        member_id, account = conn.execute(text(
            "SELECT b.member_id, m.account_no FROM member_balance b JOIN member m ON m.id = b.member_id "
            "WHERE b.carried_fen > 0 ORDER BY b.member_id LIMIT 1")).one()  # fmt: skip
        conn.execute(text("UPDATE member_balance SET carried_fen = carried_fen + 1 WHERE member_id = :m"),
                     {"m": member_id})  # fmt: skip
    broken = runner.invoke(app, ["check"])
    assert broken.exit_code == 1
    assert f"member {member_id}" in broken.output
    assert account in broken.output


def test_the_demo_summary_reads_as_figures():
    from decimal import Decimal

    from hpf.cli import demo_summary_lines
    from hpf.sim.simulator import SimulationSummary

    lived = SimulationSummary(months=24, hires=1234, lists=5000, scorecard_auc=Decimal("0.9024"),
                              last_business_date="2026-12-01")  # fmt: skip
    lived.withdrawals.applied, lived.withdrawals.refused, lived.loans.approved = 1500, 30, 40
    text = "\n".join(demo_summary_lines(lived, port=8123))
    assert "已模拟 24 个月，业务日期现为 2026-12-01" in text and "新增职工 1,234 人" in text
    assert "提取申请 1,500 笔" in text and "不予提取 30" in text and "批准 40" in text
    assert "AUC 0.902" in text and "Decimal" not in text
    assert "http://127.0.0.1:8123/login" in text and "http://127.0.0.1:8123/self/login" in text
    assert "未训练" in "\n".join(demo_summary_lines(SimulationSummary()))


def test_clock_only_moves_forward(tmp_path, monkeypatch):
    monkeypatch.setenv("HPF_DATABASE_URL", f"sqlite:///{tmp_path}/clock.sqlite3")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["clock", "set", "2025-03-01"]).exit_code == 0
    assert runner.invoke(app, ["clock", "show"]).output.strip() == "2025-03-01"
    assert runner.invoke(app, ["clock", "set", "2025-02-01"]).exit_code == 2


def test_user_create_and_the_development_totp_code(tmp_path, monkeypatch):
    from hpf.identity import identity

    url = f"sqlite:///{tmp_path}/users.sqlite3"
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    made = runner.invoke(
        app, ["user", "create", "--login", "Wang.Fin", "--roles", "finance, auditor", "--name", "王财务"],
        input="Correct-Horse-42\nCorrect-Horse-42\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "created wang.fin (auditor, finance); TOTP is enrolled at the first sign-in" in made.output
    weak = runner.invoke(
        app, ["user", "create", "--login", "li.t", "--roles", "teller", "--password", "short"]
    )
    assert weak.exit_code == 2 and "password.policy" in weak.output
    bad_role = runner.invoke(
        app, ["user", "create", "--login", "li.t", "--roles", "root", "--password", "Correct-Horse-42"]
    )
    assert bad_role.exit_code == 2 and "principal.roles" in bad_role.output
    engine = make_engine(url)
    with write_transaction(engine) as conn:
        login = conn.execute(identity.principal.select()).mappings().one()
        assert login["login"] == "wang.fin" and login["password_hash"].startswith("$argon2id$")
    assert runner.invoke(app, ["user", "totp-code", "wang.fin"]).exit_code == 1  # not enrolled yet
    monkeypatch.setenv("HPF_ENV", "production")
    refused = runner.invoke(app, ["user", "totp-code", "wang.fin"])
    assert refused.exit_code == 2 and "security.default_key" in refused.output  # no keys configured
    monkeypatch.setenv("HPF_KEYS", "k1:" + "QUJD" * 11)
    only_dev = runner.invoke(app, ["user", "totp-code", "wang.fin"])
    assert only_dev.exit_code == 2 and "only in development" in only_dev.output


def test_audit_verify_detects_an_altered_row(tmp_path, monkeypatch):
    from datetime import date

    from hpf.audit import trail as audit
    from hpf.kernel.clock import FixedClock
    from hpf.kernel.context import Context

    url = f"sqlite:///{tmp_path}/audit.sqlite3"
    monkeypatch.setenv("HPF_DATABASE_URL", url)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = make_engine(url)
    ctx = Context("teller", FixedClock(date(2025, 3, 15)), "990001")
    with write_transaction(engine) as conn:
        for n in range(3):
            audit.append(conn, ctx, role="teller", source_ip="127.0.0.1", action="member.read",
                         object_type="member", object_id=str(n), purpose="柜台查询", outcome="ok", detail={})  # fmt: skip
    ok = runner.invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    with engine.connect() as conn:  # tamper below the triggers, as an attacker with file access would
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_log_no_update")
        conn.exec_driver_sql("UPDATE audit_log SET purpose = '无' WHERE id = 2")
        conn.commit()
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "row 2" in broken.output


def test_a_staff_id_number_is_registered_as_its_blind_index(tmp_path, monkeypatch):
    from sqlalchemy import select

    from hpf.identity.queries import staff_identities_subquery
    from hpf.protection.protect import blind_index

    monkeypatch.setenv("HPF_DATABASE_URL", f"sqlite:///{tmp_path}/staff.sqlite3")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    rid = "11010519491231002X"
    made = runner.invoke(
        app, ["user", "create", "--login", "zhao.a", "--roles", "auditor", "--password", "Correct-Horse-42",
              "--resident-id", rid],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    plain = runner.invoke(app, ["user", "create", "--login", "qian.b", "--roles", "teller",
                                "--password", "Correct-Horse-42"])  # fmt: skip
    assert plain.exit_code == 0, plain.output
    later = runner.invoke(app, ["user", "register-id", "qian.b", "--resident-id", "110105194912310029"])
    assert later.exit_code == 2 and "resident_id" in later.output  # a wrong check digit is refused
    later = runner.invoke(app, ["user", "register-id", "qian.b", "--resident-id", "110101199003074477"])
    assert later.exit_code == 0, later.output
    unknown = runner.invoke(app, ["user", "register-id", "nobody", "--resident-id", rid])
    assert unknown.exit_code == 2 and "principal.not_found" in unknown.output
    engine = make_engine(f"sqlite:///{tmp_path}/staff.sqlite3")
    with read_transaction(engine) as conn:
        s = staff_identities_subquery("s")
        kept = dict(conn.execute(select(s.c.login, s.c.resident_id_bidx)).all())
    assert kept == {"zhao.a": blind_index("member", "resident_id", rid),
                    "qian.b": blind_index("member", "resident_id", "110101199003074477")}  # fmt: skip
    assert rid not in str(kept)
    with read_transaction(engine) as conn:
        logged = (
            conn.execute(text("SELECT detail FROM audit_log WHERE action = 'staff.register_id' ORDER BY id"))
            .scalars()
            .all()
        )
    assert len(logged) == 2 and rid not in str(logged)  # both registrations, never the number
