"""The self-service application form of each withdrawal item (``WD-*``): which payload fields it
asks for, with the Chinese labels and hints a member reads, and the form → payload step.

The payload is what :func:`hpf.withdrawals.handler.form_of` reads; a field a reason does not use
is not asked for. Typed values (yuan → integer fen, dates, check boxes) go through the service
engine's own :func:`hpf.services.rules.payload_from_form`; the family's ID numbers are one per
line. Labels are presentation only: the rules and their refusals stay in ``rules.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hpf.kernel.errors import InvalidInput, all_at_once
from hpf.services import rules as service_rules
from hpf.withdrawals.handler import ITEMS
from hpf.withdrawals.rules import Reason, ReasonOverview, family_resident_ids


@dataclass(frozen=True)
class Field:
    name: str  # the payload key (``handler.form_of``)
    kind: str  # yuan | text | date | bool | ids (resident ID numbers, one per line)
    label_zh: str
    hint_zh: str = ""
    required: bool = False


REQUESTED = Field("requested_fen", "yuan", "申请提取金额（元）", "不填则按可提取上限提取")
FAMILY = Field(
    "family_resident_ids", "ids", "共同购房（建房）的家庭成员身份证号",
    "配偶、父母或子女同为缴存职工并为同一住房提取的，每行填写一人；没有可不填",
)  # fmt: skip
PAYEE = (
    Field("payee_name", "text", "收款人户名", "提取款项只能转入申请人本人的银行账户", required=True),
    Field("payee_card", "text", "收款银行卡号", "本人I类银行账户的卡号（16至19位数字）", required=True),
    Field("payee_bank", "text", "开户银行", "如：中国工商银行济南分行", required=True),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "WD-PURCHASE": (
        Field("document_no", "text", "购房合同编号或不动产权证号", "网签备案合同编号或不动产权证书号", True),
        Field(
            "document_date", "date", "合同网签备案日期或不动产登记日期", "须在该日期起的规定期限内申请", True
        ),
        Field("cost_fen", "yuan", "家庭已支付的购房款（元）", "以发票或付款凭证为准", True),
        FAMILY,
        REQUESTED,
    ),
    "WD-BUILD": (
        Field("document_no", "text", "规划许可证或施工合同编号", required=True),
        Field("document_date", "date", "规划许可或施工合同日期", "须在该日期起的规定期限内申请", True),
        Field("cost_fen", "yuan", "建造、翻建、大修费用（元）", "以工程预算或费用凭证为准", True),
        FAMILY,
        REQUESTED,
    ),
    "WD-RENT": (
        Field(
            "rent_monthly_fen", "yuan", "月租金（元）", "按租赁合同填写；超过每月提取限额的按限额计算", True
        ),
        REQUESTED,
    ),
    "WD-REPAY-ONCE": (
        Field("document_no", "text", "借款合同编号", required=True),
        Field("cost_fen", "yuan", "一次性偿还的贷款本金（元）", "以贷款余额证明为准", True),
        REQUESTED,
    ),
    "WD-REPAY-MONTHLY": (
        Field("document_no", "text", "借款合同编号", required=True),
        Field("installment_fen", "yuan", "月还款额（元）", "按借款合同的每月应还本息填写", True),
        REQUESTED,
    ),
    "WD-ILLNESS": (
        Field("cost_fen", "yuan", "个人负担的医疗费用（元）", "医保报销后本人实际负担的部分", True),
        REQUESTED,
    ),
    "WD-RETIRE": (Field("document_date", "date", "退休证明日期", "已达到法定退休年龄的可不填"),),
    "WD-DISABILITY": (
        Field("document_date", "date", "劳动能力鉴定结论日期", required=True),
        Field("labour_ended", "bool", "已与单位终止劳动关系"),
    ),
    "WD-LEAVE": (
        Field("emigrated", "bool", "已出境定居"),
        Field("labour_ended", "bool", "已与单位终止劳动关系（离开本市的，账户须封存满规定月数）"),
    ),
    "WD-DEATH": (
        Field("document_date", "date", "死亡证明日期", required=True),
        Field("applicant_is_heir", "bool", "申请人为继承人或受遗赠人"),
    ),
    "WD-OTHER": (
        Field("document_no", "text", "证明材料编号", "说明提取事由的证明材料的编号", True),
        Field("note", "text", "提取事由", required=True),
        REQUESTED,
    ),
}
_ID_SPLIT = re.compile(r"[\s,，;；、]+")


def offered_to(
    kind: str, is_staff: bool, overview: Sequence[ReasonOverview], catalog_items: Sequence[Mapping[str, Any]]
) -> list[ReasonOverview]:
    """The reasons of ``overview`` someone of this kind may apply for themselves: staff see
    every reason; a member is not offered what only someone else may claim (职工死亡: an heir)."""
    if is_staff:
        return list(overview)
    mine = {i["code"] for i in catalog_items if kind in i["applicants"]}
    return [o for o in overview if any(code in mine for code in items_for(o.reason))]


def items_for(reason: Reason) -> list[str]:
    """The catalog items a reason is applied for under (repayment: one-off and monthly)."""
    return [code for code, (r, _) in ITEMS.items() if r is reason]


def form_fields(item_code: str) -> tuple[Field, ...]:
    """The fields of an item's form: the claim's own, then the payee."""
    if item_code not in FIELDS:
        raise InvalidInput(
            "withdrawal.unknown_item", "没有这种提取事项", f"{item_code!r} is not a withdrawal item"
        )
    return (*FIELDS[item_code], *PAYEE)


Payload = dict[str, service_rules.FormValue | list[str]]
"""A withdrawal form's payload: the item's fields as typed, the family's ID numbers as a list."""


def payload_of(item_code: str, form: Mapping[str, str]) -> Payload:
    """The application payload from what the member typed (a bad value refuses it, by field)."""
    fields = form_fields(item_code)
    typed = [asdict(f) for f in fields if f.kind != "ids"]
    refusals: list[InvalidInput] = []
    try:
        payload: Payload = dict(service_rules.payload_from_form(typed, form))
    except InvalidInput as exc:  # every field's problem, with the family IDs' below
        refusals.extend(_each(exc))
        payload = {}
    for f in fields:
        if f.kind == "ids":
            try:
                payload[f.name] = _resident_ids(f, form.get(f.name, ""))
            except InvalidInput as exc:
                refusals.append(exc)
    if refusals:
        raise all_at_once(refusals)
    return payload


def _each(exc: InvalidInput) -> list[InvalidInput]:
    """The single refusals a combined one was made of."""
    listed = exc.extra.get("errors")
    if not listed:
        return [exc]
    return [InvalidInput(exc.code, e["title"], exc.detail, field=e["field"]) for e in listed]


def _resident_ids(field: Field, text: str) -> list[str]:
    ids = [t.upper() for t in _ID_SPLIT.split(text.strip()) if t]
    return list(family_resident_ids(ids, field.label_zh))


def defaults(item_code: str, payee_name: str) -> dict[str, str]:
    """What a fresh form starts with: the payee is the member (a safe value: the name only)."""
    fields: Sequence[Field] = form_fields(item_code)
    return {f.name: (payee_name if f.name == "payee_name" else "") for f in fields}
