"""HTTP handlers of the variable operations."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from emulator.api.endpoint import Call, JSONResponse, endpoint, no_content
from emulator.api.functions import FUNCTION_ID
from emulator.api.params import Param
from emulator.backend import variables as backend
from emulator.models import list_document
from emulator.validators import UID, Text

VARIABLE_ID = Param("variableId", UID())
KEY = Param("key", Text(255))


@endpoint("functions.write", [FUNCTION_ID, KEY, Param("value", Text(8192, min_length=0))])
async def create_variable(call: Call) -> Response:
    p = call.params
    var = await backend.create_variable(call.ctx, p["functionId"], key=p["key"], value=p["value"])
    return JSONResponse(var.to_document(), status_code=201)


@endpoint("functions.read", [FUNCTION_ID])
async def list_variables(call: Call) -> Response:
    variables = await backend.list_variables(call.ctx, call.params["functionId"])
    return JSONResponse(
        list_document("variables", len(variables), [v.to_document() for v in variables])
    )


@endpoint("functions.read", [FUNCTION_ID, VARIABLE_ID])
async def get_variable(call: Call) -> Response:
    p = call.params
    var = await backend.get_variable(call.ctx, p["functionId"], p["variableId"])
    return JSONResponse(var.to_document())


@endpoint(
    "functions.write",
    [FUNCTION_ID, VARIABLE_ID, KEY, Param("value", Text(8192, min_length=0), optional=True)],
)
async def update_variable(call: Call) -> Response:
    p = call.params
    var = await backend.update_variable(
        call.ctx, p["functionId"], p["variableId"], key=p["key"], value=p["value"]
    )
    return JSONResponse(var.to_document())


@endpoint("functions.write", [FUNCTION_ID, VARIABLE_ID])
async def delete_variable(call: Call) -> Response:
    p = call.params
    await backend.delete_variable(call.ctx, p["functionId"], p["variableId"])
    return no_content()


routes = [
    Route("/v1/functions/{functionId}/variables", create_variable, methods=["POST"]),
    Route("/v1/functions/{functionId}/variables", list_variables, methods=["GET"]),
    Route("/v1/functions/{functionId}/variables/{variableId}", get_variable, methods=["GET"]),
    Route("/v1/functions/{functionId}/variables/{variableId}", update_variable, methods=["PUT"]),
    Route("/v1/functions/{functionId}/variables/{variableId}", delete_variable, methods=["DELETE"]),
]
