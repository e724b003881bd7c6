"""One warm worker: a `runtimes/<language>` adapter process serving one deployment, one execution at
a time, over the line protocol of `emulator.executor.protocol` (requests on stdin, replies on fd 3).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.executor.process import (
    Child,
    Children,
    LineSplitter,
    Pipe,
    read_pipe,
    write_pipe,
)
from emulator.executor.protocol import (
    Execute,
    LoadError,
    ProtocolError,
    Ready,
    Reply,
    ReplyReader,
    Result,
)

_EXIT_GRACE = 0.2  # seconds to wait for the pipes to drain after the process is gone
_RECENT_LINES = 40
_MEMORY_HINTS = ("out of memory", "bad_alloc", "MemoryError", "Allocation failed")


class WorkerFailed(Exception):
    """The worker could not start, died or broke the protocol; the text is the execution's stderr."""


@dataclass(frozen=True)
class WorkerSpec:
    """How to start the workers of one deployment build."""

    deployment_id: str
    argv: tuple[str, ...]
    cwd: str
    base_env: Mapping[str, str]
    memory_mb: int


def _clean_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        str(k): str(v)
        for k, v in env.items()
        if k and "=" not in k and "\0" not in k and "\0" not in str(v)
    }


class Worker:
    """A started adapter process. `Pool` decides which execution it serves."""

    def __init__(
        self,
        spec: WorkerSpec,
        children: Children,
        log: logging.Logger,
        on_exit: Callable[[Worker], None],
        unfinished: set[Worker],
    ) -> None:
        self.spec = spec
        self.log = log
        self.load_error: str | None = None
        self.last_used = time.monotonic()
        self.child: Child | None = None
        self._children = children
        self._on_exit = on_exit
        self._loop = asyncio.get_running_loop()
        self._hello: asyncio.Future[None] = self._loop.create_future()
        self._pending: asyncio.Future[Result] | None = None
        self._pending_id = ""
        self._stdin: Pipe | None = None
        self._replies = ReplyReader()
        self._recent: deque[str] = deque(maxlen=_RECENT_LINES)
        self._open_reads = 3  # reply, stdout and stderr pipes not yet at end of file
        self._failure: str | None = None
        self.stopping = False  # killed on purpose: not a crash
        self._grace: asyncio.TimerHandle | None = None
        self._transports: list[Pipe] = []
        self._pipes: list[Any] = []  # pipe files not (yet) taken over by a `Pipe`
        self.finished: asyncio.Future[None] = self._loop.create_future()
        self._unfinished = unfinished  # every worker of the executor until its pipes are closed
        unfinished.add(self)

    @property
    def usable(self) -> bool:
        return self._failure is None and self.child is not None and self.child.alive

    async def start(self, variables: Mapping[str, str]) -> None:
        """Spawn the adapter and wait for its hello line.

        Raises:
            WorkerFailed: it could not be started or exited before saying hello.
        """
        spec = self.spec
        try:
            child = self._children.spawn(
                spec.argv,
                cwd=spec.cwd,
                env=_clean_env({**spec.base_env, **variables}),
                memory_mb=spec.memory_mb,
                reply_pipe=True,
            )
        except (OSError, ValueError) as exc:
            self._failure = f"The worker could not be started: {exc}."
            self._finish()
            raise WorkerFailed(self._failure) from None
        self.child = child
        self._pipes = [child.popen.stdin, child.reply, child.popen.stdout, child.popen.stderr]
        child.on_exit(self._exited)
        self._stdin = write_pipe(child.popen.stdin)
        self._transports.append(self._stdin)
        self._pipes.remove(child.popen.stdin)
        self._transports.append(read_pipe(child.reply, self._on_reply_data, self._on_eof))
        self._pipes.remove(child.reply)
        for stream, level in (
            (child.popen.stdout, logging.INFO),
            (child.popen.stderr, logging.WARNING),
        ):
            lines = LineSplitter(self._own_output(level))
            self._transports.append(read_pipe(stream, lines.feed, self._eof_after(lines)))
            self._pipes.remove(stream)
        await self._hello

    async def call(self, request: Execute) -> Result:
        """Send one request and wait for its result.

        Raises:
            WorkerFailed: the worker died or broke the protocol before answering.
        """
        if not self.usable or self._stdin is None or self._stdin.is_closing():
            raise WorkerFailed(self._failure or "Worker is no longer running.")
        self._recent.clear()
        future: asyncio.Future[Result] = self._loop.create_future()
        self._pending, self._pending_id = future, request.id
        self._stdin.write(request.encode())
        try:
            return await future
        finally:
            self._pending = None

    async def wait_exit(self) -> None:
        if self.child is not None:
            await self.child.wait()

    def kill(self) -> None:
        if self.child is not None and self.child.alive:
            self.stopping = True
            self.child.kill()

    # -- protocol ----------------------------------------------------------------------------------

    def _on_reply_data(self, data: bytes) -> None:
        try:
            for reply in self._replies.feed(data):
                self._handle(reply)
        except ProtocolError as exc:
            self._break_protocol(exc)

    def _handle(self, reply: Reply) -> None:
        future = self._pending
        if isinstance(reply, Result) and future is not None and not future.done():
            if reply.id is None or reply.id == self._pending_id:
                future.set_result(reply)
                return
        elif isinstance(reply, Ready | LoadError) and not self._hello.done():
            if isinstance(reply, LoadError):
                self.load_error = reply.stderr
            self._hello.set_result(None)
            return
        self.log.warning("[%s] unexpected worker message: %.200r", self.spec.deployment_id, reply)

    def _break_protocol(self, error: ProtocolError) -> None:
        """The reply channel is corrupt: fail what waits on it now and kill the worker."""
        reason = str(error)
        self.log.warning("[%s] %s", self.spec.deployment_id, reason)
        if self._failure is None:
            self._failure = reason
        for future in (self._hello, self._pending):
            if future is not None and not future.done():
                future.set_exception(WorkerFailed(reason))
        self.kill()

    def _own_output(self, level: int) -> Callable[[str], None]:
        prefix = self.spec.deployment_id

        def emit(line: str) -> None:
            self._recent.append(line[:500])
            self.log.log(level, "[%s] %s", prefix, line)

        return emit

    # -- end of life -------------------------------------------------------------------------------

    def _eof_after(self, lines: LineSplitter) -> Callable[[], None]:
        def eof() -> None:
            lines.flush()
            self._on_eof()

        return eof

    def _on_eof(self) -> None:
        self._open_reads -= 1
        if self._open_reads == 0 and self.child is not None and not self.child.alive:
            self._finish()

    def _exited(self, code: int) -> None:
        self.log.info(
            "[%s] worker %s exited (%s)",
            self.spec.deployment_id,
            self.child and self.child.pid,
            code,
        )
        self._on_exit(self)
        if self._open_reads == 0:
            self._finish()
        else:  # a reply or the last words on stderr may still sit in a pipe: read them first
            self._grace = self._loop.call_later(_EXIT_GRACE, self._finish)

    def _finish(self) -> None:
        if self._grace is not None:
            self._grace.cancel()
        if self._failure is None:
            self._failure = self._describe_exit()
        for future in (self._hello, self._pending):
            if future is not None and not future.done():
                future.set_exception(WorkerFailed(self._failure))
        if self._hello.done() and not self._hello.cancelled():
            self._hello.exception()  # mark retrieved: nobody may be waiting any more
        for transport in self._transports:
            transport.close()
        for pipe in self._pipes:
            if pipe is not None:
                pipe.close()
        if not self.finished.done():
            self.finished.set_result(None)
        self._unfinished.discard(self)

    def _describe_exit(self) -> str:
        code = self.child.returncode if self.child is not None else None
        if self.stopping:
            text = "Worker was stopped by the emulator"
        elif code is None or code >= 0:
            text = f"Worker exited with code {code}"
        else:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
            text = f"Worker was killed by signal {-code} ({name})"
        recent = "\n".join(self._recent)
        memory_signal = code is not None and -code in (
            signal.SIGKILL,
            signal.SIGSEGV,
            signal.SIGABRT,
            signal.SIGBUS,
        )
        if not self.stopping and (memory_signal or any(h in recent for h in _MEMORY_HINTS)):
            text += f"; it may have run out of memory (the limit is {self.spec.memory_mb} MB)"
        return f"{text}.\n{recent}".rstrip() if recent else f"{text}."
