"""Starting the PHP, Ruby and Deno adapters for tests, with the command line the emulator uses."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from emulator.executor.launch import worker_command

try:
    from worker_client import FIXTURES, WorkerClient, base_env
except ImportError:  # tests/unit imported as a package
    from tests.unit.worker_client import FIXTURES, WorkerClient, base_env

INTERPRETERS = {
    "php": shutil.which("php"),
    "ruby": shutil.which("ruby"),
    "deno": shutil.which("deno"),
}
ENTRYPOINTS = {"php": "index.php", "ruby": "index.rb", "deno": "mod.ts"}
LANGUAGES = ("php", "ruby", "deno")


def fixture_dir(language: str, name: str | Path) -> Path:
    path = Path(name)
    return path if path.is_absolute() else FIXTURES / language / name


def language_worker(
    language: str,
    fixture: str | Path,
    entrypoint: str | None = None,
    *,
    memory_mb: int = 512,
    deps_dir: Path | None = None,
    env: dict[str, str] | None = None,
    **kwargs: Any,
) -> WorkerClient:
    """A worker of `language` for a fixture folder (or any folder), started as the emulator would."""
    interpreter = INTERPRETERS[language]
    assert interpreter is not None, f"{language} is not installed"
    code_dir = fixture_dir(language, fixture)
    if deps_dir is None:
        deps_dir = Path(tempfile.mkdtemp(prefix=f"{language}-deps-"))
    command = worker_command(
        language,
        interpreter,
        code_dir=code_dir,
        deps_dir=deps_dir,
        entrypoint=entrypoint or ENTRYPOINTS[language],
        memory_mb=memory_mb,
    )
    if language == "deno":  # its launcher moves fd 3 itself: the pipe must be on fd 3
        kwargs["literal_fd3"] = True
    return WorkerClient(
        command.argv, code_dir, env={**(env or base_env()), **command.env}, **kwargs
    )
