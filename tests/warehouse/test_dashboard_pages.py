"""The 管理看板 pages: who may open them, the figures and the drill-down rows in Chinese, the
refusal before the warehouse is built."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from hpf.access.permissions import Role
from hpf.app import create_app
from hpf.settings import Settings
from hpf.warehouse import dashboards


@pytest.fixture
def app(center):
    engine, _ = center
    return create_app(Settings(env="development", database_url=str(engine.url)), engine=engine)


def test_a_manager_reads_the_boards_and_the_rows_behind_a_figure(app, center):
    _, path = center
    with TestClient(app) as c:
        c.follow_redirects = True
        from signing_in import sign_in

        sign_in(c, "finance01", roles=[Role.FINANCE], session=True)
        landing = c.get("/dashboards")
        assert (
            landing.status_code == 200
            and '已入仓至 <span id="dashboards-as-of">2025-02</span>' in landing.text
        )
        for href in (
            "/dashboards/collection",
            "/dashboards/withdrawals",
            "/dashboards/loans",
            "/dashboards/channels",
        ):
            assert f'href="{href}"' in landing.text
            page = c.get(href)
            assert page.status_code == 200 and "data-chart=" in page.text, href
        page = c.get("/dashboards/withdrawals", params={"employer_type": "", "month_from": "2024-06"})
        assert page.status_code == 200 and '<option value="2024-06" selected>' in page.text
        link = re.search(r'href="(/dashboards/withdrawals/rows\?[^"]+)" data-month="([^"]+)" data-series="([^"]+)" '
                         r'data-value="(\d+)"', page.text)  # fmt: skip
        assert link is not None
        rows = c.get(link.group(1).replace("&amp;", "&"))
        assert rows.status_code == 200
        with dashboards.opened(path) as con:
            drill = dashboards.drill(
                con, "withdrawals", dashboards.Filters(), month=link.group(2), series=link.group(3)
            )
        assert drill.total == int(link.group(4))
        assert "与图中数值相符" in rows.text and drill.rows[0].member_key in rows.text
        assert c.get("/dashboards/loans").text.count("贷款余额五级分类") == 1
        assert c.get("/dashboards/nothing").status_code == 404


def test_who_may_open_the_boards(app):
    with TestClient(app) as c:
        from signing_in import sign_in

        sign_in(c, "teller01", roles=[Role.TELLER], session=True)
        assert c.get("/dashboards").status_code == 403
        assert (
            c.get("/dashboards/collection/rows", params={"month": "2024-05", "series": "01"}).status_code
            == 403
        )
    with TestClient(app) as c:
        from signing_in import sign_in

        sign_in(c, "super01", roles=[Role.SUPERVISOR], session=True)
        assert c.get("/dashboards/collection").status_code == 200


def test_before_the_warehouse_is_built_the_page_says_so(app, center):
    _, path = center
    path.unlink()
    with TestClient(app) as c:
        from signing_in import sign_in

        sign_in(c, "risk01", roles=[Role.RISK], session=True)
        assert "数据仓库尚未构建" in c.get("/dashboards").text
        refused = c.get("/dashboards/collection")
        assert refused.status_code == 404 and "数据仓库尚未构建" in refused.text
