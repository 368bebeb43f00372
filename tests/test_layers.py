"""The layers depend only downward: core (no Qt, PyTorch or ONNX Runtime) under model (PyTorch)
and app (the editor); app.engine runs a model without Qt or PyTorch.

Each layer is imported whole in a fresh interpreter and must not pull in what lies above it; the
source's import statements (lazy ones included, which an import does not run) are checked the same
way, and for cycles.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "model", "app")


def modules(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        found.append(name.removesuffix(".__init__"))
    return found


def loaded_after_import(names: list[str]) -> set[str]:
    """The top-level packages in sys.modules after importing ``names`` in a fresh interpreter."""
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


QT = {"PySide6", "shiboken6"}

# The Qt line inside app/ is a package line: every module that imports Qt lives in app.ui, and
# every other app module (app.engine is a layer of its own, below) runs without Qt.
QT_PACKAGE = "app.ui"


def in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def app_without_qt() -> list[str]:
    return [m for m in modules("app") if not in_package(m, QT_PACKAGE) and not in_package(m, "app.engine")]


LAYERS = {
    # layer -> (modules imported, packages they must not load)
    "core": (modules("core"), QT | {"torch", "onnxruntime", "app", "model"}),
    "model": (modules("model"), QT | {"app"}),
    "app.engine": ([m for m in modules("app") if in_package(m, "app.engine")], QT | {"torch"}),
    "app.engine.params": (["app.engine.params"], QT | {"torch", "onnxruntime"}),
    "app outside app.ui": (app_without_qt(), QT | {"torch", "onnxruntime"}),
}


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_does_not_load_the_layers_above_it(layer):
    names, forbidden = LAYERS[layer]
    assert names, f"{layer}: no modules found"
    loaded = loaded_after_import(names)
    assert not loaded & forbidden, f"importing {layer} loads {sorted(loaded & forbidden)}"


def typing_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:``: imports for type hints, never run."""
    return {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
            and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"
            for statement in node.body for inner in ast.walk(statement)}


def known_modules() -> set[str]:
    return {m for p in PACKAGES for m in modules(p)}


def import_statements(module: str):
    """(statement, whether ``module`` is a package) for each import statement in its source that
    runs, lazy ones too (those under ``if TYPE_CHECKING:`` never do)."""
    path = ROOT / Path(*module.split("."))
    is_package = path.is_dir()
    source = (path / "__init__.py") if is_package else path.with_suffix(".py")
    tree = ast.parse(source.read_text(encoding="utf-8"))
    hints = typing_only(tree)
    for node in ast.walk(tree):
        if id(node) not in hints and isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, is_package


def project_imports():
    """(module, imported module, line) for every import of the project's own modules, lazy ones
    too; ``from package import name`` imports the submodule ``name`` when there is one."""
    known = known_modules()
    for module in sorted(known):
        for node, is_package in import_statements(module):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    parent = ".".join(base + ([node.module] if node.module else []))
                else:
                    parent = node.module or ""
                subs = [f"{parent}.{alias.name}" for alias in node.names]
                names = [s for s in subs if s in known] + ([parent] if any(s not in known for s in subs) else [])
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    yield module, name, node.lineno


def import_graph() -> dict[str, set[str]]:
    """module -> the project's modules it imports anywhere in its source."""
    graph: dict[str, set[str]] = {module: set() for module in known_modules()}
    for module, target, _ in project_imports():
        if target != module:
            graph[module].add(target)
    return graph


def test_every_import_of_a_project_module_names_one_that_exists():
    """A module that moved leaves no import behind, not even one that runs only now and then."""
    known = known_modules()
    assert [f"{module}:{line} imports {target}" for module, target, line in project_imports()
            if target not in known] == []


def test_no_module_imports_a_layer_above_it_even_lazily():
    allowed = {"core": ("core",), "model": ("core", "model"), "app": ("core", "model", "app")}
    wrong = [f"{module} imports {target}"
             for module, targets in import_graph().items()
             for target in sorted(targets)
             if target.split(".")[0] not in allowed[module.split(".")[0]]
             or (module.startswith("app.engine") and not target.startswith(("app.engine", "core")))]
    assert wrong == []


def test_there_are_no_import_cycles():
    graph = import_graph()
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert cycles == []


def test_only_the_window_package_imports_qt_even_lazily():
    """Qt is imported only under app/ui, lazy imports included: a module of the Qt-free side
    never needs Qt to do its work."""
    wrong = []
    for module in sorted(known_modules()):
        if in_package(module, QT_PACKAGE):
            continue
        for node, _ in import_statements(module):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif not node.level:
                names = [node.module or ""]
            else:
                continue
            wrong += [f"{module}:{node.lineno} imports {name}" for name in names if name.split(".")[0] in QT]
    assert wrong == []
