"""Delivers events to the functions subscribed to them as `event` executions, and
stops chains of events that keep triggering themselves."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from emulator import events
from emulator.backend.context import Chain, Context, Emitted
from emulator.backend.executions import start_execution
from emulator.backend.functions import subscribers
from emulator.errors import AppwriteException
from emulator.models import Execution
from emulator.phpjson import php_json

logger = logging.getLogger("emulator.events")

MAX_DEPTH = 10
"""Event-triggered executions in a row (A triggers B triggers A ...) before a chain is stopped."""
MAX_CHAIN_EXECUTIONS = 100
"""Event-triggered executions one root event may set off in all, fan-out included."""


class Dispatcher:
    """Listens to every emitted event and runs its subscribers, disabled functions included."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        ctx.listeners.append(self._on_emit)
        # Every event name some function subscribes to, so that the common case (an execution
        # event nobody listens to) costs no task and no read. None: unknown, read it again.
        self._subscribed: frozenset[str] | None = None
        self._version = 0

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.ctx.listeners.remove(self._on_emit)

    async def inject(self, name: str, payload: Any) -> list[Execution]:
        """Deliver an event of another service (`databases.x.collections.y...`), as it would be emitted.

        Raises:
            ValueError: `name` is not an event of 1.3's grammar.
        """
        pattern, params = events.parse_concrete_event(name)
        return await self.dispatch(Emitted(pattern, params, payload))

    def _on_emit(self, event: Emitted) -> None:
        if event.pattern in events.FUNCTION_CHANGES:  # a function's `events` may have changed
            self._subscribed = None
            self._version += 1
        elif self._subscribed is not None and (
            not self._subscribed  # nothing subscribes to anything: no need to expand the name
            or self._subscribed.isdisjoint(events.expand_event(event.pattern, event.params))
        ):
            return
        self.ctx.tasks.spawn(self.dispatch(event), name=f"dispatch-{event.pattern}")

    async def _refresh_subscriptions(self) -> None:
        if self._subscribed is None:
            version = self._version
            subscribed = frozenset(
                name for fn in await self.ctx.functions.all() for name in fn.events
            )
            if version == self._version:  # no function changed while reading
                self._subscribed = subscribed

    async def dispatch(self, event: Emitted) -> list[Execution]:
        """Start an execution of every function subscribed to `event`; returns them as created.

        `APPWRITE_FUNCTION_EVENT` is the most specific name; `_EVENT_DATA` the payload's JSON.
        """
        await self._refresh_subscriptions()
        names = events.expand_event(event.pattern, event.params)
        chain = event.chain or Chain(root=names[0])
        data = php_json(event.payload)
        started: list[Execution] = []
        for fn in await subscribers(self.ctx, names):
            if (
                chain.stopped
                or event.depth >= MAX_DEPTH
                or chain.executions >= MAX_CHAIN_EXECUTIONS
            ):
                self._stop(chain, names[0], fn.id, event.depth)
                break
            chain.executions += 1
            try:
                run = await start_execution(
                    self.ctx,
                    fn,
                    "event",
                    event=names[0],
                    event_data=data,
                    depth=event.depth + 1,
                    chain=chain,
                )
            except AppwriteException as exc:
                logger.info("Event %s: function %s not run: %s", names[0], fn.id, exc.message)
                continue
            started.append(run.execution)
        return started

    def _stop(self, chain: Chain, name: str, function_id: str, depth: int) -> None:
        """Stop a runaway chain, saying so once."""
        if chain.stopped:
            return
        chain.stopped = True
        logger.warning(
            "Event loop stopped: %s would run function %s at depth %s of the chain started by %s "
            "(%s event executions so far; limits: depth %s, %s executions). Functions keep "
            "triggering each other through their `events` (e.g. one subscribed to its own "
            "executions); no further function runs for this chain.",
            name,
            function_id,
            depth + 1,
            chain.root,
            chain.executions,
            MAX_DEPTH,
            MAX_CHAIN_EXECUTIONS,
        )
