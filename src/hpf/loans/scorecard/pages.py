"""The default scorecard's card for staff: the page ``/loans/scorecard`` and
``GET /api/v1/loans/scorecard`` (permission ``loan:read``).

Both show the active card of ``hpf.loans.scorecard.model``: each feature with its Chinese name,
coefficient and direction, the held-out AUC, sample sizes, bad rate, training date, the default
definition and the high-risk threshold, and that no protected attribute is used. Read only:
training is ``hpf loan train-scorecard``.
"""

from __future__ import annotations

from datetime import date, datetime

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from hpf.access.permissions import Perm
from hpf.kernel.errors import NotFound
from hpf.kernel.records import fields_of
from hpf.loans import charts
from hpf.loans.scorecard import model as scorecard
from hpf.web.auth import requires
from hpf.web.deps import ReadDb
from hpf.web.pages_common import PageRoute, render
from hpf.web.routing import HpfRoute

router = APIRouter(include_in_schema=False, route_class=PageRoute)
api_router = APIRouter(prefix="/api/v1/loans", tags=["loans"], route_class=HpfRoute)

PROTECTED_NOTE = "评分卡不使用性别、民族、籍贯、姓名等受保护属性（身份证号中的地区码和性别位从不读取），仅使用年龄（岁）及申请时的财务与贷款要素。"
PROTECTED_NOTE_EN = (
    "No protected attribute is used: no gender, ethnicity, birthplace or name (the resident ID's "
    "region and sex digits are never read); only age in years and the application's financial "
    "and loan facts."
)
DIRECTION_ZH = {"up": "数值越大，违约风险越高", "down": "数值越大，违约风险越低", "none": "无影响"}


class FeaturePublic(BaseModel):
    feature: str = Field(description="code name (hpf.loans.scorecard.features.FEATURES)")
    name_zh: str
    coefficient: float = Field(description="log-odds per standard deviation of the feature")
    per_unit: float = Field(description="log-odds per unit of the feature")
    mean: float = Field(description="the feature's mean over the training loans")
    direction: str = Field(description="up: a larger value raises the risk; down: lowers it")


class ScorecardPublic(BaseModel):
    id: int
    trained_at: datetime
    trained_on: date = Field(description="the business date of the loan history it learned")
    model: str
    seed: int
    auc: str = Field(description="area under the ROC curve on the held-out loans, 4 places")
    train_count: int
    test_count: int
    train_bads: int
    test_bads: int
    bad_rate: str = Field(description="bad loans ÷ loans, training and held-out together")
    months_on_book: int
    default_definition: str
    high_risk_threshold: float = Field(description="probability of default at or above which = high risk")
    band_cuts: list[float] = Field(description="probabilities splitting bands A–E")
    intercept: float
    features: list[FeaturePublic] = Field(description="strongest first")
    protected_attributes: str = PROTECTED_NOTE_EN

    @classmethod
    def of(cls, card: scorecard.Scorecard) -> ScorecardPublic:
        return cls(
            **{k: getattr(card, k) for k in ("id", "trained_at", "trained_on", "model", "seed", "train_count",
                                             "test_count", "train_bads", "test_bads", "months_on_book",
                                             "default_definition", "high_risk_threshold", "band_cuts", "intercept")},
            auc=str(card.auc), bad_rate=str(card.bad_rate),
            features=[FeaturePublic(**fields_of(row)) for row in scorecard.describe(card)],
        )  # fmt: skip


MODEL_ZH = {scorecard.MODEL: "逻辑回归（L2 正则，C=1.0，样本不加权）"}


def definition_zh(card: scorecard.Scorecard) -> str:
    """The default definition as the page shows it: its Chinese sentence (the stored text also
    carries an English one for the API)."""
    text = card.default_definition
    return text.split(" Bad:", 1)[0].strip()


@router.get("/loans/scorecard", dependencies=[Depends(requires(Perm.LOAN_READ))])
def scorecard_page(request: Request, conn: ReadDb) -> Response:
    every = scorecard.cards(conn, limit=11)  # the active one (the newest) and the ten before it
    card = next((c for c in every if c.active), None)
    return render(
        request,
        "loan_scorecard.html",
        {
            "nav": "loans",
            "card": card,
            "rows": (rows := scorecard.describe(card) if card else []),
            "coef_chart": charts.scorecard_chart(rows) if rows else None,
            "direction_zh": DIRECTION_ZH,
            "bands": scorecard.BANDS,
            "high_risk_share": scorecard.HIGH_RISK_SHARE,
            "months_on_book": scorecard.MONTHS_ON_BOOK,
            "protected_note": PROTECTED_NOTE,
            "definition_zh": definition_zh(card) if card else "",
            "model_zh": MODEL_ZH.get(card.model, "逻辑回归") if card else "",
            "older": [c for c in every if not c.active][:10],
        },
    )


@api_router.get(
    "/scorecard",
    summary="The active loan default scorecard: features, coefficients, held-out AUC (staff)",
    dependencies=[Depends(requires(Perm.LOAN_READ))],
)
def scorecard_api(conn: ReadDb) -> ScorecardPublic:
    card = scorecard.active_card(conn)
    if card is None:
        raise NotFound("scorecard.not_trained", "尚未训练违约评分卡", "no scorecard has been trained yet")
    return ScorecardPublic.of(card)
