"""Deploy and execute real Python and Node functions through the official Python SDK."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.query import Query
from appwrite.services.functions import Functions

from tests.e2e.conftest import Server, start_server
from tests.support import fixture, pack, wait_for

TIMEOUT_STDERR = (
    "An internal curl error has occurred within the executor! Error Msg: Operation timed out"
)


def processes_under(folder: Path) -> list[int]:
    """PIDs of live processes whose working directory is inside `folder`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cwd = (proc / "cwd").resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if proc.name.isdigit() and cwd.is_relative_to(folder.resolve()):
            found.append(int(proc.name))
    return found


def sdk(server: Server, key: bool = True) -> Functions:
    client = Client().set_endpoint(server.endpoint).set_project(server.project_id)
    if key:
        client.set_key(server.api_key)
    return Functions(client)


def deploy(
    functions: Functions, function_id: str, folder: Path, entrypoint: str, tmp: Path
) -> dict[str, Any]:
    """Upload `folder` as the CLI would, wait until the build is ready, return the deployment."""
    archive = tmp / f"{function_id}-code.tar.gz"
    archive.write_bytes(pack(folder))
    created = functions.create_deployment(
        function_id, entrypoint, InputFile.from_path(str(archive)), True
    )
    assert created["status"] == "" and created["entrypoint"] == entrypoint

    def built() -> dict[str, Any] | None:
        deployment: dict[str, Any] = functions.get_deployment(function_id, created["$id"])
        return deployment if deployment["status"] in ("ready", "failed") else None

    deployment = wait_for(built, timeout=120)
    assert deployment["status"] == "ready", deployment["buildStderr"]
    wait_for(lambda: functions.get(function_id)["deployment"] == created["$id"], timeout=10)
    return deployment


def wait_execution(functions: Functions, function_id: str, execution_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        execution: dict[str, Any] = functions.get_execution(function_id, execution_id)
        return execution if execution["status"] in ("completed", "failed") else None

    return wait_for(finished, timeout=60)


@pytest.mark.parametrize(
    ("runtime", "language", "entrypoint", "runtime_name", "version"),
    [
        ("python-3.9", "python", "main.py", "Python", "3.9"),
        ("node-18.0", "node", "index.js", "Node.js", "18.0"),
    ],
)
def test_env_echo_sync_and_async(
    server: Server,
    tmp_path: Path,
    runtime: str,
    language: str,
    entrypoint: str,
    runtime_name: str,
    version: str,
) -> None:
    if language == "node" and not shutil.which("node"):
        pytest.skip("node is not installed")
    functions = sdk(server)
    fn = functions.create("unique()", f"Test {runtime}", runtime, execute=["any"], timeout=10)
    functions.create_variable(fn["$id"], "CUSTOM_VARIABLE", "variable")
    functions.create_variable(fn["$id"], "APPWRITE_FUNCTION_ID", "users cannot override this")
    deployment = deploy(functions, fn["$id"], fixture(language, "env_echo"), entrypoint, tmp_path)
    assert deployment["buildStdout"] and deployment["resourceId"] == fn["$id"]

    sync = functions.create_execution(fn["$id"], data="foobar")
    assert sync["status"] == "completed" and sync["statusCode"] == 200, sync
    assert sync["trigger"] == "http" and sync["stderr"] == ""
    assert f"env echo for {fn['$id']}" in sync["stdout"]
    assert "êä" in sync["response"]
    body = json.loads(sync["response"])
    expected = {
        "APPWRITE_FUNCTION_ID": fn["$id"],
        "APPWRITE_FUNCTION_NAME": f"Test {runtime}",
        "APPWRITE_FUNCTION_DEPLOYMENT": deployment["$id"],
        "APPWRITE_FUNCTION_TRIGGER": "http",
        "APPWRITE_FUNCTION_RUNTIME_NAME": runtime_name,
        "APPWRITE_FUNCTION_RUNTIME_VERSION": version,
        "APPWRITE_FUNCTION_DATA": "foobar",
        "APPWRITE_FUNCTION_PROJECT_ID": server.project_id,
        "APPWRITE_FUNCTION_USER_ID": "",
        "APPWRITE_FUNCTION_JWT": "",
        "CUSTOM_VARIABLE": "variable",
    }
    assert body["payload"] == "foobar" and body["headers"] == {}
    assert body["variables"] == expected  # no EVENT keys on the synchronous path
    assert body["env"]["CUSTOM_VARIABLE"] == "variable"
    assert body["env"]["APPWRITE_FUNCTION_TRIGGER"] == "http"
    assert body["env"]["APPWRITE_FUNCTION_DATA"] == "foobar"

    queued = functions.create_execution(fn["$id"], data="second", xasync=True)
    assert queued["status"] == "waiting" and queued["statusCode"] == 0
    assert queued["response"] == "" and queued["duration"] == 0
    done = wait_execution(functions, fn["$id"], queued["$id"])
    assert done["status"] == "completed" and done["statusCode"] == 200
    variables = json.loads(done["response"])["variables"]
    assert (
        variables["APPWRITE_FUNCTION_EVENT"] == ""
        and variables["APPWRITE_FUNCTION_EVENT_DATA"] == ""
    )
    assert variables["APPWRITE_FUNCTION_DATA"] == "second"

    listed = functions.list_executions(fn["$id"], queries=[Query.equal("trigger", "http")])
    assert listed["total"] == 2
    assert functions.list_executions(fn["$id"], search=queued["$id"])["total"] == 1
    assert (
        functions.list_executions(fn["$id"], queries=[Query.limit(1)])["executions"][0]["$id"]
        == sync["$id"]
    )


def test_guests_execute_when_allowed_and_never_see_logs(server: Server, tmp_path: Path) -> None:
    functions = sdk(server)
    open_fn = functions.create("open", "Open", "python-3.9", execute=["any"])
    closed_fn = functions.create("closed", "Closed", "python-3.9", execute=["users"])
    for fn in (open_fn, closed_fn):
        deploy(functions, fn["$id"], fixture("python", "env_echo"), "main.py", tmp_path)
    guest = sdk(server, key=False)
    result = guest.create_execution("open", data="hi")
    assert result["status"] == "completed" and result["stdout"] == "" and result["stderr"] == ""
    assert functions.get_execution("open", result["$id"])["stdout"] != ""
    with pytest.raises(AppwriteException) as error:
        guest.create_execution("closed")
    assert error.value.code == 401 and error.value.type == "user_unauthorized"
    assert error.value.message == (
        'Missing "execute" permission for role "users". Only "["any","guests"]" scopes are '
        'allowed and "["users"]" was given.'
    )
    with pytest.raises(AppwriteException) as error:
        guest.list_executions("open")
    assert error.value.code == 401
    assert error.value.message == "User (role: guests) missing scope (execution.read)"


def test_failures_are_data_and_the_server_keeps_serving(server: Server, tmp_path: Path) -> None:
    functions = sdk(server)

    def function_for(name: str, timeout: int = 10) -> str:
        fn_id: str = functions.create(name.replace("_", "-"), name, "python-3.9", timeout=timeout)[
            "$id"
        ]
        deploy(functions, fn_id, fixture("python", name), "main.py", tmp_path)
        return fn_id

    raising = function_for("raise_error")
    failed = functions.create_execution(raising, data="not json")
    assert failed["status"] == "failed" and failed["statusCode"] == 500
    assert "processing order" in failed["stdout"]
    assert "Traceback (most recent call last)" in failed["stderr"]
    assert "JSONDecodeError" in failed["stderr"]

    status = function_for("status")
    teapot = functions.create_execution(status, data=json.dumps({"status": 418, "body": "short"}))
    assert teapot["status"] == "completed" and teapot["statusCode"] == 418
    assert teapot["response"] == "short" and teapot["stderr"] == ""  # stderr only kept when >= 500
    broken = functions.create_execution(status, data=json.dumps({"status": 503, "body": "down"}))
    assert broken["status"] == "failed" and broken["statusCode"] == 503
    assert "answering with 503" in broken["stderr"]

    sleepy = function_for("sleep", timeout=1)
    slow = functions.create_execution(sleepy, data=json.dumps({"seconds": 5}))
    assert slow["status"] == "failed" and slow["statusCode"] == 500
    assert slow["response"] == "" and slow["stderr"] == TIMEOUT_STDERR
    assert slow["duration"] >= 1 and slow["duration"] < 2
    quick = functions.create_execution(sleepy, data=json.dumps({"seconds": 0}))
    assert quick["status"] == "completed" and quick["response"] == "slept 0.0"

    crash = function_for("crash")
    crashed = functions.create_execution(crash)
    assert crashed["status"] == "failed" and crashed["statusCode"] == 500 and crashed["stderr"]
    assert functions.create_execution(crash)["status"] == "failed"  # a fresh worker, same fate

    hog = function_for("memory_hog")
    hogged = functions.create_execution(hog)
    assert hogged["status"] == "failed" and hogged["statusCode"] == 500

    counter = function_for("counter")
    counts = [
        json.loads(functions.create_execution(counter)["response"])["count"] for _ in range(3)
    ]
    assert counts == [1, 2, 3]  # a warm worker keeps module state


def test_deployment_lifecycle(server: Server, tmp_path: Path) -> None:
    functions = sdk(server)
    fn = functions.create("lifecycle", "Lifecycle", "python-3.9")
    first = deploy(functions, "lifecycle", fixture("python", "counter"), "main.py", tmp_path)
    second = deploy(functions, "lifecycle", fixture("python", "no_res"), "main.py", tmp_path)
    assert functions.get("lifecycle")["deployment"] == second["$id"]
    assert functions.create_execution("lifecycle")["response"] == ""

    listed = functions.list_deployments("lifecycle")
    assert listed["total"] == 2 and [d["$id"] for d in listed["deployments"]] == [
        first["$id"],
        second["$id"],
    ]
    assert [d["activate"] for d in listed["deployments"]] == [False, True]
    assert (
        functions.list_deployments("lifecycle", queries=[Query.equal("entrypoint", "main.py")])[
            "total"
        ]
        == 2
    )
    assert (
        functions.list_deployments("lifecycle", queries=[Query.equal("entrypoint", "index.js")])[
            "total"
        ]
        == 0
    )
    assert functions.get_deployment("lifecycle", first["$id"])["buildTime"] == 0

    activated = functions.update_deployment("lifecycle", first["$id"])
    assert activated["$id"] == fn["$id"] and activated["deployment"] == first["$id"]
    assert json.loads(functions.create_execution("lifecycle")["response"]) == {"count": 1}

    with pytest.raises(AppwriteException) as error:
        functions.create_build("lifecycle", first["$id"], first["buildId"])
    assert error.value.code == 400 and error.value.type == "build_in_progress"
    assert error.value.message == "Build not failed"

    functions.delete_deployment("lifecycle", first["$id"])
    assert functions.get("lifecycle")["deployment"] == ""
    with pytest.raises(AppwriteException) as error:
        functions.create_execution("lifecycle")
    assert error.value.code == 404 and error.value.type == "deployment_not_found"
    assert error.value.message == (
        "Deployment not found. Create a deployment before trying to execute a function"
    )


def test_chunked_upload_of_a_large_archive(server: Server, tmp_path: Path) -> None:
    functions = sdk(server)
    functions.create("large", "Large", "python-3.9")
    source = tmp_path / "large"
    source.mkdir()
    shutil.copy(fixture("python", "counter") / "main.py", source / "main.py")
    (source / "blob.bin").write_bytes(
        os.urandom(11 * 1024 * 1024)
    )  # incompressible: > 10 MB packed
    archive = tmp_path / "large-fx.tar.gz"
    archive.write_bytes(pack(source))
    size = archive.stat().st_size
    assert size > 10 * 1024 * 1024
    last = functions.create_deployment("large", "main.py", InputFile.from_path(str(archive)), True)
    assert last["size"] == size and last["entrypoint"] == "main.py"
    deployment = wait_for(
        lambda: (
            (d := functions.get_deployment("large", last["$id"]))["status"] in ("ready", "failed")
            and d
        ),
        timeout=120,
    )
    assert deployment["status"] == "ready", deployment["buildStderr"]
    wait_for(lambda: functions.get("large")["deployment"] == last["$id"], timeout=10)
    assert json.loads(functions.create_execution("large")["response"]) == {"count": 1}


def test_interrupted_async_execution_is_failed_after_restart(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    first = start_server(project, tmp_path / "data")
    try:
        functions = sdk(first)
        functions.create("sleepy", "Sleepy", "python-3.9", timeout=60)
        deploy(functions, "sleepy", fixture("python", "sleep"), "main.py", tmp_path)
        queued = functions.create_execution("sleepy", data=json.dumps({"seconds": 30}), xasync=True)
        wait_for(lambda: functions.get_execution("sleepy", queued["$id"])["status"] == "processing")
        assert processes_under(tmp_path / "data"), "a worker should be running the execution"
    finally:
        first.stop(signal.SIGKILL)
    # The kernel takes the workers (and anything they started) down with the emulator.
    wait_for(lambda: not processes_under(tmp_path / "data"), timeout=10)
    second = start_server(project, tmp_path / "data")
    try:
        execution = sdk(second).get_execution("sleepy", queued["$id"])
        assert execution["status"] == "failed" and execution["statusCode"] == 500
        assert "stopped before this execution finished" in execution["stderr"]
    finally:
        second.stop()


def test_functions_never_see_the_emulators_environment(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    server = start_server(
        project,
        tmp_path / "data",
        api_key=None,
        env={"APPWRITE_EMULATOR_API_KEY": "leaky-key", "DATABASE_PASSWORD": "hunter2"},
    )
    try:
        source = tmp_path / "env-dump"
        source.mkdir()
        (source / "main.py").write_text(
            "import json, os\n\ndef main(req, res):\n    res.send(json.dumps(dict(os.environ)))\n"
        )
        functions = Functions(
            Client().set_endpoint(server.endpoint).set_project("emulator").set_key("leaky-key")
        )
        functions.create("dump", "Dump", "python-3.9")
        functions.create_variable("dump", "MINE", "visible")
        deploy(functions, "dump", source, "main.py", tmp_path)
        env = json.loads(functions.create_execution("dump")["response"])
    finally:
        server.stop()
    assert env["MINE"] == "visible" and env["APPWRITE_FUNCTION_ID"] == "dump"
    assert "leaky-key" not in json.dumps(env) and "hunter2" not in json.dumps(env)
    assert "DATABASE_PASSWORD" not in env and "APPWRITE_EMULATOR_API_KEY" not in env


def test_shutdown_does_not_wait_for_a_long_sync_execution(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    server = start_server(project, tmp_path / "data")
    functions = sdk(server)
    functions.create("slow", "Slow", "python-3.9", timeout=60)
    deploy(functions, "slow", fixture("python", "sleep"), "main.py", tmp_path)
    outcome: list[object] = []

    def call() -> None:
        try:
            outcome.append(functions.create_execution("slow", data=json.dumps({"seconds": 30})))
        except AppwriteException as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    wait_for(lambda: processes_under(tmp_path / "data"))
    began = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - began < 6  # not the 30 s the function would take
    caller.join(10)
    assert outcome and isinstance(outcome[0], AppwriteException)
    again = start_server(project, tmp_path / "data")
    try:
        execution = sdk(again).list_executions("slow")["executions"][0]
        assert execution["status"] == "failed"
        assert "stopped before this execution finished" in execution["stderr"]
    finally:
        again.stop()
