"""Control routes: `POST /v1/emulator/reset` empties the project (or only its executions);
`POST /v1/emulator/snapshot` remembers the project as it is and `POST
/v1/emulator/snapshot/restore` puts it back. All answer 204."""

from __future__ import annotations

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.api.endpoint import Call, endpoint, no_content
from emulator.api.params import Param
from emulator.backend.reset import Cleanup, reset_project
from emulator.backend.snapshot import restore_snapshot, take_snapshot
from emulator.validators import Boolean, to_bool


def _then(cleanup: Cleanup) -> Response:
    response = no_content()
    response.background = BackgroundTask(cleanup)  # runs once the answer is sent
    return response


@endpoint(
    "emulator.write",
    [Param("keepFunctions", Boolean(loose=True), optional=True, default=False, convert=to_bool)],
)
async def reset(call: Call) -> Response:
    return _then(await reset_project(call.ctx, keep_functions=call.params["keepFunctions"]))


@endpoint("emulator.write")
async def snapshot(call: Call) -> Response:
    await take_snapshot(call.ctx)
    return no_content()


@endpoint("emulator.write")
async def restore(call: Call) -> Response:
    return _then(await restore_snapshot(call.ctx))


routes: list[BaseRoute] = [
    Route("/v1/emulator/reset", reset, methods=["POST"]),
    Route("/v1/emulator/snapshot", snapshot, methods=["POST"]),
    Route("/v1/emulator/snapshot/restore", restore, methods=["POST"]),
]
