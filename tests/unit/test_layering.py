"""The package's layering holds: every import between the emulator's modules goes downwards, and
only the executor starts processes. The picture is the README's "Layout" section.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emulator

PACKAGE = Path(emulator.__file__).parent

BASE = "base"
"""Pure modules at the root (errors, models, the grammars, config): used by every layer."""
ENTRY = "entry"
"""What puts the layers together: the app, the CLI, the server, the test fixture."""

ENTRY_MODULES = {
    "emulator.__main__",
    "emulator.app",
    "emulator.cli",
    "emulator.server",
    "emulator.client",
    "emulator.testing",
    "emulator.pytest_plugin",
}

MAY_IMPORT: dict[str, set[str]] = {
    BASE: {BASE},
    "store": {BASE, "store"},
    "executor": {BASE, "executor"},
    "backend": {BASE, "backend", "store", "executor"},
    # The control plane drives the triggers (run a schedule now, fire an event).
    "api": {BASE, "api", "backend", "triggers"},
    "triggers": {BASE, "triggers", "backend"},
    "project": {BASE, "project", "backend"},
    ENTRY: {BASE, ENTRY, "api", "backend", "store", "executor", "triggers", "project", "adapters"},
}

PROCESS_CALLS = {
    ("asyncio", "create_subprocess_exec"),
    ("asyncio", "create_subprocess_shell"),
    ("os", "fork"),
    ("os", "forkpty"),
    ("os", "posix_spawn"),
    ("os", "posix_spawnp"),
    ("os", "system"),
    ("os", "popen"),
    ("os", "execv"),
    ("os", "execve"),
    ("os", "execvp"),
    ("os", "spawnv"),
}
PROCESS_MODULES = {"subprocess", "multiprocessing", "pty"}


def layer_of(module: str) -> str:
    if module in ENTRY_MODULES:
        return ENTRY
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()):
        return parts[1]
    return BASE


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def emulator_imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every `emulator...` module `tree` imports (relative imports resolved)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("emulator"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            if not base.startswith("emulator"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                as_path = PACKAGE.parent / candidate.replace(".", "/")
                is_module = as_path.with_suffix(".py").is_file() or as_path.is_dir()
                found.add(candidate if is_module else base)
    return found


def starts_processes(tree: ast.AST) -> list[str]:
    hits: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            hits += [f"import {n}" for n in names if n and n.split(".")[0] in PROCESS_MODULES]
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and (node.value.id, node.attr) in PROCESS_CALLS
        ):
            hits.append(f"{node.value.id}.{node.attr}")
    return hits


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers(path: Path) -> None:
    module = module_name(path)
    layer = layer_of(module)
    tree = ast.parse(path.read_text(), str(path))
    wrong = sorted(
        f"{imported} ({layer_of(imported)})"
        for imported in emulator_imports(tree, module, path.name == "__init__.py")
        if layer_of(imported) not in MAY_IMPORT[layer]
    )
    assert not wrong, f"{module} ({layer}) imports upwards or sideways: {wrong}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_executor_starts_processes(path: Path) -> None:
    if layer_of(module_name(path)) == "executor":
        return
    assert not starts_processes(ast.parse(path.read_text(), str(path)))


def test_the_checks_catch_what_they_are_meant_to() -> None:
    """The checks above are not vacuous: a wrong import and a process start are found."""
    bad = ast.parse("from emulator.store.db import Database\nfrom emulator import store\n")
    imported = emulator_imports(bad, "emulator.api.functions", False)
    assert imported == {"emulator.store.db", "emulator.store"}
    assert all(layer_of(m) not in MAY_IMPORT["api"] for m in imported)
    spawn = ast.parse("import asyncio\nasyncio.create_subprocess_exec('ls')\nimport subprocess\n")
    assert sorted(starts_processes(spawn)) == [
        "asyncio.create_subprocess_exec",
        "import subprocess",
    ]
    assert (
        layer_of("emulator.errors") == BASE and layer_of("emulator.backend.functions") == "backend"
    )
