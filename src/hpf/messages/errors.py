"""The refusals of a message, each a stable problem+json code (RFC 9457, ``hpf.kernel.errors``).

A refused message has no effect on the receiver. The sender's delivery worker reads the answer:
4xx refusals are final (the message is marked refused, never retried) but for the codes a later
attempt may pass (``protocol.RETRYABLE_CODES``: a receiver not linked yet, a sending outside the
window); 429, 5xx and network failures are retried with backoff.
"""

from __future__ import annotations

from typing import Any

from hpf.kernel.errors import HpfError


def malformed(detail: str, **extra: Any) -> HpfError:
    return HpfError("message.malformed", "报文格式不正确", detail, status=422, **extra)


def signature_missing(what: str) -> HpfError:
    return HpfError(
        "message.signature_missing", "报文缺少签名", f"the {what} carries no signature", status=401
    )


def bad_signature(what: str) -> HpfError:
    return HpfError(
        "message.bad_signature",
        "报文签名验证失败",
        f"the {what}'s SM2 signature does not verify with the signer's registered key",
        status=401,
    )


def sender_unknown(code: str) -> HpfError:
    return HpfError(
        "message.sender_unknown",
        "发送方不是已登记的公积金中心",
        f"the sender {code} is not a registered center",
        status=403,
        sender=code,
    )


def sender_suspended(code: str) -> HpfError:
    return HpfError(
        "message.sender_suspended",
        "发送方中心已暂停接入",
        f"the sender {code} is suspended",
        status=403,
        sender=code,
    )


def recipient_unknown(code: str) -> HpfError:
    return HpfError(
        "message.recipient_unknown",
        "接收方不是已登记的公积金中心",
        f"the recipient {code} is not a registered center",
        status=422,
        recipient=code,
    )


def recipient_suspended(code: str) -> HpfError:
    return HpfError(
        "message.recipient_suspended",
        "接收方中心已暂停接入",
        f"the recipient {code} is suspended",
        status=422,
        recipient=code,
    )


def not_for_me(recipient: str, me: str) -> HpfError:
    return HpfError(
        "message.misrouted",
        "报文接收方不是本中心",
        f"the message is addressed to {recipient}, not to {me}",
        status=422,
        recipient=recipient,
    )


def outside_window(skew_seconds: float, window_seconds: int) -> HpfError:
    return HpfError(
        "message.outside_window",
        "报文时间超出允许范围，疑似重放",
        f"the sending time is {skew_seconds:.0f} s from the receiver's clock; at most {window_seconds} s are allowed",
        status=401,
        skew_seconds=round(skew_seconds),
        window_seconds=window_seconds,
    )


def id_reused(message_id: str) -> HpfError:
    return HpfError(
        "message.id_reused",
        "报文编号已被其他内容使用",
        f"a different message with the id {message_id} was received before",
        status=409,
        message_id=message_id,
    )


def undecryptable() -> HpfError:
    return HpfError(
        "message.undecryptable",
        "报文内容无法解密",
        "the sealed body does not open with the recipient's key (wrong key, or the body or header was altered)",
        status=422,
    )


def type_unhandled(message_type: str, answer: bool) -> HpfError:
    kind = "answer" if answer else "request"
    return HpfError(
        "message.type_unhandled",
        "本方不受理该类报文",
        f"no handler here for a {message_type} {kind}",
        status=422,
        message_type=message_type,
    )


def hub_only(message_type: str, sender: str) -> HpfError:
    return HpfError(
        "message.hub_only",
        "该类报文只在中心与平台之间往来",
        f"{message_type} messages pass between a center and the hub only; {sender} cannot send one to a center",
        status=403,
        message_type=message_type,
        sender=sender,
    )


def unexpected_answer(reply_to: str) -> HpfError:
    return HpfError(
        "message.unexpected_answer",
        "应答报文没有对应的待答查询",
        f"no question {reply_to} of this type was sent to the answering party and left unanswered",
        status=422,
        reply_to=reply_to,
    )
