"""The features a loan application is scored on: one fixed list, computed from the application.

The default scorecard (``hpf.loans.scorecard.model``) is trained on these and applied to these, so
they are defined once, here, from what the limits rules already look at
(:class:`~hpf.loans.application.rules.LoanRequest`) and the amount asked for. Every feature is known at
application time; none is a protected attribute: no gender, ethnicity, birthplace or name
(the resident ID's region and sex digits are never read), only age in years.

==========================  ====================================================================
feature                     meaning
==========================  ====================================================================
``age_years``               borrower's age at application
``term_months``             the term asked for
``ltv``                     principal ÷ the lower of price and appraisal
``payment_to_base``         first installment ÷ Σ monthly contribution bases (borrower + co-)
``balance_to_principal``    Σ HPF balances ÷ principal
``continuous_deposit_months``  months of continuous deposit before applying
``monthly_base_yuan``       Σ monthly contribution bases, yuan (an income proxy)
``co_borrowers``            number of co-borrowers
``second_home``             1 for a second home, else 0
``equal_principal``         1 for 等额本金, 0 for 等额本息
==========================  ====================================================================
"""

from __future__ import annotations

from hpf.loans.application.rules import LoanRequest, first_installment
from hpf.loans.calculator.schedule import Method

FEATURES: tuple[str, ...] = (
    "age_years",
    "term_months",
    "ltv",
    "payment_to_base",
    "balance_to_principal",
    "continuous_deposit_months",
    "monthly_base_yuan",
    "co_borrowers",
    "second_home",
    "equal_principal",
)

FEATURE_ZH: dict[str, str] = {
    "age_years": "借款人年龄",
    "term_months": "贷款期限（月）",
    "ltv": "贷款价值比",
    "payment_to_base": "首期月供占缴存基数比",
    "balance_to_principal": "账户余额与贷款额之比",
    "continuous_deposit_months": "连续缴存月数",
    "monthly_base_yuan": "月缴存基数合计（元）",
    "co_borrowers": "共同借款人数",
    "second_home": "是否第二套住房",
    "equal_principal": "是否等额本金",
}


def features_of(request: LoanRequest, principal_fen: int, co_borrowers: int) -> dict[str, float]:
    """The scorecard's features of an application asking ``principal_fen`` (> 0)."""
    if principal_fen <= 0:
        raise ValueError("principal_fen must be positive")
    value = request.value_fen
    payment = first_installment(principal_fen, request.annual_rate, request.term_months, request.method)
    return {
        "age_years": float(request.age_years),
        "term_months": float(request.term_months),
        "ltv": principal_fen / value if value else 1.0,
        "payment_to_base": payment / request.monthly_base_fen if request.monthly_base_fen else 10.0,
        "balance_to_principal": request.balance_fen / principal_fen,
        "continuous_deposit_months": float(request.continuous_deposit_months),
        "monthly_base_yuan": request.monthly_base_fen / 100,
        "co_borrowers": float(co_borrowers),
        "second_home": 1.0 if request.second_home else 0.0,
        "equal_principal": 1.0 if request.method is Method.EQUAL_PRINCIPAL else 0.0,
    }
