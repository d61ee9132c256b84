"""Domain errors with a stable machine code, a Chinese title and an English detail.

Every refusal the platform gives, from a bad identifier to an illegal state change, is an
``HpfError``. The web layer renders it as RFC 9457 ``application/problem+json``; the CLI prints
it. The ``code`` is part of the public contract: clients branch on it, so it never changes
once released.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class HpfError(Exception):
    """A refusal with a stable ``code``, Chinese ``title`` and English ``detail``.

    ``status`` is the HTTP status the web layer uses; ``extra`` carries structured facts
    (the offending field, the current state, a list of row errors) for clients.
    """

    status: int = 400

    def __init__(
        self,
        code: str,
        title: str,
        detail: str,
        *,
        status: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.title = title
        self.detail = detail
        if status is not None:
            self.status = status
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        problem: dict[str, Any] = {
            "type": f"https://openhpf.org/problems/{self.code}",
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "status": self.status,
        }
        if instance:
            problem["instance"] = instance
        problem.update(self.extra)
        return problem


class InvalidInput(HpfError):
    """Malformed or out-of-range input: nothing was changed."""

    status = 422


def all_at_once(refusals: Sequence[InvalidInput]) -> InvalidInput:
    """One refusal naming every problem of a form (the first one's code), so that a form is
    corrected in one round: ``errors`` lists each ``{field, title}``."""
    first = refusals[0]
    if len(refusals) == 1:
        return first
    titles = "；".join(r.title for r in refusals)
    return InvalidInput(
        first.code,
        f"请修改以下{len(refusals)}处：{titles}",
        "; ".join(r.detail for r in refusals),
        field=first.extra.get("field"),
        errors=[{"field": r.extra.get("field"), "title": r.title} for r in refusals],
    )


class TooLarge(HpfError):
    """Input larger than the platform accepts (a file, or what a file inflates to): 413."""

    status = 413


class NotFound(HpfError):
    status = 404


class Conflict(HpfError):
    """The request is well formed but the current state forbids it."""

    status = 409


class IllegalTransition(Conflict):
    """A state machine refused a transition (e.g. unsealing an account that is not sealed)."""


def invalid(code: str, title: str, detail: str, **extra: Any) -> InvalidInput:
    return InvalidInput(code, title, detail, **extra)
