"""Chunked uploads of deployment code (spec 6.1, DECISIONS #3): parts kept by offset, joined in order."""

from __future__ import annotations

import math
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from emulator.errors import StorageInvalidContentRange

CHUNK_SIZE = 5 * 1024 * 1024
_RANGE = re.compile(r"^(\w+) (\d+)-(\d+)/(\d+)$")


@dataclass(frozen=True)
class ContentRange:
    start: int
    end: int
    size: int


def parse_content_range(header: str | None) -> ContentRange | None:
    """`bytes START-END/SIZE` with START <= END <= SIZE (END == SIZE is the 1.3 SDKs' last-chunk form).

    Raises:
        StorageInvalidContentRange: the header is present but malformed.
    """
    if not header:  # 1.3 checks `empty()`: an empty header is no header
        return None
    match = _RANGE.match(header)
    if not match:
        raise StorageInvalidContentRange()
    start, end, size = (int(match.group(i)) for i in (2, 3, 4))
    if not start <= end <= size:
        raise StorageInvalidContentRange()
    return ContentRange(start, end, size)


@dataclass(frozen=True)
class UploadProgress:
    chunks_total: int
    chunks_uploaded: int
    complete: bool


def store_chunk(folder: Path, offset: int, data: BinaryIO) -> int:
    """Keep one part of the upload, named by its byte offset; returns its length."""
    parts = folder / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    target = parts / f"{offset:016d}"
    with open(target, "wb") as out:
        shutil.copyfileobj(data, out, 1024 * 1024)
    return target.stat().st_size


def progress(folder: Path, declared_size: int) -> UploadProgress:
    """How far the upload in `folder` got: chunks by the first part's length, complete when the
    parts, laid end to end from offset 0, cover the declared size."""
    parts = sorted((folder / "parts").iterdir())
    first = parts[0].stat().st_size if parts and parts[0].name == f"{0:016d}" else CHUNK_SIZE
    total = max(1, math.ceil(declared_size / first)) if first else 1
    covered = 0
    for part in parts:
        if int(part.name) != covered:
            break
        covered += part.stat().st_size
    return UploadProgress(total, len(parts), covered >= declared_size)


def assemble(folder: Path, target: Path) -> int:
    """Join the parts in offset order into `target`, remove them; returns the file's size."""
    with open(target, "wb") as out:
        for part in sorted((folder / "parts").iterdir()):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
    shutil.rmtree(folder / "parts")
    return target.stat().st_size
