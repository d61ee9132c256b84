"""The loan application form of the service pages: the choices are lists to pick from, and a
value that is not one of them is refused before anything is stored."""

from __future__ import annotations

from fastapi.testclient import TestClient
from loanapp_support import build_center
from sqlalchemy import func, select

from hpf.app import create_app
from hpf.db.engine import read_transaction
from hpf.services.tables import application
from hpf.settings import Settings
from signing_in import FAST_PASSWORDS, use_session


def test_the_form_offers_the_choices_and_refuses_others(engine) -> None:
    center = build_center(engine)
    app = create_app(Settings(env="development", database_url=str(engine.url), center_code="990001"), engine=engine,
                     clock=center.clock, passwords=FAST_PASSWORDS)  # fmt: skip
    with TestClient(app) as client:
        use_session(client, center.people["a"])
        page = client.get("/services/LN-APPLY")
        assert page.status_code == 200
        html = page.text
        assert '<select id="f-method" name="method">' in html and ">等额本金</option>" in html
        assert '<option value="bank_debit"' in html and ">二手房</option>" in html
        form = {"house_price_fen": "1000000", "floor_area": "89.5", "house_nature": "03", "term_months": "360",
                "method": "equal-installment", "guarantee_type": "01", "payee_name": "售房人",
                "payee_card": "6222020200001234562", "payee_bank": "工商银行", "form_key": "k1"}  # fmt: skip
        refused = client.post("/services/LN-APPLY/apply", data=form, follow_redirects=False)
        assert refused.status_code == 422 and "“房屋性质”格式不正确" in refused.text
    with read_transaction(engine) as conn:
        assert conn.scalar(select(func.count()).select_from(application)) == 0
