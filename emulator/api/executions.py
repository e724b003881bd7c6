"""HTTP handlers of the execution operations."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.api.endpoint import Call, JSONResponse, endpoint, error_response
from emulator.api.functions import FUNCTION_ID, QUERIES, SEARCH
from emulator.api.params import Param
from emulator.backend import executions as backend
from emulator.errors import AppwriteException
from emulator.models import list_document
from emulator.queries import EXECUTIONS_SCHEMA, parse_queries
from emulator.validators import UID, Boolean, Text, to_bool


@endpoint(
    "execution.write",
    [
        FUNCTION_ID,
        Param("data", Text(8192), optional=True, default=""),
        Param("async", Boolean(), optional=True, default=False, convert=to_bool),
    ],
    rate_limited=True,
)
async def create_execution(call: Call) -> Response:
    p = call.params
    execution = await backend.create_execution(
        call.ctx,
        p["functionId"],
        data=p["data"],
        run_async=p["async"],
        roles=call.caller.roles,
        authorized=call.caller.is_key,
    )
    return JSONResponse(
        execution.to_document(with_logs=call.caller.sees_logs),
        status_code=202 if p["async"] else 201,
    )


@endpoint("execution.read", [FUNCTION_ID, QUERIES, SEARCH])
async def list_executions(call: Call) -> Response:
    p = call.params
    query = parse_queries(p["queries"], EXECUTIONS_SCHEMA)
    total, executions = await backend.list_executions(call.ctx, p["functionId"], query, p["search"])
    documents = [e.to_document(with_logs=call.caller.sees_logs) for e in executions]
    return JSONResponse(list_document("executions", total, documents))


@endpoint("execution.read", [FUNCTION_ID, Param("executionId", UID())])
async def get_execution(call: Call) -> Response:
    p = call.params
    execution = await backend.get_execution(call.ctx, p["functionId"], p["executionId"])
    return JSONResponse(execution.to_document(with_logs=call.caller.sees_logs))


_BASE = "/v1/functions/{functionId}/executions"
routes = [
    Route(_BASE, create_execution, methods=["POST"]),
    Route(_BASE, list_executions, methods=["GET"]),
    Route(_BASE + "/{executionId}", get_execution, methods=["GET"]),
]


_CREATE_PATH = re.compile(r"/v1/functions/([^/]+)/executions")


class ExecutionsFastPath:
    """ASGI middleware: `POST /v1/functions/{functionId}/executions`, the hot path, goes to its
    handler directly instead of through Starlette's exception middleware, router and route
    wrappers (the same handler, the same errors; about a tenth of an execution's CPU)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            match = _CREATE_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["path_params"] = {"functionId": match[1]}
                try:
                    response = await create_execution(Request(scope, receive))
                except AppwriteException as exc:
                    response = error_response(exc)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
