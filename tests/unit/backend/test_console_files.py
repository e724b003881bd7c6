"""The wheel carries every file of the console: pyproject's package data names them all."""

from __future__ import annotations

import tomllib
from pathlib import Path

import emulator

PACKAGE = Path(emulator.__file__).parent
ROOT = PACKAGE.parent


def test_package_data_covers_every_console_file() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["emulator"]
    shipped = {path for pattern in patterns for path in PACKAGE.glob(pattern) if path.is_file()}
    present = {path for path in (PACKAGE / "console").rglob("*") if path.is_file()}
    assert present, "the console folder is empty"
    assert present - shipped == set()
