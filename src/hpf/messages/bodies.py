"""The bodies of the messages, one pydantic model per type and direction (request or answer).

The body is what is sealed to the recipient. A receiver opens it and validates it against the
model of its type (``body_model``); a body that does not fit is refused ``message.malformed``.
Adding a message type (BDC901 contact letters, BDC905 transfer-out information, next) is a
model here and a handler declared in ``hpf.bootstrap``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hpf.messages.envelope import CenterCode, CenterInfo

__all__ = ["CenterInfo"]  # (defined with the hop, which carries it too)

# 联系函编号: the transfer-in center's 6-digit code, YYMMDD, a 4-digit sequence (REFERENCE §5.2).
LetterNo = Annotated[str, StringConstraints(pattern=r"^\d{6}\d{6}\d{4}$")]
# 反馈信息代码 (REFERENCE §5.1): 0 已完成, 1 失败, 2 处理中.
FeedbackCode = Literal["0", "1", "2"]
# 平台状态码 (REFERENCE §5.1).
PlatformStatus = Literal["00", "01", "02", "05", "06", "08", "13", "20", "40"]
FEEDBACK_ZH = {"0": "已完成", "1": "失败", "2": "处理中"}


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CenterCodeQuery(Body):
    """BDC909 request: which centers these codes name (to the hub)."""

    codes: list[CenterCode] = Field(min_length=1, max_length=100)


class CenterCodeAnswer(Body):
    """BDC909 answer (from the hub): the centers found, and the codes not registered."""

    centers: list[CenterInfo] = Field(max_length=100)
    unknown: list[CenterCode] = Field(max_length=100)


class StatusQuery(Body):
    """BDC904 request: where does the transfer of this contact letter stand."""

    letter_no: LetterNo


class StatusAnswer(Body):
    """BDC904 answer: the feedback code, its message, and the platform status when known."""

    letter_no: LetterNo
    feedback_code: FeedbackCode
    feedback: str = Field(max_length=200)
    status: PlatformStatus | None = None


BODIES: dict[tuple[str, bool], type[Body]] = {
    ("BDC909", False): CenterCodeQuery,
    ("BDC909", True): CenterCodeAnswer,
    ("BDC904", False): StatusQuery,
    ("BDC904", True): StatusAnswer,
}


def body_model(message_type: str, answer: bool) -> type[Body] | None:
    """The body model of a type and direction; ``None``: no such message is defined yet."""
    return BODIES.get((message_type, answer))
