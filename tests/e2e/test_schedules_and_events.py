"""Schedules and events on the real server: the control endpoints over HTTP, functions made and
deployed with the official Python SDK, run by real Python and Node workers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from appwrite.query import Query

from tests.e2e.conftest import Server
from tests.e2e.test_sdk_executions import deploy, sdk, wait_execution
from tests.support import fixture, wait_for


def control(server: Server, method: str, path: str, body: Any = None) -> httpx.Response:
    headers = {"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key}
    return httpx.request(
        method, f"{server.endpoint}/emulator{path}", json=body, headers=headers, timeout=60
    )


def test_a_schedule_driven_by_the_virtual_clock(server: Server, tmp_path: Path) -> None:
    functions = sdk(server)
    functions.create("nightly", "Nightly", "python-3.9", schedule="0 3 * * *")
    deploy(functions, "nightly", fixture("python", "env_echo"), "main.py", tmp_path)

    advanced = control(server, "POST", "/clock/advance", {"seconds": 2 * 86_400})
    assert advanced.status_code == 200, advanced.text
    runs = advanced.json()["executions"]
    assert [run["$createdAt"][11:16] for run in runs] == ["03:00", "03:00"]
    for run in runs:
        variables = json.loads(run["response"])["variables"]
        assert variables["APPWRITE_FUNCTION_TRIGGER"] == "schedule"
        assert variables["APPWRITE_FUNCTION_EVENT"] == ""
    fn = functions.get("nightly")
    assert fn["schedulePrevious"] == runs[-1]["$createdAt"][:17] + "00.000+00:00"
    assert fn["scheduleNext"][11:] == "03:00:00.000+00:00"
    assert fn["scheduleNext"] > advanced.json()["now"]

    now = control(server, "POST", "/functions/nightly/schedule")
    assert now.status_code == 201 and now.json()["trigger"] == "schedule"
    listed = functions.list_executions("nightly", queries=[Query.equal("trigger", "schedule")])
    assert listed["total"] == 3


def test_events_reach_node_subscribers_and_loops_stop(server: Server, tmp_path: Path) -> None:
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    functions = sdk(server)
    functions.create(
        "onOrder", "On order", "node-18.0", events=["databases.*.collections.orders.documents.*"]
    )
    deploy(functions, "onOrder", fixture("node", "env_echo"), "index.js", tmp_path)
    event = "databases.shop.collections.orders.documents.o1.create"
    injected = control(server, "POST", "/events", {"event": event, "payload": {"total": 5}})
    assert injected.status_code == 201, injected.text
    [started] = injected.json()["executions"]
    done = wait_execution(functions, "onOrder", started["$id"])
    variables = json.loads(done["response"])["variables"]
    assert variables["APPWRITE_FUNCTION_TRIGGER"] == "event"
    assert variables["APPWRITE_FUNCTION_EVENT"] == event
    assert json.loads(variables["APPWRITE_FUNCTION_EVENT_DATA"]) == {"total": 5}

    # A function subscribed to every execution update triggers itself: the chain is cut.
    functions.create("looper", "Looper", "python-3.9", events=["functions.*.executions.*.update"])
    deploy(functions, "looper", fixture("python", "counter"), "main.py", tmp_path)
    functions.create_execution("looper", xasync=True)
    wait_for(lambda: "Event loop stopped" in server.log(), timeout=60)

    def stable() -> int | None:
        first = functions.list_executions("looper")["total"]
        return first if first == functions.list_executions("looper")["total"] == 11 else None

    assert wait_for(stable, timeout=30) == 11
    assert server.log().count("Event loop stopped") == 1
    assert httpx.get(f"{server.endpoint}/health/version").status_code == 200
