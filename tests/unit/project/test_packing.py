"""Packing a function folder: gitignore rules, what is never packed, and reproducible archives."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from emulator.executor.archive import extract
from emulator.project.packing import FolderFilter, IgnoreRules, is_editor_temp, pack


def names(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return sorted(m.name for m in tar.getmembers())


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    ("patterns", "path", "is_dir", "ignored"),
    [
        (["*.log"], "a.log", False, True),
        (["*.log"], "deep/down/b.log", False, True),
        (["*.log"], "a.log.txt", False, False),
        (["/build"], "build/out.js", False, True),
        (["/build"], "src/build/out.js", False, False),
        (["build/"], "build", True, True),
        (["build/"], "build", False, False),  # a file named build is not a folder
        (["build/"], "src/build/x.js", False, True),
        (["docs/*.md"], "docs/a.md", False, True),
        (["docs/*.md"], "docs/sub/a.md", False, False),
        (["docs/*.md"], "other/docs/a.md", False, False),
        (["**/temp"], "a/b/temp/x", False, True),
        (["a/**/b"], "a/b", False, True),
        (["a/**/b"], "a/x/y/b", False, True),
        (["cache/**"], "cache/x/y", False, True),
        (["*.log", "!keep.log"], "keep.log", False, False),
        (["*.log", "!keep.log"], "drop.log", False, True),
        (["secret/", "!secret/ok.txt"], "secret/ok.txt", False, True),  # its folder stays out
        (["# a comment", "", "   "], "# a comment", False, False),
        (["\\#hash"], "#hash", False, True),
        (["trailing.txt   "], "trailing.txt", False, True),
        (["file?.py"], "file1.py", False, True),
        (["file?.py"], "file10.py", False, False),
        (["[ab].txt"], "b.txt", False, True),
        (["[!ab].txt"], "b.txt", False, False),
        (["[!ab].txt"], "c.txt", False, True),
    ],
)
def test_gitignore_rules(patterns: list[str], path: str, is_dir: bool, ignored: bool) -> None:
    assert IgnoreRules(patterns).ignores(path, is_dir=is_dir) is ignored


@pytest.mark.parametrize(
    ("name", "temp"),
    [
        (".index.py.swp", True),
        (".index.py.swx", True),
        ("index.py~", True),
        ("4913", True),
        (".#index.py", True),
        ("#index.py#", True),
        ("index.py___jb_tmp___", True),
        ("index.py", False),
        ("swap.py", False),
        ("package.json", False),
    ],
)
def test_editor_temp_files(name: str, temp: bool) -> None:
    assert is_editor_temp(name) is temp


def test_never_packs_dependencies_vcs_virtualenvs_or_editor_files(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            "src/index.js": "x",
            "package.json": "{}",
            "node_modules/left-pad/index.js": "x",
            "src/node_modules/nested/index.js": "x",
            ".git/HEAD": "ref",
            "env/pyvenv.cfg": "home = /usr",
            "env/lib/site.py": "x",
            "src/__pycache__/index.cpython-311.pyc": "x",
            "src/.index.js.swp": "x",
            "src/index.js~": "x",
            "4913": "",
            "venv-notes/readme.txt": "a folder merely named like a venv is packed",
        },
    )
    assert names(pack(root)) == ["package.json", "src/index.js", "venv-notes/readme.txt"]


def test_ignore_patterns_from_appwrite_json_win_over_gitignore(tmp_path: Path) -> None:
    root = tree(
        tmp_path,
        {
            ".gitignore": "*.md\n",
            "main.py": "x",
            "notes.md": "x",
            "fixtures/big.bin": "x",
            "fixtures/keep.bin": "x",
        },
    )
    # No `ignore` (null in appwrite.json): the folder's .gitignore applies, as in the CLI.
    assert names(pack(root)) == [".gitignore", "fixtures/big.bin", "fixtures/keep.bin", "main.py"]
    chosen = names(pack(root, ["fixtures/*", "!fixtures/keep.bin"]))
    assert chosen == [".gitignore", "fixtures/keep.bin", "main.py", "notes.md"]
    # An empty list is an answer too: nothing ignored, .gitignore not read.
    assert "notes.md" in names(pack(root, []))


def test_archives_are_reproducible(tmp_path: Path) -> None:
    root = tree(tmp_path / "fn", {"main.py": "print(1)\n", "lib/util.py": "X = 1\n"})
    first = pack(root)
    assert pack(root) == first
    (root / "main.py").write_text("print(2)\n")
    assert pack(root) != first


def test_excluded_folders_and_links(tmp_path: Path) -> None:
    root = tree(tmp_path / "fn", {"main.py": "x", ".appwrite-emulator/builds/b/x": "x"})
    os.symlink("main.py", root / "alias.py")
    (root / "lib").mkdir()
    os.symlink("lib", root / "lib-link")
    archive = pack(root, exclude=[root / ".appwrite-emulator"])
    assert names(archive) == ["alias.py", "lib-link", "main.py"]
    # What the executor extracts is what was packed, links included.
    (tmp_path / "archive.tar.gz").write_bytes(archive)
    (tmp_path / "out").mkdir()
    extract(
        tmp_path / "archive.tar.gz",
        tmp_path / "out",
        max_archive_bytes=10**6,
        max_extracted_bytes=10**6,
    )
    assert (tmp_path / "out" / "alias.py").read_text() == "x"
    assert (tmp_path / "out" / "lib-link").is_symlink()


def test_folder_filter_answers_the_watcher(tmp_path: Path) -> None:
    root = tree(tmp_path / "fn", {"main.py": "x", "env/pyvenv.cfg": "", ".gitignore": "dist/\n"})
    chosen = FolderFilter(root, None, exclude=[root / "data"])
    assert chosen.includes(root / "main.py")
    assert chosen.includes(root / "deleted-meanwhile.py")
    assert chosen.includes(root / "requirements.txt")
    for path in (
        "node_modules/x/index.js",
        "env/lib/site.py",
        "dist/bundle.js",
        "data/builds/x",
        ".main.py.swp",
        "src/__pycache__/m.pyc",
    ):
        assert not chosen.includes(root / path), path
    assert not chosen.includes(tmp_path / "elsewhere.py")
