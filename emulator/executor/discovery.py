"""Which of 1.3's runtimes this machine can run: the adapter shipped with the package and a local
interpreter for its language; the runtime ID maps to that interpreter.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from emulator.catalog import CATALOGUE, language_of
from emulator.models import Runtime


def adapters_dir() -> Path:
    """The folder of the language adapters (`runtimes/` in the source tree), found through the
    package `emulator.adapters` that carries them: in a checkout, an installed wheel or the binary.
    """
    return Path(str(files("emulator.adapters")))


ADAPTERS_DIR = adapters_dir()

ADAPTER_FILES = {"python": "python/worker.py", "node": "node/worker.js"}
"""The worker program of each language, relative to `ADAPTERS_DIR`."""


def adapter_path(language: str) -> Path:
    return ADAPTERS_DIR / ADAPTER_FILES[language]


@dataclass(frozen=True)
class LocalRuntime:
    """A 1.3 runtime ID and the local interpreter that runs it."""

    runtime: Runtime
    language: str
    interpreter: str

    @property
    def id(self) -> str:
        return self.runtime.id


def host_arch() -> str:
    machine = platform.machine().lower()
    return "arm" if machine.startswith(("arm", "aarch")) else "x86"


def _which(command: str) -> str | None:
    """`shutil.which`, skipping version-manager shims (a pyenv shim of an inactive version fails)."""
    for folder in os.get_exec_path():
        if "shims" in Path(folder).parts:
            continue
        found = shutil.which(command, path=folder)
        if found:
            return found
    return None


def _python_for(version: str) -> str | None:
    """The interpreter for Python `version`: an exact minor version when installed, else python3."""
    pyenv_root = Path(os.path.expanduser("~/.pyenv/versions"))
    if pyenv_root.is_dir():
        candidates = sorted(
            (p for p in pyenv_root.glob(f"{version}.*/bin/python{version}") if p.is_file()),
            key=lambda p: [int(x) if x.isdigit() else 0 for x in p.parts[-3].split(".")],
        )
        if candidates:
            return str(candidates[-1])
    # A frozen emulator (the one-file binary) is no Python interpreter for users' code.
    own = None if getattr(sys, "frozen", False) else sys.executable
    return _which(f"python{version}") or _which("python3") or own


def _language_interpreters() -> dict[str, str | None]:
    return {"node": _which("node") or shutil.which("node")}


def _node_works(node: str) -> bool:
    try:
        subprocess.run([node, "--version"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


def discover(allow_list: tuple[str, ...] = ()) -> dict[str, LocalRuntime]:
    """The runtimes this machine can run, by ID, in catalogue order, narrowed by `allow_list`."""
    arch = host_arch()
    others = _language_interpreters()
    node = others.get("node")
    node_ok = bool(node) and _node_works(str(node))
    found: dict[str, LocalRuntime] = {}
    for runtime in CATALOGUE:
        if arch not in runtime.supports or (allow_list and runtime.id not in allow_list):
            continue
        language = language_of(runtime.id)
        if language not in ADAPTER_FILES or not adapter_path(language).is_file():
            continue
        interpreter: str | None
        if language == "python":
            interpreter = _python_for(runtime.version)
        elif language == "node":
            interpreter = node if node_ok else None
        else:
            interpreter = others.get(language)
        if interpreter:
            found[runtime.id] = LocalRuntime(runtime, language, interpreter)
    return found
