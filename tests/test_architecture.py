"""Import contracts: pure rules import only the standard library and the kernel."""

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "hpf"
LOAN_RULES = [
    *(SRC / "loans" / "calculator" / f"{m}.py" for m in ("__init__", "rates", "schedule", "batch")),
    SRC / "loans" / "book" / "overdue.py",
    SRC / "loans" / "application" / "rules.py",
]
PURE = sorted({*SRC.glob("*/rules.py"), SRC / "ledger" / "chart.py", *SRC.glob("kernel/*.py"), *LOAN_RULES})
THIRD_PARTY_ALLOWED_IN_KERNEL = {"stdnum", "chinese_calendar"}  # STACK.md: wrap, do not rewrite
# Rules may use other pure modules (kernel, other packages' rules); never these.
_IMPURE = {
    f"hpf.{p}.{m}"
    for p in (
        "accounts",
        "ledger",
        "contributions",
        "interest",
        "policy",
        "loans",
        "loans.book",
        "loans.calculator",
    )
    for m in ("service", "tables", "api", "pages", "posting", "check", "cli", "jobs")
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
    package = path.relative_to(SRC).parts[0]
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


# --- Package boundaries (issue 13, decision 0022) -------------------------------------------
# The layer order, lowest first. A package may import packages of lower layers only: never one of
# its own layer (they are independent of each other) or above. Imports inside functions count.
# ``hpf.db.migrations`` is its own unit in the top layer. Each package's ``tables.py`` (and any
# ``*_tables.py``) is private to it, except to the units of WHOLE_SCHEMA; others read it through
# the functions it publishes.
LAYERS: list[set[str]] = [
    {"kernel"},
    {"db", "messages"},
    {"protection", "access"},
    {"settings", "audit", "events"},
    {"identity", "jobs"},
    {"approvals"},
    {"web"},
    {"policy", "ledger", "hub"},
    {"disclosure"},
    {"accounts"},
    {"contributions", "interest", "settlement"},
    {"services"},
    {"withdrawals"},
    {"loans"},
    # quality: the data quality scan reads through published reads; its tables are in hpf.schema
    # inspection: the audit rule pack reads every business package
    # warehouse: the center's DuckDB warehouse and dashboards read through published reads;
    # planning: fund operation, forecasts, the annual plan, what-ifs, early warning (decision 0038)
    {"console", "transfers", "quality", "inspection", "warehouse", "planning"},
    {"supervision"},  # supervision reporting: reads every business package, sends through transfers
    {"oversight"},  # the center's side of supervision follow-up (decision 0040): sends through transfers
    {"bootstrap", "schema", "check"},
    {"data"},  # the data element registry, catalog and standard export: reads the whole schema
    {"app", "sim", "migrations"},
    {"cli"},
]
LAYER_OF = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}
HTTP_MODULES = ("api.py", "pages.py")
# Units that describe the whole schema and so read every package's tables: the migrations, and
# ``hpf.schema`` (the metadata Alembic compares against).
WHOLE_SCHEMA = {"migrations", "schema"}


def unit_of(module: str) -> str:
    """The package (unit of the layer order) a dotted ``hpf`` module belongs to."""
    parts = module.split(".")
    if parts[1:3] == ["db", "migrations"]:
        return "migrations"
    return parts[1]


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def hpf_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``hpf`` module this file imports, at any depth (inside functions too), with its line."""
    found = []
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("hpf.")]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.startswith("hpf.") or base == "hpf":
                found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def boundary_violations(paths: list[Path]) -> list[str]:
    """Imports that break the layer order or reach into another package's tables."""
    wrong = []
    for path in paths:
        me = module_name(path)
        if me.count(".") == 0:
            continue
        mine = unit_of(me)
        for line, name in hpf_imports(path):
            if name.count(".") < 1:
                continue
            theirs = unit_of(name)
            where = f"{path.relative_to(SRC)}:{line} imports {name}"
            if theirs == mine:
                continue
            if mine not in LAYER_OF or theirs not in LAYER_OF:
                wrong.append(f"{where}: {mine if mine not in LAYER_OF else theirs} has no layer")
            elif LAYER_OF[theirs] >= LAYER_OF[mine]:
                wrong.append(f"{where}: {theirs} is not below {mine}")
            leaf = name.split(".")
            if mine not in WHOLE_SCHEMA and any(p == "tables" or p.endswith("_tables") for p in leaf[2:]):
                wrong.append(f"{where}: another package's tables are private to it")
    return wrong


def test_every_package_has_a_layer():
    units = {unit_of(module_name(p)) for p in SOURCES if module_name(p).count(".")}
    assert sorted(units - set(LAYER_OF)) == []


def test_packages_import_only_lower_layers_and_no_other_tables():
    assert boundary_violations(SOURCES) == []


def test_a_wrong_import_fails_the_boundary_check(tmp_path):
    """The check is not vacuous: a ledger module importing accounts (above it), one reading another
    package's tables, and one doing so inside a function are each caught."""
    scratch = SRC / "ledger" / "_scratch_wrong_import.py"
    body = (
        "from hpf.accounts import service\n"
        "def f():\n"
        "    from hpf.policy.tables import policy_change\n"
        "    return policy_change\n"
    )
    try:
        scratch.write_text(body)
        found = boundary_violations([scratch])
    finally:
        scratch.unlink()
    assert any("hpf.accounts.service: accounts is not below ledger" in f for f in found), found
    assert any("policy.tables" in f and "private" in f for f in found), found


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for path in SOURCES:
        me = module_name(path)
        if me.count(".") == 0:
            continue
        for _, name in hpf_imports(path):
            if name.count(".") >= 1 and unit_of(name) != unit_of(me):
                graph.setdefault(unit_of(me), set()).add(unit_of(name))
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" → ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt)
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


_SQL_NAMES = {"select", "insert", "update", "delete", "text", "func", "and_", "or_", "literal", "case"}


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in SOURCES
        if p.name in HTTP_MODULES or p.name.endswith("_pages.py") or p.name.endswith("_api.py")
    ],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_no_sql_in_api_or_pages(path):
    """HTTP modules call services; the queries live beside the tables they read."""
    wrong = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            wrong += [a.name for a in node.names if a.name in _SQL_NAMES or node.module != "sqlalchemy"]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "scalar", "scalars"}
        ):
            wrong.append(f"line {node.lineno}: .{node.func.attr}()")
    assert wrong == []


# Modules whose work is a document or a row keyed by whatever columns it has, not a service's
# result: the wire and error JSON, masking and protecting rows, the OpenAPI document, the masked
# bodies the HTTP edge answers with, and the hub's own route functions.
UNTYPED_BY_NATURE = {
    "kernel/errors.py",  # the problem+json body
    "kernel/records.py",  # fields_of: the one mapping view of a typed result
    "protection/masking.py",  # rows keyed by their table's columns
    "protection/protect.py",
    "disclosure/http.py",  # the masked JSON bodies of responses
    "web/openapi.py",  # the OpenAPI document
    "messages/envelope.py",  # the signed wire JSON
    "messages/protocol.py",
    "messages/transport.py",
    "hub/app.py",  # the hub's routes (its HTTP module)
}


def _untyped_results(path: Path) -> list[str]:
    """Public functions annotated to hand ``dict[str, Any]`` (bare, in a list, a tuple or as a
    mapping's values) to their callers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            returns = ast.unparse(node.returns) if node.returns is not None else ""
            if "dict[str, Any]" in returns or "Dict[str, Any]" in returns:
                found.append(f"{path.name}:{node.lineno} {node.name} -> {returns}")
    return found


def test_services_return_typed_results():
    """Issue 13 item 7: what an API, a page or the CLI consumes has a declared shape (a dataclass,
    a model or a TypedDict), not ``dict[str, Any]``. HTTP modules shape JSON bodies and are exempt,
    as are the modules above and the migrations (frozen copies of their time)."""
    found = [
        f"{p.relative_to(SRC).parent}/{f}"
        for p in SOURCES
        if p.name not in HTTP_MODULES
        and not p.name.endswith(("_pages.py", "_api.py"))
        and str(p.relative_to(SRC)) not in UNTYPED_BY_NATURE
        and "migrations" not in p.parts
        for f in _untyped_results(p)
    ]
    assert found == []


def test_an_untyped_result_fails_the_check(tmp_path):
    scratch = tmp_path / "service.py"
    scratch.write_text("from typing import Any\n\ndef get_thing() -> list[dict[str, Any]]:\n    return []\n")
    assert _untyped_results(scratch) == ["service.py:3 get_thing -> list[dict[str, Any]]"]
