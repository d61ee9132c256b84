"""Findings: one type for what a rule, a check or a scan has to say, and one for a set of rules.

A :class:`Finding` is one thing found — a rule that failed or held, a risk worth a person's look,
an invariant of the books that does not hold, a tampered archive — with a stable ``code`` that
clients branch on, a Chinese message a person reads, an English one for logs and operators, a
:class:`Severity`, and what it is about (``subject``: ``"member 345"``, ``"entry 12"``, a form
field such as ``"base_fen"``, a file of a package). ``details`` carries structured facts.

A :class:`Verdict` is the outcome of a set of rules: every finding, in the order the rules ran,
and whether they passed (no finding of severity ``error``). Risks (``warning``) do not fail a
verdict; they stop straight-through approval.

Checks return findings instead of raising, so that one pass reports every problem (a list of
rows, a whole ledger); :func:`require_ok` turns a list of them into one refusal. How a finding is
shown — a problem document, a row of a page, a line of the CLI — is decided where it is shown.

Pure: standard library and ``hpf.kernel.errors`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from hpf.kernel.errors import InvalidInput


class Severity(StrEnum):
    INFO = "info"  # a rule that held, listed to show what was checked (符合)
    WARNING = "warning"  # a risk: a person looks before it goes on; nothing is refused for it
    ERROR = "error"  # a rule that failed (refused), an invariant that does not hold


@dataclass(frozen=True)
class Finding:
    """One thing found, with a stable ``code`` and a Chinese and an English message."""

    code: str
    message_zh: str
    message_en: str = ""
    severity: Severity = field(default=Severity.ERROR, kw_only=True)
    subject: str | None = field(default=None, kw_only=True)
    details: Mapping[str, object] | None = field(default=None, kw_only=True, hash=False)

    @classmethod
    def rule(cls, code: str, passed: bool, message_zh: str, message_en: str = "") -> Finding:
        """A rule as it was checked: ``info`` when it held, ``error`` when it failed."""
        return cls(code, message_zh, message_en, severity=Severity.INFO if passed else Severity.ERROR)

    @classmethod
    def risk(cls, code: str, message_zh: str, message_en: str = "") -> Finding:
        """A risk: stops straight-through approval, refuses nothing by itself."""
        return cls(code, message_zh, message_en, severity=Severity.WARNING)

    @property
    def passed(self) -> bool:
        """False only for an ``error``: a risk or a rule that held does not fail anything."""
        return self.severity is not Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.code}: {self.message_en or self.message_zh}"
        return f"{self.subject}: {text}" if self.subject else text


@dataclass(frozen=True)
class Verdict:
    """The outcome of a set of rules: every finding, in the order found, and whether they passed."""

    findings: tuple[Finding, ...] = ()

    @classmethod
    def of(cls, *groups: Iterable[Finding]) -> Verdict:
        return cls(tuple(f for group in groups for f in group))

    @property
    def passed(self) -> bool:
        return all(f.passed for f in self.findings)

    @property
    def refusals(self) -> tuple[Finding, ...]:
        """The rules that failed (``error``)."""
        return tuple(f for f in self.findings if f.severity is Severity.ERROR)

    @property
    def risks(self) -> tuple[Finding, ...]:
        """What stops straight-through approval (``warning``)."""
        return tuple(f for f in self.findings if f.severity is Severity.WARNING)

    @property
    def rules(self) -> tuple[Finding, ...]:
        """The rules as checked, held or failed (``info`` and ``error``), without the risks."""
        return tuple(f for f in self.findings if f.severity is not Severity.WARNING)


def require_ok(findings: Sequence[Finding]) -> None:
    """Refuse (``InvalidInput``) with the first finding, listing all of them; do nothing if none.

    The refusal's ``findings`` lists each as ``{code, title, detail, field}`` (the subject is
    the form field a person corrects).
    """
    if not findings:
        return
    first = findings[0]
    raise InvalidInput(
        first.code,
        first.message_zh,
        first.message_en,
        findings=[
            {"code": f.code, "title": f.message_zh, "detail": f.message_en, "field": f.subject}
            for f in findings
        ],
    )
