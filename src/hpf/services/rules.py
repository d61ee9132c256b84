"""Service rules (E1, E2): the catalog's unified elements, local tightening, the application state
machine, material checks, due dates and ratings.

Pure: standard library and the kernel only. A catalog *item* is a JSON object (``catalog.json``)
with the unified elements of 五(一): acceptance conditions, who may apply, process steps,
required materials, the statutory time limit in working days, and the result. A center's
*local implementation list* gives, for the items it changes, a whole item document that may
only tighten the national one (:func:`check_local_item`); items it does not list are the
national ones unchanged, so nothing can be dropped by omission.

Checks return :class:`~hpf.kernel.findings.Finding` lists (every problem at once);
:func:`~hpf.kernel.findings.require_ok` turns them into a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from hpf.kernel.errors import IllegalTransition, InvalidInput, all_at_once
from hpf.kernel.findings import Finding
from hpf.kernel.workdays import add_working_days

# ------------------------------------------------------------------------------ state machine


class State(StrEnum):
    SUBMITTED = "submitted"  # 已提交，待受理
    ACCEPTED = "accepted"  # 已受理
    UNDER_REVIEW = "under_review"  # 审核中
    APPROVED = "approved"  # 已准予，办理中（e.g. a payout in flight)
    EXECUTED = "executed"  # 已办结
    REJECTED = "rejected"  # 不予办理
    WITHDRAWN = "withdrawn"  # 申请人撤回
    FAILED = "failed"  # 准予后办理失败（e.g. the bank refused the payout)


STATE_ZH: dict[str, str] = {
    State.SUBMITTED: "已提交，待受理",
    State.ACCEPTED: "已受理",
    State.UNDER_REVIEW: "审核中",
    State.APPROVED: "已准予，办理中",
    State.EXECUTED: "已办结",
    State.REJECTED: "不予办理",
    State.WITHDRAWN: "已撤回",
    State.FAILED: "办理失败",
}

TRANSITIONS: frozenset[tuple[State, State]] = frozenset(
    {
        (State.SUBMITTED, State.ACCEPTED),
        (State.ACCEPTED, State.UNDER_REVIEW),
        (State.UNDER_REVIEW, State.APPROVED),
        (State.APPROVED, State.EXECUTED),
        (State.APPROVED, State.FAILED),
        *((s, State.REJECTED) for s in (State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW)),
        *((s, State.WITHDRAWN) for s in (State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW)),
    }
)
# Ended: archived, rated, never changed again.
TERMINAL: frozenset[State] = frozenset({State.EXECUTED, State.REJECTED, State.WITHDRAWN, State.FAILED})
# Counted against the statutory time limit (the center still owes a decision).
PENDING_DECISION: frozenset[State] = frozenset({State.SUBMITTED, State.ACCEPTED, State.UNDER_REVIEW})


def require_transition(application_id: int, current: str, target: State) -> None:
    """Refuse (409 ``application.illegal_transition``) a move the state machine does not allow."""
    if (State(current), target) not in TRANSITIONS:
        raise IllegalTransition(
            "application.illegal_transition",
            f"申请当前状态为“{STATE_ZH.get(current, current)}”，不能变为“{STATE_ZH[target]}”",
            f"application {application_id} is {current}; it cannot become {target.value}",
            state=current,
        )


def due_on(accepted_on: date, time_limit_days: int) -> date:
    """The last day of the statutory time limit: ``time_limit_days`` working days after acceptance."""
    return add_working_days(accepted_on, time_limit_days)


def is_overdue(state: str, due: date | None, today: date) -> bool:
    """A decision still owed after the last day of the time limit."""
    return due is not None and State(state) in PENDING_DECISION and today > due


# ------------------------------------------------------------------------------------ catalog

APPLICANT_KINDS: frozenset[str] = frozenset({"member", "employer", "heir", "staff"})
APPLICANT_ZH = {
    "member": "缴存职工",
    "employer": "缴存单位",
    "heir": "继承人、受遗赠人",
    "staff": "中心工作人员",
}
CHANNELS: frozenset[str] = frozenset({"online", "counter"})
CATEGORY_ZH = {"withdrawal": "提取", "loan": "贷款", "account": "账户"}
FILE_TYPES: frozenset[str] = frozenset({"pdf", "jpg", "png"})
FIELD_KINDS: frozenset[str] = frozenset({"yuan", "text", "date", "bool", "int", "choice"})
MAX_FILE_KB = 20 * 1024
MAX_MATERIALS = 20
"""Files on one application, whatever the item: the longest material list has six entries, so
twenty leaves room for a resubmitted page or two while an upload loop stops early. Not policy:
it protects the store, not a business rule (``application.too_many_materials``)."""
ITEM_KEYS: frozenset[str] = frozenset(
    {
        "code",
        "category",
        "business_code",
        "name_zh",
        "summary_zh",
        "conditions",
        "applicants",
        "channels",
        "steps",
        "materials",
        "time_limit_days",
        "time_limit_placeholder",
        "time_limit_note_zh",
        "result_zh",
        "closes_account",
        "fields",
    }
)
_CODE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]+)+$")


def _f(code: str, title: str, detail: str, field: str | None = None) -> Finding:
    return Finding(code, title, detail, subject=field)


def _ids(rows: Iterable[Mapping[str, Any]], key: str) -> list[str]:
    return [str(r.get(key, "")) for r in rows]


def validate_item(item: Mapping[str, Any]) -> list[Finding]:
    """Every unified element present and well formed (national items and local ones alike)."""
    code = str(item.get("code", ""))
    out: list[Finding] = []
    where = f"{code or '?'}"
    unknown = sorted(set(item) - ITEM_KEYS)
    if unknown:
        out.append(
            _f(
                "catalog.unknown_element",
                f"事项{where}含有未知要素：{'、'.join(unknown)}",
                f"{where}: unknown keys {unknown}",
            )
        )
    missing = sorted(ITEM_KEYS - set(item))
    if missing:
        out.append(
            _f(
                "catalog.element_missing",
                f"事项{where}缺少要素：{'、'.join(missing)}",
                f"{where}: missing {missing}",
            )
        )
        return out
    if not _CODE.match(code):
        out.append(
            _f("catalog.invalid_code", f"事项编码{code}格式错误", f"{code!r} is not like WD-RENT", "code")
        )
    for key in ("name_zh", "result_zh"):
        if not str(item[key]).strip():
            out.append(
                _f("catalog.element_missing", f"事项{where}的{key}为空", f"{where}: {key} is empty", key)
            )
    for key, id_key in (("conditions", "id"), ("steps", "id"), ("materials", "code")):
        rows = item[key]
        if not isinstance(rows, list) or (key != "materials" and not rows):
            out.append(
                _f(
                    "catalog.element_missing",
                    f"事项{where}缺少{key}",
                    f"{where}: {key} must be a non-empty list",
                    key,
                )
            )
            continue
        ids = _ids(rows, id_key)
        if len(set(ids)) != len(ids) or "" in ids:
            out.append(
                _f("catalog.duplicate", f"事项{where}的{key}编号重复或为空", f"{where}: {key} ids {ids}", key)
            )
    applicants = item["applicants"]
    if not isinstance(applicants, list) or not applicants or not set(applicants) <= APPLICANT_KINDS:
        out.append(
            _f(
                "catalog.invalid_applicants",
                f"事项{where}的服务对象不合法",
                f"{where}: applicants {applicants!r}",
                "applicants",
            )
        )
    channels = item["channels"]
    if not isinstance(channels, list) or not channels or not set(channels) <= CHANNELS:
        out.append(
            _f(
                "catalog.invalid_channels",
                f"事项{where}的办理渠道不合法",
                f"{where}: channels {channels!r}",
                "channels",
            )
        )
    limit = item["time_limit_days"]
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 365:
        out.append(
            _f(
                "catalog.invalid_time_limit",
                f"事项{where}的办结时限须为1至365个工作日",
                f"{where}: time_limit_days {limit!r}",
                "time_limit_days",
            )
        )
    for material in item["materials"] if isinstance(item["materials"], list) else []:
        out.extend(_material_findings(where, material))
    for field in item["fields"] if isinstance(item["fields"], list) else []:
        options = field.get("options")
        bad_choice = field.get("kind") == "choice" and not (
            isinstance(options, list) and options
            and all(isinstance(o, dict) and o.get("value") and o.get("label_zh") for o in options)
        )  # fmt: skip
        if (
            bad_choice
            or field.get("kind") not in FIELD_KINDS
            or not str(field.get("name", "")).isidentifier()
        ):
            out.append(
                _f(
                    "catalog.invalid_field",
                    f"事项{where}的表单项{field.get('name')}不合法",
                    f"{where}: field {field!r}",
                    "fields",
                )
            )
    return out


def _material_findings(where: str, material: Mapping[str, Any]) -> list[Finding]:
    code = material.get("code", "?")
    types = material.get("file_types")
    size = material.get("max_size_kb")
    out = []
    if not isinstance(types, list) or not types or not set(types) <= FILE_TYPES:
        out.append(
            _f(
                "catalog.invalid_material",
                f"事项{where}材料{code}的文件类型不合法（可用pdf、jpg、png）",
                f"{where}/{code}: file_types {types!r}",
                "materials",
            )
        )
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_FILE_KB:
        out.append(
            _f(
                "catalog.invalid_material",
                f"事项{where}材料{code}的大小上限须为1至{MAX_FILE_KB}KB",
                f"{where}/{code}: max_size_kb {size!r}",
                "materials",
            )
        )
    if not isinstance(material.get("required"), bool) or not str(material.get("name_zh", "")).strip():
        out.append(
            _f(
                "catalog.invalid_material",
                f"事项{where}材料{code}缺少名称或是否必需",
                f"{where}/{code}: name_zh and required are needed",
                "materials",
            )
        )
    return out


def check_local_item(national: Mapping[str, Any], local: Mapping[str, Any]) -> list[Finding]:
    """A local item may tighten the national one, never drop or loosen an element.

    Allowed: a shorter time limit, extra conditions, extra steps, extra materials, an optional
    material made required, fewer accepted file types, a smaller size limit, different wording
    of the summary. Refused: a dropped condition, step or material (``catalog.*_dropped``), a
    longer time limit, a required material made optional, a file type or size the national item
    does not accept, a change of who may apply, the name, category or result.
    """
    code = str(national["code"])
    out = validate_item(local)
    if out:
        return out
    for key, label in (
        ("name_zh", "事项名称"),
        ("category", "事项类别"),
        ("business_code", "业务代码"),
        ("closes_account", "是否销户"),
    ):
        if local[key] != national[key]:
            out.append(
                _f(
                    "catalog.element_changed",
                    f"事项{code}的{label}须与全国目录一致",
                    f"{code}: {key} differs from the national item",
                    key,
                )
            )
    if sorted(local["applicants"]) != sorted(national["applicants"]):
        out.append(
            _f(
                "catalog.applicants_changed",
                f"事项{code}的服务对象须与全国目录一致",
                f"{code}: applicants differ from the national item",
                "applicants",
            )
        )
    if not set(local["channels"]) >= set(national["channels"]):
        out.append(
            _f(
                "catalog.channel_dropped",
                f"事项{code}不能取消全国目录的办理渠道",
                f"{code}: a national channel is missing",
                "channels",
            )
        )
    if not str(local["result_zh"]).strip():
        out.append(
            _f(
                "catalog.result_dropped",
                f"事项{code}不能删除办理结果",
                f"{code}: the result is empty",
                "result_zh",
            )
        )
    out.extend(_dropped(code, national, local, "conditions", "id", "受理条件", "condition"))
    out.extend(_dropped(code, national, local, "steps", "id", "办理流程环节", "step"))
    if national["time_limit_days"] < local["time_limit_days"]:
        out.append(
            _f("catalog.time_limit_longer", f"事项{code}的办结时限不能长于全国目录的{national['time_limit_days']}个工作日",
               f"{code}: time limit {local['time_limit_days']} > national {national['time_limit_days']} working days", "time_limit_days")
        )  # fmt: skip
    local_materials = {str(m["code"]): m for m in local["materials"]}
    for material in national["materials"]:
        out.extend(_material_tightened(code, material, local_materials.get(str(material["code"]))))
    return out


def _dropped(
    code: str,
    national: Mapping[str, Any],
    local: Mapping[str, Any],
    key: str,
    id_key: str,
    label: str,
    what: str,
) -> list[Finding]:
    out = []
    local_rows = {str(r[id_key]): r for r in local[key]}
    for row in national[key]:
        found = local_rows.get(str(row[id_key]))
        if found is None or str(found.get("text_zh", "")).strip() != str(row.get("text_zh", "")).strip():
            out.append(
                _f(f"catalog.{what}_dropped", f"事项{code}不能删除或改写全国目录的{label}{row[id_key]}",
                   f"{code}: national {what} {row[id_key]} is missing or reworded", key)
            )  # fmt: skip
    return out


def _material_tightened(
    code: str, national: Mapping[str, Any], local: Mapping[str, Any] | None
) -> list[Finding]:
    m = national["code"]
    if local is None:
        return [
            _f(
                "catalog.material_dropped",
                f"事项{code}不能删除全国目录的申请材料{m}（{national['name_zh']}）",
                f"{code}: national material {m} is missing",
                "materials",
            )
        ]
    out = []
    if national["required"] and not local["required"]:
        out.append(
            _f(
                "catalog.material_optional",
                f"事项{code}的必需材料{m}不能改为非必需",
                f"{code}: material {m} is required nationally",
                "materials",
            )
        )
    if not set(local["file_types"]) <= set(national["file_types"]):
        out.append(
            _f(
                "catalog.file_type_added",
                f"事项{code}材料{m}不能接受全国目录以外的文件类型",
                f"{code}: material {m} accepts {local['file_types']}, national {national['file_types']}",
                "materials",
            )
        )
    if local["max_size_kb"] > national["max_size_kb"]:
        out.append(
            _f(
                "catalog.size_larger",
                f"事项{code}材料{m}的大小上限不能超过{national['max_size_kb']}KB",
                f"{code}: material {m} max {local['max_size_kb']} KB > national {national['max_size_kb']} KB",
                "materials",
            )
        )
    return out


def check_local_list(
    national_items: Mapping[str, Mapping[str, Any]], local_items: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    """Every item of a local list names a national item once and only tightens it."""
    out: list[Finding] = []
    if not local_items:
        out.append(_f("catalog.empty_list", "实施清单没有任何事项", "the local list has no items", "items"))
    seen: set[str] = set()
    for item in local_items:
        code = str(item.get("code", ""))
        if code in seen:
            out.append(
                _f("catalog.duplicate", f"实施清单中事项{code}重复", f"item {code} appears twice", "items")
            )
        seen.add(code)
        national = national_items.get(code)
        if national is None:
            out.append(
                _f(
                    "catalog.unknown_item",
                    f"全国目录中没有事项{code}，实施清单不能新增事项",
                    f"no national item {code}",
                    "items",
                )
            )
            continue
        out.extend(check_local_item(national, item))
    return out


class Dated(Protocol):
    """A version that takes effect on a day (a national catalog, a local list)."""

    @property
    def effective_from(self) -> date: ...


_Version = TypeVar("_Version", bound=Dated)


def in_force(entries: Sequence[_Version], on: date) -> _Version | None:
    """The entry (a version with ``effective_from``) in force on ``on``: the latest not after it."""
    found = [e for e in entries if e.effective_from <= on]
    return max(found, key=lambda e: e.effective_from) if found else None


def overlay(
    national_items: Sequence[Mapping[str, Any]], local_items: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The center's items: the national ones, each replaced by its local tightening where given."""
    local = {str(i["code"]): i for i in local_items}
    return [{**dict(local.get(str(i["code"]), i)), "local": str(i["code"]) in local} for i in national_items]


# ---------------------------------------------------------------------------------- materials

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
)
MEDIA_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "png": "image/png"}
_EXTENSIONS = {"pdf": "pdf", "jpg": "jpg", "jpeg": "jpg", "png": "png"}


def sniff_type(data: bytes) -> str | None:
    """The file type its first bytes say (pdf, jpg, png), whatever its name claims."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    return None


def check_file(item_code: str, material: Mapping[str, Any], file_name: str, data: bytes) -> str:
    """The file's type if the item's material accepts it; else a refusal naming the limit."""
    code = material["code"]
    if not data:
        raise InvalidInput(
            "application.file_empty", "上传的文件为空", f"{code}: the file is empty", field="file"
        )
    suffix = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    claimed = _EXTENSIONS.get(suffix)
    actual = sniff_type(data)
    accepted = list(material["file_types"])
    if actual is None or claimed != actual or actual not in accepted:
        raise InvalidInput(
            "application.file_type",
            f"“{material['name_zh']}”只接受{'、'.join(t.upper() for t in accepted)}格式的文件",
            f"{item_code}/{code}: {file_name!r} is {actual or 'of an unknown type'}; accepted {accepted}",
            field="file",
        )
    limit = int(material["max_size_kb"]) * 1024
    if len(data) > limit:
        raise InvalidInput(
            "application.file_too_large",
            f"“{material['name_zh']}”的文件不能超过{material['max_size_kb']}KB",
            f"{item_code}/{code}: {len(data)} bytes > {limit}",
            field="file",
        )
    return actual


def missing_materials(
    materials: Sequence[Mapping[str, Any]], uploaded: Iterable[str]
) -> list[Mapping[str, Any]]:
    have = set(uploaded)
    return [m for m in materials if m["required"] and m["code"] not in have]


# ------------------------------------------------------------------------------ form, rating

MAX_PAYLOAD_CHARS = 16_000


FormValue = str | int | bool
"""A form field's value in a payload: text, a choice or an ISO date; fen or a whole number; a tick."""


def payload_from_form(fields: Sequence[Mapping[str, Any]], form: Mapping[str, str]) -> dict[str, FormValue]:
    """What a member typed, as the item's JSON payload (yuan → integer fen, dates ISO); every
    missing or unreadable field refused at once."""
    payload: dict[str, FormValue] = {}
    refusals: list[InvalidInput] = []
    for field in fields:
        name, kind = str(field["name"]), str(field["kind"])
        text = (form.get(name) or "").strip()
        if kind == "bool":
            payload[name] = text in ("1", "on", "true", "yes")
            continue
        if not text:
            if field.get("required"):
                refusals.append(
                    InvalidInput(
                        "application.field_required",
                        f"请填写“{field['label_zh']}”",
                        f"{name} is required",
                        field=name,
                    )
                )
            continue
        try:
            payload[name] = _typed(field, kind, text)
        except InvalidInput as exc:
            refusals.append(exc)
    if refusals:
        raise all_at_once(refusals)
    return payload


def _typed(field: Mapping[str, Any], kind: str, text: str) -> str | int:
    name, label = str(field["name"]), str(field["label_zh"])
    try:
        if kind == "yuan":
            amount = Decimal(text.replace(",", ""))
            if (
                not amount.is_finite()
                or not 0 <= amount < 10**10
                or amount != amount.quantize(Decimal("0.01"))
            ):
                raise InvalidOperation
            return int(amount * 100)
        if kind == "int":
            return int(text)
        if kind == "date":
            return date.fromisoformat(text).isoformat()
        if kind == "choice":
            if text not in {str(o["value"]) for o in field["options"]}:
                raise ValueError(text)
            return text
    except (InvalidOperation, ValueError):
        raise InvalidInput(
            "application.field_invalid",
            f"“{label}”格式不正确",
            f"{name}: {text!r} is not a valid {kind}",
            field=name,
        ) from None
    return text[:200]


def check_rating(score: object, comment: str) -> tuple[int, str]:
    """A 好差评 score 1 (very bad) to 5 (very good) and an optional comment of ≤ 500 characters."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise InvalidInput(
            "application.rating_invalid", "评价须为1至5分", f"score {score!r} is not 1-5", field="score"
        )
    text = " ".join(comment.split())
    if len(text) > 500:
        raise InvalidInput(
            "application.rating_invalid",
            "评价内容不能超过500字",
            "comment is longer than 500 characters",
            field="comment",
        )
    return score, text


def require_reason(reason: str, *, code: str = "application.reason_required") -> str:
    text = " ".join((reason or "").split())
    if not text:
        raise InvalidInput(code, "请填写原因", "a reason is required", field="reason")
    if len(text) > 400:
        raise InvalidInput(
            "application.reason_too_long",
            "原因不能超过400字",
            "the reason is longer than 400 characters",
            field="reason",
        )
    return text
