"""Safe extraction of a deployment's .tar.gz: nothing is ever written outside the destination folder.

Rejects absolute or `..` paths, links leading outside, device/FIFO entries and archives that expand past
a size or entry-count limit. Files are written by hand (never through `tarfile.extract`).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_ENTRIES = 100_000
_CHUNK = 1 << 20


class ArchiveError(Exception):
    """The archive cannot be used; the message says why, for the build's stderr."""


@dataclass(frozen=True)
class ExtractStats:
    entries: int
    bytes: int


def _mib(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def extract(
    archive: Path,
    dest: Path,
    *,
    max_archive_bytes: int,
    max_extracted_bytes: int,
    max_entries: int = MAX_ENTRIES,
) -> ExtractStats:
    """Extract the gzip-compressed tar `archive` into the empty folder `dest`.

    Raises:
        ArchiveError: the archive is too big, not a .tar.gz, corrupt, or holds an unsafe entry.
            `dest` may then hold part of the archive; the caller removes it.
    """
    try:
        size = archive.stat().st_size
        with archive.open("rb") as head:
            magic = head.read(2)
    except OSError as exc:
        raise ArchiveError(f"The deployment archive could not be read: {exc.strerror}.") from None
    if size > max_archive_bytes:
        raise ArchiveError(
            f"The deployment archive is {_mib(size)}, over the limit of {_mib(max_archive_bytes)}."
        )
    if magic != b"\x1f\x8b":
        raise ArchiveError("The deployment code is not a gzip-compressed tar archive (.tar.gz).")
    extractor = _Extractor(dest.resolve(), max_extracted_bytes, max_entries)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                extractor.add(tar, member)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"The deployment archive is corrupt or truncated: {exc}.") from None
    except OSError as exc:  # gzip.BadGzipFile is an OSError too
        raise ArchiveError(f"The deployment archive could not be extracted: {exc}.") from None
    extractor.check_links()
    return ExtractStats(extractor.entries, extractor.total)


class _Extractor:
    def __init__(self, root: Path, max_bytes: int, max_entries: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.total = 0
        self.entries = 0
        self.symlinks: set[str] = set()
        self.files: set[str] = set()

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise ArchiveError(
                f"The deployment archive holds more than {self.max_entries} entries."
            )
        rel = self._relative(member.name, member.name)
        if rel is None:  # the archive root itself ("./")
            return
        parent = posixpath.dirname(rel)
        self._refuse_link_parents(rel, parent)
        target = os.path.join(self.root, rel)
        if member.isdir():
            self._clear(rel, target, keep_dir=True)
            os.makedirs(target, exist_ok=True)
            os.chmod(target, (member.mode & 0o755) | 0o700)
            return
        if not (member.isreg() or member.issym() or member.islnk()):
            raise ArchiveError(
                f"The deployment archive holds {member.name!r}, a device, FIFO or other special "
                "file; only regular files, folders and links are allowed."
            )
        if parent:
            os.makedirs(os.path.join(self.root, parent), exist_ok=True)
        self._clear(rel, target, keep_dir=False)
        if member.issym():
            self._symlink(member, rel, parent, target)
        elif member.islnk():
            self._hardlink(member, rel, target)
        else:
            self._file(tar, member, rel, target)

    def _relative(self, name: str, entry: str) -> str | None:
        if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
            raise ArchiveError(f"The deployment archive holds {entry!r}, an absolute path.")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise ArchiveError(
                f"The deployment archive holds {entry!r}, a path that leads outside its folder."
            )
        return "/".join(parts) or None

    def _refuse_link_parents(self, rel: str, parent: str) -> None:
        while parent:
            if parent in self.symlinks:
                raise ArchiveError(
                    f"The deployment archive writes {rel!r} through the symbolic link {parent!r}."
                )
            parent = posixpath.dirname(parent)

    def _clear(self, rel: str, target: str, *, keep_dir: bool) -> None:
        """Make room for `target`: a later entry replaces an earlier one (as GNU tar does)."""
        if not os.path.lexists(target):
            return
        if os.path.isdir(target) and not os.path.islink(target):
            if keep_dir:
                return
            raise ArchiveError(f"The deployment archive replaces the folder {rel!r} with a file.")
        os.unlink(target)
        self.symlinks.discard(rel)
        self.files.discard(rel)

    def _symlink(self, member: tarfile.TarInfo, rel: str, parent: str, target: str) -> None:
        link = member.linkname
        resolved = posixpath.normpath(posixpath.join(parent, link))
        if link.startswith("/") or resolved == ".." or resolved.startswith("../"):
            raise ArchiveError(
                f"The deployment archive holds the symbolic link {member.name!r} -> {link!r}, "
                "which points outside the deployment."
            )
        os.symlink(link, target)
        self.symlinks.add(rel)

    def _hardlink(self, member: tarfile.TarInfo, rel: str, target: str) -> None:
        try:
            source = self._relative(member.linkname, member.name)
        except ArchiveError:
            source = None
        if source is None or source not in self.files:
            raise ArchiveError(
                f"The deployment archive holds the hard link {member.name!r} -> "
                f"{member.linkname!r}, which does not point to a file of the archive."
            )
        try:
            os.link(os.path.join(self.root, source), target, follow_symlinks=False)
        except OSError:
            shutil.copy2(os.path.join(self.root, source), target, follow_symlinks=False)
        self.files.add(rel)

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, rel: str, target: str) -> None:
        if self.total + member.size > self.max_bytes:
            self._too_big()
        source = tar.extractfile(member)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            if source is not None:
                self._copy(source, out)
        os.chmod(target, (member.mode & 0o755) | 0o600)
        os.utime(target, (member.mtime, member.mtime))
        self.files.add(rel)

    def _copy(self, source: IO[bytes], out: IO[bytes]) -> None:
        while chunk := source.read(_CHUNK):
            self.total += len(chunk)
            if self.total > self.max_bytes:
                self._too_big()
            out.write(chunk)

    def _too_big(self) -> None:
        raise ArchiveError(
            f"The deployment archive expands to more than {_mib(self.max_bytes)}; "
            "that is over the limit."
        )

    def check_links(self) -> None:
        """Links may chain (`a -> .`, `b -> a/..`): resolve each on disk, now that all exist."""
        root = str(self.root)
        for rel in sorted(self.symlinks):
            real = os.path.realpath(os.path.join(root, rel))
            if real != root and not real.startswith(root + os.sep):
                raise ArchiveError(
                    f"The deployment archive holds the symbolic link {rel!r}, "
                    "which points outside the deployment."
                )
