"""A project-mode function's source files, for the console's code editor: list, read and write
the files under the function's folder (appwrite.json's `path`), never anything outside it.

Writing a file is an editor's save: the project watcher sees it and deploys the folder again.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from emulator.backend.context import Context
from emulator.backend.functions import get_function
from emulator.errors import GeneralArgumentInvalid, StorageFileNotFound

MAX_FILE_BYTES = 1_000_000
"""The largest file the editor opens or saves."""
MAX_FILES = 1000
"""The most files one listing returns."""
SKIPPED_FOLDERS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "__pycache__", "__pypackages__", ".venv", "venv"}
)
"""Folders a listing leaves out: installed dependencies, caches and version control."""


@dataclass(frozen=True)
class SourceFile:
    path: str
    """Relative to the function's folder, with `/` separators."""
    size: int

    def to_document(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size}


def _invalid(path: str, reason: str) -> GeneralArgumentInvalid:
    return GeneralArgumentInvalid(f'Invalid path: "{path}" {reason}')


async def function_folder(ctx: Context, function_id: str) -> Path:
    """The function's folder, resolved.

    Raises:
        FunctionNotFound; StorageFileNotFound: the function has no project folder.
    """
    await get_function(ctx, function_id)
    folder = ctx.folders.get(function_id)
    if folder is None or not folder.is_dir():
        raise StorageFileNotFound(
            f'Function "{function_id}" has no project folder: only functions listed in '
            "appwrite.json with a path have files to edit."
        )
    return folder.resolve()


def resolve_inside(ctx: Context, folder: Path, path: str) -> Path:
    """The real location of `path` (relative, `/` separators) under `folder`.

    Raises:
        GeneralArgumentInvalid: `path` is empty, absolute, climbs with `..`, or leads outside the
            folder (through a symlink too) or into the emulator's data dir.
    """
    if not path or "\x00" in path or "\\" in path:
        raise _invalid(path, "must be a relative path with / separators")
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        raise _invalid(path, "must stay inside the function's folder (no leading / and no ..)")
    real = folder.joinpath(*pure.parts).resolve()
    if real == folder or not real.is_relative_to(folder):
        raise _invalid(path, "leads outside the function's folder")
    if real.is_relative_to(ctx.settings.data_dir.resolve()):
        raise _invalid(path, "is inside the emulator's data dir")
    return real


def _list(folder: Path, data_dir: Path) -> list[SourceFile]:
    found: list[SourceFile] = []
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        dirs[:] = sorted(
            d for d in dirs if d not in SKIPPED_FOLDERS and not (here / d).is_symlink()
        )
        dirs[:] = [d for d in dirs if (here / d).resolve() != data_dir]
        for name in sorted(files):
            full = here / name
            real = full.resolve()
            if not real.is_relative_to(folder) or not real.is_file():
                continue  # a symlink out of the folder, or a broken one
            found.append(SourceFile(full.relative_to(folder).as_posix(), real.stat().st_size))
            if len(found) >= MAX_FILES:
                return found
    return found


async def list_files(ctx: Context, function_id: str) -> list[SourceFile]:
    """The files of the function's folder, sorted folder by folder (dependencies left out)."""
    folder = await function_folder(ctx, function_id)
    return await asyncio.to_thread(_list, folder, ctx.settings.data_dir.resolve())


def _read(real: Path, path: str) -> str:
    if not real.is_file():
        raise StorageFileNotFound(f'File "{path}" not found in the function\'s folder.')
    if real.stat().st_size > MAX_FILE_BYTES:
        raise _invalid(path, f"is larger than {MAX_FILE_BYTES:,} bytes")
    try:
        return real.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(path, "is not a UTF-8 text file") from None


async def read_file(ctx: Context, function_id: str, path: str) -> str:
    """The text of one file of the function's folder.

    Raises:
        FunctionNotFound, StorageFileNotFound, GeneralArgumentInvalid.
    """
    folder = await function_folder(ctx, function_id)
    real = resolve_inside(ctx, folder, path)
    return await asyncio.to_thread(_read, real, path)


def _write(real: Path, folder: Path, path: str, data: bytes) -> SourceFile:
    if real.is_dir():
        raise _invalid(path, "is a folder")
    real.parent.mkdir(parents=True, exist_ok=True)
    if not real.parent.resolve().is_relative_to(folder):  # a folder swapped meanwhile
        raise _invalid(path, "leads outside the function's folder")
    # Written next to it under an editor-temp name the watcher ignores, then renamed over it:
    # the watcher sees one complete file, as after an editor's save.
    temp = real.with_name(f".{real.name}.{secrets.token_hex(4)}~")
    try:
        temp.write_bytes(data)
        if real.exists():
            os.chmod(temp, real.stat().st_mode & 0o7777)
        os.replace(temp, real)
    finally:
        temp.unlink(missing_ok=True)
    return SourceFile(real.relative_to(folder).as_posix(), len(data))


async def write_file(ctx: Context, function_id: str, path: str, content: str) -> SourceFile:
    """Save one file of the function's folder (created with its folders when new); the project
    watcher then deploys the folder, as after an editor's save.

    Raises:
        FunctionNotFound, StorageFileNotFound, GeneralArgumentInvalid.
    """
    folder = await function_folder(ctx, function_id)
    real = resolve_inside(ctx, folder, path)
    data = content.encode("utf-8")
    if len(data) > MAX_FILE_BYTES:
        raise _invalid(path, f"content is larger than {MAX_FILE_BYTES:,} bytes")
    return await asyncio.to_thread(_write, real, folder, path, data)
