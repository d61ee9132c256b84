"""Supervision reporting over a hub and three centers in one process (decision 0039): each
center lives simulated months and reports them (SUP101 through its outbox, the hub's endpoint);
the hub's national and provincial figures equal the sum of the centers' own; a restatement
replaces a month and keeps the history; the member data set names nobody; the annual report's
xlsx has one row per center and 全国合计."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from hpf.db.calendar import set_business_date
from hpf.db.engine import make_engine, read_transaction, write_transaction
from hpf.hub import national, warehouse
from hpf.hub.app import create_hub_app
from hpf.hub.schema import upgrade as hub_upgrade
from hpf.hub.settings import HubSettings
from hpf.hub.tables import hub_report
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.kernel.clock import FixedClock
from hpf.kernel.context import Context
from hpf.kernel.errors import HpfError
from hpf.messages.keys import KeyPair
from hpf.schema import upgrade
from hpf.sim.generator import build_demo_center
from hpf.sim.simulator import simulate
from hpf.supervision import indicators, service
from hpf.supervision.tables import supervision_person
from hpf.transfers import link as hub_link
from hpf.transfers import service as transfers
from hub_support import HUB_CODE, HUB_KEYS, router

pytestmark = pytest.mark.slow

KEY = bytes(range(32))  # the national reporting key of this test's network
CENTERS = (  # code, name, province, seed, members
    ("330100", "杭州住房公积金管理中心", "浙江", 3, 160),
    ("330200", "宁波市住房公积金管理中心", "浙江", 3, 160),  # the same seed: the same people as 杭州
    ("440300", "深圳市住房公积金管理中心", "广东", 5, 200),
)
MONTHS = ("2025-01", "2025-02", "2025-03")


class Center:
    def __init__(self, tmp: Path, code: str, name: str, seed: int, members: int, *, scheduled: bool) -> None:
        """``scheduled``: the simulator reports each month after its month-end (the others report
        by hand, ``report``)."""
        self.code, self.name = code, name
        self.engine = make_engine(f"sqlite:///{tmp}/{code}.sqlite3")
        upgrade(self.engine)
        start = date(2025, 1, 1)
        with write_transaction(self.engine) as conn:
            set_business_date(conn, start)
        build_demo_center(
            self.engine, Context("demo", FixedClock(start), code), seed=seed, employers=12, members=members
        )
        self.keys = KeyPair.generate()
        public = HUB_KEYS.public()
        from hpf.messages.keys import PublicKeys

        self.link = hub_link.HubLink(
            center_code=code, keys=self.keys, hub_code=HUB_CODE, hub_url="http://hub.test",
            hub_keys=PublicKeys(sign=public.sign, encrypt=public.encrypt),
        )  # fmt: skip
        self.ctx = Context("supervisor", FixedClock(date(2025, 4, 1)), code, source="test")
        hub_link.install(self.link, hub_link.installed().handlers)
        lived = simulate(
            self.engine, code, months=len(MONTHS), seed=seed, report_key=KEY if scheduled else None
        )
        assert lived.reports == (len(MONTHS) if scheduled else 0)

    def deliver(self, hub_post: Any) -> None:
        hub_link.install(self.link, hub_link.installed().handlers)
        while transfers.deliver_due(self.engine, self.ctx, hub_post).delivered:
            pass

    def report(self, hub_post: Any, month: str, reason: str | None = None) -> service.SentReport:
        handlers = hub_link.installed().handlers
        hub_link.install(self.link, handlers)
        with write_transaction(self.engine) as conn:
            sent = service.report_month(conn, self.ctx, month, key=KEY, reason=reason)
        self.deliver(hub_post)
        return sent

    def figures(self, month: str) -> indicators.Figures:
        """The month's figures as this center sent them (the latest version): the hub must hold
        the same (a state counted now may have moved since the simulator reported the month)."""
        with read_transaction(self.engine) as conn:
            return service.sent_figures(conn, month)

    def persons(self) -> set[str]:
        with read_transaction(self.engine) as conn:
            return set(conn.scalars(select(supervision_person.c.person)))


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("network")
    from hpf import bootstrap
    from hpf.settings import Settings

    bootstrap.install(bootstrap.build(Settings(database_url="sqlite://", env="development")))
    hub_engine = make_engine(f"sqlite:///{tmp}/hub.sqlite3")
    hub_upgrade(hub_engine)
    settings = HubSettings(
        database_url=f"sqlite:///{tmp}/hub.sqlite3",
        env="development",
        hub_code=HUB_CODE,
        warehouse_dir=tmp / "warehouse",
    )
    app = create_hub_app(
        settings, engine=hub_engine, keys=HUB_KEYS, post=lambda url, payload: (0, {}),
        passwords=Passwords(FAST_FOR_TESTS), deliver=False,
    )  # fmt: skip
    client = TestClient(app)
    centers = [
        Center(tmp, code, name, seed, members, scheduled=code == "440300")
        for code, name, _, seed, members in CENTERS
    ]
    from hpf.hub import registry
    from hub_support import now

    with write_transaction(hub_engine) as conn:
        for (code, name, province, _, _), center in zip(CENTERS, centers, strict=True):
            registry.register(
                conn, code=code, name=name, province=province, endpoint=f"http://{code}.test",
                keys=center.keys.public(), actor="test", now=now(), hub_code=HUB_CODE,
            )  # fmt: skip
    post = router({"http://hub.test": client})
    for center in centers[:2]:
        for month in MONTHS:
            center.report(post, month)
    centers[2].deliver(post)  # what the simulator queued after each month-end
    restated = centers[0].report(post, MONTHS[0], reason="补录一笔汇缴后更正")  # 更正报送
    assert restated.version == 2
    yield {
        "centers": centers,
        "hub": hub_engine,
        "settings": settings,
        "post": post,
        "client": client,
        "tmp": tmp,
    }
    hub_engine.dispose()
    for center in centers:
        center.engine.dispose()


def open_warehouse(net: dict[str, Any], months: list[str]) -> warehouse.Warehouse:
    with read_transaction(net["hub"]) as conn:
        files = warehouse.current_files(conn, net["settings"].warehouse_dir, months=months)
    return warehouse.Warehouse(files)


def test_every_catalogue_indicator_is_computed_or_says_why():
    catalogue = indicators.catalogue()
    assert len(catalogue) == 241
    local = {c for c in indicators.COMPUTED if c.startswith("99")}
    assert set(indicators.COMPUTED) - local <= set(catalogue)
    reasons = {code: indicators.unsupported_reason(code) for code in catalogue}
    assert all(reasons[c] is None for c in indicators.COMPUTED if c in catalogue)
    assert all(reasons[c] for c in catalogue if c not in indicators.COMPUTED)
    assert len([c for c in catalogue if c in indicators.COMPUTED]) >= 70


def test_the_nation_and_the_provinces_are_the_sum_of_their_centers(network):
    net = network
    seen = []
    for month in MONTHS:
        own = [c.figures(month) for c in net["centers"]]
        seen += own
        wh = open_warehouse(net, [month])
        try:
            nation = national.month_totals(wh, month)
            provinces = national.province_totals(wh, month)
            by_center = {row[0]: row[1:] for row in wh.query(national.member_sums_by_center_sql(month))}
        finally:
            wh.close()
        additive = {k for f in own for k in f if k[0] not in national.RATIO_CODES}
        assert additive and set(nation) == additive
        for key in additive:
            assert nation[key] == sum((f.get(key, Decimal(0)) for f in own), Decimal(0)), key
        zhejiang = own[0], own[1]
        for key in additive:
            assert provinces.get(("浙江", *key), Decimal(0)) == sum(
                f.get(key, Decimal(0)) for f in zhejiang
            ), key
        # The member data set of each center adds up to its own balance and contributions.
        for center, figures in zip(net["centers"], own, strict=True):
            accounts, balance, paid, withdrawn, _ = by_center[center.code]
            assert balance == figures[("0301008101", "")]
            assert paid + figures[("0301007301", "")] == figures[("0301007201", "")]
            assert withdrawn == figures[("0301007601", "")]
            assert accounts >= figures[("0301005101", "")]
    for code in ("0301003201", "0301003901", "0301008101"):  # the cities paid in and out
        assert any(f[(code, "")] > 0 for f in seen), code


def test_persons_are_counted_once_across_centers_and_named_by_pseudonym_only(network):
    net = network
    month = MONTHS[-1]
    wh = open_warehouse(net, [month])
    try:
        figures = national.member_figures(wh, month)
        persons = [
            str(p) for (p,) in wh.query(f"SELECT DISTINCT person FROM members WHERE period = '{month}'")
        ]
    finally:
        wh.close()
    sets = [c.persons() for c in net["centers"]]
    assert sets[0] & sets[1], "the two cities of one seed share people"
    union = set().union(*sets)
    assert figures["accounts"] > figures["persons"]
    assert set(persons) <= union and len(persons) == figures["persons"]
    shared = sum(1 for p in set(persons) if sum(p in s for s in sets) > 1)
    assert figures["multi_center_persons"] == shared > 0
    # No resident ID number, no name: only the pseudonym.
    from hpf.accounts import queries as accounts

    with read_transaction(net["centers"][0].engine) as conn:
        m = accounts.member_refs_subquery()
        names = {str(n) for (n,) in conn.execute(select(m.c.name))}
        numbers = set(accounts.resident_ids(conn, list(conn.scalars(select(m.c.id)))).values())
    assert len(numbers) > 100 and len(names) > 50
    for path in Path(net["settings"].warehouse_dir).rglob("*.parquet"):
        table = pq.read_table(path)
        text = str(table.to_pylist())
        assert not any(n in text for n in numbers) and not any(f"'{n}'" in text for n in names)
        if "person" in table.column_names:
            assert all(re.fullmatch(r"[0-9a-f]{64}", p) for p in table.column("person").to_pylist())


def test_a_restatement_replaces_the_month_and_keeps_the_history(network):
    net = network
    hangzhou = net["centers"][0]
    hub_link.install(hangzhou.link, hub_link.installed().handlers)
    with write_transaction(hangzhou.engine) as conn:
        with pytest.raises(HpfError) as refused:
            service.report_month(conn, hangzhou.ctx, MONTHS[0], key=KEY)
        assert refused.value.code == "supervision.reason_required"
        with pytest.raises(HpfError) as still_open:
            service.report_month(conn, hangzhou.ctx, "2025-04", key=KEY)
        assert still_open.value.code == "supervision.month_open"
    with read_transaction(net["hub"]) as conn:
        rows = conn.execute(
            select(hub_report.c.version, hub_report.c.state)
            .where(hub_report.c.center == hangzhou.code, hub_report.c.month == MONTHS[0])
            .order_by(hub_report.c.version)
        ).all()
        files = warehouse.current_files(conn, net["settings"].warehouse_dir, months=[MONTHS[0]])
    assert [tuple(r) for r in rows] == [(1, "superseded"), (2, "current")]
    assert all(Path(f).exists() for f in files.indicators)
    assert sum(f"center={hangzhou.code}/" in f for f in files.indicators) == 1
    assert f"center={hangzhou.code}/month={MONTHS[0]}/v2" in " ".join(files.indicators)
    old = warehouse.indicator_file(net["settings"].warehouse_dir, hangzhou.code, MONTHS[0], 1)
    assert old.exists()  # the history stays
    with read_transaction(hangzhou.engine) as conn:
        shown = service.reports(conn)
    assert [(r.month, r.version, r.delivered == r.chunks) for r in shown] == [
        *((m, 1, True) for m in reversed(MONTHS[1:])),
        (MONTHS[0], 2, True),
        (MONTHS[0], 1, True),
    ]
    assert shown[-2].reason == "补录一笔汇缴后更正"
    wh = open_warehouse(net, [MONTHS[0]])
    try:  # still the sum of the centers: the restated version counts once
        nation = national.month_totals(wh, MONTHS[0])
    finally:
        wh.close()
    own = [c.figures(MONTHS[0]) for c in net["centers"]]
    assert nation[("0301008101", "")] == sum(f[("0301008101", "")] for f in own)


def test_the_annual_report_as_xlsx_pdf_and_page(network, monkeypatch):
    net = network
    out = Path(net["tmp"]) / "annual.xlsx"
    monkeypatch.setenv("HPF_DATABASE_URL", net["settings"].database_url)
    monkeypatch.setenv("HPF_WAREHOUSE_DIR", str(net["settings"].warehouse_dir))
    from hpf.cli import app

    result = CliRunner().invoke(app, ["hub", "annual-report", "--year", "2025", "--out", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("中心代码", "中心名称", "省份")
    assert [r[0] for r in rows[1:-1]] == [c.code for c in net["centers"]]
    assert rows[-1][1] == "全国合计"
    deposits = rows[0].index("缴存额（元）")
    persons = rows[0].index("实缴职工（人）")
    assert rows[-1][deposits] == pytest.approx(sum(r[deposits] for r in rows[1:-1]))
    assert rows[-1][persons] == sum(r[persons] for r in rows[1:-1]) > 0
    wh = open_warehouse(net, list(MONTHS))
    try:
        report = national.annual_report(wh, 2025)
    finally:
        wh.close()
    own = [c.figures(m) for c in net["centers"] for m in MONTHS]
    assert report.nation.deposits == sum(int(f[("0301007201", "")]) for f in own)
    for figure in national.FIGURES:  # the nation and each province: the sum of their centers
        assert getattr(report.nation, figure) == sum(getattr(r, figure) for r in report.centers), figure
        assert getattr(report.nation, figure) == sum(getattr(r, figure) for r in report.provinces), figure
    zhejiang = next(p for p in report.provinces if p.name == "浙江")
    assert zhejiang.loan_balance == sum(r.loan_balance for r in report.centers if r.province == "浙江")
    assert report.nation.loan_ratio is not None and report.nation.withdrawal_rate is not None
    pdf = CliRunner().invoke(
        app, ["hub", "annual-report", "--year", "2025", "--out", str(out.with_suffix(".pdf"))]
    )
    assert pdf.exit_code == 0 and out.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    assert b"FontFile2" in out.with_suffix(".pdf").read_bytes()  # the CJK font embedded


def test_the_hub_pages_show_the_reports_and_the_annual_report_in_chinese(network):
    net = network
    from hpf.hub import staff
    from hub_support import now

    with write_transaction(net["hub"]) as conn:
        staff.add_staff(
            conn, login="sup", name="监管员", password="Relay-Desk-2026-安全", passwords=Passwords(FAST_FOR_TESTS),
            now=now(),
        )  # fmt: skip
    client = net["client"]
    assert client.get("/reports", follow_redirects=False).headers["location"] == "/login"
    assert client.post("/login", data={"login": "sup", "password": "Relay-Desk-2026-安全"}).status_code == 200
    page = client.get(f"/reports?month={MONTHS[0]}")
    assert page.status_code == 200 and "监管报送" in page.text and "全国汇总" in page.text
    assert "多地开户人数" in page.text and "已被更正替代" in page.text and "浙江" in page.text
    annual = client.get("/annual-report?year=2025")
    assert annual.status_code == 200 and "2025年全国住房公积金年度报告" in annual.text
    assert "全国合计" in annual.text and "宁波市住房公积金管理中心" in annual.text and "个贷率" in annual.text
    xlsx = client.get("/annual-report.xlsx?year=2025")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    pdf = client.get("/annual-report.pdf?year=2025")
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"


def test_the_center_page_lists_what_was_sent_and_what_cannot_be_computed(network, sign_in):
    from hpf.access.permissions import Role
    from hpf.app import create_app
    from hpf.settings import Settings

    hangzhou = network["centers"][0]
    settings = Settings(database_url="sqlite://", env="development", center_code=hangzhou.code)
    app = create_app(
        settings, engine=hangzhou.engine, clock=FixedClock(date(2025, 4, 1)), deliver_messages=False
    )
    with TestClient(app) as client:
        sign_in(client, "steward07", roles=[Role.AUDITOR], session=True)
        assert 'href="/supervision/reports"' in client.get("/data/catalog").text
        page = client.get("/supervision/reports")
        assert page.status_code == 200
        text = page.text
        assert "监管报送" in text and f'id="report-{MONTHS[-1]}-1"' in text
        assert "首次报送" in text and "更正" in text and "补录一笔汇缴后更正" in text
        assert "住房公积金个贷率（月）" in text and "职工收入分档" in text  # computed, and why not
        teller = TestClient(app)
        sign_in(teller, "teller11", roles=[Role.TELLER], session=True)
        assert teller.get("/supervision/reports", follow_redirects=False).status_code in (302, 303, 403)
