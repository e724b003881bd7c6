"""Safe extraction of deployment archives: hostile .tar.gz files are refused and write nothing outside."""

from __future__ import annotations

import asyncio
import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.catalog import CATALOGUE
from emulator.executor import Executor
from emulator.executor.archive import ArchiveError, extract
from emulator.executor.discovery import LocalRuntime

LIMITS = {"max_archive_bytes": 1_000_000, "max_extracted_bytes": 1_000_000}

Entry = Callable[[tarfile.TarFile], None]


def _file(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))

    return add


def _special(name: str, kind: bytes, linkname: str = "") -> Entry:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = kind, linkname, 0o755
        tar.addfile(info)

    return add


def _archive(path: Path, *entries: Entry) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for add in entries:
            add(tar)
    return path


@pytest.fixture
def box(tmp_path: Path) -> tuple[Path, Path]:
    """(dest, outside): dest is two levels down so that `../..` still lands in tmp_path."""
    dest = tmp_path / "builds" / "b1" / "code"
    dest.mkdir(parents=True)
    return dest, tmp_path


def _outside_files(root: Path, dest: Path) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_file() and dest not in p.parents and p.suffix != ".gz"
    ]


def test_a_normal_archive_is_extracted_with_its_folders_links_and_modes(
    box: tuple[Path, Path],
) -> None:
    dest, root = box
    archive = _archive(
        root / "ok.tar.gz",
        _special("src", tarfile.DIRTYPE),
        _file("src/main.py", b"print('hi')\n"),
        _file("run.sh", b"#!/bin/sh\n", mode=0o4755),
        _special("current", tarfile.SYMTYPE, "src/main.py"),
        _special("src/up", tarfile.SYMTYPE, "../run.sh"),
        _special("copy.py", tarfile.LNKTYPE, "src/main.py"),
        _file("./dot/file.txt", b"dot"),
    )
    stats = extract(archive, dest, **LIMITS)
    assert (dest / "src" / "main.py").read_text() == "print('hi')\n"
    assert (dest / "current").read_text() == "print('hi')\n"
    assert (dest / "src" / "up").read_text() == "#!/bin/sh\n"
    assert (dest / "copy.py").read_text() == "print('hi')\n"
    assert (dest / "dot" / "file.txt").read_text() == "dot"
    mode = (dest / "run.sh").stat().st_mode
    assert mode & stat.S_IXUSR and not mode & stat.S_ISUID
    assert stats.entries == 7


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_file("../../evil.txt"), "leads outside"),
        (_file("src/../../../evil.txt"), "leads outside"),
        (_special("link", tarfile.SYMTYPE, "../../.."), "points outside"),
        (_special("link", tarfile.SYMTYPE, "/etc"), "points outside"),
        (_special("hard", tarfile.LNKTYPE, "/etc/passwd"), "does not point to a file"),
        (_special("hard", tarfile.LNKTYPE, "../../evil.txt"), "does not point to a file"),
        (_special("hard", tarfile.LNKTYPE, "not-in-archive.txt"), "does not point to a file"),
        (_special("dev", tarfile.CHRTYPE), "device, FIFO"),
        (_special("blk", tarfile.BLKTYPE), "device, FIFO"),
        (_special("fifo", tarfile.FIFOTYPE), "device, FIFO"),
    ],
)
def test_hostile_entries_are_refused(box: tuple[Path, Path], entry: Entry, message: str) -> None:
    dest, root = box
    (root / "evil.txt").write_text("untouched")
    archive = _archive(root / "bad.tar.gz", _file("fine.txt"), entry, _file("after.txt"))
    with pytest.raises(ArchiveError, match=message):
        extract(archive, dest, **LIMITS)
    assert (root / "evil.txt").read_text() == "untouched"
    assert not (dest / "after.txt").exists()


def test_an_absolute_path_is_refused_and_not_written(box: tuple[Path, Path]) -> None:
    dest, root = box
    target = root / "absolute-evil.txt"
    archive = _archive(root / "bad.tar.gz", _file(str(target)))
    with pytest.raises(ArchiveError, match="absolute path"):
        extract(archive, dest, **LIMITS)
    assert not target.exists()


def test_writing_through_a_symlink_is_refused(box: tuple[Path, Path]) -> None:
    dest, root = box
    (root / "victim").mkdir()
    archive = _archive(
        root / "bad.tar.gz",
        _special("inside", tarfile.DIRTYPE),
        _special("escape", tarfile.SYMTYPE, "inside"),
        _file("escape/file.txt"),
    )
    with pytest.raises(ArchiveError, match="through the symbolic link"):
        extract(archive, dest, **LIMITS)
    assert _outside_files(root, dest) == []


def test_a_chain_of_symlinks_that_ends_outside_is_refused(box: tuple[Path, Path]) -> None:
    dest, root = box
    # Each link looks harmless on its own; `b` resolves through `a` to the parent of dest.
    archive = _archive(
        root / "bad.tar.gz",
        _special("a", tarfile.SYMTYPE, "."),
        _special("b", tarfile.SYMTYPE, "a/.."),
    )
    with pytest.raises(ArchiveError, match="'b', which points outside"):
        extract(archive, dest, **LIMITS)


def test_a_decompression_bomb_stops_at_the_limit(box: tuple[Path, Path]) -> None:
    dest, root = box
    archive = _archive(root / "bomb.tar.gz", _file("zeros.bin", bytes(5_000_000)))
    assert archive.stat().st_size < 50_000
    with pytest.raises(ArchiveError, match=r"expands to more than 1\.0 MB"):
        extract(archive, dest, **LIMITS)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1_000_000


def test_many_small_files_add_up_to_the_limit(box: tuple[Path, Path]) -> None:
    dest, root = box
    entries = [_file(f"f{i}.bin", bytes(300_000)) for i in range(5)]
    with pytest.raises(ArchiveError, match="expands to more than"):
        extract(_archive(root / "bomb.tar.gz", *entries), dest, **LIMITS)


def test_too_many_entries_are_refused(box: tuple[Path, Path]) -> None:
    dest, root = box
    archive = _archive(root / "many.tar.gz", *(_file(f"f{i}") for i in range(20)))
    with pytest.raises(ArchiveError, match="more than 10 entries"):
        extract(archive, dest, **LIMITS, max_entries=10)


def test_an_archive_over_the_upload_limit_is_refused(box: tuple[Path, Path]) -> None:
    dest, root = box
    archive = _archive(root / "big.tar.gz", _file("noise.bin", os.urandom(200_000)))
    with pytest.raises(ArchiveError, match=r"over the limit of 0\.1 MB"):
        extract(archive, dest, max_archive_bytes=100_000, max_extracted_bytes=10_000_000)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04 this is a zip file", "not a gzip-compressed tar archive"),
        (gzip.compress(b"just some text, not a tar archive" * 20), "corrupt or truncated"),
        (b"", "not a gzip-compressed tar archive"),
    ],
)
def test_corrupt_archives_are_refused(box: tuple[Path, Path], content: bytes, message: str) -> None:
    dest, root = box
    (root / "bad.tar.gz").write_bytes(content)
    with pytest.raises(ArchiveError, match=message):
        extract(root / "bad.tar.gz", dest, **LIMITS)


def test_a_truncated_archive_is_refused(box: tuple[Path, Path]) -> None:
    dest, root = box
    archive = _archive(root / "full.tar.gz", _file("noise.bin", os.urandom(100_000)))
    data = archive.read_bytes()
    (root / "cut.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        extract(root / "cut.tar.gz", dest, **LIMITS)


def test_a_failed_build_explains_why_and_leaves_no_build_folder(tmp_path: Path) -> None:
    runtime = LocalRuntime(next(r for r in CATALOGUE if r.id == "python-3.9"), "python", "python3")
    archive = _archive(tmp_path / "bad.tar.gz", _file("main.py"), _file("../../../escape.txt"))
    executor = Executor(builds_dir=tmp_path / "builds", cache_dir=tmp_path / "cache")
    result = asyncio.run(
        executor.build(
            build_id="b1", archive=archive, runtime=runtime, entrypoint="main.py", env={}
        )
    )
    assert not result.ok
    assert result.stderr == (
        "The deployment archive holds '../../../escape.txt', a path that leads outside its folder."
    )
    assert not (tmp_path / "builds" / "b1").exists()
    assert not (tmp_path / "escape.txt").exists()
    assert result.duration >= 0
