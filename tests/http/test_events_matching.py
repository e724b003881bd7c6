"""Injected events (`POST /v1/emulator/events`): 1.3's validation and expansion,
the variables a subscriber sees, and runaway chains being stopped."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import build_settings
from tests.conftest import API_KEY, PROJECT_ID, assert_appwrite_error
from tests.http.conftest import AS_GUEST, KEY_HEADERS, upload, wait_built
from tests.http.test_schedules import create_function, deploy, echoed, executions_of
from tests.support import pack, wait_for

EVENTS = "/v1/emulator/events"
# Subscriptions of the probe functions. None of them matches the probes' own execution events,
# so injecting an event starts exactly the probes whose subscription is in its 1.3 expansion.
POOL = [
    "functions.FN.create",
    "functions.*.create",
    "functions.FN",
    "functions.FN.deployments.DEP.create",
    "functions.*.deployments.*.create",
    "functions.FN.deployments.*.create",
    "functions.*.deployments.DEP.create",
    "functions.*.deployments.DEP",
    "functions.FN.deployments.DEP.update",
    "functions.FN.executions.*.update",
    "functions.*.executions.EX.update",
    "functions.FN.executions.EX",
    "users.U.update",
    "users.*.update.email",
    "users.*",
    "users.*.update.name",
    "users.*.create",
    "databases.*.collections.*.documents.*.create",
    "databases.D.collections.*.documents.X.create",
    "databases.*.collections.C.documents.*",
    "databases.D.collections.C",
    "databases.*.collections.*.documents.*.update",
    "buckets.*.files.*",
]
# (injected event, the subscriptions of POOL it must start), after the examples in Appwrite 1.3's event documentation.
TABLE = [
    ("functions.FN.create", {"functions.FN.create", "functions.*.create", "functions.FN"}),
    ("functions.FN.update", {"functions.FN"}),
    (
        "functions.FN.deployments.DEP.create",
        {
            "functions.FN.deployments.DEP.create",
            "functions.*.deployments.*.create",
            "functions.FN.deployments.*.create",
            "functions.*.deployments.DEP.create",
            "functions.*.deployments.DEP",
            "functions.FN",
        },
    ),
    (
        "functions.FN.deployments.DEP.update",
        {"functions.FN.deployments.DEP.update", "functions.*.deployments.DEP", "functions.FN"},
    ),
    (
        "functions.FN.executions.EX.update",
        {
            "functions.FN.executions.*.update",
            "functions.*.executions.EX.update",
            "functions.FN.executions.EX",
            "functions.FN",
        },
    ),
    ("functions.OTHER.executions.EX.create", set()),
    ("users.U.update.email", {"users.U.update", "users.*.update.email", "users.*"}),
    ("users.U.update.name", {"users.U.update", "users.*.update.name", "users.*"}),
    ("users.U.create", {"users.*", "users.*.create"}),
    (
        "databases.D.collections.C.documents.X.create",
        {
            "databases.*.collections.*.documents.*.create",
            "databases.D.collections.*.documents.X.create",
            "databases.*.collections.C.documents.*",
            "databases.D.collections.C",
        },
    ),
    (
        "databases.D.collections.C.documents.X.update",
        {
            "databases.*.collections.C.documents.*",
            "databases.D.collections.C",
            "databases.*.collections.*.documents.*.update",
        },
    ),
    (
        "databases.E.collections.C.documents.Y.create",
        {"databases.*.collections.*.documents.*.create", "databases.*.collections.C.documents.*"},
    ),
    ("buckets.B.files.F.delete", {"buckets.*.files.*"}),
    # The valid examples of 9.3, injected as they are.
    ("users.*.create", {"users.*", "users.*.create"}),
    ("users.*.update.name", {"users.*", "users.*.update.name"}),
    ("users.*.update.email", {"users.*", "users.*.update.email"}),
    (
        "databases.*.collections.*.documents.*.create",
        {"databases.*.collections.*.documents.*.create"},
    ),
    ("functions.*.executions.*.update", set()),
    ("buckets.*.files.*", {"buckets.*.files.*"}),
    ("users.*.sessions", {"users.*"}),  # the validator quirk of 9.3 (5)
]
# APPWRITE_FUNCTION_EVENT is the first name of the expansion; with an attribute it lacks it (9.2).
MOST_SPECIFIC = {
    "users.U.update.email": "users.U.update",
    "users.U.update.name": "users.U.update",
    "users.*.update.name": "users.*.update",
    "users.*.update.email": "users.*.update",
}
PROBE = b"def main(req, res):\n    return res.send(req.variables['APPWRITE_FUNCTION_EVENT'])\n"


@pytest.fixture(scope="module")
def probes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """One app with a deployed probe function per subscription of POOL."""
    tmp = tmp_path_factory.mktemp("probes")
    settings = build_settings(
        tmp / "project",
        data_dir=tmp / "data",
        project_id=PROJECT_ID,
        api_key=API_KEY,
        env={},
        watch=False,
    )
    empty = tmp / "empty"
    empty.mkdir()
    with TestClient(create_app(settings)) as client:
        client.headers.update(KEY_HEADERS)
        by_subscription = {}
        uploads = []
        for index, subscription in enumerate(POOL):
            probe = f"probe{index:02d}"
            create_function(client, probe, events=[subscription])
            uploads.append((probe, upload(client, probe, pack(empty, {"main.py": PROBE})).json()))
            by_subscription[subscription] = probe
        for probe, created in uploads:
            assert wait_built(client, probe, created["$id"])["status"] == "ready"
            wait_for(lambda: client.get(f"/v1/functions/{probe}").json()["deployment"])  # noqa: B023
        yield client, {probe: subscription for subscription, probe in by_subscription.items()}


@pytest.mark.parametrize(("event", "expected"), TABLE)
def test_an_event_starts_exactly_the_subscribers_of_its_13_expansion(
    probes: tuple[TestClient, dict[str, str]], event: str, expected: set[str]
) -> None:
    client, subscription_of = probes
    response = client.post(EVENTS, json={"event": event, "payload": {"n": 1}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert list(body) == ["total", "executions"] and body["total"] == len(body["executions"])
    assert {subscription_of[e["functionId"]] for e in body["executions"]} == expected
    assert len(body["executions"]) == len(expected)
    for execution in body["executions"]:
        assert execution["trigger"] == "event" and execution["status"] == "waiting"
    for execution in body["executions"]:
        path = f"/v1/functions/{execution['functionId']}/executions/{execution['$id']}"
        done = wait_for(lambda: _finished(client.get(path).json()))  # noqa: B023
        # The probe answers with APPWRITE_FUNCTION_EVENT.
        assert done["response"] == MOST_SPECIFIC.get(event, event)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"event": "users"}, "Invalid event: Event is not valid."),
        ({"event": "foo.*.create"}, "Invalid event: Event is not valid."),
        ({"event": "users.*.explode"}, "Invalid event: Event is not valid."),
        ({"event": "users..create"}, "Invalid event: Event is not valid."),
        ({"event": "a.b.c.d.e.f.g.h"}, "Invalid event: Event is not valid."),
        ({"event": 12}, "Invalid event: Event is not valid."),
        ({}, 'Param "event" is not optional.'),
        (
            {"event": "users.U.create", "payload": "{}"},
            "Invalid payload: Value must be a valid JSON object",
        ),
        (
            {"event": "users.U.create", "payload": [1]},
            "Invalid payload: Value must be a valid JSON object",
        ),
    ],
)
def test_invalid_events_are_rejected_as_13_does(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    assert_appwrite_error(client.post(EVENTS, json=body), 400, "general_argument_invalid", message)


def test_injecting_needs_the_api_key(client: TestClient) -> None:
    assert_appwrite_error(
        client.post(EVENTS, json={"event": "users.U.create"}, headers=AS_GUEST),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (emulator.write)",
    )
    response = client.post(EVENTS, json={"event": "users.U.create"})
    assert response.status_code == 201 and response.json() == {"total": 0, "executions": []}


@pytest.mark.parametrize("language", ["python", "node"])
def test_an_injected_document_event_runs_its_subscriber_with_event_variables(
    client: TestClient, language: str
) -> None:
    create_function(
        client, "onDoc", language, events=["databases.*.collections.*.documents.*.create"]
    )
    deployment_id = deploy(client, "onDoc", language)
    event = "databases.shop.collections.orders.documents.order1.create"
    payload = {"$id": "order1", "url": "a/b", "name": "Zoë", "prefs": {}, "items": [1, 2.5]}
    body = client.post(EVENTS, json={"event": event, "payload": payload}).json()
    assert body["total"] == 1
    started = body["executions"][0]
    assert started["functionId"] == "onDoc" and started["trigger"] == "event"
    path = f"/v1/functions/onDoc/executions/{started['$id']}"
    done = wait_for(lambda: _finished(client.get(path).json()))
    assert done["status"] == "completed" and done["trigger"] == "event"
    echo = echoed(done)
    assert echo["payload"] == ""
    variables = echo["variables"]
    assert variables["APPWRITE_FUNCTION_TRIGGER"] == "event"
    assert variables["APPWRITE_FUNCTION_EVENT"] == event
    # PHP's json_encode of the decoded payload: escaped slash and unicode, {} as [].
    assert variables["APPWRITE_FUNCTION_EVENT_DATA"] == (
        '{"$id":"order1","url":"a\\/b","name":"Zo\\u00eb","prefs":[],"items":[1,2.5]}'
    )
    assert variables["APPWRITE_FUNCTION_DATA"] == ""
    assert variables["APPWRITE_FUNCTION_USER_ID"] == "" and variables["APPWRITE_FUNCTION_JWT"] == ""
    assert variables["APPWRITE_FUNCTION_DEPLOYMENT"] == deployment_id
    # Another collection's subscriber is not what this one is.
    other = client.post(EVENTS, json={"event": "databases.shop.collections.orders.create"})
    assert other.json()["total"] == 0


def test_a_function_without_a_ready_deployment_records_nothing(client: TestClient) -> None:
    create_function(client, "idle", events=["users.*.create"])
    body = client.post(EVENTS, json={"event": "users.U.create"}).json()
    assert body == {"total": 0, "executions": []}


def test_disabled_functions_are_triggered_too(client: TestClient) -> None:
    create_function(client, "off", events=["users.*.create"])
    deploy(client, "off", name="counter")
    client.put(
        "/v1/functions/off", json={"name": "off", "events": ["users.*.create"], "enabled": False}
    )
    body = client.post(EVENTS, json={"event": "users.U.create"}).json()
    assert body["total"] == 1 and body["executions"][0]["functionId"] == "off"


def test_a_self_triggering_loop_is_stopped_and_the_server_keeps_serving(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="emulator.events")
    create_function(client, "looper", events=["functions.*.executions.*.update"])
    deploy(client, "looper", name="counter")
    response = client.post("/v1/functions/looper/executions", json={"async": True})
    assert response.status_code == 202

    runs = settle(client, ["looper"])
    assert [run["trigger"] for run in runs].count("http") == 1
    assert [run["trigger"] for run in runs].count("event") == 10  # the depth limit
    assert all(run["status"] == "completed" for run in runs)
    stops = [r for r in caplog.records if "Event loop stopped" in r.getMessage()]
    assert len(stops) == 1, [r.getMessage() for r in stops]
    assert "looper" in stops[0].getMessage()

    assert client.get("/v1/functions").status_code == 200
    sync = client.post("/v1/functions/looper/executions", json={})
    assert sync.status_code == 201 and sync.json()["status"] == "completed"


def test_fan_out_loops_are_capped_too(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="emulator.events")
    for name in ("ping", "pong"):
        create_function(client, name, events=["functions.*.executions.*.update"])
        deploy(client, name, name="counter")
    client.post("/v1/functions/ping/executions", json={"async": True})
    runs = settle(client, ["ping", "pong"])
    # Each update starts both functions, so the chain grows as a tree until a branch is 10 deep
    # (at least 2 executions per level on the way) or 100 executions ran, whichever comes first.
    assert len(runs) >= 1 + 2 * 10 and len(runs) <= 1 + 100
    assert len([r for r in caplog.records if "Event loop stopped" in r.getMessage()]) == 1


def settle(client: TestClient, function_ids: list[str], quiet: float = 0.6) -> list[dict[str, Any]]:
    """The executions of these functions once none is running and no new one came for `quiet` s."""
    deadline = time.monotonic() + 60
    last: list[dict[str, Any]] = []
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        runs = [run for fn in function_ids for run in executions_of(client, fn)]
        busy = any(run["status"] in ("waiting", "processing") for run in runs)
        if busy or len(runs) != len(last):
            last, stable_since = runs, time.monotonic()
        elif time.monotonic() - stable_since >= quiet:
            return runs
        time.sleep(0.05)
    raise AssertionError(f"executions kept coming: {len(last)}")


def _finished(execution: dict[str, Any]) -> dict[str, Any] | None:
    return execution if execution["status"] in ("completed", "failed") else None


def test_payload_defaults_to_an_empty_object(client: TestClient) -> None:
    create_function(client, "onUser", events=["users.*.create"])
    deploy(client, "onUser")
    started = client.post(EVENTS, json={"event": "users.u1.create"}).json()["executions"][0]
    path = f"/v1/functions/onUser/executions/{started['$id']}"
    variables = echoed(wait_for(lambda: _finished(client.get(path).json())))["variables"]
    assert variables["APPWRITE_FUNCTION_EVENT"] == "users.u1.create"
    assert variables["APPWRITE_FUNCTION_EVENT_DATA"] == "[]"
    assert json.loads(variables["APPWRITE_FUNCTION_EVENT_DATA"]) == []
