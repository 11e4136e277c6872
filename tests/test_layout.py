"""The project's layout rules (docs/architecture.md), checked on the source tree so that they cannot
rot: no import cycle among the project's modules, imaging and bandit never import each other,
libraries never import the application, and tests mirror the packages."""

from __future__ import annotations

import ast
from pathlib import Path

import tests

ROOT = Path(tests.__file__).resolve().parents[1]
PACKAGES = ("imaging", "bandit", "simulations", "safeio", "artbandit")
LIBRARIES = ("imaging", "bandit", "simulations", "safeio")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in the file, lazily or not)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            targets.update(n for n in names if n in modules and n != name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_among_the_projects_modules():
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_libraries_never_import_the_application_and_imaging_and_bandit_never_each_other():
    graph = _imports(_modules())
    forbidden = {lib: {"artbandit"} for lib in LIBRARIES}
    forbidden["imaging"] |= {"bandit", "simulations"}
    forbidden["bandit"] |= {"imaging", "simulations"}
    forbidden["safeio"] |= {"imaging", "bandit", "simulations"}
    bad = [
        (module, target)
        for module, targets in graph.items()
        for target in targets
        if target.split(".")[0] in forbidden.get(module.split(".")[0], set())
    ]
    assert bad == []


def test_every_test_file_is_named_after_the_module_it_pins():
    """tests/pkg/sub/test_mod.py pins pkg/sub/mod.py (test_init.py: the package's __init__.py; a folder
    of files, e.g. the dashboard's static/, counts as a module): tools/mutation.py relies on it."""
    strays = []
    for path in (ROOT / "tests").rglob("test_*.py"):
        folder = path.parent.relative_to(ROOT / "tests")
        if folder == Path("."):
            continue  # checks of the whole project (the README, the public API, this file)
        name = path.stem.removeprefix("test_")
        target = ROOT / folder / ("__init__.py" if name == "init" else f"{name}.py")
        if not (target.exists() or (ROOT / folder / name).is_dir()):
            strays.append(str(path.relative_to(ROOT)))
    assert strays == []
