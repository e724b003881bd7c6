"""The request body cap, enforced before and while a body is read (README "Limits").

A declared `Content-Length` over the cap is answered 413 before any of the body is read; a body
without one (chunked transfer) is counted as it arrives and cut off once it passes the cap.
Either way the connection is closed after the answer, so the rest is never read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.api.endpoint import JSONResponse
from emulator.errors import GeneralRequestBodyTooLarge


class _BodyTooLarge(Exception):
    """Raised from `receive` once the body passes the cap: unwinds whatever was reading it."""


def too_large(max_bytes: int) -> JSONResponse:
    error = GeneralRequestBodyTooLarge(
        f"The request body is larger than the server accepts ({max_bytes} bytes)."
    )
    return JSONResponse(error.to_json(), status_code=error.code, headers={"Connection": "close"})


class BodyLimit:
    """ASGI middleware: bodies of at most `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit():
            if int(declared) > self.max_bytes:
                await too_large(self.max_bytes)(scope, receive, send)
            else:  # the server reads no more than the declared length: nothing to count
                await self.app(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await too_large(self.max_bytes)(scope, receive, send)
