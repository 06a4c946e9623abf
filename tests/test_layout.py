"""The layout's rules, checked: the top of the package holds the commands and only they, no library
module imports a command, commands never import each other, the packages form layers that only
point down, the import graph has no cycle, every package says what it owns, and importing any
module changes nothing."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "amazon_cls"
COMMANDS = (
    "area",
    "audit",
    "baseline",
    "check",
    "ensemble",
    "eda",
    "evaluate",
    "map",
    "monitor",
    "predict",
    "sample",
    "train",
    "tune",
)


# The library's packages, bottom layer first: each imports only from those before it.
LAYERS = (
    "core",
    "store",
    "data",
    "model",
    "runtime",
    "blending",
    "inference",
    "evaluation",
    "training",
    "auditing",
    "geo",
    "assessment",
    "search",
)


def module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_of(path): path for path in PACKAGE.rglob("*.py")}


def imported(path: Path) -> set[str]:
    """The project's modules that `path` imports, anywhere in it (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found |= {name for name in names if name in MODULES}
    return found - {module_of(path)}


GRAPH = {module: imported(path) for module, path in MODULES.items()}


def test_the_top_of_the_package_holds_the_commands_only() -> None:
    top = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__"))
    assert top == sorted(COMMANDS)
    for name in COMMANDS:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        assert not [node for node in tree.body if isinstance(node, ast.ClassDef)], f"{name}.py defines a class"
        assert any(
            isinstance(node, ast.Assign | ast.FunctionDef) and "main" in ast.unparse(node)[:40] for node in tree.body
        ), f"{name}.py has no main"


def test_no_library_module_imports_a_command() -> None:
    commands = {f"amazon_cls.{name}" for name in COMMANDS}
    library = {module: deps for module, deps in GRAPH.items() if module not in commands | {"amazon_cls.__main__"}}
    offenders = {module: sorted(deps & commands) for module, deps in library.items() if deps & commands}
    assert offenders == {}


def test_commands_never_import_each_other() -> None:
    commands = {f"amazon_cls.{name}" for name in COMMANDS}
    assert {command: sorted(GRAPH[command] & commands) for command in commands if GRAPH[command] & commands} == {}


def package_of(module: str) -> str | None:
    """The library package a module belongs to (None for a command or the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def test_every_package_has_its_layer() -> None:
    packages = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").is_file() and path.name != "conf"}
    assert packages == set(LAYERS)


def test_the_packages_only_point_down() -> None:
    upward = []
    for module, dependencies in GRAPH.items():
        if (package := package_of(module)) is None:
            continue
        for dependency in dependencies:
            target = package_of(dependency)
            if target is not None and LAYERS.index(target) > LAYERS.index(package):
                upward.append(f"{module} ({package}) imports {dependency} ({target})")
    assert upward == [], "\n".join(sorted(upward))


def test_the_import_graph_has_no_cycle() -> None:
    state: dict[str, str] = {}  # visiting | done

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "visiting"
        for dependency in sorted(GRAPH[module]):
            if state.get(dependency) == "visiting":
                return [*path, module, dependency]
            if dependency not in state and (cycle := visit(dependency, [*path, module])):
                return cycle
        state[module] = "done"
        return None

    cycles = [cycle for module in sorted(GRAPH) if module not in state and (cycle := visit(module, []))]
    assert cycles == []


# Where a file name may be written down outside store/: the Kaggle layout (data/), each map format's
# suffix (geo/outputs/: a format is one file), each data source's suffix, what evaluate recognises.
NAMES_ELSEWHERE = (
    "data/layout.py",
    "data/submission.py",
    "data/synthetic.py",
    "data/sources/",
    "geo/outputs/",
    "evaluation/predictions.py",
)
FILE_NAME = re.compile(r"""["'][\w<>{}./-]*\.(?:json|csv|md|png|tif|gpkg|geojson|ckpt|db|yaml)["']""")


def test_store_owns_the_names_of_the_outputs() -> None:
    elsewhere = []
    for path in PACKAGE.rglob("*.py"):
        where = path.relative_to(PACKAGE).as_posix()
        if where.startswith("store/") or where.startswith(NAMES_ELSEWHERE):
            continue
        elsewhere += [f"{where}: {name}" for name in FILE_NAME.findall(path.read_text())]
    assert elsewhere == []


def test_every_package_says_what_it_owns() -> None:
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text()))
        assert docstring and len(docstring.split()) >= 8, f"{init} has no docstring saying what the package owns"


def test_importing_every_module_changes_nothing() -> None:
    """No resolvers registered, no umask flipped, none of our environment variables or logging set
    up, by an import (the libraries beneath set variables of their own)."""
    code = f"""
import importlib, logging, os
from omegaconf import OmegaConf
mask, env, handlers = os.umask(0o022), dict(os.environ), list(logging.getLogger().handlers)
for name in {sorted(MODULES)!r}:
    importlib.import_module(name)
assert os.umask(0o022) == 0o022, "the umask changed"
assert not OmegaConf.has_resolver("source_bands"), "a resolver was registered"
ours = {{key for key in os.environ if key not in env and (key == "PROJECT_ROOT" or key.startswith("AMAZON_CLS"))}}
assert not ours, f"the environment changed: {{ours}}"
assert logging.getLogger().handlers == handlers, "the root logger changed"
print("unchanged")
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "unchanged" in result.stdout, result.stderr[-2000:]


def test_predicting_imports_nothing_of_training() -> None:
    """map, monitor and predict load no training-only package: scikit-learn (folds, fitting an
    ensemble), albumentations (augmentation), Optuna, cleanlab; each costs start-up time."""
    modules = ["amazon_cls.geo.mapping", "amazon_cls.geo.change.monitoring", "amazon_cls.predict", "amazon_cls.map"]
    training = {"sklearn", "albumentations", "iterstrat", "optuna", "cleanlab"}
    code = f"import sys, {', '.join(modules)}; print(sorted({{m.split('.')[0] for m in sys.modules}} & {training!r}))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert found.stdout.strip() == "[]"
