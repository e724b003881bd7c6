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

ADAPTER_FILES = {
    "python": "python/worker.py",
    "node": "node/worker.js",
    "php": "php/worker.php",
    "ruby": "ruby/worker.rb",
    "deno": "deno/worker.js",
}
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


def _versioned(command: str, version: str) -> str | None:
    """`php8.1` / `ruby3.0` (Debian's names) when that exact version is installed, else `php`."""
    return _which(f"{command}{version}") or _which(command)


def _candidates(runtime_ids: list[str]) -> dict[str, str | None]:
    """The interpreter each non-Python runtime would use, before checking that it runs."""
    found: dict[str, str | None] = {}
    for runtime_id in runtime_ids:
        language = language_of(runtime_id)
        version = runtime_id.split("-", 1)[1]
        if language == "node":
            found[runtime_id] = _which("node") or shutil.which("node")
        elif language in ("php", "ruby"):
            found[runtime_id] = _versioned(language, version)
        elif language == "deno":
            found[runtime_id] = _which("deno")
    return found


def _working(interpreters: set[str]) -> set[str]:
    """The interpreters that answer `--version` (all started at once: discovery stays quick)."""
    started: dict[str, subprocess.Popen[bytes]] = {}
    for interpreter in interpreters:
        # php without its ini files: loading every extension would triple the time.
        quick = ["-n"] if Path(interpreter).name.startswith("php") else []
        try:
            started[interpreter] = subprocess.Popen(
                [interpreter, *quick, "--version"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        except OSError:
            continue
    working = set()
    for interpreter, child in started.items():
        try:
            if child.wait(timeout=10) == 0:
                working.add(interpreter)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return working


def discover(allow_list: tuple[str, ...] = ()) -> dict[str, LocalRuntime]:
    """The runtimes this machine can run, by ID, in catalogue order, narrowed by `allow_list`.

    Python maps to that exact Python when installed, else `python3`; PHP and Ruby to `php8.1` /
    `ruby3.0` style binaries when installed, else `php` / `ruby`; Node to `node`, Deno to `deno`.
    Every interpreter but Python's is checked to run.
    """
    arch = host_arch()
    wanted = []
    for runtime in CATALOGUE:
        if arch not in runtime.supports or (allow_list and runtime.id not in allow_list):
            continue
        language = language_of(runtime.id)
        if language in ADAPTER_FILES and adapter_path(language).is_file():
            wanted.append(runtime)
    others = _candidates([r.id for r in wanted if language_of(r.id) != "python"])
    working = _working({path for path in others.values() if path})
    found: dict[str, LocalRuntime] = {}
    for runtime in wanted:
        language = language_of(runtime.id)
        if language == "python":
            interpreter = _python_for(runtime.version)
        else:
            candidate = others.get(runtime.id)
            interpreter = candidate if candidate in working else None
        if interpreter:
            found[runtime.id] = LocalRuntime(runtime, language, interpreter)
    return found
