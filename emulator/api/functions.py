"""HTTP handlers of the function operations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from emulator.api.endpoint import Call, JSONResponse, endpoint, no_content
from emulator.api.params import Param
from emulator.backend import functions as backend
from emulator.backend.context import Context
from emulator.errors import GeneralUsageDisabled
from emulator.models import list_document
from emulator.queries import FUNCTIONS_SCHEMA, parse_queries
from emulator.validators import (
    UID,
    ArrayList,
    Boolean,
    Cron,
    CustomId,
    EventName,
    Range,
    Roles,
    Text,
    WhiteList,
    to_bool,
    to_int,
)

FUNCTION_ID = Param("functionId", UID())
QUERIES = Param("queries", optional=True, default=[])
SEARCH = Param("search", Text(256), optional=True)


def _settings_params(ctx: Context) -> list[Param]:
    """The parameters shared by create and update, after `name`/`runtime`."""
    return [
        Param("events", ArrayList(EventName(), 100), optional=True, default=[]),
        Param("schedule", Cron(), optional=True, default=""),
        Param(
            "timeout",
            Range(1, ctx.settings.functions_timeout),
            optional=True,
            default=15,
            convert=to_int,
        ),
        Param("enabled", Boolean(), optional=True, default=True, convert=to_bool),
    ]


def _create_params(ctx: Context) -> Sequence[Param]:
    return [
        Param("functionId", CustomId()),
        Param("name", Text(128)),
        Param("execute", Roles(), optional=True, default=[]),
        Param("runtime", WhiteList(list(ctx.runtimes))),
        *_settings_params(ctx),
    ]


def _update_params(ctx: Context) -> Sequence[Param]:
    return [
        FUNCTION_ID,
        Param("name", Text(128)),
        Param("execute", Roles(), optional=True, default=[]),
        *_settings_params(ctx),
    ]


def _settings(params: dict[str, Any]) -> backend.FunctionSettings:
    return backend.FunctionSettings(
        name=params["name"],
        execute=tuple(params["execute"]),
        events=tuple(params["events"]),
        schedule=params["schedule"],
        timeout=params["timeout"],
        enabled=params["enabled"],
    )


@endpoint("functions.write", _create_params)
async def create_function(call: Call) -> Response:
    p = call.params
    fn = await backend.create_function(
        call.ctx, p["functionId"], runtime=p["runtime"], settings=_settings(p)
    )
    return JSONResponse(fn.to_document(), status_code=201)


@endpoint("functions.read", [QUERIES, SEARCH])
async def list_functions(call: Call) -> Response:
    query = parse_queries(call.params["queries"], FUNCTIONS_SCHEMA)
    total, functions = await backend.list_functions(call.ctx, query, call.params["search"])
    return JSONResponse(list_document("functions", total, [f.to_document() for f in functions]))


@endpoint("functions.read", [FUNCTION_ID])
async def get_function(call: Call) -> Response:
    fn = await backend.get_function(call.ctx, call.params["functionId"])
    return JSONResponse(fn.to_document())


@endpoint("functions.write", _update_params)
async def update_function(call: Call) -> Response:
    fn = await backend.update_function(call.ctx, call.params["functionId"], _settings(call.params))
    return JSONResponse(fn.to_document())


@endpoint("functions.write", [FUNCTION_ID])
async def delete_function(call: Call) -> Response:
    await backend.delete_function(call.ctx, call.params["functionId"])
    return no_content()


USAGE_RANGE = Param("range", WhiteList(["24h", "7d", "30d", "90d"]), optional=True, default="30d")


@endpoint("functions.read", [USAGE_RANGE])
async def get_functions_usage(call: Call) -> Response:
    """Console-only in 1.3; from 1.3.2 on it answers 501 while usage stats are off, as here."""
    raise GeneralUsageDisabled()


@endpoint("functions.read", [FUNCTION_ID, USAGE_RANGE])
async def get_function_usage(call: Call) -> Response:
    raise GeneralUsageDisabled()


routes = [
    # Before /functions/{functionId}: the more specific route wins, as in 1.3.
    Route("/v1/functions/usage", get_functions_usage, methods=["GET"]),
    Route("/v1/functions/{functionId}/usage", get_function_usage, methods=["GET"]),
    Route("/v1/functions", create_function, methods=["POST"]),
    Route("/v1/functions", list_functions, methods=["GET"]),
    Route("/v1/functions/{functionId}", get_function, methods=["GET"]),
    Route("/v1/functions/{functionId}", update_function, methods=["PUT"]),
    Route("/v1/functions/{functionId}", delete_function, methods=["DELETE"]),
]
