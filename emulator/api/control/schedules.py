"""Control routes: schedules."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
