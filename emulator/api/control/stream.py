"""Control routes: the live stream of what happens in the emulator, as server-sent events.

Every event the emulator emits (and every change it shows only to watchers: a build finished, an
execution started processing) becomes one message, shaped like a 1.3 realtime message:
`{"events": [...], "timestamp": ..., "payload": {...}}`, with the event expanded as 1.3 does.

A browser's `EventSource` cannot send headers, so the stream also takes a short-lived ticket in
its query string, obtained with the API key: the key itself never goes into a URL.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from emulator import events
from emulator.api.auth import authorize
from emulator.api.endpoint import Call, JSONResponse, endpoint
from emulator.backend.context import Context, Emitted
from emulator.errors import GeneralUnauthorizedScope, ProjectNotFound

TICKET_SECONDS = 60.0
"""How long a ticket may open streams (a stream once open lasts)."""
PING_SECONDS = 15.0
"""A comment line this often keeps proxies and the browser from closing an idle stream."""
QUEUE_SIZE = 1000
"""Messages one slow stream may fall behind before it is told to read everything again."""
RETRY_MS = 1000
"""How soon a browser reconnects after the stream dropped (an emulator restart)."""


class Tickets:
    """Random tickets that let a stream open without the key; valid `TICKET_SECONDS`."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def issue(self) -> tuple[str, float]:
        now = self._clock()
        self._expiry = {t: e for t, e in self._expiry.items() if e > now}  # forget expired ones
        ticket = secrets.token_urlsafe(24)
        self._expiry[ticket] = now + TICKET_SECONDS
        return ticket, TICKET_SECONDS

    def valid(self, ticket: str) -> bool:
        expiry = self._expiry.get(ticket)
        return expiry is not None and expiry > self._clock()


def encode(event: Emitted, sequence: int) -> bytes:
    """One server-sent event: the expanded names, when, and the payload, as JSON."""
    message = {
        "events": events.expand_event(event.pattern, event.params),
        "timestamp": time.time(),
        "payload": event.payload,
    }
    data = json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"id: {sequence}\ndata: {data}\n\n".encode()


class Hub:
    """Fans the context's events out to every open stream; watches the context only while at
    least one stream is open, so nothing is encoded when nobody listens."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tickets = Tickets()
        self._queues: set[asyncio.Queue[bytes]] = set()
        self._unwatch: Callable[[], None] | None = None
        self._sequence = 0

    def open(self) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        if self._unwatch is None:
            self._unwatch = self.ctx.watch(self._on_event)
        return queue

    def close(self, queue: asyncio.Queue[bytes]) -> None:
        self._queues.discard(queue)
        if not self._queues and self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _on_event(self, event: Emitted) -> None:
        self._sequence += 1
        message = encode(event, self._sequence)
        for queue in self._queues:
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                # Too far behind: drop what waits and tell the page to read everything again.
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(b"event: resync\ndata: {}\n\n")

    @property
    def streams(self) -> int:
        return len(self._queues)


def hub_of(request: Request) -> Hub:
    """The app's hub, made on first use."""
    state = request.app.state
    hub: Hub | None = getattr(state, "live_hub", None)
    if hub is None or hub.ctx is not state.ctx:
        hub = state.live_hub = Hub(state.ctx)
    return hub


@endpoint("emulator.write")
async def create_ticket(call: Call) -> Response:
    """A ticket for `GET /v1/emulator/stream?ticket=...` (what a browser's EventSource can send)."""
    ticket, seconds = hub_of(call.request).tickets.issue()
    return JSONResponse({"ticket": ticket, "expiresIn": seconds}, status_code=201)


def _check_access(request: Request, hub: Hub) -> None:
    """The API key (headers), or the project and a valid ticket (query string).

    Raises:
        ProjectNotFound, GeneralUnauthorizedScope: as every control route.
    """
    settings = hub.ctx.settings
    if request.headers.get("x-appwrite-key"):
        authorize(request, settings, "emulator.write")
        return
    project = request.headers.get("x-appwrite-project") or request.query_params.get("project")
    if project and project != settings.project_id:
        raise ProjectNotFound()
    if not project or not hub.tickets.valid(request.query_params.get("ticket", "")):
        raise GeneralUnauthorizedScope("User (role: guests) missing scope (emulator.write)")


async def _messages(hub: Hub, stopping: asyncio.Event | None) -> AsyncIterator[bytes]:
    """The stream's body: a `ready` event, then every message, a ping when idle; it ends when
    the client goes away or the server stops."""
    queue = hub.open()  # here, not before: a body never started would never close it
    stop = asyncio.ensure_future(stopping.wait()) if stopping is not None else None
    get: asyncio.Future[bytes] | None = None
    try:
        yield f"retry: {RETRY_MS}\nevent: ready\ndata: {{}}\n\n".encode()
        while True:
            get = asyncio.ensure_future(queue.get())
            waits = {get, stop} if stop is not None else {get}
            done, _ = await asyncio.wait(waits, timeout=PING_SECONDS, return_when="FIRST_COMPLETED")
            if get in done:
                yield get.result()
                continue
            get.cancel()
            if stop is not None and stop in done:
                return
            yield b": ping\n\n"
    finally:
        for waiting in (get, stop):
            if waiting is not None:
                waiting.cancel()
        hub.close(queue)


async def stream(request: Request) -> Response:
    """`text/event-stream` of every event from now on; a `ready` event opens it."""
    hub = hub_of(request)
    _check_access(request, hub)
    # The server sets it as its shutdown begins (emulator.server.STOPPING): the stream ends then.
    stopping = getattr(request.state, "server_stopping", None)
    return StreamingResponse(
        _messages(hub, stopping if isinstance(stopping, asyncio.Event) else None),
        media_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-cache, no-store", "X-Accel-Buffering": "no"},
    )


routes: list[BaseRoute] = [
    Route("/v1/emulator/stream/tickets", create_ticket, methods=["POST"]),
    Route("/v1/emulator/stream", stream, methods=["GET"]),
]
