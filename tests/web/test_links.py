"""A link is shown only to whom it opens (``hpf.web.links.can_open``): decided from the route's
own ``requires`` declaration — its permission, then its object scope — never from a second table.

Each case is checked both ways: what ``can_open`` answers and what the route answers when that
principal opens it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from auth_center import AuthCenter, build_auth_center
from hpf.access.permissions import Role
from hpf.db.engine import make_engine
from hpf.schema import upgrade
from hpf.web.auth import Resolution
from hpf.web.links import can_open, link
from signing_in import use_session

ROLES = (
    Role.TELLER,
    Role.REVIEWER,
    Role.FINANCE,
    Role.AUDITOR,
    Role.RISK,
    Role.SUPERVISOR,
    Role.ADMIN,
    Role.MEMBER,
    Role.EMPLOYER,
    Role.PARTNER,
)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('links')}/hpf.sqlite3")
    upgrade(engine)
    yield build_auth_center(engine)
    engine.dispose()


def _request(center: AuthCenter, role: Role | None) -> Request:
    request = Request(
        {"type": "http", "app": center.app, "method": "GET", "path": "/", "headers": [], "query_string": b""}
    )
    request.state.auth = Resolution(principal=center.principals[role] if role else None)
    return request


def _client(center: AuthCenter, role: Role) -> TestClient:
    client = center.client(follow_redirects=False)
    use_session(client, center.principals[role])
    return client


def _paths(center: AuthCenter) -> list[str]:
    e, f = center.employer.account_no, center.other_employer.account_no
    a, b = center.member.account_no, center.stranger.account_no
    return [
        "/",
        "/ledger",
        "/employers",
        f"/employers/{e}",
        f"/employers/{f}",
        f"/employers/{e}/remittances",
        f"/members/{a}",
        f"/members/{b}",
        f"/members/{a}/withdrawals",
        "/members/search",
        "/receipts/unallocated",
        "/loans",
        "/settlement",
        "/applications",
        "/applications/queue",
        f"/applications/{center.application.id}",
        "/approvals",
        "/security/alerts",
        "/policy",
        "/catalog",
        "/services",
        "/loans/calculator",
        f"/remittances/{center.remittance.id}",
        f"/remittances/{center.other_remittance.id}",
    ]


@pytest.mark.parametrize("role", ROLES, ids=[r.value for r in ROLES])
def test_a_link_opens_exactly_when_can_open_says_so(center: AuthCenter, role: Role) -> None:
    client = _client(center, role)
    request = _request(center, role)
    disagree = []
    for path in _paths(center):
        answer = client.get(path)
        opens = answer.status_code < 400
        if can_open(request, path) != opens:
            disagree.append(f"{path}: can_open={not opens}, answered {answer.status_code}")
    assert not disagree, disagree


def test_nobody_signed_in_opens_only_public_pages(center: AuthCenter) -> None:
    request = _request(center, None)
    assert can_open(request, "/services") and can_open(request, "/loans/calculator")
    assert can_open(request, "/static/favicon.svg")
    assert not can_open(request, "/") and not can_open(request, "/policy")
    assert not can_open(request, "/no/such/page")  # nothing answers: not shown either


def test_a_route_by_name_and_a_link_or_its_text(center: AuthCenter) -> None:
    e = center.employer.account_no
    member = _request(center, Role.MEMBER)
    assert can_open(member, "member_page", account_no=center.member.account_no)
    assert not can_open(member, "member_page", account_no=center.stranger.account_no)
    assert str(link(member, f"/employers/{e}", "单位<甲>")) == "单位&lt;甲&gt;"
    assert str(link(member, "/ledger", "科目余额", plain=False)) == ""
    employer = _request(center, Role.EMPLOYER)
    assert str(link(employer, f"/employers/{e}", "单位", class_="strong")) == (
        f'<a href="/employers/{e}" class="strong">单位</a>'
    )


def _hrefs(html: str) -> set[str]:
    return set(re.findall(r'href="(/[^"#?]*)', html))


def test_the_teller_home_offers_no_ledger_and_the_finance_home_does(center: AuthCenter) -> None:
    teller = _client(center, Role.TELLER).get("/").text
    assert "/ledger" not in _hrefs(teller) and "科目余额" not in teller
    finance = _client(center, Role.FINANCE).get("/").text
    assert "/ledger" in _hrefs(finance)


def test_the_member_breadcrumb_names_the_employer_without_a_link(center: AuthCenter) -> None:
    page = _client(center, Role.MEMBER).get(f"/members/{center.member.account_no}")
    assert page.status_code == 200
    assert f"/employers/{center.employer.account_no}" not in _hrefs(page.text)
    assert center.employer.name in page.text
    staff = _client(center, Role.TELLER).get(f"/members/{center.member.account_no}").text
    assert f"/employers/{center.employer.account_no}" in _hrefs(staff)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.SUPERVISOR], ids=["admin", "supervisor"])
def test_roles_that_may_not_search_members_are_told_so(center: AuthCenter, role: Role) -> None:
    page = _client(center, role).get("/").text
    assert 'id="no-search"' in page and "没有查阅职工和单位信息的权限" in page
    assert 'role="search"' not in page and "/members/search" not in page


def test_every_link_on_every_page_a_role_opens_is_one_it_may_open(center: AuthCenter) -> None:
    """The pages of the small center, each role: every same-site link answers below 400."""
    for role in ROLES:
        client = _client(center, role)
        refused = []
        for path in _paths(center):
            answer = client.get(path)
            if answer.status_code >= 400 or "text/html" not in answer.headers.get("content-type", ""):
                continue
            for href in _hrefs(answer.text) - {"/logout"}:
                status = client.get(href).status_code
                if status >= 400:
                    refused.append(f"{href} ({status}) on {path}")
        assert not refused, f"{role.value}: {refused}"


def test_the_page_header_shows_the_business_date_to_staff_only(center: AuthCenter) -> None:
    staff = _client(center, Role.TELLER).get("/employers").text
    assert 'class="bizdate"' in staff
    member = _client(center, Role.MEMBER).get(f"/members/{center.member.account_no}").text
    assert 'class="bizdate"' not in member
    assert '<link rel="icon" href="/static/favicon.svg"' in member
    assert center.client().get("/static/favicon.svg").status_code == 200
