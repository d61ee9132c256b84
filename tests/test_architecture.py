"""Import contracts: pure rules import only the standard library and the kernel."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "hpf"
LOAN_RULES = [SRC / "loans" / f"{m}.py" for m in ("rates", "schedule", "overdue", "calculator", "batch")]
PURE = sorted([*SRC.glob("*/rules.py"), SRC / "ledger" / "chart.py", *SRC.glob("kernel/*.py"), *LOAN_RULES])
THIRD_PARTY_ALLOWED_IN_KERNEL = {"stdnum", "chinese_calendar"}  # STACK.md: wrap, do not rewrite
# Rules may use other pure modules (kernel, other packages' rules); never these.
_IMPURE = {
    f"hpf.{p}.{m}"
    for p in ("accounts", "ledger", "contributions", "interest", "policy", "loans")
    for m in ("service", "tables", "api", "pages", "posting", "check", "cli")
}  # STACK.md: wrap python-stdnum, do not rewrite it


def imported_roots(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PURE, ids=lambda p: str(p.relative_to(SRC)))
def test_pure_modules_import_no_storage_or_web(path):
    package = path.parent.name
    for name in imported_roots(path):
        root = name.split(".")[0]
        if root in sys.stdlib_module_names or root == "__future__":
            continue
        if root == "hpf":
            pure = (
                "hpf.kernel",
                f"hpf.{package}.",
                "hpf.policy.rules",
                "hpf.ledger.rules",
                "hpf.ledger.chart",
            )
            assert name.startswith(pure) and name not in _IMPURE, name
            continue
        assert path.parent.name == "kernel" and root in THIRD_PARTY_ALLOWED_IN_KERNEL, f"{path}: {name}"


def test_nothing_reads_the_wall_calendar():
    offenders = [
        str(p.relative_to(SRC))
        for p in SRC.rglob("*.py")
        if "date.today()" in p.read_text() and p.name != "clock.py"
    ]
    assert offenders == []
