"""A hub in process for tests: its database, its keys, centers registered, and a poster that
routes deliveries to in-process applications by base URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from hpf.db.engine import make_engine, write_transaction
from hpf.hub import registry
from hpf.hub.app import create_hub_app
from hpf.hub.schema import upgrade
from hpf.hub.settings import HubSettings
from hpf.identity.passwords import FAST_FOR_TESTS, Passwords
from hpf.messages import protocol
from hpf.messages.bodies import Body
from hpf.messages.envelope import Envelope
from hpf.messages.keys import KeyPair
from hpf.messages.transport import PATH

HUB_CODE = "000000"
HUB_KEYS = KeyPair.generate()


def now() -> datetime:
    return datetime.now(UTC)


def router(clients: Mapping[str, TestClient], log: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """A poster (``hpf.messages.transport.Poster``) to the in-process app whose base URL the
    endpoint starts with; an unknown or absent base answers like a host that is down (0)."""

    def post(url: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if log is not None:
            log.append((url, payload))
        for base, client in clients.items():
            if url == base + PATH:
                response = client.post(PATH, json=payload)
                return response.status_code, response.json()
        return 0, {"code": "transport.unreachable", "detail": f"nothing answers at {url}"}

    return post


@dataclass
class InProcessHub:
    app: FastAPI
    engine: Engine
    client: TestClient

    def register(
        self, code: str, keys: KeyPair, endpoint: str, *, name: str = "测试市住房公积金管理中心"
    ) -> None:
        with write_transaction(self.engine) as conn:
            registry.register(
                conn, code=code, name=name, province="浙江", endpoint=endpoint, keys=keys.public(),
                actor="test", now=now(), hub_code=HUB_CODE,
            )  # fmt: skip

    def suspend(self, code: str) -> None:
        with write_transaction(self.engine) as conn:
            registry.set_state(conn, code, "suspended", actor="test", now=now())

    def deliver(self) -> Any:
        return self.app.state.deliver_round()


def make_hub(tmp: Path, post: Any = None) -> InProcessHub:
    engine = make_engine(f"sqlite:///{tmp}/hub.sqlite3")
    upgrade(engine)
    app = create_hub_app(
        HubSettings(database_url="unused", env="development", hub_code=HUB_CODE),
        engine=engine,
        keys=HUB_KEYS,
        post=post or (lambda url, payload: (0, {})),
        passwords=Passwords(FAST_FOR_TESTS),
        deliver=False,
    )
    return InProcessHub(app, engine, TestClient(app))


def compose(
    keys: KeyPair,
    sender: str,
    recipient: str,
    recipient_keys: KeyPair,
    message_type: str,
    body: Body,
    *,
    at: datetime | None = None,
    reply_to: UUID | None = None,
) -> Envelope:
    return protocol.compose(
        keys, sender=sender, recipient=recipient, recipient_encrypt_key=recipient_keys.encrypt_public,
        message_type=message_type, body=body, now=at or now(), reply_to=reply_to,
    )  # fmt: skip


def delivery(
    keys: KeyPair, by: str, envelope: Envelope, *, at: datetime | None = None, **kw: Any
) -> dict[str, Any]:
    return protocol.hop(keys, by, envelope, at or now(), **kw).model_dump(mode="json")
