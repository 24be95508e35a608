"""The package's layering: folders are pipeline stages, and every import points to the same or an earlier stage.

Every ``import`` counts: module level, inside functions, and under
``TYPE_CHECKING`` (a type from a later stage is a dependency on it too). The
order is written once, here and in the package docstring
(:mod:`unified_nas`); a new module belongs to the stage of its folder.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import cast

import unified_nas

PACKAGE = Path(unified_nas.__file__).resolve().parent

# Stage order, earliest first: (stage, module prefixes). The backend contract (backends/base.py) is the half of
# the run that backends implement, so it belongs to the run stage; the toolkit folders come after the runner.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("unified_nas.core",)),
    ("space", ("unified_nas.space",)),
    ("recipe", ("unified_nas.recipe",)),
    ("data", ("unified_nas.data",)),
    ("network", ("unified_nas.network",)),
    ("models", ("unified_nas.models",)),
    ("tables", ("unified_nas.tables",)),
    ("evaluation", ("unified_nas.evaluation",)),
    ("report", ("unified_nas.report",)),
    ("runs", ("unified_nas.runs", "unified_nas.backends.base")),
    ("backends", ("unified_nas.backends",)),
    ("benchmark", ("unified_nas.benchmark",)),
    ("testing", ("unified_nas.testing",)),
    ("entry", ("unified_nas.api", "unified_nas.cli", "unified_nas.commands", "unified_nas.results", "unified_nas")),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module of the package (backends/ through its link), by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        found[module_name(path)] = path
    for path in sorted((PACKAGE / "backends").resolve().rglob("*.py")):
        rel = path.relative_to((PACKAGE / "backends").resolve())
        parts = ["unified_nas", "backends", *rel.with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The package's modules that ``name`` imports, each with the line of its first import."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        while target and target not in known:  # `from pkg.mod import name` where name is not a module
            target = target.rpartition(".")[0]
        if target and target != name:
            out.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, *([node.module] if node.module else [])])
            for alias in node.names:
                # `from pkg import module` needs the module, and pkg only as its path (as `import pkg.module`);
                # `from module import name` needs the module.
                add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base, node.lineno)
    return out


def stage_of(name: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(STAGES):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    assert rank >= 0, f"{name} belongs to no stage: add its folder to STAGES"
    return rank


def graph() -> dict[str, dict[str, int]]:
    mods = modules()
    known = set(mods)
    return {name: imports(name, path, known) for name, path in mods.items()}


def test_every_import_points_to_the_same_or_an_earlier_stage():
    up = [
        f"{name} ({STAGES[stage_of(name)][0]}) line {line} imports {target} ({STAGES[stage_of(target)][0]})"
        for name, targets in sorted(graph().items())
        for target, line in targets.items()
        if stage_of(target) > stage_of(name)
    ]
    assert not up, "imports that point up the stage order:\n" + "\n".join(up)


def test_no_import_cycle_counting_function_local_imports():
    edges = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    assert not cycles, "import cycles:\n" + "\n".join(", ".join(c) for c in cycles)


def test_the_top_level_holds_few_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top


def silent_local_imports(name: str, path: Path) -> list[str]:
    """The package imports inside functions of one module that carry no comment on their first or last line."""
    lines = path.read_text().splitlines()
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if in_function and isinstance(node, (ast.Import, ast.ImportFrom)):
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            said = "#" in lines[node.lineno - 1] or "#" in lines[cast(int, node.end_lineno) - 1]
            if (module or "").startswith("unified_nas") and not said:
                found.append(f"{name} line {node.lineno}: {module}")
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse("\n".join(lines)), False)
    return found


def test_every_function_local_import_of_the_package_says_why():
    """Deferred imports remain only where they keep something heavy lazy (a toolkit, torch, scipy), each with a reason.

    With no cycle left, a package import inside a function is only worth its surprise when importing at the top
    would load a heavy library for callers that never need it; the comment on the import says which.
    """
    silent = [line for name, path in sorted(modules().items()) for line in silent_local_imports(name, path)]
    assert not silent, "function-local imports without a reason (say what they keep lazy):\n" + "\n".join(silent)
