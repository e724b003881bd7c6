"""Builds: a deployment's archive extracted safely into `<builds_dir>/<build>/code`, then its
dependencies installed and cached by a hash of the manifest: `pip install --target` (Python),
`npm install` (Node), `composer install --no-dev` (PHP), `bundle install` (Ruby) and `deno cache`
of the entrypoint (Deno).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator.executor.archive import ArchiveError, extract
from emulator.executor.discovery import LocalRuntime
from emulator.executor.launch import deno_env, deno_flags, gemfile_env
from emulator.executor.process import Children, read_pipe
from emulator.executor.results import OUTPUT_LIMIT, BuildResult, truncate

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
_NODE_LOCKS = ("package-lock.json", "npm-shrinkwrap.json")
_DENO_MANIFESTS = ("deno.json", "deno.jsonc", "deno.lock", "import_map.json")
_DENO_CACHED = ("deps", "npm", "remote", "registries")
"""What of a DENO_DIR is cached: downloaded modules, written once. Its SQLite caches and the
transpiled local files (`gen`) stay in each build."""
_AUTOLOAD_STUB = """<?php
// No composer.json in this function: nothing to autoload. Appwrite 1.3 always had this file.
"""


@dataclass(frozen=True)
class BuildPaths:
    root: Path
    code: Path  # the extracted archive (plus node_modules for Node, vendor for PHP)
    deps: Path  # Python's `pip --target`, Ruby's BUNDLE_PATH, Deno's DENO_DIR


def build_paths(builds_dir: Path, build_id: str) -> BuildPaths:
    if not _ID.fullmatch(build_id) or build_id.strip(".") == "":
        raise ValueError(f"invalid build id {build_id!r}")
    root = builds_dir / build_id
    return BuildPaths(root, root / "code", root / "deps")


class InstallError(Exception):
    def __init__(self, message: str, stdout: str) -> None:
        super().__init__(message)
        self.stdout = stdout


class Builder:
    """Runs builds; one instance per executor (it owns the dependency cache under `cache_dir`)."""

    def __init__(
        self,
        *,
        builds_dir: Path,
        cache_dir: Path,
        children: Children,
        base_env: Mapping[str, str],
        max_archive_bytes: int,
        max_extracted_bytes: int,
        build_timeout: float,
        log: logging.Logger,
    ) -> None:
        self.builds_dir = builds_dir
        self.cache_dir = cache_dir
        self.children = children
        self.base_env = dict(base_env)
        self.max_archive_bytes = max_archive_bytes
        self.max_extracted_bytes = max_extracted_bytes
        self.build_timeout = build_timeout
        self.log = log
        self._locks: dict[str, asyncio.Lock] = {}
        self._versions: dict[str, str] = {}

    def env_for(self, runtime: LocalRuntime) -> dict[str, str]:
        """The minimal environment, with the runtime's interpreter folder first on PATH."""
        env = dict(self.base_env)
        bin_dir = os.path.dirname(runtime.interpreter)
        env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}" if bin_dir else env["PATH"]
        return env

    async def build(
        self,
        *,
        build_id: str,
        archive: Path,
        runtime: LocalRuntime,
        entrypoint: str,
        env: Mapping[str, str],
    ) -> BuildResult:
        started = time.perf_counter()
        paths = build_paths(self.builds_dir, build_id)

        async def failed(stderr: str, stdout: str = "") -> BuildResult:
            """A failed build keeps nothing on disk: there is nothing it could run."""
            await asyncio.to_thread(shutil.rmtree, paths.root, True)
            self.log.info("build %s failed: %s", build_id, stderr.strip())
            elapsed = time.perf_counter() - started
            return BuildResult(False, truncate(stdout), truncate(stderr), elapsed)

        try:
            await asyncio.to_thread(_fresh_dir, paths)
            stats = await asyncio.to_thread(
                extract,
                archive,
                paths.code,
                max_archive_bytes=self.max_archive_bytes,
                max_extracted_bytes=self.max_extracted_bytes,
            )
        except ArchiveError as exc:
            return await failed(str(exc))
        except OSError as exc:
            return await failed(f"The build folder could not be prepared: {exc}.")
        self.log.info(
            "build %s: extracted %d entries, %d bytes", build_id, stats.entries, stats.bytes
        )
        if not (paths.code / entrypoint).is_file():
            # 1.3 does not check at build time; the execution then fails with the adapter's message.
            self.log.warning(
                "build %s: the entrypoint %r is not in the deployment; executions will fail",
                build_id,
                entrypoint,
            )
        build_env = {**self.env_for(runtime), "INTERNAL_RUNTIME_ENTRYPOINT": entrypoint}
        build_env.update({"PIP_ROOT_USER_ACTION": "ignore", "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        build_env.update({"npm_config_update_notifier": "false", "npm_config_fund": "false"})
        build_env.update(env)
        remaining = max(0.0, self.build_timeout - (time.perf_counter() - started))
        try:
            async with asyncio.timeout(remaining):
                stdout, stderr = await self._install(runtime, paths, build_env)
        except TimeoutError:
            return await failed(f"Build timed out after {self.build_timeout:g} seconds.")
        except InstallError as exc:
            return await failed(str(exc), exc.stdout)
        except OSError as exc:
            return await failed(f"The build could not run: {exc}.")
        elapsed = time.perf_counter() - started
        return BuildResult(True, truncate(stdout), truncate(stderr), elapsed)

    async def _install(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        code = paths.code
        if runtime.language == "node" and (code / "package.json").is_file():
            return await self._install_node(runtime, paths, env)
        if runtime.language == "python" and (code / "requirements.txt").is_file():
            return await self._install_python(runtime, paths, env)
        if runtime.language == "php":
            if (code / "composer.json").is_file():
                return await self._install_php(runtime, paths, env)
            await asyncio.to_thread(_autoload_stub, code)
        if runtime.language == "ruby" and (code / "Gemfile").is_file():
            return await self._install_ruby(runtime, paths, env)
        if runtime.language == "deno":
            return await self._install_deno(runtime, paths, env)
        return "", ""

    async def _install_python(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        key, entry = await self._cache_entry(runtime, env, paths.code, ["requirements.txt"])
        async with self._lock(key):
            if entry.is_dir():
                await asyncio.to_thread(_link_tree, entry, paths.deps)
                return f"Reusing cached dependencies (requirements.txt, {key[:12]}).\n", ""
            staging = _staging(entry)
            argv = [runtime.interpreter, "-m", "pip", "install", "--target", str(staging)]
            argv += ["-r", "requirements.txt", "--no-input", "--progress-bar", "off"]
            code, out, err = await self._run(argv, paths.code, env)
            if code != 0:
                await asyncio.to_thread(shutil.rmtree, staging, True)
                raise InstallError(_failure("pip install -r requirements.txt", code, err), out)
            staging.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(_publish, staging, entry)
            await asyncio.to_thread(_link_tree, entry, paths.deps)
            return out, err

    async def _install_node(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        npm = shutil.which("npm", path=env["PATH"])
        if npm is None:
            raise InstallError("npm was not found next to node or on PATH.", "")
        argv = [npm, "install", "--no-audit", "--no-fund"]
        shipped_lock = [name for name in _NODE_LOCKS if (paths.code / name).is_file()]
        if (
            paths.code / "node_modules"
        ).exists():  # shipped with the code: install over it, no cache
            return await self._npm(argv, paths, env)
        manifests = ["package.json", *shipped_lock]
        key, entry = await self._cache_entry(runtime, env, paths.code, manifests)
        async with self._lock(key):
            if entry.is_dir():
                await asyncio.to_thread(_restore_node, entry, paths.code, not shipped_lock)
                return f"Reusing cached dependencies (package.json, {key[:12]}).\n", ""
            out, err = await self._npm(argv, paths, env)
            staging = _staging(entry)
            await asyncio.to_thread(_save_node, paths.code, staging, not shipped_lock)
            await asyncio.to_thread(_publish, staging, entry)
            return out, err

    async def _npm(
        self, argv: list[str], paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        code, out, err = await self._run(argv, paths.code, env)
        if code != 0:
            raise InstallError(_failure("npm install", code, err), out)
        return out, err

    async def _install_php(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        composer = shutil.which("composer", path=env["PATH"])
        if composer is None:
            raise InstallError(
                "Composer was not found on PATH: it installs the dependencies of composer.json.\n",
                "",
            )
        env = {**env, "COMPOSER_ALLOW_SUPERUSER": "1", "COMPOSER_NO_INTERACTION": "1"}
        # 1.3's flags, with `install` (it honours a shipped composer.lock) instead of `update`.
        argv = [composer, "install", "--no-dev", "--no-interaction", "--no-progress", "--no-ansi"]
        argv += ["--no-scripts", "--ignore-platform-reqs"]
        command = "composer install --no-dev"
        code = paths.code
        if (code / "vendor").exists():  # shipped with the code: install over it, no cache
            return await self._installer(argv, code, env, command)
        shipped_lock = (code / "composer.lock").is_file()
        key, entry = await self._cache_entry(runtime, env, code, ["composer.json", "composer.lock"])
        async with self._lock(key):
            if entry.is_dir():
                await asyncio.to_thread(_restore, entry, code, "vendor", "composer.lock")
                return f"Reusing cached dependencies (composer.json, {key[:12]}).\n", ""
            out, err = await self._installer(argv, code, env, command)
            staging = _staging(entry)
            lock = "composer.lock" if not shipped_lock else None
            await asyncio.to_thread(_save, code, staging, "vendor", lock)
            await asyncio.to_thread(_publish, staging, entry)
            return out, err

    async def _install_ruby(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        bundle = shutil.which("bundle", path=env["PATH"])
        if bundle is None:
            raise InstallError(
                "Bundler (`bundle`) was not found on PATH: it installs the gems of the Gemfile.\n",
                "",
            )
        code = paths.code
        env = {**env, **gemfile_env(code, paths.deps)}
        env.update({"BUNDLE_SILENCE_ROOT_WARNING": "1", "BUNDLE_DISABLE_VERSION_CHECK": "1"})
        argv = [bundle, "install", "--no-color"]
        shipped_lock = (code / "Gemfile.lock").is_file()
        key, entry = await self._cache_entry(runtime, env, code, ["Gemfile", "Gemfile.lock"])
        async with self._lock(key):
            if entry.is_dir():
                await asyncio.to_thread(_restore, entry, code, None, "Gemfile.lock")
                if (entry / "bundle").is_dir():
                    await asyncio.to_thread(_link_tree, entry / "bundle", paths.deps)
                return f"Reusing cached dependencies (Gemfile, {key[:12]}).\n", ""
            paths.deps.mkdir(parents=True, exist_ok=True)
            out, err = await self._installer(argv, code, env, "bundle install")
            staging = _staging(entry)
            await asyncio.to_thread(
                _save, code, staging, None, "Gemfile.lock" if not shipped_lock else None
            )
            await asyncio.to_thread(_link_tree, paths.deps, staging / "bundle")
            await asyncio.to_thread(_publish, staging, entry)
            return out, err

    async def _install_deno(
        self, runtime: LocalRuntime, paths: BuildPaths, env: dict[str, str]
    ) -> tuple[str, str]:
        """`deno cache` of the entrypoint into the build's DENO_DIR: executions run with
        `--cached-only` and never fetch. Downloaded modules are cached by the function's
        `deno.json`/import map; the cache grows with what later builds download."""
        code = paths.code
        entrypoint = env.get("INTERNAL_RUNTIME_ENTRYPOINT", "")
        env = {**env, **deno_env(paths.deps), "RUST_BACKTRACE": "0"}
        version = await self._version(runtime, env)
        parts = [
            name.encode() + b"\0" + (code / name).read_bytes()
            for name in _DENO_MANIFESTS
            if (code / name).is_file()
        ]
        key = _digest(b"deno", version.encode(), *parts)
        entry = self.cache_dir / "deno" / key
        reused = False
        async with self._lock(key):
            if entry.is_dir():
                await asyncio.to_thread(_link_tree, entry, paths.deps)
                reused = True
            if not (code / entrypoint).is_file():
                return "", ""  # each execution then fails with the adapter's message
            argv = [runtime.interpreter, "cache", *deno_flags(code), "--", entrypoint]
            out, err = await self._installer(argv, code, env, f"deno cache {entrypoint}")
            staging = _staging(entry)
            await asyncio.to_thread(_save_deno, paths.deps, entry, staging)
        if reused and not err.strip():
            return f"Reusing cached dependencies (Deno modules, {key[:12]}).\n", ""
        return out, err

    async def _cache_entry(
        self, runtime: LocalRuntime, env: dict[str, str], code: Path, manifests: Sequence[str]
    ) -> tuple[str, Path]:
        """The dependency cache's key and folder for `code`: the interpreter's version and the
        contents of those of `manifests` that are present, in that order."""
        version = await self._version(runtime, env)
        parts = [(code / name).read_bytes() for name in manifests if (code / name).is_file()]
        key = _digest(runtime.language.encode(), version.encode(), *parts)
        return key, self.cache_dir / runtime.language / key

    async def _installer(
        self, argv: list[str], cwd: Path, env: dict[str, str], command: str
    ) -> tuple[str, str]:
        """Run an installer; a failure is an InstallError carrying its output."""
        code, out, err = await self._run(argv, cwd, env)
        if code != 0:
            raise InstallError(_failure(command, code, err if err.strip() else out), out)
        return out, err

    async def _version(self, runtime: LocalRuntime, env: dict[str, str]) -> str:
        cached = self._versions.get(runtime.interpreter)
        if cached is None:
            probe = ["-c", "import sys;print(sys.version)"]
            if runtime.language != "python":
                probe = ["-n", "--version"] if runtime.language == "php" else ["--version"]
            code, out, err = await self._run([runtime.interpreter, *probe], ".", env)
            if code != 0:
                raise InstallError(f"{runtime.interpreter} does not run: {err.strip()}", "")
            cached = self._versions[runtime.interpreter] = out.strip()
        return cached

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _run(
        self, argv: Sequence[str], cwd: Path | str, env: dict[str, str]
    ) -> tuple[int, str, str]:
        """Run a build command to completion; killed (whole tree) if cancelled."""
        loop = asyncio.get_running_loop()
        child = self.children.spawn(argv, cwd=str(cwd), env=env)
        assert child.popen.stdin and child.popen.stdout and child.popen.stderr
        child.popen.stdin.close()
        out, err = bytearray(), bytearray()
        closed: list[asyncio.Future[None]] = [loop.create_future(), loop.create_future()]

        def collect(buffer: bytearray) -> Callable[[bytes], None]:
            return lambda data: buffer.extend(data[: OUTPUT_LIMIT - len(buffer)])

        def eof(index: int) -> Callable[[], None]:
            def mark() -> None:
                if not closed[index].done():
                    closed[index].set_result(None)

            return mark

        transports = []
        try:
            transports.append(read_pipe(child.popen.stdout, collect(out), eof(0)))
            transports.append(read_pipe(child.popen.stderr, collect(err), eof(1)))
            code = await child.wait()
            await asyncio.wait(closed, timeout=2)
        finally:
            child.kill()
            for transport in transports:
                transport.close()
            for pipe in (child.popen.stdout, child.popen.stderr)[len(transports) :]:
                pipe.close()
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _failure(command: str, code: int, stderr: str) -> str:
    how = f"exited with code {code}" if code >= 0 else f"was killed by signal {-code}"
    return f"Installing dependencies failed: `{command}` {how}.\n{stderr}".rstrip() + "\n"


def _fresh_dir(paths: BuildPaths) -> None:
    shutil.rmtree(paths.root, ignore_errors=True)
    paths.code.mkdir(parents=True)


def _staging(entry: Path) -> Path:
    return entry.parent / f".tmp-{entry.name[:12]}-{secrets.token_hex(4)}"


def _publish(staging: Path, entry: Path) -> None:
    """Move a finished cache entry into place; another emulator may have been quicker."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    try:
        staging.rename(entry)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not entry.is_dir():
            raise


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path) -> None:
    """Hard-link copy: instant, shares no folder with the cache, survives the cache's deletion."""
    shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy, dirs_exist_ok=True)


def _save_node(code: Path, staging: Path, with_lock: bool) -> None:
    staging.mkdir(parents=True)
    if (code / "node_modules").is_dir():
        _link_tree(code / "node_modules", staging / "node_modules")
    if with_lock and (code / "package-lock.json").is_file():
        shutil.copy2(code / "package-lock.json", staging / "package-lock.json")


def _restore_node(entry: Path, code: Path, with_lock: bool) -> None:
    if (entry / "node_modules").is_dir():
        _link_tree(entry / "node_modules", code / "node_modules")
    if with_lock and (entry / "package-lock.json").is_file():
        with contextlib.suppress(FileExistsError):
            shutil.copy2(entry / "package-lock.json", code / "package-lock.json")


def _autoload_stub(code: Path) -> None:
    """`vendor/autoload.php` for a PHP function without composer.json, as 1.3's fallback gave."""
    autoload = code / "vendor" / "autoload.php"
    if not autoload.exists():
        autoload.parent.mkdir(parents=True, exist_ok=True)
        autoload.write_text(_AUTOLOAD_STUB, encoding="utf-8")


def _save(code: Path, staging: Path, folder: str | None, lock: str | None) -> None:
    """A cache entry: the installed `folder` of the code (hard links) and a generated lock file."""
    staging.mkdir(parents=True)
    if folder is not None and (code / folder).is_dir():
        _link_tree(code / folder, staging / folder)
    if lock is not None and (code / lock).is_file():
        shutil.copy2(code / lock, staging / lock)


def _restore(entry: Path, code: Path, folder: str | None, lock: str) -> None:
    if folder is not None and (entry / folder).is_dir():
        _link_tree(entry / folder, code / folder)
    if (entry / lock).is_file() and not (code / lock).exists():
        shutil.copy2(entry / lock, code / lock)


def _save_deno(deno_dir: Path, entry: Path, staging: Path) -> None:
    """Add what this build downloaded to the cache entry (files are never changed once there)."""
    if not entry.is_dir():
        staging.mkdir(parents=True)
        for name in _DENO_CACHED:
            if (deno_dir / name).is_dir():
                _link_tree(deno_dir / name, staging / name)
        _publish(staging, entry)
        return
    for name in _DENO_CACHED:
        if (deno_dir / name).is_dir():
            shutil.copytree(
                deno_dir / name,
                entry / name,
                symlinks=True,
                copy_function=_link_if_new,
                dirs_exist_ok=True,
            )


def _link_if_new(source: str, target: str) -> None:
    if not os.path.lexists(target):
        _link_or_copy(source, target)
