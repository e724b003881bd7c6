"""The official Python SDK (appwrite==2.0.2) against the real server: the management API."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx
import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.query import Query
from appwrite.services.functions import Functions

from tests.e2e.conftest import Server, start_server


def sdk(server: Server) -> Functions:
    client = Client()
    client.set_endpoint(server.endpoint).set_project(server.project_id).set_key(server.api_key)
    return Functions(client)


def test_functions_crud_and_queries(server: Server) -> None:
    functions = sdk(server)
    first = functions.create(
        "unique()",
        "Test",
        "python-3.9",
        execute=["any"],
        events=["users.*.create", "users.*.delete"],
        schedule="0 0 1 1 *",
        timeout=10,
    )
    second = functions.create("second", "Test 2", "node-18.0", enabled=False)
    assert first["name"] == "Test" and first["timeout"] == 10
    assert second["$id"] == "second" and second["enabled"] is False

    listed = functions.list()
    assert listed["total"] == 2
    assert [f["name"] for f in listed["functions"]] == ["Test", "Test 2"]
    assert functions.list(queries=[Query.equal("enabled", True)])["total"] == 1
    assert (
        functions.list(queries=[Query.equal("enabled", [False])])["functions"][0]["$id"] == "second"
    )
    assert (
        functions.list(queries=[Query.limit(1), Query.offset(1)])["functions"][0]["$id"] == "second"
    )
    assert [
        f["$id"] for f in functions.list(queries=[Query.cursor_after(first["$id"])])["functions"]
    ] == ["second"]
    assert [
        f["$id"] for f in functions.list(queries=[Query.cursor_before("second")])["functions"]
    ] == [first["$id"]]
    assert [f["$id"] for f in functions.list(queries=[Query.order_desc("name")])["functions"]] == [
        "second",
        first["$id"],
    ]
    assert functions.list(queries=[Query.greater_than("timeout", 12)])["total"] == 1
    assert functions.list(search="Test")["total"] == 2
    assert functions.list(search=first["$id"])["functions"][0]["$id"] == first["$id"]

    with pytest.raises(AppwriteException) as error:
        functions.list(queries=[Query.cursor_after("unknown")])
    assert error.value.code == 400 and error.value.type == "general_cursor_not_found"

    updated = functions.update(first["$id"], "Test1", events=["users.*.update.name"], timeout=5)
    assert updated["name"] == "Test1" and updated["schedule"] == "" and updated["execute"] == []
    assert functions.get(first["$id"])["timeout"] == 5

    functions.delete("second")
    with pytest.raises(AppwriteException) as error:
        functions.get("second")
    assert error.value.code == 404 and error.value.type == "function_not_found"


def test_variables_and_runtimes(server: Server) -> None:
    functions = sdk(server)
    fn = functions.create("unique()", "Vars", "python-3.10")
    created = [
        functions.create_variable(fn["$id"], f"funcKey{i}", f"funcValue{i}") for i in (1, 2, 3)
    ]
    assert functions.list_variables(fn["$id"])["total"] == 3
    got = functions.get_variable(fn["$id"], created[0]["$id"])
    assert got["key"] == "funcKey1" and got["value"] == "funcValue1"
    updated = functions.update_variable(fn["$id"], created[0]["$id"], "funcKey1", "changed")
    assert updated["value"] == "changed"
    functions.delete_variable(fn["$id"], created[1]["$id"])
    assert [v["key"] for v in functions.get(fn["$id"])["vars"]] == ["funcKey1", "funcKey3"]
    with pytest.raises(AppwriteException) as error:
        functions.create_variable(fn["$id"], "funcKey3", "again")
    assert error.value.code == 409 and error.value.type == "variable_already_exists"

    runtimes = functions.list_runtimes()
    assert runtimes["total"] > 0
    assert set(runtimes["runtimes"][0]) == {
        "$id",
        "name",
        "version",
        "logo",
        "image",
        "base",
        "supports",
    }


def test_guest_sdk_gets_401(server: Server) -> None:
    client = Client().set_endpoint(server.endpoint).set_project(server.project_id)
    with pytest.raises(AppwriteException) as error:
        Functions(client).list()
    assert error.value.code == 401
    assert error.value.message == "User (role: guests) missing scope (functions.read)"


def test_restart_keeps_data_and_generated_key(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "appwrite.json").write_text('{"projectId": "my-app", "projectName": "My App"}')
    first = start_server(project, tmp_path / "data", api_key=None)
    try:
        banner = first.log()
        key = next(
            line.split(":", 1)[1].split()[0] for line in banner.splitlines() if "API key:" in line
        )
        assert "Project ID: my-app" in banner
        assert f"Endpoint:   {first.endpoint}" in banner
        client = Client().set_endpoint(first.endpoint).set_project("my-app").set_key(key)
        Functions(client).create("kept", "Kept", "python-3.9", schedule="*/5 * * * *")
        Functions(client).create_variable("kept", "K", "V")
        before = Functions(client).get("kept")
    finally:
        assert first.stop(signal.SIGINT) == 0
    second = start_server(project, tmp_path / "data", api_key=None)
    try:
        assert key in second.log()
        client = Client().set_endpoint(second.endpoint).set_project("my-app").set_key(key)
        after = Functions(client).get("kept")
        assert after["vars"] == before["vars"] and after["schedule"] == before["schedule"]
        assert after["$createdAt"] == before["$createdAt"]
    finally:
        assert second.stop() == 0


def test_curl_style_http(server: Server) -> None:
    headers = {"X-Appwrite-Project": server.project_id, "X-Appwrite-Key": server.api_key}
    response = httpx.post(
        f"{server.endpoint}/functions/",
        data={"functionId": "curl", "name": "Curl", "runtime": "python-3.9", "execute[]": "any"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["execute"] == ["any"]
    missing = httpx.get(f"{server.endpoint}/functions/missing", headers=headers)
    assert missing.status_code == 404 and missing.json()["type"] == "function_not_found"
