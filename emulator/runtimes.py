"""Appwrite 1.3's runtime catalogue and the local interpreter that serves each runtime ID.

Only languages with an adapter under `runtimes/` and an interpreter on this machine are offered.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from emulator.models import Runtime

BOTH = ("x86", "arm")

# (key, name, version, base, image tag, supports), in php-runtimes 0.11.1 declaration order.
_CATALOGUE: tuple[tuple[str, str, str, str, str, tuple[str, ...]], ...] = (
    ("node", "Node.js", "14.5", "node:14.5-alpine", "14.5", BOTH),
    ("node", "Node.js", "16.0", "node:16-alpine", "16.0", BOTH),
    ("node", "Node.js", "18.0", "node:18-alpine", "18.0", BOTH),
    ("php", "PHP", "8.0", "php:8.0-cli-alpine", "8.0", BOTH),
    ("php", "PHP", "8.1", "php:8.1-cli-alpine", "8.1", BOTH),
    ("ruby", "Ruby", "3.0", "ruby:3.0-alpine", "3.0", BOTH),
    ("ruby", "Ruby", "3.1", "ruby:3.1-alpine", "3.1", BOTH),
    ("python", "Python", "3.8", "python:3.8-alpine", "3.8", BOTH),
    ("python", "Python", "3.9", "python:3.9-alpine", "3.9", BOTH),
    ("python", "Python", "3.10", "python:3.10-alpine", "3.10", BOTH),
    ("deno", "Deno", "1.21", "denoland/deno:alpine-1.21.3", "1.21", ("x86",)),
    ("deno", "Deno", "1.24", "denoland/deno:alpine-1.24.3", "1.24", ("x86",)),
    ("dart", "Dart", "2.15", "dart:2.15", "2.15", BOTH),
    ("dart", "Dart", "2.16", "dart:2.16", "2.16", BOTH),
    ("dart", "Dart", "2.17", "dart:2.17", "2.17", BOTH),
    ("dotnet", ".NET", "3.1", "mcr.microsoft.com/dotnet/sdk:3.1", "3.1", BOTH),
    ("dotnet", ".NET", "6.0", "mcr.microsoft.com/dotnet/sdk:6.0-alpine", "6.0", BOTH),
    ("java", "Java", "8.0", "openjdk/8-jdk-slim", "8.0", BOTH),
    ("java", "Java", "11.0", "openjdk/11-jdk-slim", "11.0", BOTH),
    ("java", "Java", "17.0", "openjdk/17-jdk-slim", "17.0", BOTH),
    ("java", "Java", "18.0", "openjdk/18-jdk-slim", "18.0", BOTH),
    ("swift", "Swift", "5.5", "swiftarm/swift:5.5.2-focal-multi-arch", "5.5", BOTH),
    ("kotlin", "Kotlin", "1.6", "openjdk/17-jdk-slim", "1.6", BOTH),
    ("cpp", "C++", "17.0", "alpine:3.15", "17", BOTH),
)

CATALOGUE: tuple[Runtime, ...] = tuple(
    Runtime(
        id=f"{key}-{version}",
        name=name,
        version=version,
        base=base,
        image=f"openruntimes/{key}:v2-{tag}",
        logo=f"{key}.png",
        supports=supports,
    )
    for key, name, version, base, tag, supports in _CATALOGUE
)

ADAPTERS_DIR = Path(__file__).resolve().parent.parent / "runtimes"


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
    return _which(f"python{version}") or _which("python3") or sys.executable


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
        language = runtime.id.split("-")[0]
        if not (ADAPTERS_DIR / language).is_dir():
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
