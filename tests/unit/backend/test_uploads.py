"""Chunked upload bookkeeping: Content-Range parsing and assembling parts in order."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from emulator.api.headers import parse_content_range
from emulator.backend.uploads import (
    CHUNK_SIZE,
    ContentRange,
    assemble,
    progress,
    store_file,
    store_part,
)
from emulator.errors import StorageInvalidContentRange, StorageInvalidFileSize


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes 0-5242879/12582912", ContentRange(0, 5242879, 12582912)),
        ("bytes 10485760-12582912/12582912", ContentRange(10485760, 12582912, 12582912)),
        ("items 0-0/1", ContentRange(0, 0, 1)),
    ],
)
def test_parse_valid(header: str | None, expected: ContentRange | None) -> None:
    assert parse_content_range(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes",
        "bytes 0-10",
        "bytes  0-1/2",
        "bytes 5-1/10",
        "bytes 0-11/10",
        "bytes -1-2/3",
        "0-1/2",
    ],
)
def test_parse_invalid(header: str) -> None:
    with pytest.raises(StorageInvalidContentRange):
        parse_content_range(header)


@pytest.mark.parametrize("last_end_is_size", [True, False])
def test_parts_join_in_offset_order_with_either_end_convention(
    tmp_path: Path, last_end_is_size: bool
) -> None:
    data = os.urandom(2 * CHUNK_SIZE + 1234)
    offsets = list(range(0, len(data), CHUNK_SIZE))
    # Send the middle chunk last: order of arrival must not matter.
    for offset in [offsets[0], offsets[2], offsets[1]]:
        last = len(data) if last_end_is_size else len(data) - 1
        part = ContentRange(offset, min(offset + CHUNK_SIZE - 1, last), len(data))
        store_part(tmp_path, part, io.BytesIO(data[offset : offset + CHUNK_SIZE]))
    state = progress(tmp_path, len(data))
    assert state.chunks_total == 3 and state.chunks_uploaded == 3 and state.complete
    target = tmp_path / "code.tar.gz"
    assert assemble(tmp_path, target) == len(data)
    assert target.read_bytes() == data


def test_incomplete_upload(tmp_path: Path) -> None:
    part = ContentRange(0, CHUNK_SIZE - 1, CHUNK_SIZE * 2 + 1)
    store_part(tmp_path, part, io.BytesIO(b"x" * CHUNK_SIZE))
    state = progress(tmp_path, CHUNK_SIZE * 2 + 1)
    assert (state.chunks_total, state.chunks_uploaded, state.complete) == (3, 1, False)


@pytest.mark.parametrize("resent", [b"y" * 99, b"y" * 101])
def test_a_refused_part_leaves_the_one_kept_at_its_offset(tmp_path: Path, resent: bytes) -> None:
    part = ContentRange(0, 99, 300)
    store_part(tmp_path, part, io.BytesIO(b"x" * 100))
    with pytest.raises(StorageInvalidContentRange):
        store_part(tmp_path, part, io.BytesIO(resent))
    assert [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()] == [b"x" * 100]
    store_part(tmp_path, part, io.BytesIO(b"z" * 100))  # sent again whole: replaces it
    assert [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()] == [b"z" * 100]


def test_a_whole_file_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "upload"
    with pytest.raises(StorageInvalidFileSize):
        store_file(folder, io.BytesIO(b"x" * 1001), limit=1000)
    assert not folder.exists()
    assert store_file(folder, io.BytesIO(b"x" * 1000), limit=1000) == 1000
