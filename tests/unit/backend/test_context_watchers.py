"""Watchers of the context (the console's live stream): they see every emitted event and the
changes only they are told about, which never run a subscribed function."""

from __future__ import annotations

from typing import Any

from emulator.backend.context import Context, Emitted
from emulator.config import Settings


def make_context(settings: Settings) -> Context:
    return Context(settings=settings, db=None, runtimes={}, executor=None)  # type: ignore[arg-type]


def test_watchers_see_emitted_events_after_the_listeners(settings: Settings) -> None:
    ctx = make_context(settings)
    order: list[str] = []
    ctx.listeners.append(lambda e: order.append(f"listener {e.pattern}"))
    seen: list[Emitted] = []
    unwatch = ctx.watch(lambda e: (order.append(f"watcher {e.pattern}"), seen.append(e)))
    ctx.emit("functions.[functionId].create", {"functionId": "f"}, {"$id": "f"})
    assert order == [
        "listener functions.[functionId].create",
        "watcher functions.[functionId].create",
    ]
    assert seen[0].params == {"functionId": "f"}
    unwatch()
    ctx.emit("functions.[functionId].delete", {"functionId": "f"}, {})
    assert len(seen) == 1
    unwatch()  # twice is harmless


def test_notify_reaches_watchers_only(settings: Settings) -> None:
    """A build result or a `processing` status is news for the console, not an Appwrite event:
    no listener (so no subscribed function) hears of it."""
    ctx = make_context(settings)
    heard: list[str] = []
    ctx.listeners.append(lambda e: heard.append(e.pattern))
    seen: list[Any] = []
    ctx.watch(lambda e: seen.append(e.payload))
    ctx.notify("functions.[functionId].update", {"functionId": "f"}, lambda: {"status": "ready"})
    assert heard == []
    assert seen == [{"status": "ready"}]


def test_nothing_is_built_for_nobody(settings: Settings) -> None:
    ctx = make_context(settings)
    calls: list[int] = []

    def payload() -> dict[str, Any]:
        calls.append(1)
        return {}

    ctx.notify("functions.[functionId].update", {"functionId": "f"}, payload)
    assert calls == []


def test_a_failing_watcher_does_not_stop_the_others(settings: Settings) -> None:
    ctx = make_context(settings)
    seen: list[str] = []

    def broken(event: Emitted) -> None:
        raise RuntimeError("boom")

    ctx.watch(broken)
    ctx.watch(lambda e: seen.append(e.pattern))
    ctx.emit("functions.[functionId].create", {"functionId": "f"}, {})
    assert seen == ["functions.[functionId].create"]
