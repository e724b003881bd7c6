"""The executor the backend talks to: builds deployments and runs executions on pools of warm workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from emulator.config import DebugTarget, worker_environment
from emulator.executor import process, sandbox
from emulator.executor.builds import Builder, build_paths
from emulator.executor.debug import DebugLaunch, DebugWorkers
from emulator.executor.discovery import LocalRuntime, adapter_path
from emulator.executor.launch import worker_command
from emulator.executor.pool import Pool
from emulator.executor.protocol import Execute, Result
from emulator.executor.results import TIMEOUT_MESSAGE, BuildResult, ExecutionResult, truncate
from emulator.executor.workers import Worker, WorkerFailed, WorkerSpec


class Executor:
    """Builds and runs deployments as local processes; see `build` and `execute`."""

    def __init__(
        self,
        *,
        builds_dir: Path,
        cache_dir: Path,
        idle_timeout: float = 600.0,
        memory_mb: int = 1024,
        pool_size: int = 4,
        max_archive_bytes: int = 30_000_000,
        max_extracted_bytes: int = 500_000_000,
        build_timeout: float = 900.0,
        log: logging.Logger | None = None,
        base_env: Mapping[str, str] | None = None,
        debug: Sequence[DebugTarget] = (),
        debug_dir: Path | None = None,
    ) -> None:
        self.builds_dir = Path(builds_dir)
        self.idle_timeout = idle_timeout
        self.memory_mb = memory_mb
        self.pool_size = pool_size
        self.running = 0
        """Executions running now (in `execute`)."""
        self.log = log or logging.getLogger("emulator.executor")
        self._children = process.Children()
        self._builder = Builder(
            builds_dir=self.builds_dir,
            cache_dir=Path(cache_dir),
            children=self._children,
            base_env=dict(base_env) if base_env is not None else worker_environment({}),
            max_archive_bytes=max_archive_bytes,
            max_extracted_bytes=max_extracted_bytes,
            build_timeout=build_timeout,
            log=self.log,
        )
        self._pools: dict[str, Pool] = {}
        self._draining: set[Pool] = set()
        # Deployments whose workers were stopped (replaced or deleted): a late execution still
        # gets a worker, which stops when it is done instead of idling in a fresh pool.
        self._retired: set[str] = set()
        self._unfinished: set[Worker] = set()
        self._stop = asyncio.Event()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False
        # Functions run under a debugger: one worker each, outside the pools.
        self.debug = DebugWorkers(
            debug,
            debug_dir=Path(debug_dir) if debug_dir else self.builds_dir.parent / "debug",
            builds_dir=self.builds_dir,
            make_spec=self._spec,
            make_worker=self._debug_worker,
            log=self.log,
        )

    async def start(self) -> None:
        """Probe process isolation once and start the reaper of idle workers."""
        protections = await asyncio.to_thread(sandbox.probe)
        if protections.missing():
            self.log.warning("executor: %s", sandbox.describe(protections))
        else:
            self.log.info("executor: %s", sandbox.describe(protections))
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever(), name="executor-reaper")

    async def close(self) -> None:
        """Stop every worker and build; returns once all their processes are gone."""
        self._closed = True
        self._stop.set()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
        pools = [*self._pools.values(), *self._draining]
        self._pools.clear()
        self._draining.clear()
        await self.debug.close()
        for worker in self._unfinished:
            worker.stopping = True
        await self._children.kill_all()  # before the pools: it notes the workers inside namespaces
        for pool in pools:
            pool.kill_all()
        # Let each worker read its last output and close its pipes before the loop may end.
        if self._unfinished:
            await asyncio.wait([w.finished for w in self._unfinished], timeout=2)

    async def build(
        self,
        *,
        build_id: str,
        archive: Path,
        runtime: LocalRuntime,
        entrypoint: str,
        env: Mapping[str, str],
    ) -> BuildResult:
        """Extract `archive` safely into the build folder and install its dependencies.

        A failure (unsafe or corrupt archive, install error, timeout) is a `BuildResult` with
        ``ok=False`` and the reason in `stderr`. A missing entrypoint does not fail the build (as in
        1.3); it is logged, and each execution then fails with the adapter's load error.
        """
        return await self._builder.build(
            build_id=build_id, archive=archive, runtime=runtime, entrypoint=entrypoint, env=env
        )

    async def execute(
        self,
        *,
        deployment_id: str,
        build_id: str,
        runtime: LocalRuntime,
        entrypoint: str,
        payload: str,
        variables: Mapping[str, str],
        timeout: float,
        execution_id: str = "",
        function_id: str = "",
    ) -> ExecutionResult:
        """Run one execution on a warm worker of the deployment; user failures are results.

        The timeout (and the duration) count from the execution's turn: time spent queued behind
        busy workers of the pool is not held against it; a cold start is. A function run under a
        debugger (`function_id` among `debug`) uses its debug worker (see `DebugWorkers`).
        """
        self.running += 1
        try:
            if self.debug.covers(function_id):
                result = await self.debug.execute(
                    function_id=function_id,
                    deployment_id=deployment_id,
                    build_id=build_id,
                    runtime=runtime,
                    entrypoint=entrypoint,
                    payload=payload,
                    variables=variables,
                    timeout=timeout,
                    execution_id=execution_id,
                )
                if result is not None:
                    return result
            started = time.perf_counter()
            worker = None
            pool: Pool | None = None
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(None) as deadline:

                    def turn() -> None:
                        nonlocal started
                        started = time.perf_counter()
                        deadline.reschedule(loop.time() + timeout)

                    pool = self._pool(deployment_id, build_id, runtime, entrypoint)
                    worker = await pool.acquire(variables, on_turn=turn)
                    if worker.load_error is not None:
                        reply = Result(execution_id, 500, "", "", worker.load_error)
                    else:
                        request = Execute(id=execution_id, payload=payload, variables=variables)
                        reply = await worker.call(request)
            except TimeoutError:
                if worker is not None and pool is not None:
                    self.log.warning(
                        "[%s] execution %s timed out after %gs; its worker is stopped",
                        deployment_id,
                        execution_id,
                        timeout,
                    )
                    pool.retire(worker)
                elapsed = max(time.perf_counter() - started, timeout)
                return ExecutionResult(500, "", "", TIMEOUT_MESSAGE, elapsed)
            except asyncio.CancelledError:  # the caller gave up: the worker's state is unknown
                if worker is not None and pool is not None:
                    pool.retire(worker)
                raise
            except WorkerFailed as exc:
                if worker is not None and pool is not None:
                    pool.retire(worker)
                self.log.warning("[%s] execution %s failed: %s", deployment_id, execution_id, exc)
                return ExecutionResult(
                    500, "", "", truncate(str(exc)), time.perf_counter() - started
                )
            pool.release(worker)
            duration = time.perf_counter() - started
            return ExecutionResult(
                reply.status_code, reply.response, reply.stdout, reply.stderr, duration
            )
        finally:
            self.running -= 1

    async def stop_deployment(self, deployment_id: str) -> None:
        """Stop the deployment's workers: idle ones now, busy ones once their execution ends."""
        self._retired.add(deployment_id)
        await self.debug.stop_deployment(deployment_id)
        pool = self._pools.pop(deployment_id, None)
        if pool is not None:
            stopped = self._retire_pool(pool)
            await asyncio.wait_for(asyncio.gather(*(w.wait_exit() for w in stopped)), 5)

    async def prestart(
        self,
        *,
        deployment_id: str,
        build_id: str,
        runtime: LocalRuntime,
        entrypoint: str,
        variables: Mapping[str, str],
        function_id: str = "",
    ) -> None:
        """Start a warm worker of the deployment before its first execution (a no-op when it
        has one, or when the function runs under a debugger, in a worker of its own). A worker
        that cannot start is only logged: the first execution tries again and reports why."""
        if self.debug.covers(function_id):
            return
        try:
            pool = self._pool(deployment_id, build_id, runtime, entrypoint)
            await pool.prestart(variables)
        except WorkerFailed as exc:
            self.log.info("[%s] no worker started ahead: %s", deployment_id, exc)

    def resume_deployment(self, deployment_id: str) -> None:
        """The deployment is active (again): its workers stay warm between executions."""
        self._retired.discard(deployment_id)

    def remove_build(self, build_id: str) -> None:
        """Delete the build's folder (code and installed dependencies)."""
        shutil.rmtree(build_paths(self.builds_dir, build_id).root, ignore_errors=True)

    # -- internals ---------------------------------------------------------------------------------

    def _pool(
        self, deployment_id: str, build_id: str, runtime: LocalRuntime, entrypoint: str
    ) -> Pool:
        key = (build_id, runtime.id, runtime.interpreter, entrypoint)
        pool = self._pools.get(deployment_id)
        if pool is not None and pool.key == key:
            return pool
        if self._closed:
            raise WorkerFailed("The executor is shut down.")
        if pool is not None:  # the deployment was rebuilt: its old workers go
            self._retire_pool(pool)
        spec = self._spec(deployment_id, build_id, runtime, entrypoint)
        pool = Pool(key, spec, self.pool_size, self._children, self.log, self._unfinished)
        if deployment_id in self._retired:
            pool.draining = True
            self._draining.add(pool)
        else:
            self._pools[deployment_id] = pool
        return pool

    def _spec(
        self,
        deployment_id: str,
        build_id: str,
        runtime: LocalRuntime,
        entrypoint: str,
        debug: DebugLaunch | None = None,
    ) -> WorkerSpec:
        paths = build_paths(self.builds_dir, build_id)
        if not paths.code.is_dir():
            raise WorkerFailed(f"The build {build_id} of this deployment is not on disk.")
        # A debug worker runs from the function's stable path (a link to this build's code).
        code_dir = Path(debug.code_dir) if debug is not None else paths.code
        try:
            command = worker_command(
                runtime.language,
                runtime.interpreter,
                code_dir=code_dir,
                deps_dir=paths.deps,
                entrypoint=entrypoint,
                memory_mb=self.memory_mb,
                debug=debug,
            )
        except ValueError:
            raise WorkerFailed(
                f"The {runtime.id} runtime has no worker adapter in this emulator."
            ) from None
        build = [str(paths.code), *([str(paths.deps)] if paths.deps.is_dir() else [])]
        prefix = sandbox.worker_prefix(
            sandbox.probe(),
            interpreter=runtime.interpreter,
            adapter=str(adapter_path(runtime.language)),
            build=build,
            read=debug.read if debug else (),
            bind_ports=[debug.port] if debug else (),
        )
        return WorkerSpec(
            deployment_id=deployment_id,
            argv=(*prefix, *command.argv),
            cwd=str(code_dir),
            base_env={**self._builder.env_for(runtime), **command.env},
            memory_mb=max(self.memory_mb, command.min_os_memory_mb),
        )

    def _debug_worker(self, spec: WorkerSpec, on_exit: Callable[[Worker], None]) -> Worker:
        return Worker(spec, self._children, self.log, on_exit=on_exit, unfinished=self._unfinished)

    def _retire_pool(self, pool: Pool) -> list[Worker]:
        stopped = pool.drain()
        if not pool.empty:
            self._draining.add(pool)
        return stopped

    async def _reap_forever(self) -> None:
        interval = min(max(self.idle_timeout / 4, 0.05), 30.0)
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), interval)
            for deployment_id, pool in list(self._pools.items()):
                pool.reap(self.idle_timeout)
                if pool.empty:
                    del self._pools[deployment_id]
            self._draining = {pool for pool in self._draining if not pool.empty}
