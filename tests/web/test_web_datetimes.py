"""Every time the API answers carries its zone (SQLite gives stored times back without one).

All time columns are ``TIMESTAMP WITH TIME ZONE`` and hold UTC, but SQLite stores them as text
without an offset, and the API used to print e.g. an account history's ``recorded_at`` as
``2025-01-02T08:00:00`` — a client in Beijing would read it as local time, 8 hours off. This
walks every GET route of the API on a small center (SQLite) and checks every date-time in the
JSON has an offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import select

from auth_center import AuthCenter, sqlite_auth_center
from hpf.accounts.tables import account_history
from hpf.db.engine import read_transaction
from signing_in import add_staff, use_session

STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ZONED = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthCenter]:
    with sqlite_auth_center(Path(tmp_path_factory.mktemp("times"))) as made:
        yield made


@pytest.fixture(scope="module")
def client(center: AuthCenter) -> Iterator[TestClient]:
    with TestClient(center.app, follow_redirects=False) as c:
        use_session(c, add_staff(center.app, "everything"))
        yield c


def _stamps(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _stamps(v)
    elif isinstance(value, list):
        for v in value:
            yield from _stamps(v)
    elif isinstance(value, str) and STAMP.match(value):
        yield value


def _urls(center: AuthCenter) -> list[str]:
    fill = {
        "remittance_id": str(center.remittance.id),
        "entry_id": str(center.entry_id),
        "application_id": str(center.application.id),
        "material_id": str(center.material_id),
        "code": "AC-CHANGE",
        "fmt": "csv",
    }
    urls = []
    for route in center.app.routes:
        if (
            not isinstance(route, APIRoute)
            or "GET" not in route.methods
            or not route.path.startswith("/api/")
        ):
            continue
        url = route.path_format
        if "{account_no}" in url:
            url = url.replace(
                "{account_no}",
                center.member.account_no if "/members/" in url else center.employer.account_no,
            )
        for name, value in fill.items():
            url = url.replace("{" + name + "}", value)
        if "{" not in url:
            urls.append(url)
    return urls


def test_the_center_has_stored_times_sqlite_gives_back_without_a_zone(center: AuthCenter) -> None:
    with read_transaction(center.engine) as conn:
        stamp = conn.scalar(select(account_history.c.recorded_at).limit(1))
    assert stamp is not None and stamp.tzinfo is not None  # the column type adds UTC on read


def test_every_time_in_an_api_answer_has_a_zone(client: TestClient, center: AuthCenter) -> None:
    seen: dict[str, list[str]] = {}
    for url in _urls(center):
        answer = client.get(url)
        if answer.status_code != 200 or not answer.headers.get("content-type", "").startswith(
            "application/json"
        ):
            continue
        for stamp in _stamps(answer.json()):
            seen.setdefault(url, []).append(stamp)
    assert any("/history" in url for url in seen), sorted(seen)  # the walk did find times
    naive = {url: [s for s in stamps if not ZONED.search(s)] for url, stamps in seen.items()}
    assert {url: s for url, s in naive.items() if s} == {}
