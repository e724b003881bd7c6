"""The emulator inside a test process: `AppwriteEmulator` serves a real emulator from a background
thread on a free port, with helpers to deploy, execute, fire events, run schedules, reset, and
snapshot and restore the project.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from emulator.app import create_app
from emulator.client import ApiClient, EmulatorError
from emulator.config import Settings, build_settings
from emulator.executor.discovery import LocalRuntime, discover
from emulator.project.config import read_project
from emulator.project.packing import pack
from emulator.server import ServerThread, bind

__all__ = ["AppwriteEmulator", "AsyncAppwriteEmulator", "DeploymentFailed", "EmulatorError"]

WAIT_TIMEOUT = 120.0
"""Default cap, in seconds, of every wait (builds, async executions)."""
RUNTIME_BY_SUFFIX = {
    ".py": "python-3.10",
    ".js": "node-18.0",
    ".mjs": "node-18.0",
    ".cjs": "node-18.0",
    ".php": "php-8.1",
    ".rb": "ruby-3.1",
    ".ts": "deno-1.24",
    ".tsx": "deno-1.24",
}
"""The runtime `deploy` picks from the entrypoint when none is given: the newest 1.3 version of the
language. A `.js` entrypoint is Node unless the folder has a `deno.json` / `deno.jsonc` (then
Deno); `.ts` is always Deno (1.3's Node ran no TypeScript)."""
_DENO_CONFIGS = ("deno.json", "deno.jsonc")
_PENDING = ("waiting", "processing", "building", "")
_NOT_RUNNING = "The emulator is not running: use `with AppwriteEmulator() as emu:`"

P = ParamSpec("P")
T = TypeVar("T")


class DeploymentFailed(Exception):
    """A deployment's build failed; `deployment` is its document (`buildStderr` says why)."""

    def __init__(self, deployment: dict[str, Any]) -> None:
        stderr = str(deployment.get("buildStderr", "")).strip()
        super().__init__(f"The build of deployment {deployment.get('$id')} failed: {stderr}")
        self.deployment = deployment


@functools.cache
def _local_runtimes(allow_list: tuple[str, ...]) -> dict[str, LocalRuntime]:
    """Runtime discovery runs interpreters; once per process is enough."""
    return discover(allow_list)


def _poll(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Call `probe` until it returns something; short steps first, then at most 50 ms."""
    deadline = time.monotonic() + timeout
    step = 0.002
    while (result := probe()) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout:g} s")
        time.sleep(step)
        step = min(step * 2, 0.05)
    return result


class AppwriteEmulator:
    """A real emulator served from a background thread of this process, on a free port.

    Use it as a context manager (`with AppwriteEmulator() as emu:`), or in async code as
    `async with AppwriteEmulator() as emu:` (then `emu` is an `AsyncAppwriteEmulator`), or call
    `start()` and `stop()`. Stopping it stops every worker and build it started.

    Args:
        project_dir: a project folder whose `appwrite.json` functions are served (start waits
            until they are deployed); default none: an empty project.
        data_dir: where the database, uploads and builds live; default a temporary folder that
            `stop()` removes.
        project_id: default `appwrite.json`'s `projectId`, else `emulator`.
        api_key: default a random key (see `api_key`).
        runtimes: allow-list of runtime IDs; default every runtime with a local interpreter.
        watch: redeploy a project function when its folder changes (needs `project_dir`).
        host: the interface to listen on.
        port: default 0, a free port.
        **options: any other `emulator.config.Settings` field, e.g. `worker_idle_timeout`, or
            `debug="FUNCTION_ID[:PORT],..."` to run functions under a debugger.
    """

    def __init__(
        self,
        project_dir: str | Path | None = None,
        *,
        data_dir: str | Path | None = None,
        project_id: str | None = None,
        api_key: str | None = None,
        runtimes: Iterable[str] = (),
        watch: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        **options: Any,
    ) -> None:
        self._project_dir = Path(project_dir).resolve() if project_dir is not None else None
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._project_id = project_id
        self._api_key = api_key
        self._runtimes = tuple(runtimes)
        self._watch = watch
        self._host, self._port = host, port
        self._options = options
        self._settings: Settings | None = None
        self._server: ServerThread | None = None
        self._temp_dir: Path | None = None
        self._api: ApiClient | None = None
        self._client: Any = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> AppwriteEmulator:
        """Start serving; returns once the emulator answers requests (and the project is deployed).

        Raises:
            RuntimeError: it is running already, or did not start.
            OSError: the host/port cannot be bound.
        """
        if self._server is not None:
            raise RuntimeError("This emulator is running already")
        data_dir = self._data_dir
        if data_dir is None:
            data_dir = self._temp_dir = Path(tempfile.mkdtemp(prefix="appwrite-emulator-"))
        try:
            sock = bind(self._host, self._port)
            settings = build_settings(
                self._project_dir or data_dir,
                data_dir=data_dir,
                project_id=self._project_id,
                api_key=self._api_key or "emu_" + secrets.token_hex(16),
                host=self._host,
                port=sock.getsockname()[1],
                watch=self._watch and self._project_dir is not None,
                runtimes=self._runtimes,
                **self._options,
            )
            app = create_app(settings, local_runtimes=_local_runtimes(settings.runtimes))
            self._server = ServerThread(app, sock, name=f"appwrite-emulator-{settings.port}")
            self._settings = settings
            self._api = ApiClient(
                settings.host, settings.port, settings.project_id, settings.api_key
            )
            self._server.start()
            if self._project_dir is not None:
                self.wait_until_deployed()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server, its workers and builds; remove the temporary data dir. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        temp_dir, self._temp_dir = self._temp_dir, None
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        self._client = None

    def __enter__(self) -> AppwriteEmulator:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> AsyncAppwriteEmulator:
        await asyncio.to_thread(self.start)
        return AsyncAppwriteEmulator(self)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- what clients need -------------------------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The running emulator's settings.

        Raises:
            RuntimeError: it is not running.
        """
        if self._settings is None or self._server is None:
            raise RuntimeError(_NOT_RUNNING)
        return self._settings

    @property
    def endpoint(self) -> str:
        """The API endpoint, like `http://127.0.0.1:PORT/v1`."""
        return self.settings.endpoint

    @property
    def project_id(self) -> str:
        """The one project served: clients send it as `X-Appwrite-Project`."""
        return self.settings.project_id

    @property
    def api_key(self) -> str:
        """The key with every scope (random per emulator unless given)."""
        return self.settings.api_key

    @property
    def data_dir(self) -> Path:
        """Where the database, uploads and builds live."""
        return self.settings.data_dir

    @property
    def client(self) -> Any:
        """An official SDK `appwrite.client.Client` set up with the endpoint, project and key.

        Raises:
            ModuleNotFoundError: the `appwrite` package is not installed.
        """
        if self._client is None:
            sdk = importlib.import_module("appwrite.client")
            self._client = (
                sdk.Client().set_endpoint(self.endpoint).set_project(self.project_id)
            ).set_key(self.api_key)
        return self._client

    @property
    def functions(self) -> Any:
        """The SDK's `appwrite.services.functions.Functions` service on `client`."""
        return importlib.import_module("appwrite.services.functions").Functions(self.client)

    # -- helpers -----------------------------------------------------------------------------------

    def request(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call the emulator's REST API with the API key.

        Args:
            path: after `/v1`, like `/functions`.
            params: the JSON body, or the query string of a GET.

        Returns:
            The decoded JSON answer; None for an empty one (204).

        Raises:
            EmulatorError: the emulator answered with an error.
        """
        return self._running_api().request(method, path, params)

    def deploy(
        self,
        function_id: str,
        folder: str | Path,
        entrypoint: str,
        runtime: str | None = None,
        *,
        create: bool = True,
        name: str | None = None,
        execute: Iterable[str] = ("any",),
        events: Iterable[str] = (),
        schedule: str = "",
        timeout: int = 15,
        variables: Mapping[str, str] | None = None,
        ignore: Iterable[str] | None = None,
        wait_timeout: float = WAIT_TIMEOUT,
    ) -> dict[str, Any]:
        """Pack `folder` as appwrite-cli does, upload it, and wait until it is built and active.

        Args:
            function_id: the function to deploy to.
            folder: the function's code; `node_modules`, `.git`, `__pycache__`, virtualenvs and
                whatever `ignore` (default: the folder's `.gitignore`) names are left out.
            entrypoint: the file, relative to `folder`, that exports the function.
            runtime: default from the entrypoint (`.py`: python-3.10, `.js`: node-18.0).
            create: first create the function when it does not exist, with `name` (default
                the ID), `execute`, `events`, `schedule` and `timeout`; an existing one is kept.
            variables: set on the function (created or updated) before the build.
            wait_timeout: seconds to wait for the build.

        Returns:
            The deployment document (`status` "ready").

        Raises:
            DeploymentFailed: the build failed.
            EmulatorError: a request failed (e.g. `function_not_found` with `create=False`).
            TimeoutError: the build took longer than `wait_timeout`.
        """
        if create:
            self._create_function(
                function_id,
                name or function_id,
                runtime or self._runtime_for(entrypoint, Path(folder)),
                execute=list(execute),
                events=list(events),
                schedule=schedule,
                timeout=timeout,
            )
        if variables:
            self._set_variables(function_id, variables)
        archive = pack(Path(folder), list(ignore) if ignore is not None else None)
        fields = {"entrypoint": entrypoint, "activate": "true"}
        created = self._running_api().upload(
            f"/functions/{function_id}/deployments", fields, "code", archive
        )
        path = f"/functions/{function_id}/deployments/{created['$id']}"

        def built() -> dict[str, Any] | None:
            deployment: dict[str, Any] = self.request("GET", path)
            return None if deployment["status"] in _PENDING else deployment

        deployment = _poll(built, wait_timeout, f"The build of {function_id}")
        if deployment["status"] != "ready":
            raise DeploymentFailed(deployment)
        _poll(
            lambda: (
                self.request("GET", f"/functions/{function_id}")["deployment"] == created["$id"]
                or None
            ),
            wait_timeout,
            f"The activation of {function_id}'s deployment",
        )
        return deployment

    def execute(
        self,
        function_id: str,
        data: str | Mapping[str, Any] = "",
        *,
        async_: bool = False,
        wait: bool = True,
        wait_timeout: float = WAIT_TIMEOUT,
    ) -> dict[str, Any]:
        """Execute the function, and wait for an async execution to finish (unless `wait=False`).

        Args:
            data: the payload; a mapping is sent as its JSON text.

        Returns:
            The execution document.
        """
        payload = data if isinstance(data, str) else json.dumps(data)
        params: dict[str, Any] = {"async": async_}
        if payload:  # as the SDKs do: 1.3 refuses an empty `data`
            params["data"] = payload
        execution: dict[str, Any] = self.request(
            "POST", f"/functions/{function_id}/executions", params
        )
        return self._finished(execution, wait_timeout) if wait else execution

    def wait_for_execution(
        self, function_id: str, execution_id: str, wait_timeout: float = WAIT_TIMEOUT
    ) -> dict[str, Any]:
        """Wait until the execution is `completed` or `failed`; returns its document."""
        path = f"/functions/{function_id}/executions/{execution_id}"

        def finished() -> dict[str, Any] | None:
            execution: dict[str, Any] = self.request("GET", path)
            return None if execution["status"] in _PENDING else execution

        return _poll(finished, wait_timeout, f"Execution {execution_id}")

    def fire_event(self, event: str, payload: Any = None, *, wait: bool = True) -> dict[str, Any]:
        """Emit an Appwrite event, like `users.u1.create`, running every function subscribed to it.

        Returns:
            `{"total", "executions"}`; the executions finished, unless `wait=False`.
        """
        result: dict[str, Any] = self.request(
            "POST", "/emulator/events", {"event": event, "payload": payload or {}}
        )
        return self._all_finished(result, wait)

    def run_schedule(self, function_id: str) -> dict[str, Any]:
        """Run the function's schedule now (as its cron would); returns the finished execution."""
        execution: dict[str, Any] = self.request(
            "POST", f"/emulator/functions/{function_id}/schedule"
        )
        return self._finished(execution, WAIT_TIMEOUT)

    def advance_clock(self, seconds: float, *, wait: bool = True) -> dict[str, Any]:
        """Move the emulator's clock forward, running the schedules that fall due meanwhile.

        Returns:
            `{"now", "executions"}`; the executions finished, unless `wait=False`.
        """
        result: dict[str, Any] = self.request(
            "POST", "/emulator/clock/advance", {"seconds": seconds}
        )
        return self._all_finished(result, wait)

    def reset(self, keep_functions: bool = False) -> None:
        """Back to an empty project: every function, deployment, variable and execution is gone
        and their workers stop. With `keep_functions`, only the executions are deleted."""
        self.request("POST", "/emulator/reset", {"keepFunctions": keep_functions})

    def snapshot(self) -> None:
        """Remember the project as it is now (a snapshot taken before is forgotten)."""
        self.request("POST", "/emulator/snapshot")

    def restore(self) -> None:
        """Put the project back as it was at the last `snapshot()`: what was created since is
        deleted (its workers stop), what was changed or deleted comes back; deployments nothing
        touched keep their warm workers. The snapshot stays: restore as often as you like.

        Raises:
            EmulatorError: no snapshot was taken (`general_argument_invalid`).
        """
        self.request("POST", "/emulator/snapshot/restore")

    def wait_until_deployed(self, wait_timeout: float = WAIT_TIMEOUT) -> None:
        """Wait until every function of the project's `appwrite.json` that has code is built and
        active (`start` does it).

        Raises:
            DeploymentFailed: the build of a function's code failed.
        """
        settings = self.settings
        project = read_project(settings.project_dir, _local_runtimes(settings.runtimes))
        for spec in project.functions:
            if spec.deployable:
                settled = functools.partial(self._settled, spec.id)
                latest = _poll(settled, wait_timeout, f"The deployment of {spec.id}")
                if latest["status"] != "ready":
                    raise DeploymentFailed(latest)

    # -- internals ---------------------------------------------------------------------------------

    def _running_api(self) -> ApiClient:
        if self._api is None or self._server is None:
            raise RuntimeError(_NOT_RUNNING)
        return self._api

    def _settled(self, function_id: str) -> dict[str, Any] | None:
        """The function's latest deployment, once built (and active when the build is ready)."""
        try:
            fn = self.request("GET", f"/functions/{function_id}")
        except EmulatorError as exc:
            if exc.type == "function_not_found":
                return None  # not created yet
            raise
        deployments = self.request("GET", f"/functions/{function_id}/deployments")["deployments"]
        if not deployments or any(d["status"] in _PENDING for d in deployments):
            return None
        latest: dict[str, Any] = deployments[-1]
        if latest["status"] == "ready" and fn["deployment"] != latest["$id"]:
            return None  # being activated
        return latest

    def _runtime_for(self, entrypoint: str, folder: Path) -> str:
        suffix = Path(entrypoint).suffix
        if suffix == ".js" and any((folder / name).is_file() for name in _DENO_CONFIGS):
            suffix = ".ts"  # a Deno project
        runtime = RUNTIME_BY_SUFFIX.get(suffix)
        if runtime is None:
            raise ValueError(
                f"Pass `runtime`: no default runtime for the entrypoint {entrypoint!r}"
            )
        return runtime

    def _create_function(self, function_id: str, name: str, runtime: str, **fields: Any) -> None:
        try:
            self.request(
                "POST",
                "/functions",
                {"functionId": function_id, "name": name, "runtime": runtime, **fields},
            )
        except EmulatorError as exc:
            if exc.type != "function_already_exists":
                raise

    def _set_variables(self, function_id: str, variables: Mapping[str, str]) -> None:
        base = f"/functions/{function_id}/variables"
        existing = {v["key"]: v["$id"] for v in self.request("GET", base)["variables"]}
        for key, value in variables.items():
            if key in existing:
                self.request("PUT", f"{base}/{existing[key]}", {"key": key, "value": value})
            else:
                self.request("POST", base, {"key": key, "value": value})

    def _finished(self, execution: dict[str, Any], wait_timeout: float) -> dict[str, Any]:
        if execution["status"] not in _PENDING:
            return execution
        return self.wait_for_execution(execution["functionId"], execution["$id"], wait_timeout)

    def _all_finished(self, result: dict[str, Any], wait: bool) -> dict[str, Any]:
        if wait:
            result["executions"] = [self._finished(e, WAIT_TIMEOUT) for e in result["executions"]]
        return result


def _in_thread(
    method: Callable[Concatenate[AppwriteEmulator, P], T],
) -> Callable[Concatenate[AsyncAppwriteEmulator, P], Coroutine[Any, Any, T]]:
    """The awaitable twin of a blocking helper: it runs in a worker thread, the loop stays free."""

    async def twin(self: AsyncAppwriteEmulator, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(method, self.emulator, *args, **kwargs)

    twin.__name__, twin.__doc__ = method.__name__, method.__doc__
    return twin


class AsyncAppwriteEmulator:
    """What `async with AppwriteEmulator() as emu` gives: the same emulator with awaitable helpers.

    The server still runs in its own thread, so a blocking client (like the official SDK) works
    from a coroutine too.
    """

    def __init__(self, emulator: AppwriteEmulator) -> None:
        self.emulator = emulator

    @property
    def endpoint(self) -> str:
        return self.emulator.endpoint

    @property
    def project_id(self) -> str:
        return self.emulator.project_id

    @property
    def api_key(self) -> str:
        return self.emulator.api_key

    @property
    def data_dir(self) -> Path:
        return self.emulator.data_dir

    @property
    def client(self) -> Any:
        return self.emulator.client

    @property
    def functions(self) -> Any:
        return self.emulator.functions

    request = _in_thread(AppwriteEmulator.request)
    deploy = _in_thread(AppwriteEmulator.deploy)
    execute = _in_thread(AppwriteEmulator.execute)
    wait_for_execution = _in_thread(AppwriteEmulator.wait_for_execution)
    fire_event = _in_thread(AppwriteEmulator.fire_event)
    run_schedule = _in_thread(AppwriteEmulator.run_schedule)
    advance_clock = _in_thread(AppwriteEmulator.advance_clock)
    reset = _in_thread(AppwriteEmulator.reset)
    snapshot = _in_thread(AppwriteEmulator.snapshot)
    restore = _in_thread(AppwriteEmulator.restore)
    wait_until_deployed = _in_thread(AppwriteEmulator.wait_until_deployed)
