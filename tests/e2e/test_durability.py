"""What an answer promises survives the emulator being killed (`kill -9`) right after it: a sync
execution's 201 means its finished record is stored; an async execution's 202 means its record is
stored, and the restart marks it failed if it never ran to the end.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_sdk_executions import deploy, sdk
from tests.support import fixture

CALLS = 20


def client(server: Server) -> httpx.Client:
    headers = {"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key}
    return httpx.Client(base_url=server.endpoint, headers=headers, timeout=60)


def executions_after_restart(project: Path, data: Path, function_id: str) -> dict[str, dict]:
    server = start_server(project, data)
    try:
        with client(server) as http:
            listed = http.get(
                f"/functions/{function_id}/executions", params={"queries[]": "limit(100)"}
            ).json()
    finally:
        server.stop()
    return {e["$id"]: e for e in listed["executions"]}


def test_sync_results_survive_a_kill_right_after_the_answer(tmp_path: Path) -> None:
    project, data = tmp_path / "project", tmp_path / "data"
    project.mkdir()
    server = start_server(project, data)
    answered = {}
    try:
        functions = sdk(server)
        functions.create("echo", "Echo", "python-3.9")
        deploy(functions, "echo", fixture("python", "env_echo"), "main.py", tmp_path)
        with client(server) as http:
            for n in range(CALLS):
                response = http.post("/functions/echo/executions", json={"data": f"call {n}"})
                assert response.status_code == 201
                answered[response.json()["$id"]] = response.json()
    finally:
        server.stop(signal.SIGKILL)  # right after the last answer: nothing gets to finish later
    stored = executions_after_restart(project, data, "echo")
    assert set(stored) == set(answered)
    for execution_id, execution in answered.items():
        assert execution["status"] == "completed"
        for key in ("status", "statusCode", "response", "stdout", "duration"):
            assert stored[execution_id][key] == execution[key], key


def test_a_202_survives_a_kill_right_after_it(tmp_path: Path) -> None:
    project, data = tmp_path / "project", tmp_path / "data"
    project.mkdir()
    server = start_server(project, data)
    accepted = []
    try:
        functions = sdk(server)
        functions.create("sleepy", "Sleepy", "python-3.9", timeout=60)
        deploy(functions, "sleepy", fixture("python", "sleep"), "main.py", tmp_path)
        with client(server) as http:
            for _ in range(CALLS):
                response = http.post(
                    "/functions/sleepy/executions",
                    json={"data": json.dumps({"seconds": 30}), "async": True},
                )
                assert response.status_code == 202
                accepted.append(response.json()["$id"])
    finally:
        server.stop(signal.SIGKILL)
    stored = executions_after_restart(project, data, "sleepy")
    assert set(stored) == set(accepted)
    for execution in stored.values():  # none ran to its end: each is marked failed, none stuck
        assert execution["status"] == "failed" and execution["statusCode"] == 500
        assert "stopped before this execution finished" in execution["stderr"]
