"""The layout docs/architecture.md promises: domain packages free of Dagster, and no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from synth_pipelines.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "synth_pipelines"
DOMAIN = ("core", "intake", "data", "privacy", "training", "generation", "quality", "publishing")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, at module level or inside a function (a lazy import is still a dependency)."""
    found = set()
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def project_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def test_domain_packages_import_no_dagster():
    offenders = {
        module_name(path): sorted(m for m in imports(path) if m.split(".")[0].startswith("dagster"))
        for stage in DOMAIN
        for path in (PACKAGE / stage).rglob("*.py")
    }
    assert not {name: found for name, found in offenders.items() if found}
    text = [p for stage in DOMAIN for p in (PACKAGE / stage).rglob("*.py") if "dagster" in p.read_text().lower()]
    assert not text, text  # not even in a comment: the domain code is written without the orchestrator in mind


def test_no_import_cycle():
    graph = project_graph()
    # A package imports its own __init__ when a submodule is imported: edges to one's own parent are not cycles.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(f"{t}.")}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target] if target in path else [node, target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_stages_depend_only_on_earlier_stages():
    """core <- privacy <- intake/data <- training <- generation <- quality <- publishing; defs/ wires them."""
    order = {
        "core": 0,
        "privacy": 1,
        "intake": 2,
        "data": 2,
        "training": 3,
        "generation": 4,
        "quality": 5,
        "publishing": 5,
    }
    graph = project_graph()
    wrong = []
    for name, targets in graph.items():
        stage = name.split(".")[1] if name.count(".") else ""
        for target in targets:
            other = target.split(".")[1] if target.count(".") else ""
            if stage in order and other in order and order[other] > order[stage]:
                wrong.append((name, target))
    assert not wrong, wrong
