"""The load scenario (locust): members, employers and tellers reading and writing at once.

Run by ``bench/load/run_load.py``, which builds the center, serves it, writes the people's
tokens and account numbers to the JSON file named by ``HPF_LOAD_DATA`` and starts locust
headless. Each simulated person waits ``HPF_LOAD_THINK`` seconds (a range ``a,b``; default
0.5–1.5 s) between two requests, as people at a screen do; ``0,0`` makes every user fire back
to back (saturation).

The mix, by request weight: members read their account, statement, the loan calculator, the
policy and the service catalog and file change applications; employers read their staff list,
remittances and arrears; tellers search and read members and statements and correct members'
phones. About four requests in five read and one writes; the runner prints the real split.
Every write carries an idempotency key or is idempotent by itself, and is audited.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Any

from locust import HttpUser, between, constant, events, task

DATA: dict[str, Any] = json.loads(Path(os.environ["HPF_LOAD_DATA"]).read_text(encoding="utf-8"))
_low, _high = (float(x) for x in os.environ.get("HPF_LOAD_THINK", "0.5,1.5").split(","))
THINK = constant(0) if _high == 0 else between(_low, _high)
_serial = itertools.count()


_by_status: dict[str, list[float]] = {}


@events.request.add_listener
def _record(response: Any, response_time: float, name: str, **_: Any) -> None:
    """Every answer's time by status and kind (a 503 must be fast; reads and writes apart)."""
    status = getattr(response, "status_code", 0) or 0
    kind = "write" if name.startswith("WRITE") else "read"
    _by_status.setdefault(f"{kind} {status}", []).append(response_time)


@events.quitting.add_listener
def _write_times(**_: Any) -> None:
    out = os.environ.get("HPF_LOAD_OUT")
    if out:
        with open(out, "w", encoding="utf-8") as f:
            json.dump(_by_status, f)


def _ok(response: Any, *expected: int) -> None:
    if response.status_code not in (expected or (200,)):
        response.failure(f"{response.status_code} {response.text[:120]}")


class Member(HttpUser):
    weight = 5
    wait_time = THINK

    def on_start(self) -> None:
        me = random.choice(DATA["members"])
        self.account = me["account_no"]
        self.client.headers["Authorization"] = f"Bearer {me['token']}"

    @task(3)
    def account(self) -> None:
        with self.client.get(f"/api/v1/members/{self.account}", name="member", catch_response=True) as r:
            _ok(r)

    @task(3)
    def statement(self) -> None:
        url = f"/api/v1/members/{self.account}/statement?limit=50"
        with self.client.get(url, name="statement", catch_response=True) as r:
            _ok(r)

    @task(1)
    def calculator(self) -> None:
        url = "/api/v1/loans/calculator?principal=500000&years=30&rate=2.85"
        with self.client.get(url, name="loan calculator", catch_response=True) as r:
            _ok(r)

    @task(1)
    def policy(self) -> None:
        with self.client.get("/api/v1/policy", name="policy", catch_response=True) as r:
            _ok(r)

    @task(1)
    def services(self) -> None:
        with self.client.get("/api/v1/services", name="services", catch_response=True) as r:
            _ok(r)

    @task(3)
    def apply_for_a_change(self) -> None:
        phone = f"139{random.randrange(10**8):08d}"
        key = f"load-{os.getpid()}-{next(_serial)}"
        with self.client.post(
            "/api/v1/applications",
            json={"item_code": "AC-CHANGE", "payload": {"field": "phone", "value": phone}},
            headers={"Idempotency-Key": key},
            name="WRITE apply",
            catch_response=True,
        ) as r:
            _ok(r, 201)


class Employer(HttpUser):
    weight = 2
    wait_time = THINK

    def on_start(self) -> None:
        me = random.choice(DATA["employers"])
        self.account = me["account_no"]
        self.client.headers["Authorization"] = f"Bearer {me['token']}"

    @task(4)
    def staff(self) -> None:
        url = f"/api/v1/employers/{self.account}/members?limit=50"
        with self.client.get(url, name="employer staff", catch_response=True) as r:
            _ok(r)

    @task(2)
    def remittances(self) -> None:
        url = f"/api/v1/employers/{self.account}/remittances"
        with self.client.get(url, name="remittances", catch_response=True) as r:
            _ok(r)

    @task(1)
    def arrears(self) -> None:
        url = f"/api/v1/employers/{self.account}/arrears"
        with self.client.get(url, name="arrears", catch_response=True) as r:
            _ok(r)


class Teller(HttpUser):
    weight = 3
    wait_time = THINK

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {DATA['teller']}"

    @task(2)
    def search(self) -> None:
        surname = random.choice("王李张刘陈杨黄赵吴周")
        with self.client.get(
            "/api/v1/members", params={"q": surname, "limit": 20}, name="member search", catch_response=True
        ) as r:
            _ok(r)

    @task(3)
    def member(self) -> None:
        account = random.choice(DATA["members"])["account_no"]
        with self.client.get(f"/api/v1/members/{account}", name="member (teller)", catch_response=True) as r:
            _ok(r)

    @task(2)
    def statement(self) -> None:
        account = random.choice(DATA["members"])["account_no"]
        url = f"/api/v1/members/{account}/statement?limit=50"
        with self.client.get(url, name="statement (teller)", catch_response=True) as r:
            _ok(r)

    @task(3)
    def correct_phone(self) -> None:
        account = random.choice(DATA["members"])["account_no"]
        phone = f"138{random.randrange(10**8):08d}"
        with self.client.patch(
            f"/api/v1/members/{account}",
            json={"changes": {"phone": phone}, "reason": "柜台更正联系电话"},
            name="WRITE correct phone",
            catch_response=True,
        ) as r:
            _ok(r)
