"""HTTP handler of `GET /v1/functions/runtimes`."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from emulator.api.endpoint import Call, JSONResponse, endpoint
from emulator.models import list_document


@endpoint("functions.read")
async def list_runtimes(call: Call) -> Response:
    runtimes = [r.runtime.to_document() for r in call.ctx.runtimes.values()]
    return JSONResponse(list_document("runtimes", len(runtimes), runtimes))


routes = [Route("/v1/functions/runtimes", list_runtimes, methods=["GET"])]
