"""The wrapper every API operation goes through: origin and auth, then parameters, then the
handler."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.auth import Caller, authorize
from emulator.api.origins import check_origin
from emulator.api.params import Param, read_params, validate
from emulator.backend.context import Context
from emulator.errors import AppwriteException

NO_CACHE = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Expires": "0",
    "Pragma": "no-cache",
}
# 1.3 passes these codes through; any other code is rendered as a 500 "Server Error".
PASS_THROUGH = {400, 401, 402, 403, 404, 409, 412, 416, 429, 501, 503}


class JSONResponse(Response):
    """Appwrite's JSON: raw unicode, compact, `application/json; charset=UTF-8`."""

    media_type = "application/json; charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(exc: AppwriteException) -> Response:
    body = exc.to_json()
    if exc.code not in PASS_THROUGH:
        body["message"] = "Server Error"
        body["code"] = 500
    headers = {**NO_CACHE, **exc.headers}
    return JSONResponse(body, status_code=int(body["code"]), headers=headers)  # type: ignore[call-overload]


def no_content() -> Response:
    # The Python SDK reads Content-Type on every response, 204s included (CLIENTS.md).
    return Response(status_code=204, media_type="text/html; charset=UTF-8")


@dataclass(frozen=True)
class Call:
    """One validated API call, as a handler sees it."""

    request: Request
    ctx: Context
    caller: Caller
    params: dict[str, Any]


Handler = Callable[[Call], Awaitable[Response]]


ParamSpecs = Sequence[Param] | Callable[[Context], Sequence[Param]]
Route = Callable[[Request], Awaitable[Response]]


def endpoint(
    scope: str, params: ParamSpecs = (), *, rate_limited: bool = False
) -> Callable[[Handler], Route]:
    """Declare an operation: the scope it needs and its parameters in 1.3's declared order.

    `params` may be a function of the context, for rules that depend on settings (the runtime
    whitelist, the timeout maximum). `rate_limited` applies 1.3's abuse limit (after auth,
    before parameters, as in 1.3) and sends its `X-RateLimit-*` headers.
    """

    def wrap(handler: Handler) -> Route:
        async def route(request: Request) -> Response:
            ctx: Context = request.app.state.ctx
            check_origin(request, ctx.settings)
            caller = authorize(request, ctx.settings, scope)
            limits: dict[str, str] = {}
            if rate_limited:
                ip = request.client.host if request.client else ""
                key = f"ip:{ip},userId:{caller.user_id}"
                limits = request.app.state.rate_limiter.hit(key, exempt=caller.is_key)
            raw = await read_params(request)
            raw.update(request.path_params)
            specs = params(ctx) if callable(params) else params
            try:
                response = await handler(Call(request, ctx, caller, validate(raw, specs)))
            except AppwriteException as exc:
                exc.headers.update(limits)  # 1.3 sets them before the action, errors included
                raise
            response.headers.update(limits)
            return response

        route.__name__ = handler.__name__
        route.__doc__ = handler.__doc__
        return route

    return wrap
