"""The bundled sample project served as a user would: every sample executed through the Python SDK."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from appwrite.client import Client
from appwrite.input_file import InputFile
from appwrite.services.functions import Functions

from tests.e2e.conftest import ROOT, Server, start_server
from tests.support import pack, wait_for

SAMPLES = ROOT / "sample_functions"
HAS_NODE = shutil.which("node") is not None and shutil.which("npm") is not None
needs_node = pytest.mark.skipif(not HAS_NODE, reason="the Node samples need node and npm")
HAS = {language: shutil.which(language) is not None for language in ("php", "ruby", "deno")}


def copy_samples(target: Path) -> Path:
    """A fresh copy of sample_functions/, without anything a local run left in it."""
    ignore = shutil.ignore_patterns(".appwrite-emulator", "node_modules", "__pycache__")
    shutil.copytree(SAMPLES, target, ignore=ignore)
    return target


def sdk(server: Server) -> Functions:
    client = Client().set_endpoint(server.endpoint).set_project(server.project_id)
    return Functions(client.set_key(server.api_key))


def wait_active(functions: Functions, function_id: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        fn: dict[str, Any] = functions.get(function_id)
        return fn if fn["deployment"] else None

    return wait_for(probe, timeout=120)


def run(functions: Functions, function_id: str, data: str | None = None) -> dict[str, Any]:
    wait_active(functions, function_id)
    execution: dict[str, Any] = functions.create_execution(function_id, data)
    return execution


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("samples")
    server = start_server(copy_samples(root / "project"), root / "data")
    try:
        yield server
    finally:
        server.stop()


def test_the_samples_project_id_is_the_servers(samples: Server) -> None:
    assert json.loads((SAMPLES / "appwrite.json").read_text())["projectId"] == samples.project_id
    listed = sdk(samples).list()
    expected = (7 if HAS_NODE else 4) + sum(HAS.values())
    assert listed["total"] == expected, samples.log()


def test_hello_python(samples: Server) -> None:
    execution = run(sdk(samples), "hello-python", '{"name": "Ada"}')
    assert (execution["status"], execution["statusCode"]) == ("completed", 200), execution
    assert json.loads(execution["response"]) == {"message": "Hello, Ada!", "runtime": "python"}
    bad = run(sdk(samples), "hello-python", "not json")
    assert bad["statusCode"] == 400 and "must be JSON" in bad["response"]


@needs_node
def test_hello_node(samples: Server) -> None:
    execution = run(sdk(samples), "hello-node", '{"name": "Ada"}')
    assert (execution["status"], execution["statusCode"]) == ("completed", 200), execution
    assert json.loads(execution["response"]) == {"message": "Hello, Ada!", "runtime": "node"}


@pytest.mark.parametrize("language", ["php", "ruby", "deno"])
def test_hello_in_php_ruby_and_deno(samples: Server, language: str) -> None:
    if not HAS[language]:
        pytest.skip(f"{language} is not installed")
    execution = run(sdk(samples), f"hello-{language}", '{"name": "Ada"}')
    assert (execution["status"], execution["statusCode"]) == ("completed", 200), execution
    assert json.loads(execution["response"]) == {"message": "Hello, Ada!", "runtime": language}


def test_read_variables(samples: Server) -> None:
    functions = sdk(samples)
    execution = run(functions, "read-variables")
    assert json.loads(execution["response"]) == {
        "greeting": "Howdy, developers!",
        "functionId": "read-variables",
        "configured": ["AUDIENCE", "GREETING"],
    }
    listed = functions.list_variables("read-variables")
    assert {v["key"]: v["value"] for v in listed["variables"]} == {
        "GREETING": "Howdy",
        "AUDIENCE": "developers",
    }


@needs_node
def test_slugify_builds_its_local_dependency_offline(samples: Server) -> None:
    functions = sdk(samples)
    execution = run(functions, "slugify", json.dumps({"title": "Héllo Wörld, again!"}))
    assert json.loads(execution["response"]) == {"slug": "hello-world-again"}, execution
    deployment = functions.get_deployment("slugify", functions.get("slugify")["deployment"])
    assert deployment["status"] == "ready"
    assert "added 1 package" in deployment["buildStdout"], deployment


def test_heartbeat_runs_by_hand_and_on_its_schedule(samples: Server) -> None:
    functions = sdk(samples)
    fn = wait_active(functions, "heartbeat")
    assert fn["schedule"] == "* * * * *" and fn["scheduleNext"]
    execution = run(functions, "heartbeat")
    body = json.loads(execution["response"])
    assert body["alive"] is True and body["trigger"] == "http"
    assert "heartbeat at" in execution["stdout"]
    # The emulator's control plane can fire the schedule now (when the scheduler is there).
    fired = httpx.post(
        f"{samples.endpoint}/emulator/functions/heartbeat/schedule",
        headers={"X-Appwrite-Project": samples.project_id, "X-Appwrite-Key": samples.api_key},
        timeout=30,
    )
    if fired.status_code != 404:
        assert fired.status_code == 201, fired.text
        assert json.loads(fired.json()["response"])["trigger"] == "schedule"


@needs_node
def test_on_deployment_runs_for_every_new_deployment(samples: Server, tmp_path: Path) -> None:
    functions = sdk(samples)
    wait_active(functions, "on-deployment")
    archive = tmp_path / "code.tar.gz"
    archive.write_bytes(pack(SAMPLES / "functions" / "hello-python"))
    created = functions.create_deployment(
        "hello-python", "src/index.py", InputFile.from_path(str(archive)), False
    )

    def triggered() -> dict[str, Any] | None:
        for execution in functions.list_executions("on-deployment")["executions"]:
            body = json.loads(execution["response"] or "{}")
            if body.get("deploymentId") == created["$id"]:
                return dict(execution)
        return None

    execution = wait_for(triggered, timeout=30)
    assert execution["trigger"] == "event" and execution["status"] == "completed"
    assert json.loads(execution["response"]) == {
        "event": f"functions.hello-python.deployments.{created['$id']}.create",
        "functionId": "hello-python",
        "deploymentId": created["$id"],
        "entrypoint": "src/index.py",
    }
    assert f"New deployment {created['$id']} of function hello-python" in execution["stdout"]


def test_always_fails_records_a_failed_execution(samples: Server) -> None:
    execution = run(sdk(samples), "always-fails", '{"orderId": "A-17"}')
    assert (execution["status"], execution["statusCode"]) == ("failed", 500)
    assert (
        "ConnectionError: payment provider unreachable while charging order 'A-17'"
        in (execution["stderr"])
    )


def test_the_terminal_shows_one_line_per_execution(samples: Server) -> None:
    execution = run(sdk(samples), "hello-python", '{"name": "Log"}')
    line = f"hello-python: http execution {execution['$id']} -> 200 in "
    wait_for(lambda: line in samples.log(), timeout=10)
    assert "hello-python: functions/hello-python deployed -> build ready" in samples.log()
