"""create_app(settings): the Starlette application, its routes, error rendering and lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Callable, Collection

from starlette.applications import Starlette
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.api import control, deployments, executions, functions, health, runtimes, variables
from emulator.api.console import ServeConsole
from emulator.api.endpoint import error_response
from emulator.api.executions import ExecutionsFastPath
from emulator.api.limits import BodyLimit
from emulator.api.origins import origin_allowed
from emulator.api.ratelimit import RateLimiter
from emulator.backend.context import Context
from emulator.backend.debug import start_debugging
from emulator.backend.deployments import resume_builds
from emulator.backend.executions import fail_interrupted
from emulator.config import Settings
from emulator.errors import AppwriteException, GeneralRouteNotFound, GeneralUnknown
from emulator.executor import Executor
from emulator.executor.discovery import LocalRuntime, discover
from emulator.project.sync import start_project
from emulator.server import STOPPING
from emulator.store.db import Database
from emulator.triggers.dispatch import Dispatcher
from emulator.triggers.scheduler import Scheduler

logger = logging.getLogger("emulator")

ALLOW_HEADERS = (
    "Origin, Cookie, Set-Cookie, X-Requested-With, Content-Type, Access-Control-Allow-Origin, "
    "Access-Control-Request-Headers, Accept, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Locale, "
    "X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, X-SDK-Version, X-SDK-Name, "
    "X-SDK-Language, X-SDK-Platform, X-SDK-GraphQL, X-Appwrite-ID, Content-Range, Range, "
    "Cache-Control, Expires, Pragma, X-Fallback-Cookies"
)


_HEADERS_BEFORE_ORIGIN = [(b"server", b"Appwrite"), (b"x-content-type-options", b"nosniff")]
_HEADERS_AFTER_ORIGIN = [
    (b"access-control-allow-credentials", b"true"),
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE"),
    (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
    (b"access-control-expose-headers", b"X-Fallback-Cookies"),
    (b"x-debug-fallback", b"false"),
]
_ADDED_HEADERS_NO_ORIGIN = frozenset(
    name for name, _ in _HEADERS_BEFORE_ORIGIN + _HEADERS_AFTER_ORIGIN
)
_ADDED_HEADERS = _ADDED_HEADERS_NO_ORIGIN | {b"access-control-allow-origin"}


class AppwriteHeaders:
    """Every response gets Appwrite's headers, with CORS for the allowed origins (README
    "Browsers and CORS"); `OPTIONS` is answered 204; a trailing slash is ignored."""

    def __init__(self, app: ASGIApp, cors_origins: Collection[str] = ()) -> None:
        self.app = app
        self.cors_origins = cors_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        origin = Headers(scope=scope).get("origin")
        # No Origin: not a browser, nothing to protect. A browser origin is reflected only when
        # allowed; for any other, the browser keeps the answer from the page.
        allow = (
            "*" if origin is None else origin if origin_allowed(origin, self.cors_origins) else ""
        )

        def decorate(headers: MutableHeaders) -> None:
            # One pass over the raw list (setting each header in turn scans it each time).
            added = _ADDED_HEADERS if allow else _ADDED_HEADERS_NO_ORIGIN
            raw = [pair for pair in headers.raw if pair[0] not in added]
            raw += _HEADERS_BEFORE_ORIGIN
            if allow:
                raw.append((b"access-control-allow-origin", allow.encode("latin-1")))
            raw += _HEADERS_AFTER_ORIGIN
            headers.raw[:] = raw

        if scope["method"] == "OPTIONS":
            response = Response(status_code=204, media_type="text/html; charset=UTF-8")
            decorate(response.headers)
            await response(scope, receive, send)
            return

        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                decorate(MutableHeaders(scope=message))
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # An unexpected error: 1.3's 500 "Server Error", with the traceback in our log.
            logger.exception("Unexpected error on %s %s", scope["method"], scope["path"])
            if started:
                raise
            await error_response(GeneralUnknown())(scope, receive, send_with_headers)


async def on_appwrite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppwriteException)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    # Starlette raises 404 for unknown paths and 405 for known paths with another method;
    # Appwrite answers both with general_route_not_found.
    return error_response(GeneralRouteNotFound())


async def _shut_down(*steps: Callable[[], object]) -> None:
    """Run every shutdown step, even when one fails or is cancelled (a second Ctrl-C): skipping
    the rest would leave workers running and the database open."""
    for step in steps:
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except BaseException:  # shutting down: log it and go on with the next step
            logger.exception("Shutdown step %s failed", getattr(step, "__qualname__", step))


def create_app(
    settings: Settings, local_runtimes: dict[str, LocalRuntime] | None = None
) -> Starlette:
    """The emulator as an ASGI app; its lifespan opens the database and stops everything it started.

    Args:
        settings: the resolved configuration.
        local_runtimes: the runtimes to offer (default: discovered on this machine).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, asyncio.Event]]:
        db = await Database.open(settings.database_path)
        found = local_runtimes if local_runtimes is not None else discover(settings.runtimes)
        executor = Executor(
            builds_dir=settings.data_dir / "builds",
            cache_dir=settings.data_dir / "cache",
            idle_timeout=settings.worker_idle_timeout,
            memory_mb=settings.worker_memory_mb,
            max_archive_bytes=settings.max_deployment_size,
            log=logging.getLogger("emulator.workers"),
            base_env=settings.worker_env,
            debug=settings.debug,
            debug_dir=settings.data_dir / "debug",
        )
        await executor.start()
        ctx = Context(settings=settings, db=db, runtimes=found, executor=executor)
        app.state.ctx = ctx
        app.state.dispatcher = Dispatcher(ctx)
        app.state.scheduler = Scheduler(ctx)
        await fail_interrupted(ctx)
        await resume_builds(ctx)
        await app.state.scheduler.start()
        app.state.project = await start_project(ctx)
        app.state.debugging = await start_debugging(ctx)
        try:
            yield {
                STOPPING: asyncio.Event()
            }  # set by the server as it stops (the live streams end)
        finally:
            await _shut_down(
                app.state.project.close,
                app.state.scheduler.close,
                app.state.dispatcher.close,
                ctx.tasks.close,
                lambda: fail_interrupted(ctx),
                executor.close,
                db.close,  # last: its thread would keep the process alive
            )

    app = Starlette(
        routes=[
            # Tried in order: executions first, the hot path (no other route matches their paths).
            *executions.routes,
            *health.routes,
            *runtimes.routes,  # before /functions/{functionId}: more specific wins, as in 1.3
            *functions.routes,
            *variables.routes,
            *deployments.routes,
            *control.routes,
        ],
        exception_handlers={
            AppwriteException: on_appwrite_error,
            HTTPException: on_http_error,
        },
        lifespan=lifespan,
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit)
    app.add_middleware(ExecutionsFastPath)  # innermost: past the body cap and the headers
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_size)
    app.add_middleware(AppwriteHeaders, cors_origins=settings.cors_origins)
    app.add_middleware(ServeConsole)  # outermost: the console's pages get no CORS headers
    return app
