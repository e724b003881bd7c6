"""The warm workers of one deployment build: up to `size` run in parallel, further calls queue (FIFO)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping

from emulator.executor.process import Children
from emulator.executor.workers import Worker, WorkerSpec


class Pool:
    """Hands out idle workers (most recently used first), starts new ones while under `size`."""

    def __init__(
        self,
        key: Hashable,
        spec: WorkerSpec,
        size: int,
        children: Children,
        log: logging.Logger,
        unfinished: set[Worker],
    ) -> None:
        self.key = key
        self.spec = spec
        self.size = max(1, size)
        self.draining = False
        self._children = children
        self._log = log
        self._unfinished = unfinished
        self._workers: set[Worker] = set()
        self._idle: list[Worker] = []
        # A waiter gets a worker, or None: "a slot is free, start one yourself".
        self._waiters: deque[asyncio.Future[Worker | None]] = deque()

    @property
    def empty(self) -> bool:
        return not self._workers and not self._waiters

    async def acquire(
        self, variables: Mapping[str, str], on_turn: Callable[[], None] | None = None
    ) -> Worker:
        """A worker reserved for the caller, who must `release` or `retire` it.

        Args:
            on_turn: called once the caller's turn comes (the queue wait is over), before a cold
                start if one is needed.

        Raises:
            WorkerFailed: a new worker could not start.
        """
        turn = on_turn or (lambda: None)
        while True:
            while self._idle:
                worker = self._idle.pop()
                if worker.usable:
                    turn()
                    return worker
            if len(self._workers) < self.size:
                turn()
                return await self._start(variables)
            waiter: asyncio.Future[Worker | None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                worker_or_slot = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():  # handed over just as we gave up
                    handed = waiter.result()
                    if handed is None:
                        self._wake()
                    else:
                        self.release(handed)
                raise
            if worker_or_slot is not None:
                turn()
                return worker_or_slot

    async def prestart(self, variables: Mapping[str, str]) -> None:
        """Start one worker ahead of the first execution and park it idle, unless the pool has
        one already; the first execution then skips the cold start.

        Raises:
            WorkerFailed: it could not start (an execution would start another and say why).
        """
        if self._workers or self._waiters:
            return
        self.release(await self._start(variables))

    async def _start(self, variables: Mapping[str, str]) -> Worker:
        worker = Worker(
            self.spec, self._children, self._log, on_exit=self.retire, unfinished=self._unfinished
        )
        self._workers.add(worker)
        started = time.perf_counter()
        try:
            await worker.start(variables)
        except BaseException:
            self.retire(worker)
            raise
        self._log.info(
            "[%s] worker %s started in %.0f ms",
            self.spec.deployment_id,
            worker.child.pid if worker.child else "?",
            (time.perf_counter() - started) * 1000,
        )
        return worker

    def release(self, worker: Worker) -> None:
        """The caller is done with `worker`: give it to the next waiter, or park it."""
        worker.last_used = time.monotonic()
        if worker not in self._workers:
            return
        if not worker.usable:
            self.retire(worker)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        if self.draining:
            self.retire(worker)
        else:
            self._idle.append(worker)

    def retire(self, worker: Worker) -> None:
        """Kill `worker` (if alive) and free its slot. Safe to call more than once."""
        worker.kill()
        if worker not in self._workers:
            return
        self._workers.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def reap(self, idle_timeout: float) -> None:
        """Retire the workers idle for `idle_timeout` seconds or more."""
        deadline = time.monotonic() - idle_timeout
        for worker in [w for w in self._idle if w.last_used <= deadline]:
            self._log.info("[%s] stopping idle worker", self.spec.deployment_id)
            self.retire(worker)

    def drain(self) -> list[Worker]:
        """Stop taking new work: idle workers stop now (returned), busy ones when they finish."""
        self.draining = True
        stopped = list(self._idle)
        for worker in stopped:
            self.retire(worker)
        return stopped

    def kill_all(self) -> None:
        for worker in list(self._workers):
            self.retire(worker)
