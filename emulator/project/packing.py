"""Packing a function folder as the `code.tar.gz` of a deployment, the way appwrite-cli@2.0.2 does.

`ignore` (gitignore patterns, else the folder's `.gitignore`) is respected; dependency folders,
virtualenvs, VCS data and editor temp files are never packed. The watcher asks the same question.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
from collections.abc import Iterable, Sequence
from pathlib import Path

NEVER_PACKED = frozenset({"node_modules", ".git", ".hg", ".svn", "__pycache__"})
"""Folder names never packed, wherever they are (a virtualenv is found by its `pyvenv.cfg`)."""

_EDITOR_TEMP = re.compile(
    r"(\.sw[a-px]|~|\.kate-swp|___jb_(tmp|old)___)$"  # vim swap, backups, Kate, JetBrains
    r"|^(\.#.*|#.*#|4913|\.goutputstream-.*|flycheck_.*|\.DS_Store)$"  # emacs, vim's probe, gedit
)


def is_editor_temp(name: str) -> bool:
    """Files editors write next to the one being saved (swap, backup, lock and probe files)."""
    return _EDITOR_TEMP.search(name) is not None


class IgnoreRules:
    """Gitignore patterns (as the `ignore` npm package reads them), matched on `/`-separated paths
    relative to the folder they belong to; the last matching pattern wins, `!` re-includes."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._rules: list[tuple[re.Pattern[str], bool, bool]] = []
        for line in patterns:
            rule = _compile(line)
            if rule is not None:
                self._rules.append(rule)

    def __bool__(self) -> bool:
        return bool(self._rules)

    def ignores(self, relative: str, is_dir: bool = False) -> bool:
        """Whether `relative` (a file, or a folder when `is_dir`) is ignored, its folders included."""
        parts = relative.split("/")
        for depth in range(1, len(parts)):
            if self._decide("/".join(parts[:depth]), True):
                return True
        return self._decide(relative, is_dir)

    def _decide(self, path: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negated, dir_only in self._rules:
            if (is_dir or not dir_only) and regex.match(path):
                ignored = not negated
        return ignored


def _compile(line: str) -> tuple[re.Pattern[str], bool, bool] | None:
    """One gitignore line as (regex, negated, directories only), or None for blanks and comments."""
    if line.startswith("#"):
        return None
    line = re.sub(r"(?<!\\)\s+$", "", line)
    negated = line.startswith("!")
    if negated or line.startswith("\\!") or line.startswith("\\#"):
        line = line[1:]
    dir_only = line.endswith("/")
    line = line.rstrip("/")
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    body = _translate(line)
    prefix = "" if anchored or line.startswith("**/") else "(?:.*/)?"
    return re.compile(f"^{prefix}{body}$", re.DOTALL), negated, dir_only


def _translate(pattern: str) -> str:
    out, i, n = [], 0, len(pattern)
    while i < n:
        char = pattern[i]
        if pattern.startswith("**", i) and (i == 0 or pattern[i - 1] == "/"):
            if pattern.startswith("**/", i):
                out.append("(?:.*/)?")
                i += 3
                continue
            if i + 2 == n:
                out.append(".*")
                i += 2
                continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            inner = pattern[i + 1 : end]
            if inner[0] in "!^":
                inner = "^" + inner[1:]
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


class FolderFilter:
    """Which files of a function folder belong in its deployment.

    Args:
        root: the function folder (its `path` in appwrite.json).
        ignore: the function's `ignore` patterns; None reads the folder's `.gitignore` instead,
            as appwrite-cli@2.0.2 does.
        exclude: absolute folders never packed (e.g. the emulator's data dir inside the folder).
    """

    def __init__(
        self, root: Path, ignore: Sequence[str] | None = None, exclude: Iterable[Path] = ()
    ) -> None:
        self.root = root.resolve()
        self.rules = IgnoreRules(ignore if ignore is not None else _gitignore(self.root))
        self.exclude = {Path(p).resolve() for p in exclude}

    def skips_dir(self, folder: Path, relative: str) -> bool:
        return (
            folder.name in NEVER_PACKED
            or folder in self.exclude
            or (folder / "pyvenv.cfg").is_file()
            or self.rules.ignores(relative, is_dir=True)
        )

    def includes(self, path: Path) -> bool:
        """Whether a change to `path` (absolute, existing or deleted) changes the deployment."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        parts = relative.parts
        if not parts or is_editor_temp(parts[-1]):
            return False
        folder = self.root
        for depth, name in enumerate(parts[:-1], start=1):
            folder = folder / name
            if self.skips_dir(folder, "/".join(parts[:depth])):
                return False
        return not self.rules.ignores("/".join(parts))

    def files(self) -> list[str]:
        """The relative paths of the files to pack, sorted (symbolic links included as links)."""
        found: list[str] = []
        for folder, dirs, names in os.walk(self.root):
            base = Path(folder)
            rel = base.relative_to(self.root).as_posix()
            prefix = "" if rel == "." else rel + "/"
            links = [d for d in dirs if (base / d).is_symlink()]  # packed as links, not followed
            dirs[:] = [
                d for d in dirs if d not in links and not self.skips_dir(base / d, prefix + d)
            ]
            for name in [*names, *links]:
                if not is_editor_temp(name) and not self.rules.ignores(prefix + name):
                    found.append(prefix + name)
        return sorted(found)


def _gitignore(root: Path) -> list[str]:
    try:
        return (root / ".gitignore").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def pack(
    folder: Path,
    ignore: Sequence[str] | None = None,
    *,
    exclude: Iterable[Path] = (),
    extra: dict[str, bytes] | None = None,
) -> bytes:
    """A deterministic `code.tar.gz` of `folder`: the same files give the same bytes.

    Args:
        ignore: gitignore patterns; None falls back to the folder's `.gitignore`.
        exclude: absolute folders never packed.
        extra: more files to add, by archive name (tests use it).
    """
    chosen = FolderFilter(folder, ignore, exclude)
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as compressed,
        tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name in chosen.files():
            tar.add(chosen.root / name, arcname=name, recursive=False, filter=_anonymous)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
