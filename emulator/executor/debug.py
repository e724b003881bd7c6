"""Functions run under a debugger (`--debug`): each one gets a single dedicated worker started under
Node's inspector or debugpy, listening on 127.0.0.1 only, run from a path that stays the same across
deployments (`DATA_DIR/debug/<functionId>`), whose timeout waits while a debugger is attached.
The README's "Debugging a function" says how to attach.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator.config import DebugTarget
from emulator.executor.builds import build_paths
from emulator.executor.discovery import LocalRuntime
from emulator.executor.protocol import Execute, Result
from emulator.executor.results import TIMEOUT_MESSAGE, ExecutionResult, truncate
from emulator.executor.workers import Worker, WorkerFailed, WorkerSpec

HOST = "127.0.0.1"
"""Debuggers listen on loopback only, whatever `--host` is."""
DEFAULT_PORTS = {"node": 9229, "python": 5678}
"""The usual port of each language's debugger; the n-th function listed gets this port + n - 1."""
DEBUGGERS = {"node": "Node inspector", "python": "debugpy"}
_LANGUAGES = {"node": "Node", "python": "Python"}
MISSING_DEBUGPY = (
    "Debugging Python functions needs debugpy, which is not installed: "
    "pip install 'appwrite-emulator[debug]'"
)
POLL_SECONDS = 0.2
"""How often a timed-out execution checks whether a debugger is still attached."""
_PORT_WAIT = 3.0  # seconds a new worker waits for its port to be free (the old one is exiting)
_PYTHON_PATH = ".python"  # under the debug folder: holds a link to debugpy, nothing else

SpecMaker = Callable[[str, str, LocalRuntime, str, "DebugLaunch"], WorkerSpec]
"""`Executor._spec` with a `DebugLaunch`: (deployment ID, build ID, runtime, entrypoint, launch)."""
WorkerMaker = Callable[[WorkerSpec, Callable[[Worker], None]], Worker]
"""A new, unstarted `Worker` of the spec, calling back with itself when its process exits."""
_RESTART_SPACING = 1.0  # seconds between two starts of a function's debug worker after a crash


def port_for(targets: Sequence[DebugTarget], function_id: str, language: str) -> int | None:
    """The debugger's port for the function: its own, else the language's default plus its place
    in the list. None when the function is not debugged or the language has no debugger here."""
    base = DEFAULT_PORTS.get(language)
    for index, target in enumerate(targets):
        if target.function_id == function_id and base is not None:
            return target.port if target.port is not None else base + index
    return None


def describe(targets: Sequence[DebugTarget], function_id: str, language: str | None) -> str:
    """Where to attach to the function's debugger, for the banner and the terminal."""
    if language is not None:
        port = port_for(targets, function_id, language)
        if port is None:
            return f"not available: {language} functions cannot run under a debugger here"
        return f"{HOST}:{port} ({DEBUGGERS[language]})"
    choices = [
        f"{HOST}:{port_for(targets, function_id, lang)} if it is a {_LANGUAGES[lang]} function"
        for lang in DEBUGGERS
    ]
    return " or ".join(choices) + " (the function does not exist yet)"


def debugpy_package() -> Path | None:
    """The folder of the debugpy package installed next to the emulator, or None."""
    try:
        spec = importlib.util.find_spec("debugpy")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def debugger_attached(port: int) -> bool:
    """True while a client is connected to the debugger listening on 127.0.0.1:`port` (an
    established TCP connection whose local end is that address)."""
    ipv4 = f"0100007F:{port:04X}"
    mapped = f"0000000000000000FFFF00000100007F:{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    if len(fields) > 3 and fields[3] == "01" and fields[1] in (ipv4, mapped):
                        return True
        except OSError:
            continue
    return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class DebugLaunch:
    """How a debug worker differs from a plain one (`Executor._spec` applies it)."""

    code_dir: str
    """The function's stable path (a link to the active build's code): the worker runs from it."""
    port: int
    read: tuple[str, ...] = ()
    """More folders the sandbox lets the worker read (the debugger's package)."""
    debugger_path: str | None = None
    """Python: the folder debugpy is imported from."""

    def node_flags(self) -> list[str]:
        # Keep the stable path in the file names the inspector reports (no resolving of the link).
        return [f"--inspect={HOST}:{self.port}", "--preserve-symlinks", "--preserve-symlinks-main"]


class DebugSession:
    """The one worker of a debugged function, on the function's active deployment."""

    def __init__(self, function_id: str) -> None:
        self.function_id = function_id
        self.language: str | None = None
        self.port: int | None = None
        self.deployment_id: str | None = None
        self.key: Hashable = None
        self.spec: WorkerSpec | None = None
        self.worker: Worker | None = None
        self.leaving: set[Worker] = set()
        """Workers let go (an earlier deployment's, a stopped one): the port is theirs until they
        are gone."""
        self.variables: Mapping[str, str] = {}
        """The latest execution's variables: the environment a restarted worker imports with."""
        self.started_at = 0.0
        self.lock = asyncio.Lock()
        """One execution at a time, in arrival order (asyncio's lock is fair)."""

    def let_go(self) -> None:
        """Its worker stops: now when idle, after its execution otherwise."""
        worker, self.worker = self.worker, None
        if worker is not None:
            self.leaving.add(worker)
            if not self.lock.locked():
                worker.kill()


class DebugWorkers:
    """The debug sessions of one executor."""

    def __init__(
        self,
        targets: Sequence[DebugTarget],
        *,
        debug_dir: Path,
        builds_dir: Path,
        make_spec: SpecMaker,
        make_worker: WorkerMaker,
        log: logging.Logger,
    ) -> None:
        self.targets = tuple(targets)
        self.debug_dir = debug_dir
        self.builds_dir = builds_dir
        self._make_spec = make_spec
        self._make_worker = make_worker
        self._log = log
        self._sessions = {t.function_id: DebugSession(t.function_id) for t in self.targets}
        self._restarts: set[asyncio.Task[None]] = set()
        self._reasons: dict[str, str] = {}
        self._closed = False

    def covers(self, function_id: str) -> bool:
        return function_id in self._sessions

    def endpoint(self, function_id: str, language: str | None = None) -> str | None:
        """Where to attach to the function's debugger ("not available: why" when it cannot run
        under one); None when the function is not debugged."""
        session = self._sessions.get(function_id)
        if session is None:
            return None
        language = language or session.language
        if language == "python" and debugpy_package() is None:
            return f"not available: {MISSING_DEBUGPY}"
        return describe(self.targets, function_id, language)

    def switch(
        self,
        function_id: str,
        *,
        deployment_id: str,
        build_id: str,
        runtime: LocalRuntime,
        entrypoint: str,
        only_if_unset: bool = False,
    ) -> bool:
        """The function's active deployment is now this one: its debug worker moves to it (the old
        worker stops, at once when idle, else after its execution). Returns False when the
        function is not debugged or cannot be (its language; the reason is logged once)."""
        session = self._sessions.get(function_id)
        if session is None or self._closed:
            return False
        if only_if_unset and session.deployment_id is not None:
            return session.deployment_id == deployment_id
        port = port_for(self.targets, function_id, runtime.language)
        if port is None:
            self._warn(function_id, f"{runtime.id} functions cannot run under a debugger here")
            return False
        key = (build_id, runtime.id, runtime.interpreter, entrypoint, port)
        if session.key == key and session.deployment_id == deployment_id:
            return True
        session.let_go()
        session.deployment_id, session.key = deployment_id, key
        session.language, session.port = runtime.language, port
        session.spec = None
        try:
            launch = self._launch(function_id, build_id, runtime.language, port)
            session.spec = self._make_spec(deployment_id, build_id, runtime, entrypoint, launch)
        except (OSError, WorkerFailed) as exc:
            self._warn(function_id, str(exc))
        return True

    async def warm(
        self, function_id: str, deployment_id: str, variables: Mapping[str, str]
    ) -> None:
        """Start the function's debug worker ahead of its executions (so a debugger can attach
        first); a failure is logged, and the next execution reports it."""
        session = self._sessions.get(function_id)
        if session is None or session.deployment_id != deployment_id or self._closed:
            return
        session.variables = variables
        try:
            async with session.lock:
                if session.deployment_id == deployment_id and not self._closed:
                    await self._ready(session, variables)
        except WorkerFailed as exc:
            self._log.warning("[%s] the debug worker did not start: %s", function_id, exc)

    async def execute(
        self,
        *,
        function_id: str,
        deployment_id: str,
        build_id: str,
        runtime: LocalRuntime,
        entrypoint: str,
        payload: str,
        variables: Mapping[str, str],
        timeout: float,
        execution_id: str,
    ) -> ExecutionResult | None:
        """Run the execution on the function's debug worker; None when it is not for that worker
        (another deployment's late execution, or a language without a debugger here): the caller
        runs it as usual.

        The timeout counts from the execution's turn. Once it has passed, the execution is stopped
        only when no debugger is attached (checked every POLL_SECONDS): one paused at a
        breakpoint keeps its worker, and its duration is the real time it took.
        """
        session = self._sessions.get(function_id)
        if session is None:
            return None
        if session.deployment_id is None:
            self.switch(
                function_id,
                deployment_id=deployment_id,
                build_id=build_id,
                runtime=runtime,
                entrypoint=entrypoint,
            )
        if session.deployment_id != deployment_id or session.port is None:
            return None
        async with session.lock:
            if session.deployment_id != deployment_id:  # switched while this one waited
                return None
            session.variables = variables
            return await self._run(session, payload, variables, timeout, execution_id)

    async def stop_deployment(self, deployment_id: str) -> None:
        """The deployment's debug worker stops (its function was deleted or reset)."""
        for session in self._sessions.values():
            if session.deployment_id == deployment_id:
                session.deployment_id = session.key = session.spec = None
                stopping = [session.worker] if session.worker is not None else []
                session.let_go()
                if stopping and not session.lock.locked():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping[0].wait_exit(), 5)

    async def close(self) -> None:
        """Stop restarting workers; the workers themselves go with the executor's children."""
        self._closed = True
        for task in list(self._restarts):
            task.cancel()
        for session in self._sessions.values():
            session.let_go()
        if self._restarts:
            await asyncio.wait(list(self._restarts), timeout=2)

    # -- internals ---------------------------------------------------------------------------------

    async def _run(
        self,
        session: DebugSession,
        payload: str,
        variables: Mapping[str, str],
        timeout: float,
        execution_id: str,
    ) -> ExecutionResult:
        started = time.perf_counter()
        worker: Worker | None = None
        call: asyncio.Future[Result] | None = None
        try:
            async with asyncio.timeout(timeout):
                worker = await self._ready(session, variables)
            if worker.load_error is not None:
                return ExecutionResult(500, "", "", worker.load_error, elapsed(started))
            request = Execute(id=execution_id, payload=payload, variables=variables)
            call = asyncio.ensure_future(worker.call(request))
            reply = await self._outcome(call, session, started + timeout)
        except TimeoutError:
            self._log.warning(
                "[%s] execution %s timed out after %gs with no debugger attached; its worker is "
                "stopped",
                session.function_id,
                execution_id,
                timeout,
            )
            self._stop(session, worker)
            await self._port_released(session, worker)
            return ExecutionResult(500, "", "", TIMEOUT_MESSAGE, max(elapsed(started), timeout))
        except asyncio.CancelledError:  # the caller gave up: the worker's state is unknown
            self._stop(session, worker)
            raise
        except WorkerFailed as exc:
            self._stop(session, worker)
            self._log.warning(
                "[%s] execution %s failed: %s", session.function_id, execution_id, exc
            )
            return ExecutionResult(500, "", "", truncate(str(exc)), elapsed(started))
        finally:
            if call is not None:
                call.cancel()  # (when done already, this only marks its outcome as seen)
                if call.done() and not call.cancelled():
                    call.exception()
            self._after_turn(session)
        return ExecutionResult(
            reply.status_code, reply.response, reply.stdout, reply.stderr, elapsed(started)
        )

    async def _outcome(
        self, call: asyncio.Future[Result], session: DebugSession, deadline: float
    ) -> Result:
        """The worker's reply; TimeoutError once `deadline` has passed with no debugger attached."""
        assert session.port is not None
        while not call.done():
            remaining = deadline - time.perf_counter()
            if remaining > 0:
                await asyncio.wait([call], timeout=remaining)
            elif debugger_attached(session.port):
                await asyncio.wait([call], timeout=POLL_SECONDS)
            else:
                raise TimeoutError
        return call.result()

    async def _ready(self, session: DebugSession, variables: Mapping[str, str]) -> Worker:
        """The session's worker, started when there is none (the caller holds the lock)."""
        worker = session.worker
        if worker is not None and worker.usable:
            return worker
        if worker is not None:
            session.let_go()
        spec = session.spec
        if spec is None or session.port is None:
            raise WorkerFailed(self._reasons.get(session.function_id, "No debug worker."))
        if session.leaving:  # an earlier worker holds the port until it is gone
            leaving = list(session.leaving)
            for old in leaving:
                old.kill()
            await asyncio.wait([asyncio.ensure_future(w.wait_exit()) for w in leaving], timeout=5)
            session.leaving.difference_update(leaving)
        deadline = time.monotonic() + _PORT_WAIT
        while not port_free(session.port):
            if time.monotonic() > deadline:
                raise WorkerFailed(
                    f"The debugger's port {HOST}:{session.port} is taken by another program; "
                    f"choose another one with --debug {session.function_id}:PORT."
                )
            await asyncio.sleep(0.05)
        worker = self._make_worker(spec, lambda gone: self._exited(session, gone))
        session.worker = worker
        session.started_at = time.monotonic()
        started = time.perf_counter()
        try:
            await worker.start(variables)
        except BaseException:
            session.let_go()
            raise
        self._log.info(
            "[%s] debug worker %s started in %.0f ms; debugger on %s",
            session.function_id,
            worker.child.pid if worker.child else "?",
            (time.perf_counter() - started) * 1000,
            describe(self.targets, session.function_id, session.language),
        )
        return worker

    async def _port_released(self, session: DebugSession, worker: Worker | None) -> None:
        """Wait (briefly) until a stopped worker is gone and no longer listens on the port, so
        that a debugger attaching next reaches its successor, not a dying process."""
        if worker is None or session.port is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.wait_exit(), _PORT_WAIT)
        deadline = time.monotonic() + _PORT_WAIT
        while not port_free(session.port) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _stop(self, session: DebugSession, worker: Worker | None) -> None:
        if worker is not None:
            worker.kill()
            session.leaving.add(worker)
            if session.worker is worker:
                session.worker = None

    def _after_turn(self, session: DebugSession) -> None:
        """After an execution: the workers let go meanwhile stop; a dead worker is replaced."""
        for old in list(session.leaving):
            old.kill()
        if session.worker is None:
            self._restart(session)

    def _exited(self, session: DebugSession, worker: Worker) -> None:
        """A worker's process is gone; the session's own, idle one is replaced at once, so that
        a debugger can attach before the next execution."""
        session.leaving.discard(worker)
        if session.worker is worker and not worker.stopping:
            session.worker = None
            if not session.lock.locked():
                self._restart(session)

    def _restart(self, session: DebugSession) -> None:
        deployment_id = session.deployment_id
        if self._closed or deployment_id is None or session.spec is None:
            return
        delay = max(0.0, session.started_at + _RESTART_SPACING - time.monotonic())

        async def restart() -> None:
            await asyncio.sleep(delay)
            await self.warm(session.function_id, deployment_id, session.variables)

        task = asyncio.ensure_future(restart())
        self._restarts.add(task)
        task.add_done_callback(self._restarts.discard)

    def _warn(self, function_id: str, reason: str) -> None:
        if self._reasons.get(function_id) != reason:
            self._log.warning("[%s] --debug: %s", function_id, reason)
        self._reasons[function_id] = reason

    def _launch(self, function_id: str, build_id: str, language: str, port: int) -> DebugLaunch:
        """Point the function's stable path at the build's code; find the debugger's files."""
        code = build_paths(self.builds_dir, build_id).code
        link = self.debug_dir / function_id
        _point(link, code)
        if language != "python":
            return DebugLaunch(code_dir=str(link), port=port, read=(str(link),))
        package = debugpy_package()
        if package is None:
            raise WorkerFailed(MISSING_DEBUGPY)
        folder = self.debug_dir / _PYTHON_PATH
        _point(folder / "debugpy", package)
        return DebugLaunch(
            code_dir=str(link),
            port=port,
            read=(str(link), str(folder), str(package)),
            debugger_path=str(folder),
        )


def elapsed(started: float) -> float:
    return time.perf_counter() - started


def _point(link: Path, target: Path) -> None:
    """Make `link` a symbolic link to `target`, replacing what was there in one step."""
    link.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        if os.readlink(link) == str(target):
            return
    temporary = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    os.symlink(target, temporary)
    try:
        os.replace(temporary, link)
    except IsADirectoryError:
        shutil.rmtree(link)
        os.replace(temporary, link)
