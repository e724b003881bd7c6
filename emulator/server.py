"""Serving the app with uvicorn on a socket bound here: in the foreground (the CLI) or from a
background thread with its own event loop (`emulator.testing`).

Both use `server_config`: uvicorn's httptools protocol with a cap on the request line and headers
(431 past it, see README "Limits"), and no `Server` header of uvicorn's own (the app sends 1.3's).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from emulator.config import DEFAULT_MAX_HEADER_SIZE
from emulator.errors import GeneralRequestHeadersTooLarge


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


class HeaderLimitedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, refusing a request whose line and headers pass
    `max_header_size` bytes with 431 as soon as they do (httptools itself has no limit, and
    buffers a header value by repeated concatenation: a 50 MB header held up the server ~3 s).

    A request line and headers that arrive whole are measured when parsed; while they are still
    incomplete, the bytes received so far are counted, which holds the cap to within one read
    (at most 256 KiB).
    """

    max_header_size = DEFAULT_MAX_HEADER_SIZE

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = True
        self._head_bytes = 0
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        in_head_before = self._in_head
        super().data_received(data)
        if in_head_before and self._in_head:
            self._head_bytes += len(data)
            self._refused = self._head_bytes > self.max_header_size
        if self._refused and not self.transport.is_closing():
            self._refuse()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        self._refused = self._refused or size > self.max_header_size
        if not self._refused:
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._refused:
            super().on_message_complete()
        self._in_head = True

    def _refuse(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # pipelined: the request before it has not been answered yet
            return
        error = GeneralRequestHeadersTooLarge(
            "The request line and headers are larger than the server accepts "
            f"({self.max_header_size} bytes)."
        )
        body = json.dumps(error.to_json()).encode()
        head = [b"HTTP/1.1 431 Request Header Fields Too Large\r\n"]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head += [
            b"server: Appwrite\r\n",
            b"content-type: application/json; charset=UTF-8\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def server_config(app: ASGIApp, *, max_header_size: int, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the emulator: `options` plus the header cap and no `Server`
    header of uvicorn's own."""
    protocol = type(
        "HeaderLimitedProtocol", (HeaderLimitedProtocol,), {"max_header_size": max_header_size}
    )
    return uvicorn.Config(app, http=protocol, server_header=False, **options)


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

    def __init__(
        self,
        app: ASGIApp,
        sock: socket.socket,
        *,
        name: str = "appwrite-emulator",
        max_header_size: int = DEFAULT_MAX_HEADER_SIZE,
    ):
        self._app = app
        self._startup_failure = ""
        config = server_config(
            self._serve,
            max_header_size=max_header_size,
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
