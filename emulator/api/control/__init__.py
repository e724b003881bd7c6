"""The emulator's own control plane under `/v1/emulator/` (not part of Appwrite): API key only.

Each module holds the routes of one concern; this package collects them.
"""

from starlette.routing import BaseRoute

from emulator.api.control import events, files, reset, schedules, stream

routes: list[BaseRoute] = [
    *reset.routes,
    *schedules.routes,
    *events.routes,
    *stream.routes,
    *files.routes,
]
