"""The pipes to a worker (`process.Pipe`): data in order, the end of input once, a full pipe
drained later, a gone reader tolerated, and each descriptor closed exactly once, on asyncio's loop
and on uvloop (whose own pipe transports close theirs twice: MagicStack/uvloop#763)."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from emulator.executor.process import read_pipe, write_pipe

LOOPS = [
    pytest.param(asyncio.new_event_loop, id="asyncio"),
    pytest.param(uvloop.new_event_loop, id="uvloop"),
]


def run(
    loop_factory: Callable[[], asyncio.AbstractEventLoop], scenario: Coroutine[Any, Any, None]
) -> None:
    loop = loop_factory()
    try:
        loop.run_until_complete(scenario)
    finally:
        loop.close()


def files() -> tuple[Any, Any]:
    r, w = os.pipe()
    return os.fdopen(r, "rb", buffering=0), os.fdopen(w, "wb", buffering=0)


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_what_is_written_arrives_in_order_then_the_end_once(loop_factory: Any) -> None:
    async def scenario() -> None:
        source, sink = files()
        received = bytearray()
        ends: list[None] = []
        done = asyncio.Event()

        def end() -> None:
            ends.append(None)
            done.set()

        reader = read_pipe(source, received.extend, end)
        writer = write_pipe(sink)
        big = os.urandom(3 * 1024 * 1024)  # far more than a pipe holds: most of it waits
        writer.write(b"first ")
        writer.write(big)
        writer.write(b" last")
        while len(received) < len(big) + 11:
            await asyncio.sleep(0.001)
        writer.close()
        await asyncio.wait_for(done.wait(), 5)
        reader.close()  # already at its end: no second `on_eof`
        await asyncio.sleep(0.01)
        assert bytes(received) == b"first " + big + b" last"
        assert len(ends) == 1

    run(loop_factory, scenario())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_a_descriptor_is_closed_once(loop_factory: Any) -> None:
    async def scenario() -> None:
        source, sink = files()
        reader = read_pipe(source, lambda data: None, lambda: None)
        writer = write_pipe(sink)
        writer.write(b"x")
        reader.close()
        writer.close()
        # The numbers they held are free: what takes them now must stay open, whatever the
        # pipes and their file objects do later (callbacks, garbage collection).
        taken = [os.open(os.devnull, os.O_RDONLY) for _ in range(8)]
        del reader, writer, source, sink
        gc.collect()
        await asyncio.sleep(0.01)
        for fd in taken:
            os.fstat(fd)  # EBADF if a pipe closed it a second time
            os.close(fd)

    run(loop_factory, scenario())


@pytest.mark.parametrize("loop_factory", LOOPS)
def test_writing_to_a_pipe_nobody_reads_closes_the_writer(loop_factory: Any) -> None:
    async def scenario() -> None:
        source, sink = files()
        source.close()  # the child is gone
        writer = write_pipe(sink)
        writer.write(b"nobody reads this")
        assert writer.is_closing()
        writer.write(b"nor this")  # ignored
        writer.close()

    run(loop_factory, scenario())
