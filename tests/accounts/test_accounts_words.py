"""What the account pages say: search results in pinyin order."""

from __future__ import annotations

from fastapi.testclient import TestClient

from factories import employer_payload, member_payload
from hpf.accounts import service as accounts
from hpf.app import create_app
from hpf.db.engine import read_transaction, write_transaction
from hpf.settings import Settings


def test_name_search_is_in_pinyin_order(engine, ctx, clock, sign_in):
    with write_transaction(engine) as conn:
        emp = accounts.register_employer(conn, ctx, employer_payload())
        for seq, name in enumerate(("张一", "张三", "张阿"), start=1):  # code points: 一 < 三 < 阿
            accounts.open_member(conn, ctx, emp.account_no, member_payload(seq, name=name))
    with read_transaction(engine) as conn:
        found = [m.name for m in accounts.find_members(conn, "张")]
    assert found == ["张阿", "张三", "张一"]  # ZHANG A < ZHANG SAN < ZHANG YI
    app = create_app(Settings(env="development", database_url=str(engine.url)), engine=engine, clock=clock)
    with TestClient(app) as client:
        sign_in(client, session=True)
        html = client.get("/members/search", params={"q": "张"}).text
    positions = [html.find(name) for name in ("张阿", "张三", "张一")]
    assert -1 not in positions and positions == sorted(positions)
