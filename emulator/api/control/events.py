"""Control routes: inject an event of a service the emulator does not have (users, databases, ...)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from emulator.api.endpoint import Call, JSONResponse, endpoint
from emulator.api.params import Param
from emulator.errors import GeneralArgumentInvalid
from emulator.triggers.dispatch import Dispatcher
from emulator.validators import EventName


class JSONObject:
    description = "Value must be a valid JSON object"

    def check(self, value: object) -> str | None:
        return None if isinstance(value, dict) else self.description


@endpoint(
    "emulator.write",
    [Param("event", EventName()), Param("payload", JSONObject(), optional=True, default={})],
)
async def create_event(call: Call) -> Response:
    """Run every function subscribed to the event; 201 with the executions started (`waiting`)."""
    dispatcher: Dispatcher = call.request.app.state.dispatcher
    try:
        started = await dispatcher.inject(call.params["event"], call.params["payload"])
    except ValueError:
        raise GeneralArgumentInvalid(f"Invalid event: {EventName.description}") from None
    documents = [execution.to_document() for execution in started]
    return JSONResponse({"total": len(documents), "executions": documents}, status_code=201)


routes: list[BaseRoute] = [Route("/v1/emulator/events", create_event, methods=["POST"])]
