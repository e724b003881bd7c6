"""Control routes: reset."""

from starlette.routing import BaseRoute

routes: list[BaseRoute] = []
