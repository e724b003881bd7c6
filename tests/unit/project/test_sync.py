"""Project mode at start, through the app's lifespan: appwrite.json applied to the data dir."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings, build_settings
from emulator.project.deployer import Trigger
from emulator.project.sync import ProjectSession
from tests.support import wait_for

KEY = "sync-key"
HEADERS = {"X-Appwrite-Project": "demo", "X-Appwrite-Key": KEY}
MAIN = "def main(req, res):\n    res.json({'version': %d, 'greeting': req.variables.get('GREETING')})\n"


def write_project(root: Path, functions: list[dict[str, Any]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    data = {"projectId": "demo", "projectName": "Demo", "functions": functions}
    (root / "appwrite.json").write_text(json.dumps(data, indent=4))


def python_function(root: Path, fid: str, version: int = 1, **fields: Any) -> dict[str, Any]:
    folder = root / "functions" / fid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(MAIN % version)
    base = {"$id": fid, "name": fid.title(), "runtime": "python-3.9"}
    return {**base, "path": f"functions/{fid}", "entrypoint": "main.py", **fields}


def settings_for(tmp_path: Path) -> Settings:
    return build_settings(
        tmp_path / "project",
        data_dir=tmp_path / "data",
        project_id="demo",
        api_key=KEY,
        env={},
        watch=False,
    )


@contextmanager
def serving(tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(settings_for(tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(HEADERS)
        yield client


def session(client: TestClient) -> ProjectSession:
    project: ProjectSession = client.app.state.project  # type: ignore[attr-defined]
    return project


def active(client: TestClient, fid: str) -> dict[str, Any]:
    """The function once its deployment is active."""

    def probe() -> dict[str, Any] | None:
        fn: dict[str, Any] = client.get(f"/v1/functions/{fid}").json()
        return fn if fn.get("deployment") else None

    return wait_for(probe, timeout=60)


def execute(client: TestClient, fid: str) -> dict[str, Any]:
    response = client.post(f"/v1/functions/{fid}/executions", json={})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = json.loads(response.json()["response"])
    return result


def test_functions_are_created_with_variables_and_their_folder_deployed(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_project(
        root,
        [
            python_function(
                root,
                "greeter",
                variables={"GREETING": "hi"},
                execute=["any"],
                events=["users.*.create"],
            ),
            python_function(root, "plain", name=None, schedule="*/5 * * * *", timeout=30),
        ],
    )
    with serving(tmp_path) as client:
        greeter = active(client, "greeter")
        assert greeter["name"] == "Greeter" and greeter["execute"] == ["any"]
        assert greeter["events"] == ["users.*.create"]
        assert [(v["key"], v["value"]) for v in greeter["vars"]] == [("GREETING", "hi")]
        plain = active(client, "plain")
        assert (plain["schedule"], plain["timeout"], plain["execute"]) == ("*/5 * * * *", 30, [])
        assert plain["name"] == "plain"  # no name in the file: the ID
        assert execute(client, "greeter") == {"version": 1, "greeting": "hi"}
        deployment = client.get(f"/v1/functions/greeter/deployments/{greeter['deployment']}")
        assert deployment.json()["entrypoint"] == "main.py"


def test_the_file_wins_for_its_fields_and_api_functions_are_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    with serving(tmp_path) as client:  # no appwrite.json yet: API-only use
        assert client.get("/v1/functions").json()["total"] == 0
        created = {
            "functionId": "shared",
            "name": "Old name",
            "runtime": "python-3.9",
            "execute": ["users"],
            "schedule": "0 * * * *",
            "timeout": 60,
        }
        assert client.post("/v1/functions", json=created).status_code == 201
        for key in ("OLD", "GREETING"):
            client.post("/v1/functions/shared/variables", json={"key": key, "value": "api"})
        api_only = {"functionId": "api-only", "name": "API only", "runtime": "python-3.9"}
        assert client.post("/v1/functions", json=api_only).status_code == 201

    shared = python_function(
        root, "shared", name="New name", timeout=5, variables={"GREETING": "file"}
    )
    write_project(root, [shared])
    with serving(tmp_path) as client:
        fn = active(client, "shared")
        assert (fn["name"], fn["timeout"]) == ("New name", 5)
        assert (fn["execute"], fn["schedule"]) == (["users"], "0 * * * *")  # not in the file: kept
        assert {v["key"]: v["value"] for v in fn["vars"]} == {"GREETING": "file"}
        assert client.get("/v1/functions/api-only").json()["name"] == "API only"
        assert execute(client, "shared") == {"version": 1, "greeting": "file"}


def test_a_restart_without_changes_makes_no_new_deployment(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_project(root, [python_function(root, "steady")])
    with serving(tmp_path) as client:
        first = active(client, "steady")["deployment"]
    with serving(tmp_path) as client:
        assert client.get("/v1/functions/steady").json()["deployment"] == first
        assert client.get("/v1/functions/steady/deployments").json()["total"] == 1
    (root / "functions" / "steady" / "main.py").write_text(MAIN % 2)
    with serving(tmp_path) as client:
        wait_for(lambda: client.get("/v1/functions/steady").json()["deployment"] != first)
        assert execute(client, "steady")["version"] == 2


def test_a_changed_runtime_recreates_the_function(tmp_path: Path) -> None:
    root = tmp_path / "project"
    write_project(root, [python_function(root, "moving")])
    with serving(tmp_path) as client:
        active(client, "moving")
    write_project(root, [python_function(root, "moving", runtime="python-3.10")])
    with serving(tmp_path) as client:
        fn = active(client, "moving")
        assert fn["runtime"] == "python-3.10"
        assert client.get("/v1/functions/moving/deployments").json()["total"] == 1


def test_problems_are_logged_and_the_valid_part_still_starts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "project"
    good = python_function(root, "good")
    bad = python_function(root, "bad", runtime="cobol-1.0")
    no_path = python_function(root, "no-path", path="functions/missing", schedule="nope")
    write_project(root, [bad, good, no_path])
    with caplog.at_level(logging.INFO, logger="emulator.dev"), serving(tmp_path) as client:
        active(client, "good")
        assert client.get("/v1/functions/bad").status_code == 404
        created = client.get("/v1/functions/no-path").json()
        assert created["deployment"] == "" and created["schedule"] == ""
    problems = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(problems) == 3, problems
    file = root.resolve() / "appwrite.json"
    assert problems[0].startswith(f"{file}: functions[0].runtime: ")
    assert problems[1].startswith(f"{file}: functions[2].path: ")
    assert problems[2].startswith(f"{file}: functions[2].schedule: ")


def test_a_failed_reload_keeps_the_previous_deployment(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "project"
    write_project(root, [python_function(root, "fragile")])
    with caplog.at_level(logging.INFO, logger="emulator.dev"), serving(tmp_path) as client:
        before = active(client, "fragile")["deployment"]
        project = session(client)
        (spec,) = project.project.functions
        (root / "functions" / "fragile" / "requirements.txt").write_text("no such thing !!\n")
        (root / "functions" / "fragile" / "main.py").write_text(MAIN % 2)
        trigger = Trigger({"main.py", "requirements.txt"}, time.time())
        portal = client.portal
        assert portal is not None
        portal.call(project.deployer.submit, spec, trigger)
        portal.call(project.deployer.wait_idle)
        assert client.get("/v1/functions/fragile").json()["deployment"] == before
        assert execute(client, "fragile")["version"] == 1
    (line,) = [r.getMessage() for r in caplog.records if "build failed" in r.getMessage()]
    assert line.startswith("fragile: main.py, requirements.txt changed -> build failed; ")
    assert f"deployment {before} stays active" in line
    assert "Invalid requirement" in line
