"""Every event of the Functions service reaches subscribed Python and Node functions,
with 1.3's names, payloads and variables."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import PROJECT_ID
from tests.http.conftest import upload, wait_built
from tests.http.test_events_matching import settle
from tests.http.test_schedules import create_function, deploy, echoed
from tests.support import fixture, pack, wait_for

TARGET = "target"
SUBSCRIPTIONS = [
    f"functions.{TARGET}.create",
    f"functions.{TARGET}.update",
    f"functions.{TARGET}.delete",
    f"functions.{TARGET}.deployments.*.create",
    f"functions.{TARGET}.deployments.*.update",
    f"functions.{TARGET}.deployments.*.delete",
    f"functions.{TARGET}.executions.*.create",
    f"functions.{TARGET}.executions.*.update",
]
SUBSCRIBERS = {"subPy": "python", "subNode": "node"}


def run_everything(client: TestClient) -> dict[str, list[Any]]:
    """Drive the target through every operation that emits; the payload each event must carry."""
    expected: dict[str, list[Any]] = defaultdict(list)
    base = f"functions.{TARGET}"

    created = create_function(client, TARGET, execute=["any"])
    expected[f"{base}.create"].append(created)
    updated = client.put(f"/v1/functions/{TARGET}", json={"name": "Target", "execute": ["any"]})
    expected[f"{base}.update"].append(updated.json())

    deployment = upload(client, TARGET, pack(fixture("python", "counter"))).json()
    dep = f"{base}.deployments.{deployment['$id']}"
    expected[f"{dep}.create"].append(deployment)
    expected[f"{dep}.update"].append("building")  # the build worker, with the deployment
    wait_built(client, TARGET, deployment["$id"])
    wait_for(lambda: client.get(f"/v1/functions/{TARGET}").json()["deployment"])
    activated = client.patch(f"/v1/functions/{TARGET}/deployments/{deployment['$id']}")
    expected[f"{dep}.update"].append(activated.json())  # the function, as the response

    sync = client.post(f"/v1/functions/{TARGET}/executions", json={"data": "x"}).json()
    expected[f"{base}.executions.{sync['$id']}.create"].append(sync)
    queued = client.post(f"/v1/functions/{TARGET}/executions", json={"async": True}).json()
    expected[f"{base}.executions.{queued['$id']}.create"].append(queued)
    path = f"/v1/functions/{TARGET}/executions/{queued['$id']}"
    final = wait_for(lambda: (e := client.get(path).json())["status"] == "completed" and e)
    expected[f"{base}.executions.{queued['$id']}.update"].append(final)

    broken = upload(client, TARGET, b"not a tarball", activate="false").json()
    bad = f"{base}.deployments.{broken['$id']}"
    expected[f"{bad}.create"].append(broken)
    failed = wait_built(client, TARGET, broken["$id"])
    expected[f"{bad}.update"].append("building")
    retry = client.post(
        f"/v1/functions/{TARGET}/deployments/{broken['$id']}/builds/{failed['buildId']}"
    )
    assert retry.status_code == 204
    expected[f"{bad}.update"] += [[], "building"]  # the retry (no payload), then its build
    wait_for(
        lambda: (
            client.get(f"/v1/functions/{TARGET}/deployments/{broken['$id']}").json()["status"]
            == "failed"
        )
    )
    assert client.delete(f"/v1/functions/{TARGET}/deployments/{broken['$id']}").status_code == 204
    expected[f"{bad}.delete"].append([])
    assert client.delete(f"/v1/functions/{TARGET}").status_code == 204
    expected[f"{base}.delete"].append([])
    return expected


def test_every_functions_event_reaches_python_and_node_subscribers(client: TestClient) -> None:
    deployments = {}
    for function_id, language in SUBSCRIBERS.items():
        create_function(client, function_id, language, events=SUBSCRIPTIONS)
        deployments[function_id] = deploy(client, function_id, language)
    # Disabled functions are triggered too (1.3); re-enabled below to list their executions.
    client.put(
        "/v1/functions/subNode", json={"name": "subNode", "events": SUBSCRIPTIONS, "enabled": False}
    )

    expected = run_everything(client)
    total = sum(len(payloads) for payloads in expected.values())
    client.put("/v1/functions/subNode", json={"name": "subNode", "events": SUBSCRIPTIONS})
    for function_id, language in SUBSCRIBERS.items():
        runs = settle(client, [function_id])
        assert len(runs) == total, (function_id, len(runs), total)
        received: dict[str, list[Any]] = defaultdict(list)
        for run in runs:
            assert run["trigger"] == "event" and run["status"] == "completed", run
            echo = echoed(run)
            assert echo["payload"] == ""
            variables = echo["variables"]
            assert variables["APPWRITE_FUNCTION_TRIGGER"] == "event"
            assert variables["APPWRITE_FUNCTION_ID"] == function_id
            assert variables["APPWRITE_FUNCTION_DEPLOYMENT"] == deployments[function_id]
            assert variables["APPWRITE_FUNCTION_PROJECT_ID"] == PROJECT_ID
            assert variables["APPWRITE_FUNCTION_DATA"] == ""
            assert variables["APPWRITE_FUNCTION_USER_ID"] == ""
            assert variables["APPWRITE_FUNCTION_JWT"] == ""
            data = json.loads(variables["APPWRITE_FUNCTION_EVENT_DATA"])
            received[variables["APPWRITE_FUNCTION_EVENT"]].append(data)
        assert sorted(received) == sorted(expected), language
        for name, payloads in expected.items():
            assert _canonical(received[name]) == _canonical(_fill(payloads, received[name])), name


def _fill(expected: list[Any], received: list[Any]) -> list[Any]:
    """Replace each `"building"` by a received deployment document of a starting build."""
    building = [p for p in received if isinstance(p, dict) and p.get("status") == "building"]
    assert len(building) == expected.count("building"), received
    for document in building:
        assert document["buildId"] and document["resourceType"] == "functions"
        assert list(document)[:2] == ["$id", "$createdAt"]
    return [p for p in expected if p != "building"] + building


def _canonical(payloads: list[Any]) -> list[str]:
    return sorted(json.dumps(p, sort_keys=True) for p in payloads)
