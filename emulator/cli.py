"""The command line: `appwrite-emulator serve ...` (== `python -m emulator serve ...`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from emulator import __version__
from emulator.app import create_app
from emulator.config import (
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_SIZE,
    DEFAULT_PORT,
    DebugTarget,
    Settings,
    build_settings,
    parse_debug,
)
from emulator.executor.debug import MISSING_DEBUGPY, debugpy_package
from emulator.server import Server, bind, server_config

logger = logging.getLogger("emulator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appwrite-emulator",
        description="A local emulator of the Appwrite 1.3 Functions API.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve the Functions API for a project folder",
        description="Serve the Appwrite 1.3 Functions API for PROJECT_DIR.",
    )
    serve.add_argument(
        "project_dir",
        nargs="?",
        default=".",
        metavar="PROJECT_DIR",
        help="the project folder, holding appwrite.json when there is one (default: .)",
    )
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"interface to bind (default: {DEFAULT_HOST})"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to bind; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--data-dir",
        help="where the SQLite file, uploads and builds live (default: PROJECT_DIR/.appwrite-emulator)",
    )
    serve.add_argument(
        "--project-id",
        help="the project ID clients must send (default: appwrite.json's projectId, else 'emulator')",
    )
    serve.add_argument(
        "--api-key",
        help="the API key that has every scope (default: $APPWRITE_EMULATOR_API_KEY, else one "
        "generated on first start and kept in the data dir)",
    )
    serve.add_argument(
        "--no-watch",
        action="store_true",
        help="do not redeploy functions when their folder changes",
    )
    serve.add_argument(
        "--runtimes",
        default="",
        help="comma-separated runtime IDs to offer, like _APP_FUNCTIONS_RUNTIMES (default: every "
        "runtime with a local interpreter)",
    )
    serve.add_argument(
        "--max-deployment-size",
        type=int,
        default=30_000_000,
        metavar="BYTES",
        help="largest deployment archive accepted, like _APP_FUNCTIONS_SIZE_LIMIT (default: 30000000)",
    )
    serve.add_argument(
        "--worker-idle-timeout",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="stop a warm worker after this long without executions (default: 600)",
    )
    serve.add_argument(
        "--worker-memory",
        type=int,
        default=1024,
        metavar="MB",
        help="memory cap of each worker process, enforced by the OS (default: 1024)",
    )
    serve.add_argument(
        "--rate-limit",
        action="store_true",
        help="enforce 1.3's limit of 60 executions per minute per IP for callers without the key",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin (scheme://host[:port]) allowed besides localhost, 127.0.0.1 and "
        "[::1] on any port; repeatable; '*' allows any (default: loopback origins only)",
    )
    serve.add_argument(
        "--max-body-size",
        type=int,
        default=DEFAULT_MAX_BODY_SIZE,
        metavar="BYTES",
        help=f"largest request body accepted, larger ones get 413 (default: {DEFAULT_MAX_BODY_SIZE})",
    )
    serve.add_argument(
        "--debug",
        action="append",
        default=[],
        metavar="FUNCTION_ID[:PORT]",
        help="run these functions (comma-separated) in one worker each under a debugger on "
        "127.0.0.1: Node's inspector (default port 9229) or debugpy (5678); the n-th function "
        "listed gets the default port + n - 1 unless given one",
    )
    serve.add_argument(
        "--log-level",
        default="warning",
        choices=["debug", "info", "warning", "error"],
        help="level of the emulator's internal log (default: warning); project problems, reloads "
        "and executions are always shown, one line each",
    )
    return parser


def banner(settings: Settings, debugging: Sequence[str] = ()) -> str:
    """The start-up banner; `debugging` says where to attach to each debugged function."""
    lines = [
        "Appwrite Functions emulator (Appwrite 1.3.8 API) is running",
        f"  Endpoint:   {settings.endpoint}",
        f"  Console:    {settings.endpoint.removesuffix('/v1')}/console",
        f"  Project ID: {settings.project_id}",
        f"  API key:    {settings.api_key}"
        + ("  (generated, kept in the data dir)" if settings.api_key_generated else ""),
        f"  Data dir:   {settings.data_dir}",
        *(
            f"  {'Debugging:' if i == 0 else ''.ljust(10)}  {line}"
            for i, line in enumerate(debugging)
        ),
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def serve(settings: Settings, log_level: str = "info") -> int:
    """Run the server until Ctrl-C / SIGTERM. Returns the exit code."""
    try:
        sock = bind(settings.host, settings.port)
    except OSError as exc:
        print(
            f"appwrite-emulator: cannot listen on {settings.host}:{settings.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    settings = replace(settings, port=sock.getsockname()[1])
    app = create_app(settings)
    # Requests still running 2 s after Ctrl-C/SIGTERM are cancelled (their executions are
    # recorded as failed), so a long function never holds the shutdown up.
    config = server_config(
        app,
        max_header_size=settings.max_header_size,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )

    def on_started() -> None:
        debugging: list[str] = getattr(app.state, "debugging", [])  # set by the lifespan
        print(banner(settings, debugging), flush=True)

    server = Server(config, on_started=on_started)
    server.run(sockets=[sock])
    return 0 if server.started else 1


def configure_logging(level: str) -> None:
    """Internal logs at `level`, with their origin; the dev-server lines (`emulator.dev`: project
    problems, reloads, executions) always, as plain timestamped lines."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    terminal = logging.getLogger("emulator.dev")
    if not terminal.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", datefmt="%H:%M:%S"))
        terminal.addHandler(handler)
    terminal.setLevel(logging.INFO)
    terminal.propagate = False
    # Neither format shows where a record was made or by which thread or process: skip finding
    # out (a stack walk per record, and one record per execution).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    project_dir = Path(args.project_dir)
    if not project_dir.is_dir():
        # A typo must not become a new, empty project: say so and create nothing.
        problem = "is not a folder" if project_dir.exists() else "does not exist"
        parser.exit(2, f"appwrite-emulator: error: the project folder {project_dir} {problem}\n")
    try:
        debug = parse_debug(",".join(args.debug))
    except ValueError as exc:
        parser.error(f"argument --debug: {exc}")
    debug_error = debug_problem(project_dir, debug)
    if debug_error:
        parser.exit(2, f"appwrite-emulator: error: {debug_error}\n")
    configure_logging(args.log_level)
    settings = build_settings(
        args.project_dir,
        data_dir=args.data_dir,
        project_id=args.project_id,
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        watch=not args.no_watch,
        runtimes=tuple(r.strip() for r in args.runtimes.split(",") if r.strip()),
        max_deployment_size=args.max_deployment_size,
        worker_idle_timeout=args.worker_idle_timeout,
        worker_memory_mb=args.worker_memory,
        rate_limit=args.rate_limit,
        cors_origins=tuple(args.cors_origin),
        max_body_size=args.max_body_size,
        debug=debug,
    )
    return serve(settings, args.log_level)


def debug_problem(project_dir: Path, debug: Sequence[DebugTarget]) -> str | None:
    """Why `--debug` cannot work, as far as `appwrite.json` tells: a Python function listed
    without debugpy installed."""
    if not debug or debugpy_package() is not None:
        return None
    try:
        data = json.loads((project_dir / "appwrite.json").read_text(encoding="utf-8"))
        functions = [f for f in data.get("functions", []) if isinstance(f, dict)]
    except (OSError, ValueError, AttributeError):
        return None
    python = {f.get("$id") for f in functions if str(f.get("runtime", "")).startswith("python-")}
    for target in debug:
        if target.function_id in python:
            return f"--debug {target.function_id}: {MISSING_DEBUGPY}"
    return None


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
