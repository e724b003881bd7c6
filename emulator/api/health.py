"""`GET /v1/health/version`: answered without auth, so tools can poll until the server is up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.api.endpoint import JSONResponse
from emulator.errors import APPWRITE_VERSION


async def get_version(request: Request) -> Response:
    return JSONResponse({"version": APPWRITE_VERSION})


routes = [Route("/v1/health/version", get_version, methods=["GET"])]
