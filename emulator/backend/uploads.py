"""Deployment code uploads: a whole file, or the parts of a chunked upload kept by offset (each
exactly as long as its range says, none overlapping another) and joined in order."""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from emulator.errors import StorageInvalidContentRange, StorageInvalidFileSize

CHUNK_SIZE = 5 * 1024 * 1024
_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class ContentRange:
    """A parsed `Content-Range: <unit> START-END/SIZE`, with START <= END <= SIZE."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        """The bytes the part carries. END is inclusive, except that END == SIZE marks a last
        part that runs to the end of the file (the form the 1.3-era SDKs send)."""
        return self.size - self.start if self.end == self.size else self.end - self.start + 1


@dataclass(frozen=True)
class UploadProgress:
    chunks_total: int
    chunks_uploaded: int
    complete: bool


def store_part(folder: Path, part: ContentRange, data: BinaryIO) -> None:
    """Keep one part of a chunked upload, named by its offset (a part sent again replaces it).

    Raises:
        StorageInvalidContentRange: `data` is not exactly `part.length` bytes long, or the range
            overlaps another part already kept. Nothing is kept then (a part kept earlier at
            that offset stays), and no more than `part.length` bytes are ever written.
    """
    if _overlaps(folder, part.start, part.length):
        raise StorageInvalidContentRange()
    if _keep(folder, part.start, data, limit=part.length, exact=True) is None:
        raise StorageInvalidContentRange()


def store_file(folder: Path, data: BinaryIO, limit: int) -> int:
    """Keep a whole upload as its only part; returns its length.

    Raises:
        StorageInvalidFileSize: `data` holds more than `limit` bytes. Nothing is kept then, and
            no more than `limit` bytes are ever written.
    """
    length = _keep(folder, 0, data, limit=limit, exact=False)
    if length is None:
        raise StorageInvalidFileSize()
    return length


def _keep(folder: Path, offset: int, data: BinaryIO, *, limit: int, exact: bool) -> int | None:
    """Copy `data` into the part at `offset` through a temporary file, writing at most `limit`
    bytes; returns the length, or None (nothing kept) past `limit` or, when `exact`, short of it."""
    parts = folder / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{offset:016d}.partial"
    written, too_long = 0, False
    with open(partial, "wb") as out:
        # One byte more than the room left is enough to tell that `data` is too long.
        while block := data.read(min(_BLOCK, limit - written + 1)):
            if written + len(block) > limit:
                too_long = True
                break
            out.write(block)
            written += len(block)
    if too_long or (exact and written != limit):
        partial.unlink()
        _prune(folder)
        return None
    partial.replace(parts / f"{offset:016d}")
    return written


def _prune(folder: Path) -> None:
    """Remove the upload's folders when they hold nothing."""
    for empty in (folder / "parts", folder):
        if empty.is_dir() and not any(empty.iterdir()):
            empty.rmdir()


def _overlaps(folder: Path, start: int, length: int) -> bool:
    """Whether [start, start + length) shares a byte with a kept part at another offset."""
    parts = folder / "parts"
    if not parts.is_dir():
        return False
    for part in parts.iterdir():
        offset = int(part.name)
        if offset != start and offset < start + length and start < offset + part.stat().st_size:
            return True
    return False


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
                shutil.copyfileobj(src, out, _BLOCK)
    shutil.rmtree(folder / "parts")
    return target.stat().st_size
