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
- a **masking** kind (``hpf.protection.masking.mask``) or ``None``: a field with a kind is shown
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

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


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


CORE, IMP, GEN = Grade.CORE, Grade.IMPORTANT, Grade.GENERAL
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
            ("id", GEN, "p", None, "个人ID"),
            ("account_no", IMP, "p", None, "个人账号"),
            ("certificate_type", GEN, "p", None, "证件类型"),
            ("resident_id_enc", CORE, "pse", "resident_id", "证件号码"),
            ("resident_id_bidx", IMP, "ps", "full", "证件号码检索码"),
            ("name", IMP, "p", "name", "姓名"),
            ("name_pinyin", IMP, "p", "name", "姓名全拼"),
            ("gender", GEN, "p", None, "性别"),
            ("birth_date", IMP, "p", "birth_date", "出生年月"),
            ("phone_enc", IMP, "pse", "phone", "手机号码"),
            ("phone_bidx", IMP, "ps", "full", "手机号码检索码"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("base_fen", IMP, "ps", None, "个人缴存基数"),
            ("state", GEN, "p", None, "个人账户状态"),
            ("state_before_freeze", GEN, "p", None, "冻结前账户状态"),
            ("opened_on", GEN, "p", None, "开户日期"),
            ("closed_on", GEN, "p", None, "销户日期"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "employer",
        [
            ("id", GEN, "", None, "单位ID"),
            ("account_no", IMP, "", None, "单位账号"),
            ("uscc", IMP, "", None, "统一社会信用代码"),
            ("name", IMP, "", None, "单位名称"),
            ("address", GEN, "", None, "单位地址"),
            ("legal_rep_name", GEN, "p", None, "法定代表人姓名"),  # public in the credit register
            ("contact_name", IMP, "p", "name", "经办人姓名"),
            ("contact_phone_enc", IMP, "pse", "phone", "经办人手机号码"),
            ("bank_name", GEN, "", None, "单位开户银行"),
            ("bank_account_no_enc", IMP, "e", "bank_account", "单位银行账号"),
            ("payday", GEN, "", None, "单位发薪日"),
            ("employer_rate", GEN, "", None, "单位缴存比例"),
            ("member_rate", GEN, "", None, "个人缴存比例"),
            ("economic_type", GEN, "", None, "单位经济类型"),
            ("state", GEN, "", None, "单位账户状态"),
            ("opened_on", GEN, "", None, "开户日期"),
            ("closed_on", GEN, "", None, "销户日期"),
            ("deferral_from", GEN, "", None, "缓缴起始年月"),
            ("deferral_to", GEN, "", None, "缓缴终止年月"),
            ("paid_through", GEN, "", None, "缴至年月"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "account_history",
        [
            ("id", GEN, "", None, "变更记录ID"),
            ("subject_kind", GEN, "", None, "对象类型"),
            ("subject_id", GEN, "p", None, "对象ID"),
            ("action", GEN, "", None, "变更动作"),
            ("business_type", GEN, "", None, "业务类型"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("reason", GEN, "", None, "变更原因"),
            # Snapshots of the changed fields: may hold an ID number or phone (masked as a
            # record of the subject's table).
            ("before", CORE, "ps", "snapshot", "变更前"),
            ("after", CORE, "ps", "snapshot", "变更后"),
        ],
    ),
    *_table(
        "account_sequence",
        [
            ("kind", GEN, "", None, "账号序列类别"),
            ("last_value", GEN, "", None, "当前序号"),
        ],
    ),
    # -- ledger --------------------------------------------------------------------------
    *_table(
        "ledger_subject",
        [
            ("code", GEN, "", None, "科目代码"),
            ("name_zh", GEN, "", None, "科目名称"),
            ("name_en", GEN, "", None, "科目英文名称"),
            ("category", GEN, "", None, "科目类别"),
            ("normal_side", GEN, "", None, "余额方向"),
            ("sub_ledger", GEN, "", None, "明细账类别"),
            ("postable", GEN, "", None, "可记账"),
            ("local", GEN, "", None, "本地科目"),
        ],
    ),
    *_table(
        "ledger_period",
        [
            ("period", GEN, "", None, "会计期间"),
            ("closed_at", GEN, "", None, "结账时间"),
            ("closed_by", GEN, "", None, "结账人"),
        ],
    ),
    *_table(
        "journal_entry",
        [
            ("id", GEN, "", None, "凭证ID"),
            ("business_type", GEN, "", None, "业务类型"),
            ("business_id", GEN, "", None, "业务流水号"),
            ("idempotency_key", GEN, "", None, "幂等键"),
            ("fingerprint", GEN, "", None, "内容指纹"),
            ("value_date", GEN, "", None, "起息日期"),
            ("posting_date", GEN, "", None, "记账日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("memo", GEN, "", None, "摘要"),
            ("reverses_entry_id", GEN, "", None, "被冲销凭证ID"),
        ],
    ),
    *_table(
        "journal_line",
        [
            ("id", GEN, "", None, "分录ID"),
            ("entry_id", GEN, "", None, "凭证ID"),
            ("subject_code", GEN, "", None, "科目代码"),
            ("side", GEN, "", None, "借贷方向"),
            # A member line's amount is a payment record of that person (个人财产信息).
            ("amount_fen", IMP, "ps", None, "发生额"),
            ("member_id", GEN, "p", None, "个人ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("balance_part", GEN, "", None, "余额部分"),
            ("value_date", GEN, "", None, "起息日期"),
            ("accrual_days", GEN, "", None, "计息天数"),
        ],
    ),
    *_table(
        "member_balance",
        [
            ("member_id", GEN, "p", None, "个人ID"),
            ("carried_fen", IMP, "ps", None, "上年结转余额"),
            ("current_fen", IMP, "ps", None, "当年归集余额"),
            ("accrual_carried", IMP, "ps", None, "上年结转积数"),
            ("accrual_current", IMP, "ps", None, "本年积数"),
        ],
    ),
    *_table(
        "employer_balance",
        [
            ("employer_id", GEN, "", None, "单位ID"),
            ("balance_fen", IMP, "", None, "单位暂收款余额"),
        ],
    ),
    *_table(
        "subject_balance",
        [
            ("subject_code", GEN, "", None, "科目代码"),
            ("stripe", GEN, "", None, "分片号"),
            ("debit_fen", IMP, "", None, "借方发生额"),
            ("credit_fen", IMP, "", None, "贷方发生额"),
        ],
    ),
    *_table(
        "accrual_year",
        [
            ("year_end", GEN, "", None, "计息年度截止日"),
            ("state", GEN, "", None, "计息年度状态"),
            ("settled_at", GEN, "", None, "结息时间"),
        ],
    ),
    # -- contributions -------------------------------------------------------------------
    *_table(
        "remittance",
        [
            ("id", GEN, "", None, "清册ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("kind", GEN, "", None, "汇补缴类型"),
            ("month", GEN, "", None, "汇补缴年月"),
            ("state", GEN, "", None, "清册状态"),
            ("members", GEN, "", None, "缴存人数"),
            ("employer_part_fen", IMP, "", None, "单位缴存额合计"),
            ("member_part_fen", IMP, "", None, "个人缴存额合计"),
            ("total_fen", IMP, "", None, "缴存额合计"),
            ("source", GEN, "", None, "来源渠道"),
            ("idempotency_key", GEN, "", None, "幂等键"),
            ("created_on", GEN, "", None, "创建日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("posted_entry_id", GEN, "", None, "入账凭证ID"),
            ("posted_on", GEN, "", None, "入账日期"),
            ("review", GEN, "", None, "从严审核状态"),
            ("review_note", GEN, "", None, "从严审核意见"),
        ],
    ),
    *_table(
        "remittance_row",
        [
            ("id", GEN, "", None, "清册明细ID"),
            ("remittance_id", GEN, "", None, "清册ID"),
            ("member_id", GEN, "p", None, "个人ID"),
            ("base_fen", IMP, "ps", None, "个人缴存基数"),
            ("employer_fen", IMP, "ps", None, "单位月缴存额"),
            ("member_fen", IMP, "ps", None, "个人月缴存额"),
        ],
    ),
    *_table(
        "receipt",
        [
            ("id", GEN, "", None, "到账ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("bank_ref", GEN, "", None, "银行流水号"),
            ("amount_fen", IMP, "", None, "到账金额"),
            ("value_date", GEN, "", None, "到账日期"),
            ("entry_id", GEN, "", None, "凭证ID"),
            ("recorded_at", GEN, "", None, "记录时间"),
        ],
    ),
    *_table(
        "arrears",
        [
            ("employer_id", GEN, "", None, "单位ID"),
            ("month", GEN, "", None, "欠缴年月"),
            ("expected_fen", IMP, "", None, "应缴金额"),
            ("state", GEN, "", None, "欠缴状态"),
            ("marked_on", GEN, "", None, "认定日期"),
            ("cleared_on", GEN, "", None, "清缴日期"),
        ],
    ),
    *_table(
        "carried_month",
        [
            ("member_id", GEN, "p", None, "个人账户ID"),
            ("month", GEN, "p", None, "转入的缴存年月"),
            ("letter_no", GEN, "", None, "联系函编号"),
            ("recorded_at", GEN, "", None, "记录时间"),
        ],
    ),
    # -- policy and operations -----------------------------------------------------------
    *_table(
        "policy_value",
        [
            ("id", GEN, "", None, "政策参数ID"),
            ("key", GEN, "", None, "参数名"),
            ("effective_from", GEN, "", None, "生效日期"),
            ("value", GEN, "", None, "参数值"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("reason", GEN, "", None, "调整原因"),
        ],
    ),
    *_table(
        "batch_job",
        [
            ("job", GEN, "", None, "批处理作业"),
            ("period", GEN, "", None, "期间"),
            ("state", GEN, "", None, "作业状态"),
            ("runs", GEN, "", None, "运行次数"),
            ("started_at", GEN, "", None, "开始时间"),
            ("finished_at", GEN, "", None, "完成时间"),
            ("summary", GEN, "", None, "作业摘要"),
        ],
    ),
    # The business event stream (hpf.events): ids, codes, states, amounts and dates of changes;
    # the amounts of a member's money make the payload sensitive personal information.
    *_table(
        "business_event",
        [
            ("id", GEN, "", None, "事件ID"),
            ("type", GEN, "", None, "事件类型"),
            ("object_kind", GEN, "", None, "业务对象类型"),
            ("object_id", GEN, "p", None, "业务对象ID"),
            ("payload", IMP, "ps", None, "事件内容"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("source", GEN, "", None, "来源"),
        ],
    ),
    *_table(
        "event_cursor",
        [
            ("consumer", GEN, "", None, "事件消费者"),
            ("last_event_id", GEN, "", None, "已处理事件ID"),
            ("updated_at", GEN, "", None, "更新时间"),
        ],
    ),
    # -- quality: the data quality scans (decision 0032) ----------------------------------------
    *_table(
        "quality_run",
        [
            ("id", GEN, "", None, "检查批次号"),
            ("business_date", GEN, "", None, "检查业务日期"),
            ("scope", GEN, "", None, "检查范围"),
            ("actor", GEN, "", None, "发起人"),
            ("started_at", GEN, "", None, "开始时间"),
            ("finished_at", GEN, "", None, "结束时间"),
            ("rules", GEN, "", None, "规则数"),
            ("findings", GEN, "", None, "不符项数"),
            ("seconds", GEN, "", None, "各规则用时"),
        ],
    ),
    *_table(
        "quality_hit",
        [
            ("run_id", GEN, "", None, "检查批次号"),
            ("rule_id", GEN, "", None, "规则编号"),
            # an account number or loan id: identifies a member's account
            ("object", IMP, "p", None, "检查对象"),
            ("detail", GEN, "", None, "不符说明"),
        ],
    ),
    *_table(
        "quality_score",
        [
            ("run_id", GEN, "", None, "检查批次号"),
            ("level", GEN, "", None, "汇总层级"),
            ("key", GEN, "", None, "汇总键"),
            ("checked", GEN, "", None, "检查数"),
            ("failing", GEN, "", None, "不符数"),
        ],
    ),
    *_table(
        "quality_finding",
        [
            ("id", GEN, "", None, "发现项编号"),
            ("rule_id", GEN, "", None, "规则编号"),
            ("object", IMP, "p", None, "检查对象"),
            ("first_run_id", GEN, "", None, "首次发现批次"),
            ("last_seen_run_id", GEN, "", None, "最近发现批次"),
            ("passed_run_id", GEN, "", None, "复扫通过批次"),
            ("detail", GEN, "", None, "不符说明"),
            ("state", GEN, "", None, "处理状态"),
            ("assignee", GEN, "", None, "处理人"),
            ("closed_at", GEN, "", None, "关闭时间"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "quality_finding_event",
        [
            ("id", GEN, "", None, "处理记录编号"),
            ("finding_id", GEN, "", None, "发现项编号"),
            ("run_id", GEN, "", None, "检查批次号"),
            ("action", GEN, "", None, "处理动作"),
            ("actor", GEN, "", None, "操作人"),
            ("at", GEN, "", None, "操作时间"),
            ("note", GEN, "", None, "说明"),
            ("details", GEN, "", None, "处理详情"),
        ],
    ),
    # -- transfers: the center's side of the hub (decision 0027) -----------------------------
    *_table(
        "peer_center",
        [
            ("code", GEN, "", None, "中心代码"),
            ("name", GEN, "", None, "中心名称"),
            ("province", GEN, "", None, "省份"),
            ("state", GEN, "", None, "接入状态"),
            ("sign_key", GEN, "", None, "签名公钥"),
            ("encrypt_key", GEN, "", None, "加密公钥"),
            ("looked_up_at", GEN, "", None, "查询时间"),
        ],
    ),
    *_table(
        "exchanged_message",
        [
            ("message_id", GEN, "", None, "报文编号"),
            ("direction", GEN, "", None, "方向"),
            ("type", GEN, "", None, "报文类型"),
            ("peer", GEN, "", None, "对方中心代码"),
            ("reply_to", GEN, "", None, "应答的报文编号"),
            ("created_at", GEN, "", None, "报文生成时间"),
            ("digest", GEN, "", None, "报文摘要"),
            # sealed (SM4-GCM, key wrapped with SM2) to the recipient: personal data inside
            ("envelope", IMP, "ps", None, "报文（密文）"),
            ("state", GEN, "", None, "报文状态"),
            ("attempts", GEN, "", None, "投递次数"),
            ("next_attempt_at", GEN, "", None, "下次投递时间"),
            ("last_error", GEN, "", None, "上次投递错误"),
            ("delivered_at", GEN, "", None, "送达时间"),
            ("answered_by", GEN, "", None, "应答报文编号"),
            ("letter_no", GEN, "", None, "联系函编号"),
            ("batch_id", GEN, "", None, "所在批量报文编号"),
        ],
    ),
    # A cross-center transfer (decision 0030): the person is a member id; amounts and the
    # carried contribution history are sensitive personal information; names and ID numbers
    # stay in the sealed messages.
    *_table(
        "transfer",
        [
            ("id", GEN, "", None, "转移接续ID"),
            ("letter_no", GEN, "", None, "联系函编号"),
            ("side", GEN, "", None, "转入或转出"),
            ("peer", GEN, "", None, "对方中心代码"),
            ("state", GEN, "", None, "转移接续状态"),
            ("member_id", GEN, "p", None, "个人账户ID"),
            ("application_id", GEN, "p", None, "申请ID"),
            ("letter_message_id", GEN, "", None, "联系函报文编号"),
            ("out_message_id", GEN, "", None, "转出信息报文编号"),
            ("principal_fen", IMP, "ps", None, "本金金额"),
            ("interest_fen", IMP, "ps", None, "利息金额"),
            ("amount_fen", IMP, "ps", None, "转移金额"),
            ("order_no", GEN, "", None, "转出付款业务流水号"),
            ("payment_order_id", GEN, "", None, "付款指令ID"),
            ("notice_no", GEN, "", None, "到账通知编号"),
            ("credit_entry_id", GEN, "", None, "转入凭证ID"),
            ("checks", GEN, "p", None, "转出审核结果"),
            ("carried", IMP, "ps", None, "转入缴存信息"),
            ("reason", GEN, "p", None, "不予转出或撤销原因"),
            ("started_on", GEN, "", None, "发起日期"),
            ("due_on", GEN, "", None, "办理时限"),
            ("ended_on", GEN, "", None, "办结日期"),
            ("updated_at", GEN, "", None, "更新时间"),
        ],
    ),
    # co-investigation (decision 0031): who was asked about is kept as the member table's blind
    # index; the answer holds other centers' facts about the person (states, dates, loans).
    *_table(
        "network_inquiry",
        [
            ("id", GEN, "", None, "协查ID"),
            ("message_id", GEN, "", None, "协查报文编号"),
            ("purpose", GEN, "", None, "协查用途"),
            ("persons", GEN, "", None, "查询人数"),
            ("subject_bidx", IMP, "ps", "full", "被查询人证件号码检索码"),
            ("asked_by", GEN, "", None, "查询人"),
            ("asked_at", GEN, "", None, "查询时间"),
            ("business_date", GEN, "", None, "业务日期"),
            ("outcome", GEN, "", None, "协查结果"),
            ("answer", IMP, "ps", None, "协查答复"),
            ("error", GEN, "", None, "失败原因"),
        ],
    ),
    # -- supervision (decision 0040): problems the hub dispatched, the credit list ----------------
    *_table(
        "sup_problem",
        [
            ("id", GEN, "", None, "问题ID"),
            ("hub_ref", GEN, "", None, "平台问题编号"),
            ("month", GEN, "", None, "所属月份"),
            ("rule", GEN, "", None, "监测规则"),
            ("title_zh", GEN, "", None, "问题标题"),
            ("detail_zh", GEN, "", None, "问题说明"),
            ("indicator", GEN, "", None, "指标代码"),
            ("value", GEN, "", None, "指标值"),
            ("deadline", GEN, "", None, "整改期限"),
            ("state", GEN, "", None, "问题状态"),
            ("overdue", GEN, "", None, "是否逾期"),
            ("received_at", GEN, "", None, "接收时间"),
            ("updated_at", GEN, "", None, "更新时间"),
        ],
    ),
    *_table(
        "sup_problem_step",
        [
            ("id", GEN, "", None, "步骤ID"),
            ("problem_id", GEN, "", None, "问题ID"),
            ("step", GEN, "", None, "步骤"),
            ("state", GEN, "", None, "步骤后状态"),
            ("actor", GEN, "", None, "办理人"),
            ("note", GEN, "", None, "办理说明"),
            ("evidence", GEN, "", None, "佐证材料摘要"),
            ("message_id", GEN, "", None, "报文编号"),
            ("at", GEN, "", None, "办理时间"),
        ],
    ),
    *_table(
        "sup_evidence",
        [
            ("id", GEN, "", None, "材料ID"),
            ("problem_id", GEN, "", None, "问题ID"),
            ("name", GEN, "", None, "文件名"),
            ("sha256", GEN, "", None, "文件摘要"),
            ("size", GEN, "", None, "文件大小"),
            ("content", IMP, "", None, "文件内容"),
            ("uploaded_by", GEN, "", None, "上传人"),
            ("uploaded_at", GEN, "", None, "上传时间"),
        ],
    ),
    *_table(
        "credit_listing",
        [
            ("id", GEN, "", None, "名单条目ID"),
            ("kind", GEN, "", None, "列入对象类别"),
            ("member_id", IMP, "p", None, "职工ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("grounds", GEN, "", None, "认定事由代码"),
            ("note", IMP, "p", None, "认定依据"),
            ("listed_on", GEN, "", None, "列入日期"),
            ("until", GEN, "", None, "有效期至"),
            ("state", GEN, "", None, "条目状态"),
            ("appeal_note", IMP, "p", None, "申诉理由"),
            ("removed_reason", GEN, "", None, "移出原因"),
            ("seq", GEN, "", None, "报送序号"),
            ("listed_by", GEN, "", None, "认定人"),
            ("updated_at", GEN, "", None, "更新时间"),
        ],
    ),
    *_table(
        "credit_national",
        [
            ("center", GEN, "", None, "列入中心代码"),
            ("entry_ref", GEN, "", None, "名单条目编号"),
            ("kind", GEN, "", None, "列入对象类别"),
            ("uscc", GEN, "", None, "统一社会信用代码"),
            ("employer_name", GEN, "", None, "单位名称"),
            ("grounds", GEN, "", None, "认定事由代码"),
            ("grounds_zh", GEN, "", None, "认定事由"),
            ("listed_on", GEN, "", None, "列入日期"),
            ("until", GEN, "", None, "有效期至"),
            ("state", GEN, "", None, "条目状态"),
            ("as_of", GEN, "", None, "名单日期"),
        ],
    ),
    *_table(
        "credit_review",
        [
            ("id", GEN, "", None, "从严审核ID"),
            ("remittance_id", GEN, "", None, "清册ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("month", GEN, "", None, "缴存年月"),
            ("listed_by", GEN, "", None, "列入中心代码"),
            ("grounds_zh", GEN, "", None, "认定事由"),
            ("state", GEN, "", None, "审核状态"),
            ("note", GEN, "", None, "审核意见"),
            ("reviewed_by", GEN, "", None, "审核人"),
            ("reviewed_at", GEN, "", None, "审核时间"),
            ("created_at", GEN, "", None, "登记时间"),
        ],
    ),
    *_table(
        "business_calendar",
        [
            ("id", GEN, "", None, "日历ID"),
            ("business_date", GEN, "", None, "业务日期"),
        ],
    ),
    # -- settlement ----------------------------------------------------------------------
    # A payout's payee is usually a member: the name and bank card are personal, stored encrypted.
    *_table(
        "payment_order",
        [
            ("id", GEN, "", None, "付款指令ID"),
            ("order_no", GEN, "", None, "业务流水号"),
            ("idempotency_key", GEN, "", None, "幂等键"),
            ("fingerprint", GEN, "", None, "内容指纹"),
            ("owner_kind", GEN, "", None, "付款业务类别"),
            ("owner_id", GEN, "", None, "付款业务编号"),
            ("business_type", GEN, "", None, "业务类型"),
            ("fund_business_type", GEN, "", None, "资金业务类型"),
            ("summary", GEN, "", None, "摘要"),
            ("amount_fen", IMP, "ps", None, "付款金额"),
            ("payee_name_enc", IMP, "pse", "name", "收款人户名"),
            ("payee_account_no_enc", IMP, "pse", "bank_card", "收款账号"),
            ("payee_account_class", GEN, "", None, "收款账户类别"),
            ("payee_bank_name", GEN, "", None, "收款银行"),
            ("payee_bank_code", GEN, "", None, "收款行联行号"),
            ("settle_type", GEN, "", None, "结算方式"),
            ("state", GEN, "", None, "付款指令状态"),
            ("reserve_entry_id", GEN, "", None, "冻结凭证ID"),
            ("settle_entry_id", GEN, "", None, "结清凭证ID"),
            ("batch_no", GEN, "", None, "批次号"),
            ("bank_seq_no", GEN, "", None, "银行流水号"),
            ("bank_date", GEN, "", None, "银行交易日期"),
            ("failure_code", GEN, "", None, "失败代码"),
            ("failure_reason", GEN, "", None, "失败原因"),
            ("attempts", GEN, "", None, "发送次数"),
            ("created_on", GEN, "", None, "创建日期"),
            ("sent_on", GEN, "", None, "发送日期"),
            ("settled_on", GEN, "", None, "结清日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "payment_order_event",
        [
            ("id", GEN, "", None, "状态记录ID"),
            ("order_id", GEN, "", None, "付款指令ID"),
            ("from_state", GEN, "", None, "原状态"),
            ("to_state", GEN, "", None, "新状态"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("source", GEN, "", None, "来源"),
            ("note", GEN, "", None, "说明"),
        ],
    ),
    *_table(
        "bank_notice",
        [
            ("id", GEN, "", None, "通知ID"),
            ("notice_no", GEN, "", None, "通知流水号"),
            ("acct_no", GEN, "", None, "中心银行账号"),
            ("bank_seq_no", GEN, "", None, "银行流水号"),
            ("tx_date", GEN, "", None, "交易日期"),
            ("direction", GEN, "", None, "借贷方向"),
            ("amount_fen", IMP, "", None, "发生额"),
            ("ref_seq_no", GEN, "", None, "业务流水号"),
            ("counterparty_name_enc", IMP, "pse", "name", "对方户名"),
            ("counterparty_acct_no_enc", IMP, "pse", "bank_card", "对方账号"),
            ("summary", GEN, "", None, "摘要"),
            ("order_id", GEN, "", None, "付款指令ID"),
            ("outcome", GEN, "", None, "处理结果"),
            ("received_at", GEN, "", None, "接收时间"),
        ],
    ),
    *_table(
        "bank_statement_line",
        [
            ("id", GEN, "", None, "明细ID"),
            ("reconciliation_id", GEN, "", None, "对账ID"),
            ("bank_seq_no", GEN, "", None, "银行流水号"),
            ("tx_date", GEN, "", None, "交易日期"),
            ("direction", GEN, "", None, "借贷方向"),
            ("amount_fen", IMP, "", None, "发生额"),
            ("ref_seq_no", GEN, "", None, "业务流水号"),
            ("summary", GEN, "", None, "摘要"),
        ],
    ),
    *_table(
        "reconciliation",
        [
            ("id", GEN, "", None, "对账ID"),
            ("day", GEN, "", None, "对账日期"),
            ("acct_no", GEN, "", None, "中心银行账号"),
            ("run_at", GEN, "", None, "对账时间"),
            ("actor", GEN, "", None, "操作员"),
            ("bank_lines", GEN, "", None, "银行明细笔数"),
            ("bank_out_fen", IMP, "", None, "银行支出合计"),
            ("bank_in_fen", IMP, "", None, "银行收入合计"),
            ("differences", GEN, "", None, "差异项数"),
        ],
    ),
    *_table(
        "reconciliation_difference",
        [
            ("id", GEN, "", None, "差异ID"),
            ("reconciliation_id", GEN, "", None, "对账ID"),
            ("kind", GEN, "", None, "差异类型"),
            ("ref", GEN, "", None, "业务流水号"),
            ("bank_fen", IMP, "", None, "银行金额"),
            ("ledger_fen", IMP, "", None, "账务金额"),
            ("lines", GEN, "", None, "银行笔数"),
            ("order_id", GEN, "", None, "付款指令ID"),
            ("order_state", GEN, "", None, "付款指令状态"),
        ],
    ),
    # -- security ------------------------------------------------------------------------
    *_table(
        "audit_log",
        [
            ("id", IMP, "", None, "审计序号"),
            ("recorded_at", IMP, "", None, "记录时间"),
            ("business_date", GEN, "", None, "业务日期"),
            ("actor", IMP, "", None, "操作员"),
            ("role", IMP, "", None, "角色"),
            ("center_code", GEN, "", None, "中心代码"),
            ("source_ip", IMP, "p", None, "来源IP地址"),
            ("channel", GEN, "", None, "渠道"),
            ("action", IMP, "", None, "操作"),
            ("object_type", IMP, "", None, "对象类型"),
            ("object_id", IMP, "p", None, "对象ID"),
            ("purpose", IMP, "", None, "用途"),
            ("outcome", IMP, "", None, "结果"),
            ("detail", IMP, "", None, "详情"),
            ("prev_hash", IMP, "", None, "前一条哈希"),
            ("hash", IMP, "", None, "本条哈希"),
        ],
    ),
    # Identities and sign-in. Credentials (鉴别信息) are sensitive personal information; a
    # reversible secret (a TOTP seed) is stored encrypted, the others are hashes. Hashes and
    # live tokens are never shown ("full").
    *_table(
        "principal",
        [
            ("id", GEN, "p", None, "用户ID"),
            ("kind", GEN, "", None, "用户类型"),
            ("login", IMP, "p", None, "登录名"),
            ("display_name", IMP, "p", "name", "用户姓名"),
            ("center_code", GEN, "", None, "中心代码"),
            ("member_id", GEN, "p", None, "个人ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("password_hash", CORE, "ps", "full", "密码摘要"),
            ("password_changed_at", GEN, "p", None, "密码修改时间"),
            ("totp_secret_enc", CORE, "pse", "full", "动态口令密钥"),
            ("totp_required", GEN, "", None, "须动态口令"),
            ("last_totp_step", GEN, "", None, "最后动态口令时间步"),
            ("failed_attempts", GEN, "", None, "连续失败次数"),
            ("locked_until", GEN, "", None, "锁定截止时间"),
            ("external_issuer", GEN, "", None, "外部身份提供方"),
            ("external_subject", IMP, "p", None, "外部身份标识"),
            ("created_at", GEN, "", None, "创建时间"),
            ("last_sign_in_at", GEN, "p", None, "最后登录时间"),
            ("disabled", GEN, "", None, "已停用"),
        ],
    ),
    *_table(
        "staff_identity",
        [
            ("principal_id", GEN, "p", None, "用户ID"),
            ("resident_id_bidx", IMP, "ps", "full", "工作人员证件号码检索码"),
            ("registered_at", GEN, "", None, "登记时间"),
        ],
    ),
    *_table(
        "principal_role",
        [
            ("principal_id", GEN, "p", None, "用户ID"),
            ("role", GEN, "", None, "角色"),
        ],
    ),
    *_table(
        "sign_in_challenge",
        [
            ("id", GEN, "", None, "登录挑战ID"),
            ("token_hash", IMP, "", "full", "挑战令牌摘要"),
            ("principal_id", GEN, "p", None, "用户ID"),
            ("step", GEN, "", None, "认证步骤"),
            ("pending_secret_enc", CORE, "pse", "full", "待绑定动态口令密钥"),
            ("created_at", GEN, "", None, "创建时间"),
            ("expires_at", GEN, "", None, "过期时间"),
            ("consumed_at", GEN, "", None, "使用时间"),
        ],
    ),
    *_table(
        "sign_in_throttle",
        [
            ("key", IMP, "p", "full", "限制键（登录名与地址的摘要，或IP地址）"),
            ("login_hash", IMP, "", "full", "登录名摘要"),
            ("failures", GEN, "", None, "失败次数"),
            ("window_started_at", GEN, "", None, "计数起始时间"),
            ("locked_until", GEN, "", None, "锁定截止时间"),
        ],
    ),
    *_table(
        "web_session",
        [
            ("id", IMP, "", "full", "会话令牌摘要"),
            ("principal_id", GEN, "p", None, "用户ID"),
            ("created_at", GEN, "", None, "创建时间"),
            ("last_seen_at", GEN, "p", None, "最后访问时间"),
            ("expires_at", GEN, "", None, "空闲过期时间"),
            ("absolute_expires_at", GEN, "", None, "绝对过期时间"),
            ("csrf_token", IMP, "", "full", "防跨站令牌"),
            ("ip", IMP, "p", None, "登录IP地址"),
            ("user_agent", GEN, "p", None, "浏览器标识"),
            ("revoked_at", GEN, "", None, "注销时间"),
        ],
    ),
    *_table(
        "refresh_token",
        [
            ("id", GEN, "", None, "刷新令牌ID"),
            ("principal_id", GEN, "p", None, "用户ID"),
            ("family", GEN, "", None, "令牌族"),
            ("token_hash", IMP, "", "full", "刷新令牌摘要"),
            ("issued_at", GEN, "", None, "签发时间"),
            ("expires_at", GEN, "", None, "过期时间"),
            ("rotated_at", GEN, "", None, "轮换时间"),
            ("revoked_at", GEN, "", None, "吊销时间"),
        ],
    ),
    *_table(
        "one_time_code",
        [
            ("id", GEN, "", None, "验证码ID"),
            ("principal_id", GEN, "p", None, "用户ID"),
            ("purpose", GEN, "", None, "验证码用途"),
            ("salt", IMP, "", "full", "盐值"),
            ("code_hash", IMP, "", "full", "验证码摘要"),
            ("created_at", GEN, "", None, "创建时间"),
            ("expires_at", GEN, "", None, "过期时间"),
            ("attempts", GEN, "", None, "尝试次数"),
            ("consumed_at", GEN, "", None, "使用时间"),
        ],
    ),
    # Maker-checker requests: what was asked, by whom, who decided (staff are people too).
    *_table(
        "approval_request",
        [
            ("id", GEN, "", None, "审批事项编号"),
            ("kind", GEN, "", None, "审批事项类型"),
            ("payload", IMP, "", None, "申请内容"),
            ("summary", IMP, "", None, "事项摘要"),
            ("maker", IMP, "p", None, "经办人"),
            ("maker_id", GEN, "p", None, "经办人ID"),
            ("created_at", GEN, "", None, "提交时间"),
            ("state", GEN, "", None, "审批状态"),
            ("checker", IMP, "p", None, "审批人"),
            ("checker_id", GEN, "p", None, "审批人ID"),
            ("decided_at", GEN, "", None, "审批时间"),
            ("note", GEN, "", None, "审批意见"),
            ("result", IMP, "", None, "办理结果"),
            ("idempotency_key", GEN, "", None, "幂等键"),
        ],
    ),
    # -- withdrawals -----------------------------------------------------------------------
    *_table(
        "withdrawal",
        [
            ("id", GEN, "", None, "提取编号"),
            ("application_id", GEN, "", None, "申请编号"),
            ("member_id", GEN, "p", None, "个人ID"),
            ("reason", GEN, "p", None, "提取原因"),
            ("requested_fen", IMP, "ps", None, "申请提取金额"),
            ("allowed_fen", IMP, "ps", None, "核定提取金额"),
            ("closes_account", GEN, "p", None, "是否销户"),
            ("document_no_enc", IMP, "pse", "full", "合同或证明编号"),
            ("document_no_bidx", IMP, "ps", "full", "合同或证明编号检索码"),
            ("payee_name", IMP, "p", "name", "收款人姓名"),
            ("payee_card_enc", IMP, "pse", "bank_card", "收款银行卡号"),
            ("payee_card_bidx", IMP, "ps", "full", "收款银行卡号检索码"),
            ("family_bidx", IMP, "ps", "full", "家庭成员证件号码检索码"),
            ("evidence", IMP, "ps", None, "申请事实"),
            ("state", GEN, "", None, "提取状态"),
            ("applied_on", GEN, "p", None, "申请日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("paid_on", GEN, "p", None, "支付日期"),
            ("order_id", GEN, "", None, "付款指令编号"),
        ],
    ),
    *_table(
        "property_record",
        [
            ("id", GEN, "", None, "不动产记录编号"),
            ("owner_bidx", IMP, "ps", "full", "权利人证件号码检索码"),
            ("certificate_no_enc", IMP, "pse", "full", "不动产权证书号"),
            ("certificate_no_bidx", IMP, "ps", "full", "不动产权证书号检索码"),
            ("registered_on", GEN, "ps", None, "登记日期"),
            ("status", GEN, "ps", None, "权属状态"),
            ("source", GEN, "", None, "数据来源"),
            ("received_at", GEN, "", None, "接收时间"),
        ],
    ),
    # -- loans -----------------------------------------------------------------------------
    # A loan is the borrower's property fact (PIPL sensitive: financial accounts and property).
    *_table(
        "loan",
        [
            ("id", GEN, "", None, "贷款ID"),
            ("contract_no", IMP, "p", None, "借款合同编号"),
            ("application_id", GEN, "", None, "申请编号"),
            ("borrower_id", GEN, "p", None, "借款人个人ID"),
            ("co_borrower_ids", IMP, "p", None, "共同借款人个人ID"),
            ("house_nature", GEN, "ps", None, "房屋性质"),
            ("second_home", GEN, "ps", None, "是否第二套住房"),
            ("house_price_fen", IMP, "ps", None, "房屋总价"),
            ("floor_area", GEN, "ps", None, "房屋建筑面积"),
            ("certificate_no_enc", IMP, "pse", "full", "他项权证号"),
            ("certificate_no_bidx", IMP, "ps", "full", "他项权证号检索码"),
            ("debit_card_enc", IMP, "pse", "bank_card", "委托扣款银行卡号"),
            ("appraisal_fen", IMP, "ps", None, "抵押物评估价值"),
            ("guarantee_type", GEN, "p", None, "贷款担保类型"),
            ("principal_fen", IMP, "ps", None, "合同贷款金额"),
            ("annual_rate", GEN, "p", None, "借款合同利率"),
            ("rate_e7", GEN, "p", None, "借款合同利率（整数）"),
            ("term_months", GEN, "p", None, "贷款期数"),
            ("method", GEN, "p", None, "贷款还款方式"),
            ("contract_date", GEN, "p", None, "借款合同签订日期"),
            ("first_due_date", GEN, "p", None, "首期还款日期"),
            ("repayment_source", GEN, "p", None, "还款资金来源"),
            ("state", GEN, "p", None, "贷款状态"),
            ("disbursed_on", GEN, "p", None, "贷款发放日期"),
            ("disbursement_entry_id", GEN, "", None, "发放记账凭证ID"),
            ("outstanding_principal_fen", IMP, "ps", None, "贷款余额"),
            ("overdue_principal_fen", IMP, "ps", None, "逾期本金总额"),
            ("overdue_interest_fen", IMP, "ps", None, "逾期利息总额"),
            ("overdue_since", GEN, "ps", None, "逾期起始日期"),
            ("days_past_due", GEN, "ps", None, "逾期天数"),
            ("classification", GEN, "ps", None, "贷款风险等级"),
            ("penalty_base", IMP, "ps", None, "罚息积数"),
            ("penalty_fen", IMP, "ps", None, "已结计罚息"),
            ("penalty_accrued_fen", IMP, "ps", None, "罚息总额"),
            ("penalty_through", GEN, "p", None, "罚息计至日期"),
            ("collateral_flag", GEN, "ps", None, "抵押物风险提示"),
            ("collateral_flagged_on", GEN, "ps", None, "风险提示日期"),
            ("settled_on", GEN, "p", None, "贷款结清日期"),
            ("created_at", GEN, "", None, "创建时间"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "loan_installment",
        [
            ("loan_id", GEN, "", None, "贷款ID"),
            ("period", GEN, "", None, "期次"),
            ("due_date", GEN, "p", None, "应还日期"),
            ("rate_e7", GEN, "p", None, "执行利率（整数）"),
            ("principal_fen", IMP, "ps", None, "应还本金"),
            ("interest_fen", IMP, "ps", None, "应还利息"),
            ("remaining_fen", IMP, "ps", None, "剩余本金"),
            ("prepaid_fen", IMP, "ps", None, "提前还本金额"),
            ("paid_principal_fen", IMP, "ps", None, "实还本金"),
            ("paid_interest_fen", IMP, "ps", None, "实还利息"),
            ("paid_on", GEN, "p", None, "实还日期"),
            ("state", GEN, "p", None, "期次状态"),
        ],
    ),
    *_table(
        "loan_event",
        [
            ("id", GEN, "", None, "贷款事件ID"),
            ("loan_id", GEN, "", None, "贷款ID"),
            ("kind", GEN, "", None, "事件类型"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", IMP, "p", None, "经办人"),
            ("entry_id", GEN, "", None, "记账凭证ID"),
            ("amount_fen", IMP, "ps", None, "发生额"),
            ("detail", IMP, "ps", None, "事件详情"),
            ("idempotency_key", GEN, "", None, "幂等键"),
        ],
    ),
    *_table(
        "collateral_event",
        [
            ("id", GEN, "", None, "抵押物事件ID"),
            ("loan_id", GEN, "", None, "贷款ID"),
            ("kind", GEN, "ps", None, "登记事件类型"),
            ("reported_on", GEN, "ps", None, "登记日期"),
            ("source", GEN, "", None, "数据来源"),
            ("external_id", GEN, "", None, "来源记录编号"),
            ("received_at", GEN, "", None, "接收时间"),
        ],
    ),
    *_table(
        "dunning_notice",
        [
            ("id", GEN, "", None, "催收通知ID"),
            ("loan_id", GEN, "", None, "贷款ID"),
            ("overdue_since", GEN, "ps", None, "逾期起始日期"),
            ("stage", GEN, "ps", None, "催收阶段（逾期天数）"),
            ("issued_on", GEN, "p", None, "通知日期"),
            ("days_past_due", GEN, "ps", None, "逾期天数"),
            ("amount_fen", IMP, "ps", None, "应还金额"),
            ("channel", GEN, "", None, "通知方式"),
        ],
    ),
    # 委托扣款 (BDC105): what was asked of the borrower's card each month and the bank's answer.
    *_table(
        "loan_debit",
        [
            ("id", GEN, "", None, "扣款记录ID"),
            ("month", GEN, "p", None, "扣款月份"),
            ("loan_id", GEN, "", None, "贷款ID"),
            ("seq_no", GEN, "", None, "业务流水号"),
            ("amount_fen", IMP, "ps", None, "扣款金额"),
            ("principal_fen", IMP, "ps", None, "扣款本金"),
            ("interest_fen", IMP, "ps", None, "扣款利息"),
            ("state", GEN, "ps", None, "扣款状态"),
            ("bank_seq_no", GEN, "", None, "银行流水号"),
            ("ret_code", GEN, "ps", None, "银行返回码"),
            ("ret_msg", GEN, "ps", None, "银行返回信息"),
            ("created_at", GEN, "", None, "创建时间"),
            ("answered_at", GEN, "", None, "应答时间"),
        ],
    ),
    # -- the loan default scorecard (hpf.loans.scorecard.model) ---------------------------------------
    # The features describe the borrower's finances at application (ratios of balance, base and
    # price): sensitive personal information, like the loan itself. A card is a model, not a person.
    *_table(
        "loan_features",
        [
            ("loan_id", GEN, "", None, "贷款ID"),
            ("features", IMP, "ps", None, "评分卡特征"),
            ("recorded_at", GEN, "", None, "记录时间"),
        ],
    ),
    *_table(
        "scorecard",
        [
            ("id", GEN, "", None, "评分卡ID"),
            ("trained_at", GEN, "", None, "训练时间"),
            ("trained_on", GEN, "", None, "训练业务日期"),
            ("model", GEN, "", None, "模型"),
            ("seed", GEN, "", None, "随机种子"),
            ("features", GEN, "", None, "特征列表"),
            ("coefficients", GEN, "", None, "系数"),
            ("intercept", GEN, "", None, "截距"),
            ("scaling", GEN, "", None, "标准化参数"),
            ("band_cuts", GEN, "", None, "风险等级分界"),
            ("auc", GEN, "", None, "验证集AUC"),
            ("train_count", GEN, "", None, "训练样本数"),
            ("test_count", GEN, "", None, "验证样本数"),
            ("train_bads", GEN, "", None, "训练违约数"),
            ("test_bads", GEN, "", None, "验证违约数"),
            ("bad_rate", GEN, "", None, "违约率"),
            ("months_on_book", GEN, "", None, "最短账龄（月）"),
            ("default_definition", GEN, "", None, "违约定义"),
            ("high_risk_threshold", GEN, "", None, "高风险阈值"),
            ("active", GEN, "", None, "是否启用"),
        ],
    ),
    *_table(
        "key_check",
        [
            ("key_id", GEN, "", None, "密钥标识"),
            ("check_value", IMP, "", None, "密钥校验值"),
            ("first_seen_at", GEN, "", None, "首次使用时间"),
        ],
    ),
    # Alerts name the staff member or login they are about and where from.
    *_table(
        "security_alert",
        [
            ("id", GEN, "", None, "告警编号"),
            ("kind", GEN, "", None, "告警类型"),
            ("raised_at", GEN, "", None, "告警时间"),
            ("business_date", GEN, "", None, "业务日期"),
            ("center_code", GEN, "", None, "中心代码"),
            ("subject", IMP, "p", None, "告警对象"),
            ("source_ip", IMP, "p", None, "来源地址"),
            ("summary", IMP, "p", None, "告警摘要"),
            ("detail", IMP, "p", None, "告警详情"),
            ("state", GEN, "", None, "处理状态"),
            ("closed_by", IMP, "p", None, "处理人"),
            ("closed_at", GEN, "", None, "处理时间"),
            ("note", GEN, "", None, "处理说明"),
        ],
    ),
    # -- services (E1, E2, A8) ---------------------------------------------------------------
    *_table(
        "catalog_local_version",
        [
            ("id", GEN, "", None, "实施清单版本号"),
            ("effective_from", GEN, "", None, "生效日期"),
            ("items", GEN, "", None, "实施清单事项"),
            ("recorded_at", GEN, "", None, "登记时间"),
            ("actor", IMP, "p", None, "经办人"),
            ("reason", GEN, "", None, "发布原因"),
        ],
    ),
    # An application is a member's or employer's request: what they asked (payload: amounts,
    # contract numbers, a lease) and what was decided are personal and financial facts.
    *_table(
        "application",
        [
            ("id", GEN, "", None, "申请编号"),
            ("item_code", GEN, "", None, "服务事项编码"),
            ("catalog_version", GEN, "", None, "服务目录版本"),
            ("applicant_kind", GEN, "", None, "申请人类型"),
            ("applicant_id", GEN, "p", None, "申请人登录ID"),
            ("applicant_login", IMP, "p", None, "申请人登录名"),
            ("member_id", GEN, "p", None, "个人ID"),
            ("employer_id", GEN, "", None, "单位ID"),
            ("channel", GEN, "", None, "办理渠道"),
            ("payload", IMP, "ps", None, "申请内容"),
            ("state", GEN, "p", None, "办理状态"),
            ("submitted_on", GEN, "p", None, "申请日期"),
            ("accepted_on", GEN, "p", None, "受理日期"),
            ("accepted_by", IMP, "p", None, "受理人"),
            ("due_on", GEN, "", None, "办结时限"),
            ("fast_track", GEN, "", None, "优先办理标识"),
            ("evaluation", IMP, "ps", None, "规则核验结果"),
            ("amount_fen", IMP, "ps", None, "核定金额"),
            ("decision", GEN, "p", None, "办理决定"),
            ("decision_reason", IMP, "p", None, "决定理由"),
            ("decided_by", IMP, "p", None, "审批人"),
            ("decided_at", GEN, "", None, "决定时间"),
            ("outputs", IMP, "ps", None, "办理结果"),
            ("idempotency_key", GEN, "", None, "幂等键"),
            ("rating", GEN, "p", None, "评价分数"),
            ("rating_comment", IMP, "p", None, "评价内容"),
            ("rated_at", GEN, "", None, "评价时间"),
            ("created_at", GEN, "", None, "创建时间"),
        ],
    ),
    *_table(
        "application_transition",
        [
            ("id", GEN, "", None, "流转记录ID"),
            ("application_id", GEN, "", None, "申请编号"),
            ("from_state", GEN, "", None, "原状态"),
            ("to_state", GEN, "", None, "新状态"),
            ("actor", IMP, "p", None, "操作人"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("reason", IMP, "p", None, "原因"),
        ],
    ),
    # Scans of ID cards, contracts and certificates: stored encrypted (G2).
    *_table(
        "application_blob",
        [
            ("id", GEN, "", None, "材料内容ID"),
            ("sha256", GEN, "", None, "材料摘要"),
            ("size_bytes", GEN, "", None, "材料大小"),
            ("content_enc", CORE, "pse", "full", "材料内容"),
        ],
    ),
    *_table(
        "application_secret",
        [
            ("id", GEN, "", None, "编号"),
            ("application_id", GEN, "", None, "申请编号"),
            ("name", GEN, "", None, "字段名"),
            ("value_enc", CORE, "pse", "full", "申请中的个人号码"),
        ],
    ),
    *_table(
        "application_material",
        [
            ("id", GEN, "", None, "材料ID"),
            ("application_id", GEN, "", None, "申请编号"),
            ("material_code", GEN, "", None, "材料编码"),
            ("file_name", IMP, "p", None, "文件名"),
            ("file_type", GEN, "", None, "文件类型"),
            ("size_bytes", GEN, "", None, "文件大小"),
            ("sha256", GEN, "", None, "材料摘要"),
            ("uploaded_by", IMP, "p", None, "上传人"),
            ("uploaded_at", GEN, "", None, "上传时间"),
        ],
    ),
    # The sealed document repeats the application, its decisions and material hashes.
    *_table(
        "application_archive",
        [
            ("application_id", GEN, "", None, "申请编号"),
            ("final_state", GEN, "", None, "办结状态"),
            ("business_date", GEN, "", None, "归档日期"),
            ("sealed_at", GEN, "", None, "封存时间"),
            ("document", CORE, "ps", None, "档案内容"),
            ("sm3", IMP, "", None, "档案SM3摘要"),
        ],
    ),
    # -- inspection: the electronic audit (decision 0033) ------------------------------------
    # A finding names an account number or an application, entry or loan id, and carries the
    # facts its rule read: amounts, dates, codes, ids — never a name, identity number or card.
    *_table(
        "inspection_run",
        [
            ("id", GEN, "", None, "稽查批次ID"),
            ("business_date", GEN, "", None, "稽查业务日期"),
            ("started_at", GEN, "", None, "开始时间"),
            ("finished_at", GEN, "", None, "结束时间"),
            ("actor", GEN, "", None, "操作员"),
            ("findings", GEN, "", None, "疑点数"),
            ("new_cases", GEN, "", None, "新立案件数"),
            ("by_rule", GEN, "", None, "各规则疑点数"),
        ],
    ),
    *_table(
        "inspection_finding",
        [
            ("id", GEN, "", None, "疑点ID"),
            ("run_id", GEN, "", None, "稽查批次ID"),
            ("rule", GEN, "", None, "稽查规则"),
            ("object", IMP, "p", None, "稽查对象"),
            ("facts", IMP, "ps", None, "疑点事实"),
        ],
    ),
    *_table(
        "inspection_case",
        [
            ("id", GEN, "", None, "案件ID"),
            ("rule", GEN, "", None, "稽查规则"),
            ("object", IMP, "p", None, "稽查对象"),
            ("state", GEN, "", None, "案件状态"),
            ("opened_run_id", GEN, "", None, "立案批次ID"),
            ("last_run_id", GEN, "", None, "最近发现批次ID"),
            ("opened_on", GEN, "", None, "立案日期"),
            ("assignee", GEN, "", None, "承办人"),
            ("recover_fen", IMP, "ps", None, "应追回金额"),
            ("conclusion", IMP, "p", None, "处理结论"),
            ("concluded_on", GEN, "", None, "办结日期"),
            ("version", GEN, "", None, "版本号"),
        ],
    ),
    *_table(
        "inspection_case_step",
        [
            ("id", GEN, "", None, "案件步骤ID"),
            ("case_id", GEN, "", None, "案件ID"),
            ("step", GEN, "", None, "处理步骤"),
            ("business_date", GEN, "", None, "业务日期"),
            ("recorded_at", GEN, "", None, "记录时间"),
            ("actor", GEN, "", None, "操作员"),
            ("note", IMP, "p", None, "处理意见"),
            ("assignee", GEN, "", None, "承办人"),
            ("amount_fen", IMP, "ps", None, "金额"),
        ],
    ),
    # -- supervision: the reports sent to the hub (decision 0039) ----------------------------
    # The pseudonym is keyed (the national reporting key): personal data, though nobody can
    # read a resident ID back from it without the key.
    *_table(
        "supervision_person",
        [
            ("member_id", GEN, "", None, "个人账户ID"),
            ("person", IMP, "p", None, "全国报送假名"),
        ],
    ),
    *_table(
        "supervision_report",
        [
            ("id", GEN, "", None, "报送记录ID"),
            ("report_id", GEN, "", None, "报告编号"),
            ("month", GEN, "", None, "报送月份"),
            ("version", GEN, "", None, "报送版本"),
            ("chunks", GEN, "", None, "报文分片数"),
            ("indicators", GEN, "", None, "指标数"),
            ("members", GEN, "", None, "明细行数"),
            ("message_ids", GEN, "", None, "报文编号"),
            ("figures", GEN, "", None, "报送指标"),
            ("reason", GEN, "", None, "更正原因"),
            ("actor", GEN, "", None, "报送人"),
            ("sent_at", GEN, "", None, "报送时间"),
        ],
    ),
    *_table(
        "audit_head",
        [
            ("id", GEN, "", None, "链头ID"),
            ("last_id", IMP, "", None, "最后审计序号"),
            ("last_hash", IMP, "", None, "最后哈希"),
        ],
    ),
    # Fund operation and planning (hpf.planning, decision 0038): center-wide figures, thresholds,
    # model results and loan ids; no person's name, identity number or card.
    *_table(
        "liquidity_alert",
        [
            ("id", GEN, "", None, "资金运行告警ID"),
            ("business_date", GEN, "", None, "业务日期"),
            ("indicator", GEN, "", None, "指标"),
            ("value", GEN, "", None, "指标值"),
            ("threshold", GEN, "", None, "阈值"),
            ("message_zh", GEN, "", None, "告警内容"),
            ("raised_at", GEN, "", None, "告警时间"),
            ("acknowledged_by", GEN, "", None, "查看人"),
            ("acknowledged_at", GEN, "", None, "查看时间"),
        ],
    ),
    *_table(
        "forecast_run",
        [
            ("id", GEN, "", None, "预测批次ID"),
            ("business_date", GEN, "", None, "业务日期"),
            ("computed_at", GEN, "", None, "计算时间"),
            ("actor", GEN, "", None, "操作员"),
            ("result", GEN, "", None, "预测结果"),
        ],
    ),
    *_table(
        "plan_assumption",
        [
            ("id", GEN, "", None, "计划假设ID"),
            ("year", GEN, "", None, "计划年度"),
            ("version", GEN, "", None, "版本"),
            ("assumptions", GEN, "", None, "假设参数"),
            ("note", GEN, "", None, "说明"),
            ("actor", GEN, "", None, "操作员"),
            ("saved_at", GEN, "", None, "保存时间"),
        ],
    ),
    *_table(
        "whatif_run",
        [
            ("id", GEN, "", None, "政策模拟ID"),
            ("state", GEN, "", None, "状态"),
            ("params", GEN, "", None, "模拟参数"),
            ("result", GEN, "", None, "模拟结果"),
            ("error", GEN, "", None, "失败原因"),
            ("actor", GEN, "", None, "操作员"),
            ("created_at", GEN, "", None, "提交时间"),
            ("finished_at", GEN, "", None, "完成时间"),
        ],
    ),
    *_table(
        "early_warning",
        [
            ("id", GEN, "", None, "预警ID"),
            ("loan_id", GEN, "", None, "贷款ID"),
            ("rule", GEN, "", None, "预警规则"),
            ("warned_on", GEN, "", None, "首次预警日期"),
            ("detail", GEN, "", None, "预警说明"),
        ],
    ),
]

FIELDS: dict[tuple[str, str], FieldClass] = {(f.table, f.column): f for f in _DECLARED}
assert len(FIELDS) == len(_DECLARED), "a column is declared twice"
_BY_TABLE: dict[str, dict[str, FieldClass]] = {}
for _field in _DECLARED:
    _BY_TABLE.setdefault(_field.table, {})[_field.column] = _field
# An encrypted column ``F_enc`` is read and shown as its plaintext ``F`` (``hpf.protection.protect``):
# records above storage carry ``F``, and masking finds the declaration under that name too.
for _field in _DECLARED:
    if _field.encrypt and _field.column.endswith("_enc"):
        _BY_TABLE[_field.table].setdefault(_field.column.removesuffix("_enc"), _field)


class UnclassifiedField(KeyError):
    """A (table, column) with no declaration in ``FIELDS``."""


def classify(table: str, column: str) -> FieldClass:
    """The declaration of a column, or of the plaintext view ``F`` of an encrypted ``F_enc``."""
    try:
        return _BY_TABLE[table][column]
    except KeyError:
        raise UnclassifiedField(
            f"{table}.{column} is not declared in hpf.protection.classification"
        ) from None


def table_fields(table: str) -> Mapping[str, FieldClass]:
    """The declared columns of ``table`` by name (empty when the table is not declared)."""
    return MappingProxyType(_BY_TABLE.get(table, {}))


def declared_tables() -> frozenset[str]:
    return frozenset(_BY_TABLE)


def encrypted_fields() -> list[FieldClass]:
    """Columns G2 requires stored as SM4 tokens; their ``"{table}.{column}"`` is the context."""
    return [f for f in _DECLARED if f.encrypt]


def context_of(field: FieldClass) -> str:
    """The encryption / blind-index context of an encrypted column ``F_enc``: ``"{table}.{F}"``."""
    return f"{field.table}.{field.column.removesuffix('_enc')}"
