"""How a worker of each language is started: the command line and the environment it adds.

The memory cap is always the OS limit the executor sets (RLIMIT_DATA); each language also gets its
own, lower, limit where it has one, so that running out of memory ends with the language's own
clear message: V8's heap limit (Node, Deno), PHP's `memory_limit`. Python and Ruby raise
`MemoryError` / `NoMemoryError` when the OS refuses memory, which fails that execution only.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.executor.discovery import adapter_path
from emulator.executor.protocol import worker_arguments

if TYPE_CHECKING:  # debug.py imports builds.py, which imports this module
    from emulator.executor.debug import DebugLaunch

PHP_ERROR_REPORTING = 24575
"""E_ALL without E_DEPRECATED: what PHP 8.0/8.1 reported for 1.3's code, without what a newer local
PHP deprecates."""


DENO_LAUNCHER = 'exec "$@" 1>&{fd} {fd}>/dev/null'
"""Puts the reply pipe (fd 3) on the Deno worker's stdout and /dev/null on fd 3."""


DENO_MIN_OS_MEMORY_MB = 1024
"""Deno's V8 cannot even start under a smaller data limit (its code range reservation): its OS cap
is at least this, and its heap limit enforces the configured memory."""


@dataclass(frozen=True)
class WorkerCommand:
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    min_os_memory_mb: int = 0
    """The lowest OS memory cap (RLIMIT_DATA) the worker can start under."""


def language_heap_mb(memory_mb: int) -> int:
    """The language's own memory limit: below the OS cap, which also counts the interpreter."""
    return max(32, memory_mb * 3 // 4)


def deno_config(code_dir: Path) -> Path | None:
    """The function's own `deno.json` / `deno.jsonc`, if it has one."""
    for name in ("deno.json", "deno.jsonc"):
        if (code_dir / name).is_file():
            return code_dir / name
    return None


def deno_flags(code_dir: Path) -> list[str]:
    """Flags shared by `deno cache` and `deno run`: the function's config, or none at all (never a
    `deno.json` of a folder above the build)."""
    config = deno_config(code_dir)
    return ["--config", str(config)] if config else ["--no-config"]


def deno_env(deno_dir: Path) -> dict[str, str]:
    return {
        "DENO_DIR": str(deno_dir),
        "DENO_NO_UPDATE_CHECK": "1",
        "DENO_NO_PROMPT": "1",
        "NO_COLOR": "1",
    }


def gemfile_env(code_dir: Path, bundle_dir: Path) -> dict[str, str]:
    """Bundler's settings for a function with a Gemfile: its gems live in the build."""
    return {
        "BUNDLE_GEMFILE": str(code_dir / "Gemfile"),
        "BUNDLE_PATH": str(bundle_dir),
        "BUNDLE_APP_CONFIG": str(bundle_dir / ".bundle-config"),
    }


def worker_command(
    language: str,
    interpreter: str,
    *,
    code_dir: Path,
    deps_dir: Path,
    entrypoint: str,
    memory_mb: int,
    reply_fd: int = 3,
    debug: DebugLaunch | None = None,
) -> WorkerCommand:
    """The command that starts a worker of `language` for one build.

    Args:
        reply_fd: where the worker finds its reply pipe (3 when the executor starts it).
        debug: run under the language's debugger (Python and Node; others run without one).

    Raises:
        ValueError: the language has no adapter here.
    """
    common = worker_arguments(code_dir=str(code_dir), entrypoint=entrypoint)
    heap = language_heap_mb(memory_mb)
    if language == "python":
        deps = str(deps_dir) if deps_dir.is_dir() else None
        argv = [interpreter, "-s", str(adapter_path("python"))]
        argv += worker_arguments(
            code_dir=str(code_dir),
            entrypoint=entrypoint,
            deps_dir=deps,
            debug_port=debug.port if debug else None,
            debugger_path=debug.debugger_path if debug else None,
        )
        return WorkerCommand(tuple(argv))
    if language == "node":
        # V8 stops at its own heap limit (a clear "heap out of memory") before the OS cap.
        argv = [interpreter, f"--max-old-space-size={heap}", *(debug.node_flags() if debug else ())]
        argv += [str(adapter_path("node")), *common]
        return WorkerCommand(tuple(argv))
    if language == "php":
        settings = {
            "display_errors": "1",  # warnings go to the output, so to stdout, as in 1.3
            "html_errors": "0",
            "log_errors": "0",
            "error_reporting": str(PHP_ERROR_REPORTING),
            "memory_limit": f"{heap}M",
        }
        argv = [interpreter]
        for name, value in settings.items():
            argv += ["-d", f"{name}={value}"]
        return WorkerCommand((*argv, str(adapter_path("php")), *common))
    if language == "ruby":
        if (code_dir / "Gemfile").is_file():
            # As 1.3 ran it under `bundle exec`: the Gemfile's gems can be required.
            argv = [interpreter, "-rbundler/setup", str(adapter_path("ruby")), *common]
            return WorkerCommand(tuple(argv), gemfile_env(code_dir, deps_dir))
        # Without a Gemfile only the standard library is there (1.3's bundle had no other gems),
        # and RubyGems is not loaded: a start-up four times faster.
        argv = [interpreter, "--disable-gems", str(adapter_path("ruby")), *common]
        return WorkerCommand(tuple(argv))
    if language == "deno":
        # Deno cannot write to an inherited pipe by its number: the reply pipe becomes its stdout.
        launcher = [
            shutil.which("sh") or "/bin/sh",
            "-c",
            DENO_LAUNCHER.format(fd=reply_fd),
            "appwrite-deno-worker",
        ]
        argv = [*launcher, interpreter, "run", "--quiet", "--cached-only", *deno_flags(code_dir)]
        # 1.3's permissions: no --allow-run, --allow-ffi or --allow-sys.
        argv += ["--allow-read", "--allow-write", "--allow-env", "--allow-net"]
        argv += [f"--v8-flags=--max-old-space-size={heap}", str(adapter_path("deno")), *common]
        return WorkerCommand(tuple(argv), deno_env(deps_dir), DENO_MIN_OS_MEMORY_MB)
    raise ValueError(f"no worker adapter for {language!r}")
