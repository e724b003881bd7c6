"""Helpers tests share: packing a function folder as the CLI does, and polling with a cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from emulator.project.packing import pack as pack_folder

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "functions"
T = TypeVar("T")


def pack(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    """A `code.tar.gz` of `folder` (plus `extra` files), as appwrite-cli packs a function."""
    return pack_folder(folder, extra=extra)


def fixture(language: str, name: str) -> Path:
    return FIXTURES / language / name


def wait_for(probe: Callable[[], T | None], timeout: float = 60.0, step: float = 0.05) -> T:
    """Call `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
