"""The one wiring point (``hpf.bootstrap``): what a process starts with, and what it refuses.

Unit tier, except where a database or the ``hpf`` command says otherwise.
"""

from __future__ import annotations

import ast
import base64
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hpf import bootstrap, events
from hpf.app import create_app
from hpf.approvals import service as approvals
from hpf.cli import app as hpf
from hpf.db.engine import write_transaction
from hpf.kernel.errors import HpfError
from hpf.protection import protect
from hpf.protection.crypto import KeyRing
from hpf.services import catalog, handlers
from hpf.services import service as applications
from hpf.settings import Settings
from hpf.settlement import owners
from services_support import build_center

DEVELOPMENT = Settings(database_url="sqlite://", env="development")


def _refusal(**patches: Any) -> HpfError:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in patches.items():
            mp.setattr(bootstrap, name, value)
        with pytest.raises(HpfError) as refused:
            bootstrap.build(DEVELOPMENT)
    return refused.value


# ------------------------------------------------------------------- (a) items and listeners


def test_every_item_of_the_catalog_is_declared_once_with_its_handler_or_by_hand():
    table = bootstrap.item_handlers()
    codes = {item["code"] for version in catalog.national_versions() for item in version.items}
    assert set(table) == codes
    handled = {code for code, handler in table.items() if handler is not None}
    assert {c for c in codes if c.startswith("WD-")} | {"LN-APPLY", "AC-TRANSFER-IN"} == handled
    assert {code for code, handler in table.items() if handler is None} == set(bootstrap.REVIEWED_BY_HAND)
    bootstrap.check(table, bootstrap.listeners())  # the shipped wiring is complete


def test_an_item_left_out_of_the_declaration_refuses_to_start():
    refused = _refusal(REVIEWED_BY_HAND=("AC-OPEN",))
    assert refused.code == "wiring.incomplete"
    assert refused.extra["problems"] == ["item AC-CHANGE of the catalog has no declared handler"]


def test_an_approval_kind_without_its_executor_refuses_to_start():
    shipped = bootstrap.listeners()
    without = tuple(x for x in shipped if not x.hears(approvals.APPROVED, {"kind": approvals.FUNDS_REFUND}))
    refused = _refusal(listeners=lambda: without)
    assert refused.extra["problems"] == ["approval kind funds.refund has 0 executors, not one"]


def test_a_payout_owner_no_listener_hears_refuses_to_start():
    shipped = bootstrap.listeners()
    without = tuple(x for x in shipped if not x.hears("payment_order.paid", {"owner_kind": "loan"}))
    refused = _refusal(listeners=lambda: without)
    assert refused.extra["problems"] == [
        "payment_order.paid of owner kind loan has 0 listeners, not one",
        "payment_order.failed of owner kind loan has 0 listeners, not one",
    ]


def test_an_undeclared_item_is_refused_rather_than_reviewed_by_hand(engine, monkeypatch):
    center = build_center(engine)
    declared = bootstrap.item_handlers()
    monkeypatch.setattr(handlers, "_installed", {k: v for k, v in declared.items() if k != "WD-RENT"})
    payload = {"rent_monthly_fen": 150_000, "payee_name": "张三", "payee_card": "6222020200001234562",
               "payee_bank": "中国工商银行济南分行"}  # fmt: skip
    with pytest.raises(HpfError) as refused, write_transaction(engine) as conn:
        applications.submit(conn, center.ctx, center.people["a"], "WD-RENT", payload)
    assert refused.value.code == "wiring.item_undeclared" and refused.value.status == 500
    monkeypatch.setattr(handlers, "_installed", None)  # a process that never started
    with pytest.raises(HpfError) as unwired, write_transaction(engine) as conn:
        applications.submit(conn, center.ctx, center.people["a"], "WD-RENT", payload)
    assert unwired.value.code == "wiring.missing"


def test_starting_installs_what_the_modules_use():
    deps = bootstrap.start(DEVELOPMENT)
    assert protect.ring() is deps.ring and events.installed() == deps.listeners
    assert (
        handlers.handler_for("WD-RENT") is deps.handlers["WD-RENT"]
        and handlers.handler_for("AC-OPEN") is None
    )
    assert owners.require_listened("withdrawal") is None
    with pytest.raises(HpfError) as nobody:
        owners.require_listened("nobody")
    assert nobody.value.code == "settlement.owner_unknown"


# --------------------------------------------------------------------------- (c) the key ring


def test_production_without_a_key_ring_refuses_to_start(tmp_path, monkeypatch):
    production = Settings(database_url=f"sqlite:///{tmp_path}/p.sqlite3", env="production")
    with pytest.raises(HpfError) as refused:
        bootstrap.build(production)
    assert refused.value.code == "security.default_key" and "HPF_KEYS" in refused.value.detail
    with pytest.raises(HpfError):
        create_app(production)
    monkeypatch.setenv("HPF_ENV", "production")
    monkeypatch.setenv("HPF_DATABASE_URL", production.database_url)
    monkeypatch.delenv("HPF_KEYS", raising=False)
    monkeypatch.delenv("HPF_KEY_FILE", raising=False)
    result = CliRunner().invoke(hpf, ["check"])
    assert result.exit_code == 2 and "security.default_key" in result.output


def test_production_starts_with_real_keys_and_development_with_the_development_ring():
    real = "k1:" + base64.b64encode(bytes(range(32))).decode()
    production = bootstrap.build(Settings(database_url="sqlite://", env="production", keys=real))
    assert production.ring.key_ids == ("k1",) and not production.ring.is_development
    assert bootstrap.build(DEVELOPMENT).ring.is_development


def test_there_is_no_silent_fallback_to_the_development_ring(engine, ctx):
    protect.uninstall()  # as in a process that never started through bootstrap
    with pytest.raises(HpfError) as refused:
        protect.ring()
    assert refused.value.code == "wiring.missing" and "key ring" in refused.value.detail
    with pytest.raises(HpfError) as sealing:
        protect.seal("member", "phone", "13900139001")
    assert sealing.value.code == "wiring.missing"
    protect.install(KeyRing.development())
    assert protect.reveal("member", "phone", protect.seal("member", "phone", "13900139001")) == "13900139001"


# ---------------------------------------------------------------------------- one place only

SRC = Path(__file__).parents[1] / "src" / "hpf"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):  # imports inside functions too
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_process_is_wired_only_in_bootstrap():
    installing = re.compile(r"\b(protect|handlers|events)\.install\(")
    wired = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if installing.search(p.read_text()))
    assert wired == ["bootstrap.py"]
    declaring = re.compile(r"\b(events\.)?Listener\(")
    listeners = sorted(str(p.relative_to(SRC)) for p in SRC.rglob("*.py") if declaring.search(p.read_text()))
    # bootstrap declares them; owners and approvals only offer factories of their own kind
    assert listeners == ["approvals/service.py", "bootstrap.py", "settlement/owners.py"]


def test_the_event_stream_is_low_level():
    for path in (SRC / "events").glob("*.py"):
        for name in _imports(path):
            if name.startswith("hpf"):
                assert name.startswith(("hpf.db", "hpf.kernel", "hpf.events")), f"{path.name}: {name}"
