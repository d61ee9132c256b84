"""A maker-checker request as the API shows it (every package that submits one answers with it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from hpf.approvals import service as approvals


class ApprovalPublic(BaseModel):
    id: int
    kind: str
    label_zh: str
    summary: str
    payload: dict[str, Any]
    maker: str
    created_at: datetime
    state: Literal["pending", "approved", "rejected"]
    checker: str | None
    decided_at: datetime | None
    note: str | None
    result: dict[str, Any] | None

    @classmethod
    def of(cls, row: approvals.ApprovalRequest) -> ApprovalPublic:
        label = next((k.label_zh for k in approvals.kinds() if k.name == row.kind), row.kind)
        return cls(**{k: getattr(row, k) for k in cls.model_fields if k != "label_zh"}, label_zh=label)
