"""Every fixture behaviour, in Python and Node, deployed and executed through the Python SDK."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_sdk_executions import TIMEOUT_STDERR, deploy, sdk
from tests.support import fixture

Check = Callable[[dict[str, Any]], None]
LIMIT = 1_000_000


def completed(response: str) -> Check:
    def check(execution: dict[str, Any]) -> None:
        assert execution["status"] == "completed" and execution["statusCode"] == 200, execution
        assert execution["response"] == response

    return check


def json_response(expected: dict[str, Any]) -> Check:
    def check(execution: dict[str, Any]) -> None:
        assert execution["status"] == "completed" and execution["statusCode"] == 200, execution
        assert json.loads(execution["response"]) == expected

    return check


def passthrough(status: int, response: str) -> Check:
    def check(execution: dict[str, Any]) -> None:
        assert (execution["statusCode"], execution["status"]) == (status, "completed"), execution
        assert execution["response"] == response and execution["stderr"] == ""

    return check


def failed_with(*fragments: str) -> Check:
    def check(execution: dict[str, Any]) -> None:
        assert execution["status"] == "failed" and execution["statusCode"] == 500, execution
        assert execution["response"] == ""
        for fragment in fragments:
            assert fragment in execution["stderr"], execution["stderr"]

    return check


def big(execution: dict[str, Any]) -> None:
    # 2 MB printed and 2 MB returned: each stored field is cut to the first 1,000,000 bytes.
    assert execution["status"] == "completed"
    assert execution["response"] == "r" * LIMIT
    assert len(execution["stdout"].encode()) <= LIMIT and execution["stdout"].startswith("o" * 1023)


def timed_out(execution: dict[str, Any]) -> None:
    assert execution["status"] == "failed" and execution["stderr"] == TIMEOUT_STDERR
    assert execution["duration"] >= 1 and execution["duration"] < 2


GREETING = json.dumps({"name": "Ada"})
CASES: list[tuple[str, str, str, str, Check]] = [
    (
        "python",
        "relative_import",
        "src/main.py",
        GREETING,
        json_response({"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}),
    ),
    (
        "node",
        "relative_import",
        "src/index.js",
        GREETING,
        json_response({"greeting": "Hello, Ada!", "loud": "HELLO, ADA!"}),
    ),
    (
        "node",
        "throw_error",
        "index.js",
        "{}",
        failed_with("Error: Order has no items", "this goes to stderr"),
    ),
    (
        "node",
        "status",
        "index.js",
        json.dumps({"status": 404, "body": "nope"}),
        passthrough(404, "nope"),
    ),
    ("node", "late_res", "index.js", "200", completed("late answer")),
    ("node", "no_res", "index.js", "", timed_out),
    ("python", "no_res", "main.py", "", completed("")),
    ("node", "sleep", "index.js", json.dumps({"seconds": 5}), timed_out),
    ("python", "big_output", "main.py", "", big),
    ("node", "big_output", "index.js", "", big),
    ("node", "crash", "index.js", "", failed_with("exited with code 1")),
    ("node", "memory_hog", "index.js", "", failed_with("Worker")),
    ("python", "memory_hog", "main.py", "", failed_with("MemoryError")),
]


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("fixtures-server")
    (root / "project").mkdir()
    server = start_server(root / "project", root / "data", "--worker-memory", "256")
    yield server
    server.stop()


@pytest.mark.parametrize(("language", "name", "entrypoint", "data", "check"), CASES)
def test_fixture_behaviour(
    shared_server: Server,
    tmp_path: Path,
    language: str,
    name: str,
    entrypoint: str,
    data: str,
    check: Check,
) -> None:
    if language == "node" and not shutil.which("node"):
        pytest.skip("node is not installed")
    functions = sdk(shared_server)
    runtime = "python-3.9" if language == "python" else "node-18.0"
    fn_id = f"{language}-{name}".replace("_", "-")
    functions.create(fn_id, name, runtime, timeout=1 if check is timed_out else 15)
    deploy(functions, fn_id, fixture(language, name), entrypoint, tmp_path)
    execution = (
        functions.create_execution(fn_id, data=data) if data else functions.create_execution(fn_id)
    )
    check(execution)
    # The failure is one stored record; the shared server goes on serving the next case.
    assert functions.list_executions(fn_id)["total"] == 1
