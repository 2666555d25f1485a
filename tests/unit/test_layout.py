"""The house rules of ``src/predict``: folders by stage, layering, and DVC deps that cover
what each stage's command really imports."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src" / "predict"
CORE = {"cli", "config", "io", "progress"}  # the top-level modules (besides __init__)

# What each folder may import besides the core (each folder's __init__ docstring says it).
MAY_IMPORT: dict[str, set[str]] = {
    "contract": set(),
    "synthetic": {"contract"},
    "features": {"contract"},
    "models": {"contract", "features"},
    "scoring": {"contract", "features", "models"},
    "report": {"contract", "features", "models", "scoring"},
    "distributed": {"contract", "features", "models", "scoring"},
}
# The folder whose code each DVC stage runs (the stage's own room).
STAGE_FOLDER = {
    "generate": "synthetic",
    "validate": "contract",
    "features": "features",
    "split": "models",
    "train": "models",
    "partition": "distributed",
    "score": "scoring",
    "report": "report",
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_path(name: str) -> Path:
    base = SRC.parent / name.replace(".", "/")
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def imported_modules(tree: ast.AST) -> set[str]:
    """Every ``predict`` module a tree imports: statements anywhere (also inside functions)
    and ``importlib.import_module("predict...")`` literals."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("predict"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("predict"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).startswith("predict")
        ):
            found.add(str(node.args[0].value))
    return {name for name in found if module_path(name).exists()}


def folder_of(module: str) -> str:
    """``predict.features.sql`` -> ``features``; top-level modules -> their own name."""
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def closure(start: set[str]) -> set[str]:
    """Modules reachable from ``start`` through imports (packages imply their __init__)."""
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(imported_modules(ast.parse(module_path(name).read_text(encoding="utf-8"))))
        if "." in name.removeprefix("predict."):
            todo.append(name.rsplit(".", 1)[0])
    return seen


def test_the_top_level_holds_the_core_only() -> None:
    modules = {p.stem for p in SRC.glob("*.py")} - {"__init__"}
    assert modules == CORE
    assert len(modules) + 1 <= 8
    assert not (SRC / "predict.py").exists()


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_each_folder_says_what_lives_there_and_what_it_may_import(folder: str) -> None:
    doc = ast.get_docstring(ast.parse((SRC / folder / "__init__.py").read_text(encoding="utf-8")))
    assert doc, f"src/predict/{folder}/__init__.py has no docstring"
    assert "May import" in doc, f"src/predict/{folder}/__init__.py: say what it may import"


@pytest.mark.parametrize("folder", sorted(MAY_IMPORT))
def test_no_folder_imports_upward(folder: str) -> None:
    allowed = MAY_IMPORT[folder] | {folder, "__init__"} | CORE - {"cli"}
    wrong = {}
    for path in sorted((SRC / folder).rglob("*.py")):
        for name in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if folder_of(name) not in allowed:
                wrong.setdefault(str(path.relative_to(REPO)), set()).add(name)
    assert not wrong, f"imports outside {sorted(allowed)}: {wrong}"


def test_the_core_imports_no_stage() -> None:
    for name in CORE - {"cli"}:
        tree = ast.parse((SRC / f"{name}.py").read_text(encoding="utf-8"))
        assert not imported_modules(tree), f"predict.{name} imports a stage"


def stage_commands() -> dict[str, tuple[str, list[str]]]:
    """DVC stage -> (the ``predict`` command its script runs, its deps)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out = {}
    for name, stage in stages.items():
        spec = stage.get("do", stage)
        script = re.match(r"python (pipelines/\w+\.py)", spec["cmd"])
        assert script, f"stage {name}: cmd should run a pipelines/ script"
        source = (REPO / script.group(1)).read_text(encoding="utf-8")
        command = re.search(r'run_stage\("([\w-]+)"', source)
        assert command, f"{script.group(1)} should be run_stage(<command>)"
        out[name] = (command.group(1), spec["deps"])
    return out


def command_imports(command: str) -> set[str]:
    """Modules the ``predict <command>`` function imports, transitively."""
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
    func = functions[command.replace("-", "_")]
    helpers = {
        functions[n.func.id]
        for n in ast.walk(func)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in functions
    }
    roots = set().union(*(imported_modules(f) for f in (func, *helpers)))
    return closure(roots) | {"predict.cli"}  # cli's other commands import lazily


def test_every_stage_runs_a_cli_command_of_its_own_folder() -> None:
    for stage, (command, _) in stage_commands().items():
        assert command == stage
        folders = {folder_of(m) for m in command_imports(command)}
        assert STAGE_FOLDER[stage] in folders


def test_dvc_deps_cover_everything_a_stage_imports() -> None:
    for stage, (command, deps) in stage_commands().items():
        needed = set()
        for module in command_imports(command):
            folder = folder_of(module)
            path = f"src/predict/{folder}" if (SRC / folder).is_dir() else ""
            if module == "predict":
                continue  # the package docstring
            needed.add(path or str(module_path(module).relative_to(REPO)))
        missing = needed - set(deps)
        assert not missing, f"dvc.yaml stage {stage}: deps lack {sorted(missing)}"
        assert f"pipelines/{stage}.py" in deps
