"""Schedules over HTTP: the virtual clock, run-now, the real-time loop, restarts."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from emulator.dates import format_datetime, parse_datetime
from emulator.store.db import Database
from emulator.store.functions import FunctionStore
from tests.conftest import PROJECT_ID, assert_appwrite_error
from tests.http.conftest import AS_GUEST, KEY_HEADERS, upload, wait_built
from tests.http.test_deployments import EXECUTION_KEYS
from tests.support import fixture, pack, wait_for

RUNTIMES = {"python": ("python-3.9", "main.py"), "node": ("node-18.0", "index.js")}


def create_function(
    client: TestClient, function_id: str, language: str = "python", **fields: Any
) -> dict[str, Any]:
    body = {"functionId": function_id, "name": function_id, "runtime": RUNTIMES[language][0]}
    response = client.post("/v1/functions", json={**body, **fields})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def deploy(
    client: TestClient, function_id: str, language: str = "python", name: str = "env_echo"
) -> str:
    """Upload a fixture function, wait until its build is ready and active; the deployment ID."""
    created = upload(
        client, function_id, pack(fixture(language, name)), entrypoint=RUNTIMES[language][1]
    ).json()
    assert wait_built(client, function_id, created["$id"])["status"] == "ready"
    wait_for(lambda: client.get(f"/v1/functions/{function_id}").json()["deployment"])
    deployment_id: str = created["$id"]
    return deployment_id


def advance(client: TestClient, seconds: float) -> dict[str, Any]:
    response = client.post("/v1/emulator/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert list(body) == ["now", "executions"]
    return body


def clock(client: TestClient) -> datetime:
    now = parse_datetime(client.get("/v1/emulator/clock").json()["now"])
    assert now is not None
    return now


def minute_after(moment: datetime, step: int = 1) -> datetime:
    """The first whole minute strictly after `moment` that is a multiple of `step`."""
    base = moment.replace(second=0, microsecond=0)
    candidate = base + timedelta(minutes=1)
    while candidate.minute % step:
        candidate += timedelta(minutes=1)
    return candidate


def echoed(execution: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(execution["response"])
    return body


def executions_of(client: TestClient, function_id: str) -> list[dict[str, Any]]:
    response = client.get(
        f"/v1/functions/{function_id}/executions", params={"queries[]": "limit(100)"}
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["executions"]
    return items


@pytest.mark.parametrize("language", ["python", "node"])
def test_schedule_fires_on_the_virtual_clock_with_schedule_variables(
    client: TestClient, language: str
) -> None:
    create_function(client, "cron", language, schedule="*/5 * * * *")
    client.post("/v1/functions/cron/variables", json={"key": "CUSTOM", "value": "kept"})
    deployment_id = deploy(client, "cron", language)
    start = clock(client)
    first, second = minute_after(start, 5), minute_after(start, 5) + timedelta(minutes=5)
    fn = client.get("/v1/functions/cron").json()
    assert fn["scheduleNext"] == format_datetime(first) and fn["schedulePrevious"] == ""

    body = advance(client, 600)
    now = parse_datetime(body["now"])
    assert now is not None and timedelta(seconds=600) <= now - start < timedelta(seconds=60 * 10.5)
    runs = body["executions"]
    assert [run["$createdAt"][:16] for run in runs] == [
        format_datetime(first)[:16],
        format_datetime(second)[:16],
    ]
    runtime_name, version = ("Python", "3.9") if language == "python" else ("Node.js", "18.0")
    for run in runs:
        assert list(run) == EXECUTION_KEYS
        assert run["trigger"] == "schedule" and run["status"] == "completed", run
        assert run["statusCode"] == 200 and run["$permissions"] == []
        echo = echoed(run)
        assert echo["payload"] == ""
        assert echo["variables"] == {
            "CUSTOM": "kept",
            "APPWRITE_FUNCTION_ID": "cron",
            "APPWRITE_FUNCTION_NAME": "cron",
            "APPWRITE_FUNCTION_DEPLOYMENT": deployment_id,
            "APPWRITE_FUNCTION_TRIGGER": "schedule",
            "APPWRITE_FUNCTION_RUNTIME_NAME": runtime_name,
            "APPWRITE_FUNCTION_RUNTIME_VERSION": version,
            "APPWRITE_FUNCTION_EVENT": "",
            "APPWRITE_FUNCTION_EVENT_DATA": "",
            "APPWRITE_FUNCTION_DATA": "",
            "APPWRITE_FUNCTION_PROJECT_ID": PROJECT_ID,
            "APPWRITE_FUNCTION_USER_ID": "",
            "APPWRITE_FUNCTION_JWT": "",
        }
    fn = client.get("/v1/functions/cron").json()
    assert fn["schedulePrevious"] == format_datetime(second)
    assert fn["scheduleNext"] == format_datetime(second + timedelta(minutes=5))
    stored = executions_of(client, "cron")
    assert sorted(e["$id"] for e in stored) == sorted(run["$id"] for run in runs)


def test_clearing_a_schedule_stops_it_and_disabled_functions_still_run(
    client: TestClient,
) -> None:
    create_function(client, "cron", schedule="* * * * *", enabled=False)
    deploy(client, "cron", name="counter")
    start = clock(client)
    runs = advance(client, 180)["executions"]
    assert all(run["trigger"] == "schedule" and run["status"] == "completed" for run in runs)
    minutes = [minute_after(start) + timedelta(minutes=i) for i in range(3)]
    assert [run["$createdAt"][:16] for run in runs] == [format_datetime(m)[:16] for m in minutes]

    cleared = client.put("/v1/functions/cron", json={"name": "cron", "schedule": ""}).json()
    assert cleared["scheduleNext"] == "" and cleared["schedulePrevious"] != ""
    assert advance(client, 600)["executions"] == []
    assert len(executions_of(client, "cron")) == 3

    client.put("/v1/functions/cron", json={"name": "cron", "schedule": "0 * * * *"})
    hourly = advance(client, 3600)["executions"]
    assert len(hourly) == 1 and hourly[0]["$createdAt"][14:16] == "00"


def test_a_function_without_a_ready_deployment_records_nothing(client: TestClient) -> None:
    create_function(client, "cron", schedule="* * * * *")
    start = clock(client)
    assert advance(client, 120)["executions"] == []
    fn = client.get("/v1/functions/cron").json()
    # The run still happened, as a 1.3 job: the schedule moved on.
    assert fn["schedulePrevious"] == format_datetime(minute_after(start) + timedelta(minutes=1))
    assert fn["scheduleNext"] == format_datetime(minute_after(start) + timedelta(minutes=2))
    assert executions_of(client, "cron") == []


def test_run_schedule_now(client: TestClient) -> None:
    create_function(client, "cron", schedule="0 0 1 1 *")
    path = "/v1/emulator/functions/cron/schedule"
    assert_appwrite_error(
        client.post(path),
        404,
        "deployment_not_found",
        "Deployment not found. Create a deployment before trying to execute a function",
    )
    deploy(client, "cron")
    before = clock(client)
    response = client.post(path)
    assert response.status_code == 201, response.text
    execution = response.json()
    assert list(execution) == EXECUTION_KEYS
    assert execution["trigger"] == "schedule" and execution["status"] == "completed"
    assert echoed(execution)["variables"]["APPWRITE_FUNCTION_TRIGGER"] == "schedule"
    fn = client.get("/v1/functions/cron").json()
    previous = parse_datetime(fn["schedulePrevious"])
    assert previous is not None and before <= previous <= clock(client)
    assert fn["scheduleNext"] == format_datetime(datetime(before.year + 1, 1, 1, tzinfo=UTC))
    assert [e["$id"] for e in executions_of(client, "cron")] == [execution["$id"]]

    assert_appwrite_error(client.post(path, headers=AS_GUEST), 401, "general_unauthorized_scope")
    assert_appwrite_error(
        client.post("/v1/emulator/functions/missing/schedule"), 404, "function_not_found"
    )
    assert_appwrite_error(
        client.post("/v1/emulator/functions/_bad/schedule"), 400, "general_argument_invalid"
    )


def test_clock_endpoints(client: TestClient) -> None:
    before = datetime.now(UTC)
    now = clock(client)
    assert before - timedelta(seconds=1) <= now <= datetime.now(UTC) + timedelta(seconds=1)
    moved = parse_datetime(advance(client, 86_400.5)["now"])
    assert moved is not None and moved - now >= timedelta(seconds=86_400.5)
    # Everything dated follows the virtual clock.
    created = parse_datetime(create_function(client, "later")["$createdAt"])
    assert created is not None and created >= moved
    assert clock(client) >= moved

    advance_path = "/v1/emulator/clock/advance"
    assert_appwrite_error(
        client.post(advance_path, json={}),
        400,
        "general_argument_invalid",
        'Param "seconds" is not optional.',
    )
    for bad in (-1, "60", True, 10 * 365 * 86_400 + 1):
        assert_appwrite_error(
            client.post(advance_path, json={"seconds": bad}),
            400,
            "general_argument_invalid",
            "Invalid seconds: Value must be a number of seconds between 0 and 315,360,000",
        )
    assert_appwrite_error(
        client.get("/v1/emulator/clock", headers=AS_GUEST), 401, "general_unauthorized_scope"
    )
    assert_appwrite_error(
        client.post(advance_path, json={"seconds": 1}, headers=AS_GUEST),
        401,
        "general_unauthorized_scope",
        "User (role: guests) missing scope (emulator.write)",
    )


def test_the_loop_fires_in_real_time_and_picks_up_changes_at_once(client: TestClient) -> None:
    create_function(client, "cron")
    deploy(client, "cron", name="counter")
    # Put the clock 2.5 s before a minute, while no function has a schedule (the loop sleeps).
    now = clock(client)
    advance(client, (minute_after(now) - now).total_seconds() + 60 - 2.5)
    updated = client.put("/v1/functions/cron", json={"name": "cron", "schedule": "* * * * *"})
    due = minute_after(clock(client))
    assert updated.json()["scheduleNext"] == format_datetime(due)
    assert executions_of(client, "cron") == []
    runs = wait_for(lambda: executions_of(client, "cron"), timeout=15)
    assert clock(client) >= due
    assert len(runs) == 1 and runs[0]["trigger"] == "schedule"
    fn = client.get("/v1/functions/cron").json()
    assert fn["scheduleNext"] == format_datetime(due + timedelta(minutes=1))


def test_runs_missed_while_stopped_are_not_replayed(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        client.headers.update(KEY_HEADERS)
        create_function(client, "cron", schedule="0 0 1 1 *")
        deploy(client, "cron", name="counter")

    async def move_schedule_back() -> None:
        db = await Database.open(settings.database_path)
        store = FunctionStore(db)
        fn = await store.get("cron")
        assert fn is not None
        fn.schedule_next = datetime.now(UTC) - timedelta(hours=1)
        await store.save(fn)
        await db.close()

    asyncio.run(move_schedule_back())
    with TestClient(create_app(settings)) as client:
        client.headers.update(KEY_HEADERS)
        fn = client.get("/v1/functions/cron").json()
        new_year = datetime(clock(client).year + 1, 1, 1, tzinfo=UTC)
        assert fn["scheduleNext"] == format_datetime(new_year)
        time.sleep(0.3)  # a pass of the loop: an overdue run would fire now
        assert executions_of(client, "cron") == []


def test_schedule_runs_emit_their_update_event(client: TestClient) -> None:
    create_function(client, "cron", schedule="* * * * *")
    deploy(client, "cron", name="counter")
    create_function(client, "watcher", events=["functions.cron.executions.*.update"])
    deploy(client, "watcher")
    run = advance(client, 60)["executions"][0]
    seen = wait_for(lambda: executions_of(client, "watcher"), timeout=30)
    echo = echoed(wait_for(lambda: _finished(client, "watcher", seen[0]["$id"])))
    assert echo["variables"]["APPWRITE_FUNCTION_EVENT"] == (
        f"functions.cron.executions.{run['$id']}.update"
    )
    assert json.loads(echo["variables"]["APPWRITE_FUNCTION_EVENT_DATA"]) == run


def _finished(client: TestClient, function_id: str, execution_id: str) -> dict[str, Any] | None:
    execution: dict[str, Any] = client.get(
        f"/v1/functions/{function_id}/executions/{execution_id}"
    ).json()
    return execution if execution["status"] in ("completed", "failed") else None
