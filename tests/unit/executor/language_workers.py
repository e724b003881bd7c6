"""Starting the PHP, Ruby and Deno adapters in the tests of what only they do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.unit.executor.worker_client import LANGUAGES as BY_NAME
from tests.unit.executor.worker_client import WorkerClient, start_worker

LANGUAGES = ("php", "ruby", "deno")
INTERPRETERS = {name: BY_NAME[name].executable() for name in LANGUAGES}


def language_worker(
    language: str, fixture: str | Path, entrypoint: str | None = None, **kwargs: Any
) -> WorkerClient:
    """A worker of `language` for a fixture folder (or any folder), started as the emulator would."""
    return start_worker(BY_NAME[language], fixture, entrypoint, **kwargs)
