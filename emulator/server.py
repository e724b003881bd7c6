"""Serving the app with uvicorn on a socket bound here: in the foreground (the CLI) or from a
background thread with its own event loop (`emulator.testing`).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on `host`:`port` (0 picks a free port).

    Raises:
        OSError: the address is taken or not ours.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets whose proto says TCP,
    # and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


STOPPING = "server_stopping"
"""Key of the app's lifespan state under which an `asyncio.Event` is set as soon as the server
starts shutting down, before it waits for open connections: responses that never end by
themselves (the console's live stream) end on it instead of holding the shutdown up."""


class Server(uvicorn.Server):
    """uvicorn's server that exits cleanly on a signal, calls `on_started` once it listens, and
    sets the lifespan state's `STOPPING` event when its shutdown begins."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None):
        super().__init__(config)
        self._on_started = on_started

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signal after shutting down; a clean stop exits 0 instead.
        self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stopping = self.lifespan.state.get(STOPPING) if hasattr(self, "lifespan") else None
        if isinstance(stopping, asyncio.Event):
            stopping.set()
        await super().shutdown(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self._on_started is not None:
            self._on_started()


class ServerThread:
    """`app` served on `sock` from a daemon thread; `start` returns once it answers requests.

    The app's lifespan runs in that thread's event loop, so whatever it starts (workers, builds)
    belongs to that loop and is stopped by `stop`. Signals and logging setup are left alone.
    """

    def __init__(self, app: ASGIApp, sock: socket.socket, *, name: str = "appwrite-emulator"):
        self._app = app
        self._startup_failure = ""
        config = uvicorn.Config(
            self._serve,
            interface="asgi3",
            lifespan="on",
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        self._sock = sock
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._server = Server(config, on_started=self._ready.set)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            return await self._app(scope, receive, send)

        async def note_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                self._startup_failure = str(message.get("message", ""))
            await send(message)

        await self._app(scope, receive, note_failure)

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # SystemExit when the startup fails: reported by start()
            self._error = exc
        finally:
            self._sock.close()
            self._ready.set()

    def start(self, timeout: float = 60.0) -> None:
        """Start serving and wait until the app has started.

        Raises:
            RuntimeError: the app's startup failed or took longer than `timeout` seconds.
        """
        self._thread.start()
        if not self._ready.wait(timeout) or not self._server.started:
            self.stop()
            lines = self._startup_failure.strip().splitlines()  # a traceback: the error is last
            reason = lines[-1] if lines else repr(self._error) if self._error else "timed out"
            raise RuntimeError(f"The emulator did not start: {reason}")

    def stop(self, timeout: float = 60.0) -> None:
        """Shut down (the lifespan stops what the app started) and wait for the thread to end."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
