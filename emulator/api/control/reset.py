"""Control route: `POST /v1/emulator/reset` empties the project (or only its executions); 204."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.api.endpoint import Call, endpoint, no_content
from emulator.api.params import Param
from emulator.backend.reset import reset_project
from emulator.validators import Boolean, to_bool


@endpoint(
    "emulator.write",
    [Param("keepFunctions", Boolean(loose=True), optional=True, default=False, convert=to_bool)],
)
async def reset(call: Call) -> Response:
    cleanup = await reset_project(call.ctx, keep_functions=call.params["keepFunctions"])
    response = no_content()
    response.background = BackgroundTask(cleanup)  # runs once the answer is sent
    return response


routes: list[BaseRoute] = [Route("/v1/emulator/reset", reset, methods=["POST"])]
