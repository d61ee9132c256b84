"""Storage of the loan book: contracts, repayment schedules, loan history, collateral events
from the registry feed, and dunning notices.

Data-standard fields (JGJ/T 320 表6.0.2 借款合同, 6.0.3 担保合同, 6.0.5 贷款账户, 6.0.7 逾期登记)
are named in comments. Money is integer fen. ``loan.rate_e7`` repeats the contract rate as an
exact integer of 10⁻⁷ because the set-based jobs compute penalty interest in integer SQL
(SQLite keeps NUMERIC as REAL, which would round the rate).

The mortgage registration certificate number (他项权证号) is stored encrypted with a blind
index (``hpf.protection.protect``): the collateral feed finds a loan by it without decrypting.

A loan's principal on the books is ``outstanding_principal_fen``: the part not yet due or due
this month sits in subject 121 委托贷款, the overdue part (``overdue_principal_fen``) in 122
逾期贷款; ``hpf check`` proves Σ outstanding of active loans = 121 + 122.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)

from hpf.db.metadata import Fen, Id, UtcDateTime, metadata
from hpf.protection.crypto import BLIND_INDEX_HEX, token_length

Rate = Numeric(8, 7, asdecimal=True)  # JKHTLL NUMERIC(8,7)

LOAN_STATES = ("approved", "active", "settled", "written_off")
REPAYMENT_SOURCES = ("hpf_account", "bank_debit")
INSTALLMENT_STATES = ("due", "overdue", "paid")
COLLATERAL_KINDS = ("seizure", "sale", "dispute", "release")
DEBIT_STATES = ("pending", "success", "failed")

loan = Table(
    "loan",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contract_no", String(30), nullable=False, unique=True),  # JKHTBH
    Column("application_id", Id, nullable=False, unique=True),  # the approved application
    Column("borrower_id", Id, ForeignKey("member.id"), nullable=False, index=True),  # JKRGJJZH
    Column("co_borrower_ids", JSON, nullable=False),  # 共同借款人 (member ids), 表6.0.4
    Column("house_nature", String(2), nullable=False),  # FWXZ 01 新房 / 02 二手房
    Column("second_home", Boolean, nullable=False),  # 第二套住房: chooses the rate pair
    Column("house_price_fen", Fen, nullable=False),  # FWZJ
    Column("floor_area", Numeric(10, 2, asdecimal=True), nullable=False),  # FWJZMJ, m²
    Column("certificate_no_enc", String(token_length(64))),  # DYWTXQZH 他项权证号
    Column("certificate_no_bidx", String(BLIND_INDEX_HEX), index=True),
    Column("debit_card_enc", String(token_length(40))),  # 委托扣款 card (bank_debit loans)
    Column("appraisal_fen", Fen),  # DYWPGJZ 抵押物评估价值
    Column("guarantee_type", String(2), nullable=False),  # DKDBLX
    Column("principal_fen", Fen, nullable=False),  # HTDKJE
    Column("annual_rate", Rate, nullable=False),  # JKHTLL (current rate after re-pricing)
    Column("rate_e7", Integer, nullable=False),  # annual_rate × 10⁷, exact, for integer SQL
    Column("term_months", SmallInteger, nullable=False),  # DKQS (contract term)
    Column("method", String(2), nullable=False),  # DKHKFS 01 / 02
    Column("contract_date", Date, nullable=False),  # JKHTQDRQ
    Column("first_due_date", Date, nullable=False),
    Column("repayment_source", String(12), nullable=False),  # hpf_account | bank_debit
    Column("state", String(12), nullable=False),
    Column("disbursed_on", Date),  # DKFFRQ
    Column("disbursement_entry_id", Id, unique=True),  # the ledger entry Dr 121 / Cr 101
    Column("outstanding_principal_fen", Fen, nullable=False),  # DKYE (121 + 122 part)
    Column("overdue_principal_fen", Fen, nullable=False),  # YQBJZE (the 122 part)
    Column("overdue_interest_fen", Fen, nullable=False),  # YQLXZE
    Column("overdue_since", Date),  # due date of the oldest unpaid overdue installment
    Column("days_past_due", Integer, nullable=False),
    Column("classification", String(2), nullable=False),  # DKFXDJ 01..05
    # Penalty interest (罚息): fen·days of overdue principal + interest since the last
    # crystallisation, crystallised unpaid penalty, and both together as of penalty_through.
    Column("penalty_base", Fen, nullable=False),
    Column("penalty_fen", Fen, nullable=False),
    Column("penalty_accrued_fen", Fen, nullable=False),  # FXZE owed
    Column("penalty_through", Date),
    Column("collateral_flag", String(10)),  # the registry's latest adverse event, until reviewed
    Column("collateral_flagged_on", Date),
    Column("settled_on", Date),  # DKJQRQ
    Column("created_at", UtcDateTime(), nullable=False),
    Column("version", Integer, nullable=False),
    CheckConstraint(f"state IN {LOAN_STATES}", name="state"),
    CheckConstraint(f"repayment_source IN {REPAYMENT_SOURCES}", name="repayment_source"),
    CheckConstraint("classification IN ('01', '02', '03', '04', '05')", name="classification"),
    CheckConstraint(
        "principal_fen > 0 AND outstanding_principal_fen >= 0 AND overdue_principal_fen >= 0 "
        "AND overdue_interest_fen >= 0 AND penalty_fen >= 0 AND penalty_base >= 0",
        name="amounts",
    ),
    CheckConstraint("overdue_principal_fen <= outstanding_principal_fen", name="overdue_within_outstanding"),
    CheckConstraint(
        "collateral_flag IS NULL OR collateral_flag IN ('seizure', 'sale', 'dispute')",
        name="collateral_flag",
    ),
    Index(None, "state", "overdue_principal_fen"),
)

# One row per period. ``remaining_fen``: contractual principal after the period (and after a
# prepayment recorded on it, ``prepaid_fen``). Σ principal + Σ prepaid = the loan's principal.
#
# Keyed — and on SQLite stored (WITHOUT ROWID) — in (due_date, loan_id) order: the month-end job
# reads and marks one month's installments of every loan, which then sit side by side instead of
# one per page of 360-period schedules (decision 0012). A loan's own schedule is read through
# the (loan_id, period) index.
loan_installment = Table(
    "loan_installment",
    metadata,
    Column("due_date", Date, primary_key=True),
    Column("loan_id", Id, ForeignKey("loan.id"), primary_key=True),
    Column("period", SmallInteger, nullable=False),
    Column("rate_e7", Integer, nullable=False),  # the period's annual rate × 10⁷
    Column("principal_fen", Fen, nullable=False),
    Column("interest_fen", Fen, nullable=False),
    Column("remaining_fen", Fen, nullable=False),
    Column("prepaid_fen", Fen, nullable=False),
    Column("paid_principal_fen", Fen, nullable=False),
    Column("paid_interest_fen", Fen, nullable=False),
    Column("paid_on", Date),
    Column("state", String(8), nullable=False),
    CheckConstraint(f"state IN {INSTALLMENT_STATES}", name="state"),
    CheckConstraint(
        "paid_principal_fen BETWEEN 0 AND principal_fen AND paid_interest_fen BETWEEN 0 AND interest_fen",
        name="paid_within_due",
    ),
    Index(None, "loan_id", "period", unique=True),  # an index, not a constraint: bulk loads may rebuild it
    sqlite_with_rowid=False,
)

# Every state change of a loan, in the transaction that made it (ARCHITECTURE: events).
loan_event = Table(
    "loan_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("loan_id", Id, ForeignKey("loan.id"), nullable=False, index=True),
    Column("kind", String(24), nullable=False),
    Column("business_date", Date, nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("entry_id", Id),  # the ledger entry that moved the money, if any
    Column("amount_fen", Fen),
    Column("detail", JSON, nullable=False),
    Column("idempotency_key", String(80), unique=True),  # money-moving calls replay by it
)

# What the real-estate registry reported about a mortgaged home (faked in development).
collateral_event = Table(
    "collateral_event",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("loan_id", Id, ForeignKey("loan.id"), nullable=False, index=True),
    Column("kind", String(10), nullable=False),
    Column("reported_on", Date, nullable=False),
    Column("source", String(20), nullable=False),
    Column("external_id", String(60), nullable=False),  # the feed's own record id
    Column("received_at", UtcDateTime(), nullable=False),
    CheckConstraint(f"kind IN {COLLATERAL_KINDS}", name="kind"),
    UniqueConstraint("source", "external_id"),
)

# 催收通知: one per loan, overdue spell and stage (days past due reached); no SMS yet.
dunning_notice = Table(
    "dunning_notice",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("loan_id", Id, ForeignKey("loan.id"), nullable=False),
    Column("overdue_since", Date, nullable=False),
    Column("stage", SmallInteger, nullable=False),  # the days-past-due threshold reached
    Column("issued_on", Date, nullable=False),
    Column("days_past_due", Integer, nullable=False),
    Column("amount_fen", Fen, nullable=False),  # overdue principal + interest + penalty then
    Column("channel", String(10), nullable=False),
    UniqueConstraint("loan_id", "overdue_since", "stage"),
)

# 委托扣款 (BDC105 贷款扣款): one debit of a bank-debit loan's card per month, sent by the
# month-end job (``hpf.loans.debit.service``). ``seq_no`` is the center's 业务流水号 of the item,
# derived from (month, loan), so a resend after no answer names the same debit and the bank
# takes it at most once. Only a ``success`` lets the month-end collect the loan's installments.
loan_debit = Table(
    "loan_debit",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("month", String(7), nullable=False),  # YYYY-MM
    Column("loan_id", Id, ForeignKey("loan.id"), nullable=False),
    Column("seq_no", String(32), nullable=False, unique=True),
    Column("amount_fen", Fen, nullable=False),
    Column("principal_fen", Fen, nullable=False),
    Column("interest_fen", Fen, nullable=False),
    Column("state", String(8), nullable=False),
    Column("bank_seq_no", String(40)),
    Column("ret_code", String(10)),
    Column("ret_msg", String(120)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("answered_at", UtcDateTime()),
    CheckConstraint(f"state IN {DEBIT_STATES}", name="state"),
    CheckConstraint("amount_fen = principal_fen + interest_fen AND amount_fen > 0", name="amounts"),
    UniqueConstraint("month", "loan_id"),
    Index(None, "month", "state"),
)
