"""Data classification and grading (数据分类分级): one declaration per stored column.

Every column of every table is declared here once, with

- a **grade** (``Grade``): 核心 core / 重要 important / 一般 general — how much harm its leak
  or corruption does (data security law, art. 21). In this system *core* marks identity
  numbers and whole-record snapshots that contain them; *important* marks money, identities
  of accounts and contact data; *general* the codes, dates and states that mean little alone;
- a **personal-information** flag (个人信息, PIPL art. 4): the value relates to an identified or
  identifiable natural person (a member, an employer's contact person);
- a **sensitive** flag (敏感个人信息, PIPL art. 28; GB/T 35273-2020 annex B): identity numbers,
  financial accounts and property facts (balances, contribution base, amounts paid), phone
  numbers;
- a **masking** kind (``hpf.security.masking.mask``) or ``None``: a field with a kind is shown
  masked unless the viewer holds the unmask permission; ``None`` means it is shown to whoever may
  read the record at all (protected by access control and the audit log, not by masking —
  balances, for instance, are what a clerk works with);
- **encrypt**: the column must be stored as an SM4 token (G2: ID number, phone, bank card,
  home address);
- a Chinese **label** for pages, exports and the data catalog.

The test suite checks that every column of every table on the shared metadata is declared
here and that nothing declared is stale, so a new column cannot slip in unclassified.
Pure module: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Grade(StrEnum):
    CORE = "core"  # 核心
    IMPORTANT = "important"  # 重要
    GENERAL = "general"  # 一般

    @property
    def label_zh(self) -> str:
        return {"core": "核心", "important": "重要", "general": "一般"}[self.value]


@dataclass(frozen=True)
class FieldClass:
    table: str
    column: str
    grade: Grade
    personal: bool
    sensitive: bool
    masking: str | None
    label_zh: str
    encrypt: bool = False


C, I, G = Grade.CORE, Grade.IMPORTANT, Grade.GENERAL
# Flags: "" not personal, "p" personal, "ps" sensitive personal; "e" stored encrypted.
_Row = tuple[str, Grade, str, str | None, str]


def _table(name: str, rows: list[_Row]) -> list[FieldClass]:
    return [
        FieldClass(
            table=name,
            column=column,
            grade=grade,
            personal="p" in flags,
            sensitive="s" in flags,
            masking=masking,
            label_zh=label,
            encrypt="e" in flags,
        )
        for column, grade, flags, masking, label in rows
    ]


_DECLARED: list[FieldClass] = [
    # -- accounts ------------------------------------------------------------------------
    *_table(
        "member",
        [
            ("id", G, "p", None, "个人ID"),
            ("account_no", I, "p", None, "个人账号"),
            ("certificate_type", G, "p", None, "证件类型"),
            ("resident_id", C, "pse", "resident_id", "证件号码"),
            ("name", I, "p", "name", "姓名"),
            ("name_pinyin", I, "p", "name", "姓名全拼"),
            ("gender", G, "p", None, "性别"),
            ("birth_date", I, "p", "birth_date", "出生年月"),
            ("phone", I, "pse", "phone", "手机号码"),
            ("employer_id", G, "", None, "单位ID"),
            ("base_fen", I, "ps", None, "个人缴存基数"),
            ("state", G, "p", None, "个人账户状态"),
            ("state_before_freeze", G, "p", None, "冻结前账户状态"),
            ("opened_on", G, "p", None, "开户日期"),
            ("closed_on", G, "p", None, "销户日期"),
            ("version", G, "", None, "版本号"),
        ],
    ),
    *_table(
        "employer",
        [
            ("id", G, "", None, "单位ID"),
            ("account_no", I, "", None, "单位账号"),
            ("uscc", I, "", None, "统一社会信用代码"),
            ("name", I, "", None, "单位名称"),
            ("address", G, "", None, "单位地址"),
            ("legal_rep_name", G, "p", None, "法定代表人姓名"),  # public in the credit register
            ("contact_name", I, "p", "name", "经办人姓名"),
            ("contact_phone", I, "p", "phone", "经办人手机号码"),
            ("bank_name", G, "", None, "单位开户银行"),
            ("bank_account_no", I, "", "bank_account", "单位银行账号"),
            ("payday", G, "", None, "单位发薪日"),
            ("employer_rate", G, "", None, "单位缴存比例"),
            ("member_rate", G, "", None, "个人缴存比例"),
            ("economic_type", G, "", None, "单位经济类型"),
            ("state", G, "", None, "单位账户状态"),
            ("opened_on", G, "", None, "开户日期"),
            ("closed_on", G, "", None, "销户日期"),
            ("deferral_from", G, "", None, "缓缴起始年月"),
            ("deferral_to", G, "", None, "缓缴终止年月"),
            ("paid_through", G, "", None, "缴至年月"),
            ("version", G, "", None, "版本号"),
        ],
    ),
    *_table(
        "account_history",
        [
            ("id", G, "", None, "变更记录ID"),
            ("subject_kind", G, "", None, "对象类型"),
            ("subject_id", G, "p", None, "对象ID"),
            ("action", G, "", None, "变更动作"),
            ("business_type", G, "", None, "业务类型"),
            ("business_date", G, "", None, "业务日期"),
            ("recorded_at", G, "", None, "记录时间"),
            ("actor", G, "", None, "操作员"),
            ("reason", G, "", None, "变更原因"),
            # Snapshots of the changed fields: may hold an ID number or phone (masked as a
            # record of the subject's table).
            ("before", C, "ps", "snapshot", "变更前"),
            ("after", C, "ps", "snapshot", "变更后"),
        ],
    ),
    *_table(
        "account_sequence",
        [
            ("kind", G, "", None, "账号序列类别"),
            ("last_value", G, "", None, "当前序号"),
        ],
    ),
    # -- ledger --------------------------------------------------------------------------
    *_table(
        "ledger_subject",
        [
            ("code", G, "", None, "科目代码"),
            ("name_zh", G, "", None, "科目名称"),
            ("name_en", G, "", None, "科目英文名称"),
            ("category", G, "", None, "科目类别"),
            ("normal_side", G, "", None, "余额方向"),
            ("sub_ledger", G, "", None, "明细账类别"),
            ("postable", G, "", None, "可记账"),
            ("local", G, "", None, "本地科目"),
        ],
    ),
    *_table(
        "ledger_period",
        [
            ("period", G, "", None, "会计期间"),
            ("closed_at", G, "", None, "结账时间"),
            ("closed_by", G, "", None, "结账人"),
        ],
    ),
    *_table(
        "journal_entry",
        [
            ("id", G, "", None, "凭证ID"),
            ("business_type", G, "", None, "业务类型"),
            ("business_id", G, "", None, "业务流水号"),
            ("idempotency_key", G, "", None, "幂等键"),
            ("fingerprint", G, "", None, "内容指纹"),
            ("value_date", G, "", None, "起息日期"),
            ("posting_date", G, "", None, "记账日期"),
            ("recorded_at", G, "", None, "记录时间"),
            ("actor", G, "", None, "操作员"),
            ("memo", G, "", None, "摘要"),
            ("reverses_entry_id", G, "", None, "被冲销凭证ID"),
        ],
    ),
    *_table(
        "journal_line",
        [
            ("id", G, "", None, "分录ID"),
            ("entry_id", G, "", None, "凭证ID"),
            ("subject_code", G, "", None, "科目代码"),
            ("side", G, "", None, "借贷方向"),
            # A member line's amount is a payment record of that person (个人财产信息).
            ("amount_fen", I, "ps", None, "发生额"),
            ("member_id", G, "p", None, "个人ID"),
            ("employer_id", G, "", None, "单位ID"),
            ("balance_part", G, "", None, "余额部分"),
            ("value_date", G, "", None, "起息日期"),
            ("accrual_days", G, "", None, "计息天数"),
        ],
    ),
    *_table(
        "member_balance",
        [
            ("member_id", G, "p", None, "个人ID"),
            ("carried_fen", I, "ps", None, "上年结转余额"),
            ("current_fen", I, "ps", None, "本年缴存余额"),
            ("accrual_carried", I, "ps", None, "上年结转积数"),
            ("accrual_current", I, "ps", None, "本年积数"),
        ],
    ),
    *_table(
        "employer_balance",
        [
            ("employer_id", G, "", None, "单位ID"),
            ("balance_fen", I, "", None, "单位暂收款余额"),
        ],
    ),
    *_table(
        "subject_balance",
        [
            ("subject_code", G, "", None, "科目代码"),
            ("debit_fen", I, "", None, "借方发生额"),
            ("credit_fen", I, "", None, "贷方发生额"),
        ],
    ),
    *_table(
        "accrual_year",
        [
            ("year_end", G, "", None, "计息年度截止日"),
            ("state", G, "", None, "计息年度状态"),
            ("settled_at", G, "", None, "结息时间"),
        ],
    ),
    # -- contributions -------------------------------------------------------------------
    *_table(
        "remittance",
        [
            ("id", G, "", None, "清册ID"),
            ("employer_id", G, "", None, "单位ID"),
            ("kind", G, "", None, "汇补缴类型"),
            ("month", G, "", None, "汇补缴年月"),
            ("state", G, "", None, "清册状态"),
            ("members", G, "", None, "缴存人数"),
            ("employer_part_fen", I, "", None, "单位缴存额合计"),
            ("member_part_fen", I, "", None, "个人缴存额合计"),
            ("total_fen", I, "", None, "缴存额合计"),
            ("source", G, "", None, "来源渠道"),
            ("idempotency_key", G, "", None, "幂等键"),
            ("created_on", G, "", None, "创建日期"),
            ("recorded_at", G, "", None, "记录时间"),
            ("actor", G, "", None, "操作员"),
            ("posted_entry_id", G, "", None, "入账凭证ID"),
            ("posted_on", G, "", None, "入账日期"),
        ],
    ),
    *_table(
        "remittance_row",
        [
            ("id", G, "", None, "清册明细ID"),
            ("remittance_id", G, "", None, "清册ID"),
            ("member_id", G, "p", None, "个人ID"),
            ("base_fen", I, "ps", None, "个人缴存基数"),
            ("employer_fen", I, "ps", None, "单位月缴存额"),
            ("member_fen", I, "ps", None, "个人月缴存额"),
        ],
    ),
    *_table(
        "receipt",
        [
            ("id", G, "", None, "到账ID"),
            ("employer_id", G, "", None, "单位ID"),
            ("bank_ref", G, "", None, "银行流水号"),
            ("amount_fen", I, "", None, "到账金额"),
            ("value_date", G, "", None, "到账日期"),
            ("entry_id", G, "", None, "凭证ID"),
            ("recorded_at", G, "", None, "记录时间"),
        ],
    ),
    *_table(
        "arrears",
        [
            ("employer_id", G, "", None, "单位ID"),
            ("month", G, "", None, "欠缴年月"),
            ("expected_fen", I, "", None, "应缴金额"),
            ("state", G, "", None, "欠缴状态"),
            ("marked_on", G, "", None, "认定日期"),
            ("cleared_on", G, "", None, "清缴日期"),
        ],
    ),
    # -- policy and operations -----------------------------------------------------------
    *_table(
        "policy_value",
        [
            ("id", G, "", None, "政策参数ID"),
            ("key", G, "", None, "参数名"),
            ("effective_from", G, "", None, "生效日期"),
            ("value", G, "", None, "参数值"),
            ("recorded_at", G, "", None, "记录时间"),
            ("actor", G, "", None, "操作员"),
            ("reason", G, "", None, "调整原因"),
        ],
    ),
    *_table(
        "batch_job",
        [
            ("job", G, "", None, "批处理作业"),
            ("period", G, "", None, "期间"),
            ("state", G, "", None, "作业状态"),
            ("runs", G, "", None, "运行次数"),
            ("started_at", G, "", None, "开始时间"),
            ("finished_at", G, "", None, "完成时间"),
            ("summary", G, "", None, "作业摘要"),
        ],
    ),
    *_table(
        "business_calendar",
        [
            ("id", G, "", None, "日历ID"),
            ("business_date", G, "", None, "业务日期"),
        ],
    ),
    # -- security ------------------------------------------------------------------------
    *_table(
        "audit_log",
        [
            ("id", I, "", None, "审计序号"),
            ("recorded_at", I, "", None, "记录时间"),
            ("business_date", G, "", None, "业务日期"),
            ("actor", I, "", None, "操作员"),
            ("role", I, "", None, "角色"),
            ("center_code", G, "", None, "中心代码"),
            ("source_ip", I, "", None, "来源地址"),
            ("channel", G, "", None, "渠道"),
            ("action", I, "", None, "操作"),
            ("object_type", I, "", None, "对象类型"),
            ("object_id", I, "p", None, "对象ID"),
            ("purpose", I, "", None, "用途"),
            ("outcome", I, "", None, "结果"),
            ("detail", I, "", None, "详情"),
            ("prev_hash", I, "", None, "前一条哈希"),
            ("hash", I, "", None, "本条哈希"),
        ],
    ),
    *_table(
        "audit_head",
        [
            ("id", G, "", None, "链头ID"),
            ("last_id", I, "", None, "最后审计序号"),
            ("last_hash", I, "", None, "最后哈希"),
        ],
    ),
]

FIELDS: dict[tuple[str, str], FieldClass] = {(f.table, f.column): f for f in _DECLARED}
assert len(FIELDS) == len(_DECLARED), "a column is declared twice"
_BY_TABLE: dict[str, dict[str, FieldClass]] = {}
for _field in _DECLARED:
    _BY_TABLE.setdefault(_field.table, {})[_field.column] = _field


class UnclassifiedField(KeyError):
    """A (table, column) with no declaration in ``FIELDS``."""


def classify(table: str, column: str) -> FieldClass:
    try:
        return FIELDS[(table, column)]
    except KeyError:
        raise UnclassifiedField(f"{table}.{column} is not declared in hpf.security.classification") from None


def table_fields(table: str) -> dict[str, FieldClass]:
    """The declared columns of ``table`` by name (empty when the table is not declared)."""
    return dict(_BY_TABLE.get(table, {}))


def declared_tables() -> frozenset[str]:
    return frozenset(_BY_TABLE)


def encrypted_fields() -> list[FieldClass]:
    """Columns G2 requires stored as SM4 tokens; their ``"{table}.{column}"`` is the context."""
    return [f for f in _DECLARED if f.encrypt]


def context_of(field: FieldClass) -> str:
    """The encryption / blind-index context of a column: ``"{table}.{column}"``."""
    return f"{field.table}.{field.column}"
