"""Control routes: run a function's schedule now; read and advance the virtual clock."""

from __future__ import annotations

import math

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.api.endpoint import Call, JSONResponse, endpoint
from emulator.api.functions import FUNCTION_ID
from emulator.api.params import Param
from emulator.backend.executions import run_schedule_now
from emulator.dates import format_datetime
from emulator.triggers.scheduler import Scheduler

MAX_ADVANCE = 10 * 365 * 24 * 3600


class Seconds:
    """A JSON number of seconds, 0 to ten years."""

    description = f"Value must be a number of seconds between 0 and {MAX_ADVANCE:,}"

    def check(self, value: object) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return self.description
        return None if math.isfinite(value) and 0 <= value <= MAX_ADVANCE else self.description


@endpoint("emulator.write", [FUNCTION_ID])
async def run_schedule(call: Call) -> Response:
    """Fire the schedule as the scheduler would; 201 with the execution once it finished."""
    started = await run_schedule_now(call.ctx, call.params["functionId"])
    execution = await started.finished()
    return JSONResponse(execution.to_document(), status_code=201)


@endpoint("emulator.write")
async def get_clock(call: Call) -> Response:
    return JSONResponse({"now": format_datetime(call.ctx.clock())})


@endpoint("emulator.write", [Param("seconds", Seconds())])
async def advance_clock(call: Call) -> Response:
    """Move the clock; every schedule due meanwhile runs, in time order, before the answer."""
    scheduler: Scheduler = call.request.app.state.scheduler
    now, executions = await scheduler.advance(float(call.params["seconds"]))
    documents = [execution.to_document() for execution in executions]
    return JSONResponse({"now": format_datetime(now), "executions": documents})


routes: list[BaseRoute] = [
    Route("/v1/emulator/functions/{functionId}/schedule", run_schedule, methods=["POST"]),
    Route("/v1/emulator/clock", get_clock, methods=["GET"]),
    Route("/v1/emulator/clock/advance", advance_clock, methods=["POST"]),
]
