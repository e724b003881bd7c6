"""Deployments, builds and executions over HTTP: the error paths and the records (spec 4.7–4.15)."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from tests.conftest import assert_appwrite_error
from tests.http.conftest import AS_GUEST, upload, wait_built
from tests.support import fixture, pack, wait_for

DEPLOYMENT_KEYS = [
    "$id",
    "$createdAt",
    "$updatedAt",
    "resourceId",
    "resourceType",
    "entrypoint",
    "size",
    "buildId",
    "activate",
    "status",
    "buildStdout",
    "buildStderr",
    "buildTime",
]
EXECUTION_KEYS = [
    "$id",
    "$createdAt",
    "$updatedAt",
    "$permissions",
    "functionId",
    "trigger",
    "status",
    "statusCode",
    "response",
    "stdout",
    "stderr",
    "duration",
]


def test_upload_build_activate_execute(client: TestClient, fn_id: str) -> None:
    response = upload(client, fn_id, pack(fixture("python", "counter")))
    assert response.status_code == 202
    created = response.json()
    assert list(created) == DEPLOYMENT_KEYS
    assert created["status"] == "" and created["buildId"] == "" and created["activate"] is True
    assert created["resourceId"] == fn_id and created["resourceType"] == "functions"
    built = wait_built(client, fn_id, created["$id"])
    assert built["status"] == "ready" and built["buildStdout"] and built["buildId"]
    assert built["buildTime"] == 0
    listed = client.get(f"/v1/functions/{fn_id}/deployments").json()
    assert list(listed) == ["total", "deployments"] and listed["total"] == 1
    wait_for(lambda: client.get(f"/v1/functions/{fn_id}").json()["deployment"] == created["$id"])

    execution = client.post(f"/v1/functions/{fn_id}/executions", json={}).json()
    assert list(execution) == EXECUTION_KEYS
    assert execution["status"] == "completed" and execution["statusCode"] == 200
    assert json.loads(execution["response"]) == {"count": 1}
    assert execution["$permissions"] == [] and execution["trigger"] == "http"
    assert 0 < execution["duration"] < 5


def test_multipart_activate_false_is_false(client: TestClient, fn_id: str) -> None:
    created = upload(client, fn_id, pack(fixture("python", "counter")), activate="false").json()
    assert created["activate"] is False
    assert wait_built(client, fn_id, created["$id"])["status"] == "ready"
    assert client.get(f"/v1/functions/{fn_id}").json()["deployment"] == ""
    activated = client.patch(f"/v1/functions/{fn_id}/deployments/{created['$id']}")
    assert activated.status_code == 200
    assert activated.json()["$id"] == fn_id and activated.json()["deployment"] == created["$id"]


@pytest.mark.parametrize(
    ("data", "files", "status", "error_type", "message"),
    [
        (
            {"activate": "true"},
            True,
            400,
            "general_argument_invalid",
            'Param "entrypoint" is not optional.',
        ),
        (
            {"entrypoint": "main.py"},
            True,
            400,
            "general_argument_invalid",
            'Param "activate" is not optional.',
        ),
        (
            {"entrypoint": "main.py", "activate": "maybe"},
            True,
            400,
            "general_argument_invalid",
            "Invalid activate: Value must be a valid boolean",
        ),
        (
            {"entrypoint": "main.py", "activate": "true"},
            False,
            400,
            "storage_file_empty",
            "No file sent",
        ),
    ],
)
def test_upload_validation(
    client: TestClient,
    fn_id: str,
    data: dict[str, str],
    files: bool,
    status: int,
    error_type: str,
    message: str,
) -> None:
    response = client.post(
        f"/v1/functions/{fn_id}/deployments",
        data=data,
        files={"code": ("code.tar.gz", b"x", "application/gzip")}
        if files
        else {"other": ("x", b"x")},
    )
    assert_appwrite_error(response, status, error_type, message)


def test_upload_extension_range_and_size(client: TestClient, fn_id: str) -> None:
    archive = pack(fixture("python", "counter"))
    assert_appwrite_error(
        upload(client, fn_id, archive, filename="code.zip"),
        400,
        "storage_file_type_unsupported",
        "The given file extension is not supported.",
    )
    assert_appwrite_error(
        upload(client, fn_id, archive, headers={"Content-Range": "bytes 10-5/100"}),
        400,
        "storage_invalid_content_range",
    )
    too_big = f"bytes 0-{len(archive) - 1}/{30_000_001}"
    assert_appwrite_error(
        upload(client, fn_id, archive, headers={"Content-Range": too_big}),
        400,
        "storage_invalid_file_size",
    )
    assert_appwrite_error(upload(client, "missing", archive), 404, "function_not_found")


def test_corrupt_archive_fails_the_build_and_can_be_retried(client: TestClient, fn_id: str) -> None:
    created = upload(client, fn_id, b"this is not gzip").json()
    failed = wait_built(client, fn_id, created["$id"])
    assert failed["status"] == "failed" and failed["buildStderr"]
    path = f"/v1/functions/{fn_id}/deployments/{created['$id']}"
    assert_appwrite_error(client.patch(path), 400, "build_not_ready")
    assert_appwrite_error(
        client.post(f"/v1/functions/{fn_id}/executions", json={}),
        404,
        "deployment_not_found",
        "Deployment not found. Create a deployment before trying to execute a function",
    )
    retry = client.post(f"{path}/builds/{failed['buildId']}")
    assert retry.status_code == 204
    assert wait_built(client, fn_id, created["$id"])["status"] == "failed"
    assert_appwrite_error(client.post(f"{path}/builds/nope"), 404, "build_not_found")


def test_deployment_not_found_paths(client: TestClient, fn_id: str) -> None:
    base = f"/v1/functions/{fn_id}/deployments"
    assert_appwrite_error(client.get(f"{base}/missing"), 404, "deployment_not_found")
    assert_appwrite_error(client.patch(f"{base}/missing"), 404, "deployment_not_found")
    assert_appwrite_error(client.delete(f"{base}/missing"), 404, "deployment_not_found")
    assert_appwrite_error(
        client.get(base, params={"queries[]": 'cursorAfter("missing")'}),
        400,
        "general_cursor_not_found",
        "Deployment 'missing' for the 'cursor' value not found.",
    )


def test_execution_checks_in_13_order(client: TestClient, fn_id: str) -> None:
    executions = f"/v1/functions/{fn_id}/executions"
    # No deployment: 404 even for a guest the function would not allow (permission comes last).
    client.put(f"/v1/functions/{fn_id}", json={"name": "Fn", "execute": []})
    assert_appwrite_error(
        client.post(executions, json={}, headers=AS_GUEST), 404, "deployment_not_found"
    )
    created = upload(client, fn_id, pack(fixture("python", "counter"))).json()
    wait_built(client, fn_id, created["$id"])
    wait_for(lambda: client.get(f"/v1/functions/{fn_id}").json()["deployment"])
    assert_appwrite_error(
        client.post(executions, json={}, headers=AS_GUEST),
        401,
        "user_unauthorized",
        "No permissions provided for action 'execute'",
    )
    assert_appwrite_error(
        client.post(executions, json={"data": ""}),
        400,
        "general_argument_invalid",
        "Invalid data: Value must be a valid string and at least 1 chars and no longer than 8192 chars",
    )
    assert_appwrite_error(
        client.post(executions, json={"async": "yes"}),
        400,
        "general_argument_invalid",
        "Invalid async: Value must be a valid boolean",
    )
    client.put(f"/v1/functions/{fn_id}", json={"name": "Fn", "enabled": False})
    assert_appwrite_error(client.post(executions, json={}), 404, "function_not_found")
    assert_appwrite_error(client.get(executions), 404, "function_not_found")
    client.put(f"/v1/functions/{fn_id}", json={"name": "Fn"})
    assert_appwrite_error(
        client.get(f"{executions}/missing"),
        404,
        "execution_not_found",
        "Execution with the requested ID could not be found.",
    )
    assert_appwrite_error(
        client.get(executions, params={"queries[]": 'cursorBefore("missing")'}),
        400,
        "general_cursor_not_found",
        "Execution 'missing' for the 'cursor' value not found.",
    )


def test_delete_function_removes_everything(client: TestClient, fn_id: str) -> None:
    created = upload(client, fn_id, pack(fixture("python", "counter"))).json()
    wait_built(client, fn_id, created["$id"])
    wait_for(lambda: client.get(f"/v1/functions/{fn_id}").json()["deployment"])
    client.post(f"/v1/functions/{fn_id}/executions", json={})
    assert client.delete(f"/v1/functions/{fn_id}").status_code == 204
    client.post(
        "/v1/functions", json={"functionId": fn_id, "name": "Again", "runtime": "python-3.9"}
    )
    assert client.get(f"/v1/functions/{fn_id}/deployments").json()["total"] == 0
    assert client.get(f"/v1/functions/{fn_id}/executions").json()["total"] == 0


def test_execution_responses_carry_rate_limit_headers(client: TestClient, fn_id: str) -> None:
    created = upload(client, fn_id, pack(fixture("python", "counter"))).json()
    wait_built(client, fn_id, created["$id"])
    wait_for(lambda: client.get(f"/v1/functions/{fn_id}").json()["deployment"])
    response = client.post(f"/v1/functions/{fn_id}/executions", json={}, headers=AS_GUEST)
    assert response.status_code == 201
    assert response.headers["x-ratelimit-limit"] == "60"
    assert response.headers["x-ratelimit-remaining"] == "59"  # off by default: nothing counted
    assert "x-ratelimit-limit" not in client.get(f"/v1/functions/{fn_id}").headers
