"""Overdue loans: penalty interest (罚息) and the five-level classification (五级分类).

Pure: no database, no clock; standard library, ``hpf.kernel`` and ``hpf.policy.rules`` only.
Every number a center may set (the penalty multiplier and day basis, the classification
thresholds) is a parameter of the center's loan policy (``hpf.policy``, decision 0022).

- Penalty interest (REFERENCE §4.7, Bijie ``CommLoanAlgorithm.overdueFX``):
  ``(overdue principal + overdue interest) × annual rate ÷ 360 × 1.5 × days overdue``, rounded
  half up to the fen once. 2,000 yuan overdue at 2.60% for 30 days: 6.50 yuan. The national
  basis of the 1.5 multiplier is UNVERIFIED (it matches the PBOC commercial rule of +30%…50%).
- Classification (REFERENCE §4.8): codes DKFXDJ 01 正常, 02 关注, 03 次级, 04 可疑, 05 损失;
  the class follows from the days past due through thresholds (the first day of each class
  after 正常). No HPF source gives the thresholds: HAFMIS keeps them as per-bank parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from hpf.kernel.errors import InvalidInput
from hpf.kernel.money import require_fen
from hpf.policy.rules import ClassificationThresholds as ClassificationThresholds

DEFAULT_PENALTY_MULTIPLIER = Decimal("1.5")
DEFAULT_DAY_BASIS = 360


def penalty_interest(
    overdue_fen: int,
    annual_rate: Decimal,
    days: int,
    multiplier: Decimal = DEFAULT_PENALTY_MULTIPLIER,
    day_basis: int = DEFAULT_DAY_BASIS,
) -> int:
    """罚息 on ``overdue_fen`` (overdue principal + interest) for ``days``, rounded half up."""
    require_fen(overdue_fen, "overdue_fen")
    for name, value in (("annual_rate", annual_rate), ("multiplier", multiplier)):
        if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
            raise InvalidInput(
                "loan.invalid_penalty", "罚息参数须为非负小数", f"{name} must be a Decimal ≥ 0", field=name
            )
    if overdue_fen < 0 or isinstance(days, bool) or days < 0 or day_basis <= 0:
        raise InvalidInput(
            "loan.invalid_penalty",
            "逾期金额、天数不能为负数，计息基准须为正数",
            f"overdue {overdue_fen}, days {days}, basis {day_basis}: amounts and days ≥ 0, basis > 0",
        )
    num, den = (annual_rate * multiplier).as_integer_ratio()
    return (2 * overdue_fen * num * days + day_basis * den) // (2 * day_basis * den)


class RiskClass(StrEnum):
    """Five-level classification (贷款风险等级 DKFXDJ)."""

    NORMAL = "01"
    SPECIAL_MENTION = "02"
    SUBSTANDARD = "03"
    DOUBTFUL = "04"
    LOSS = "05"

    @property
    def name_zh(self) -> str:
        return {"01": "正常", "02": "关注", "03": "次级", "04": "可疑", "05": "损失"}[self.value]

    @property
    def non_performing(self) -> bool:
        """不良 = 次级 + 可疑 + 损失."""
        return self in (RiskClass.SUBSTANDARD, RiskClass.DOUBTFUL, RiskClass.LOSS)


def classify(days_past_due: int, thresholds: ClassificationThresholds) -> RiskClass:
    """The class of a loan ``days_past_due`` days past due (0: not overdue → 正常)."""
    if isinstance(days_past_due, bool) or not isinstance(days_past_due, int) or days_past_due < 0:
        raise InvalidInput(
            "loan.invalid_days", "逾期天数须为非负整数", f"days past due must be ≥ 0, got {days_past_due!r}"
        )
    found = RiskClass.NORMAL
    for start, level in (
        (thresholds.special_mention, RiskClass.SPECIAL_MENTION),
        (thresholds.substandard, RiskClass.SUBSTANDARD),
        (thresholds.doubtful, RiskClass.DOUBTFUL),
        (thresholds.loss, RiskClass.LOSS),
    ):
        if days_past_due >= start:
            found = level
    return found


# --------------------------------------------------------------------------- recovery order


@dataclass(frozen=True)
class Owed:
    """What one installment still owes: unpaid interest and principal."""

    period: int
    interest_fen: int
    principal_fen: int


@dataclass(frozen=True)
class Recovery:
    """How a payment is applied: ``paid`` per period as ``Owed`` (the amounts paid off)."""

    penalty_fen: int
    overdue: tuple[Owed, ...]
    current: tuple[Owed, ...]

    @property
    def total_fen(self) -> int:
        return self.penalty_fen + sum(
            o.interest_fen + o.principal_fen for o in (*self.overdue, *self.current)
        )


def allocate_recovery(
    amount_fen: int, penalty_fen: int, overdue: list[Owed], current: list[Owed]
) -> Recovery:
    """Apply ``amount_fen`` in the recovery order: penalty interest, then the overdue interest
    (oldest period first), then the overdue principal (oldest first), then the installments now
    due (interest before principal). Paying more than is owed is refused (a prepayment is its
    own business); so is nothing.
    """
    require_fen(amount_fen, "amount_fen")
    owed = penalty_fen + sum(o.interest_fen + o.principal_fen for o in (*overdue, *current))
    if not 0 < amount_fen <= owed:
        raise InvalidInput(
            "loan.invalid_repayment",
            "还款金额须大于零且不超过应还金额（多余部分请办理提前还款）",
            f"a repayment must be in 1..{owed} fen (penalty, overdue and due installments), got {amount_fen}",
            field="amount_fen",
            owed_fen=owed,
        )
    left = amount_fen

    def take(want: int) -> int:
        nonlocal left
        got = min(want, left)
        left -= got
        return got

    penalty = take(penalty_fen)
    overdue_interest = [take(o.interest_fen) for o in overdue]
    overdue_principal = [take(o.principal_fen) for o in overdue]
    paid_current = []
    for o in current:
        interest = take(o.interest_fen)
        paid_current.append(Owed(o.period, interest, take(o.principal_fen)))
    paid_overdue = tuple(
        Owed(o.period, i, p) for o, i, p in zip(overdue, overdue_interest, overdue_principal, strict=True)
    )
    return Recovery(penalty, paid_overdue, tuple(paid_current))
