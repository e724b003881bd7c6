"""Settings: built once from command-line flags > environment > defaults, then passed down.

This is the only module that reads `os.environ`.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8800
DEFAULT_PROJECT_ID = "emulator"
API_KEY_ENV = "APPWRITE_EMULATOR_API_KEY"
API_KEY_FILE = "api-key"
PROJECT_ENV = "APPWRITE_EMULATOR_PROJECT"
"""The pytest plugin's project folder (like `--appwrite-project`)."""
RESET_ENV = "APPWRITE_EMULATOR_RESET"
"""The pytest plugin's reset between tests (like `--appwrite-reset`)."""
DEFAULT_MAX_BODY_SIZE = 6 * 1024 * 1024
"""Largest request body, in bytes: what 1.3's HTTP server accepts (one 5 MiB upload chunk fits)."""
DEFAULT_MAX_HEADER_SIZE = 64 * 1024
"""Largest request line plus headers, in bytes (1.3's HTTP server has the same limit)."""


@dataclass(frozen=True)
class DebugTarget:
    """A function whose executions run under a debugger (`--debug FUNCTION_ID[:PORT]`)."""

    function_id: str
    port: int | None = None
    """The debugger's port on 127.0.0.1; None: the language's default (see `emulator.executor.debug`)."""


def parse_debug(value: str | Iterable[str | DebugTarget] | None) -> tuple[DebugTarget, ...]:
    """`--debug`'s value: `FUNCTION_ID[:PORT]`, comma-separated (or already a list of them).

    Raises:
        ValueError: an empty ID, a port that is not a number from 1 to 65535, or an ID or port
            given twice; the message names the part.
    """
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    targets: list[DebugTarget] = []
    for item in items:
        if isinstance(item, DebugTarget):
            targets.append(item)
            continue
        text = item.strip()
        if not text and isinstance(value, str):
            continue
        function_id, colon, port_text = text.partition(":")
        if not function_id:
            raise ValueError(f"{item!r} names no function (FUNCTION_ID[:PORT])")
        port = None
        if colon:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise ValueError(f"{item!r}: the port must be a number from 1 to 65535")
            port = int(port_text)
        targets.append(DebugTarget(function_id, port))
    ids = [t.function_id for t in targets]
    ports = [str(t.port) for t in targets if t.port is not None]
    for name, values in (("function", ids), ("port", ports)):
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise ValueError(f"the {name} {twice[0]} is listed twice")
    return tuple(targets)


@dataclass(frozen=True)
class Settings:
    """Everything the emulator needs to know, fixed for the life of one process."""

    project_dir: Path
    data_dir: Path
    project_id: str
    api_key: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    watch: bool = True
    runtimes: tuple[str, ...] = ()
    """Allow-list of runtime IDs (like `_APP_FUNCTIONS_RUNTIMES`); empty means every local one."""
    functions_timeout: int = 900
    max_deployment_size: int = 30_000_000
    worker_idle_timeout: float = 600.0
    worker_memory_mb: int = 1024
    rate_limit: bool = False
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed besides the loopback ones (`--cors-origin`); `*` allows any."""
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    max_header_size: int = DEFAULT_MAX_HEADER_SIZE
    debug: tuple[DebugTarget, ...] = ()
    """Functions whose executions run in one worker under a debugger (`--debug`)."""
    api_key_generated: bool = field(default=False, compare=False)
    worker_env: Mapping[str, str] = field(
        default_factory=lambda: worker_environment({}), compare=False, hash=False
    )
    """The only part of the emulator's environment that builds and workers see."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "cors_origins", tuple(map(normalize_origin, self.cors_origins)))

    def debugged(self, function_id: str) -> bool:
        """Whether the function runs under a debugger (`--debug`)."""
        return any(target.function_id == function_id for target in self.debug)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "emulator.sqlite3"

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}/v1"


def normalize_origin(origin: str) -> str:
    """A browser origin as browsers send it: lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


def worker_environment(env: Mapping[str, str]) -> dict[str, str]:
    """PATH, HOME and LANG of `env` (with defaults): nothing else of it reaches user code."""
    return {
        "PATH": env.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
        "HOME": env.get("HOME") or "/tmp",
        "LANG": env.get("LANG") or "C.UTF-8",
    }


def env_option(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """An option set in the environment (`os.environ` unless `env`), or None when unset or empty."""
    return (os.environ if env is None else env).get(name) or None


def project_id_from_appwrite_json(project_dir: Path) -> str | None:
    """The `projectId` of `PROJECT_DIR/appwrite.json`, or None when absent or unreadable."""
    try:
        data = json.loads((project_dir / "appwrite.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("projectId") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def resolve_api_key(
    explicit: str | None, data_dir: Path, env: Mapping[str, str]
) -> tuple[str, bool]:
    """The API key: the flag, else the environment, else the one kept in the data dir (made once).

    Returns:
        The key and whether it was generated just now.
    """
    if explicit:
        return explicit, False
    if env.get(API_KEY_ENV):
        return env[API_KEY_ENV], False
    key_file = data_dir / API_KEY_FILE
    try:
        stored = key_file.read_text(encoding="utf-8").strip()
    except OSError:
        stored = ""
    if stored:
        return stored, False
    key = "emu_" + secrets.token_hex(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file.write_text(key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    return key, True


def build_settings(
    project_dir: str | Path = ".",
    *,
    data_dir: str | Path | None = None,
    project_id: str | None = None,
    api_key: str | None = None,
    env: Mapping[str, str] | None = None,
    **options: object,
) -> Settings:
    """Resolve flags against the environment and defaults into one `Settings`.

    Args:
        project_dir: the project folder (holding `appwrite.json`, when there is one).
        data_dir: where the SQLite file and builds live; default `PROJECT_DIR/.appwrite-emulator`.
        project_id: default `appwrite.json`'s `projectId`, else `emulator`.
        api_key: default `$APPWRITE_EMULATOR_API_KEY`, else a key generated once and kept in the data dir.
        env: the environment to read (default `os.environ`).
        options: any other `Settings` field; `debug` may also be `parse_debug`'s text or list.
    """
    environ = os.environ if env is None else env
    project = Path(project_dir).resolve()
    data = Path(data_dir).resolve() if data_dir else project / ".appwrite-emulator"
    pid = project_id or project_id_from_appwrite_json(project) or DEFAULT_PROJECT_ID
    key, generated = resolve_api_key(api_key, data, environ)
    if "debug" in options:
        options["debug"] = parse_debug(options["debug"])  # type: ignore[arg-type]
    return Settings(
        project_dir=project,
        data_dir=data,
        project_id=pid,
        api_key=key,
        api_key_generated=generated,
        worker_env=worker_environment(environ),
        **options,  # type: ignore[arg-type]
    )
