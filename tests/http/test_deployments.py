"""Deployments, builds and executions over HTTP: the error paths and the records."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import assert_appwrite_error
from tests.http.conftest import AS_GUEST, KEY_HEADERS, upload, wait_built
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


MiB = 1024 * 1024
BAD_RANGE = "The content range is invalid. Please check the value of the Content-Range header."


def bytes_kept(settings: Settings) -> int:
    """What the uploads folder of the data dir holds, in bytes."""
    uploads = settings.data_dir / "uploads"
    return sum(f.stat().st_size for f in uploads.rglob("*") if f.is_file())


def test_upload_checks_in_13_order(client: TestClient, fn_id: str) -> None:
    archive = pack(fixture("python", "counter"))
    bad_range = {"Content-Range": "bytes 10-5/100"}
    assert_appwrite_error(
        upload(client, "missing", archive, headers=bad_range), 404, "function_not_found"
    )
    no_file = client.post(
        f"/v1/functions/{fn_id}/deployments",
        data={"entrypoint": "main.py", "activate": "true"},
        files={"other": ("x", b"x")},
        headers=bad_range,
    )
    assert_appwrite_error(no_file, 400, "storage_file_empty", "No file sent")
    assert_appwrite_error(
        upload(client, fn_id, archive, filename="code.zip", headers=bad_range),
        400,
        "storage_file_type_unsupported",
    )
    assert_appwrite_error(
        upload(client, fn_id, archive, headers={**bad_range, "X-Appwrite-ID": "../x"}),
        400,
        "storage_invalid_content_range",
        BAD_RANGE,
    )
    too_big_bad_id = {"Content-Range": f"bytes 0-9/{30_000_001}", "X-Appwrite-ID": "../x"}
    error = assert_appwrite_error(
        upload(client, fn_id, archive, headers=too_big_bad_id), 400, "general_argument_invalid"
    )
    assert error["message"].startswith("Invalid X-Appwrite-ID: ")
    # The declared size is checked before the part's length (10 bytes declared, more sent).
    assert_appwrite_error(
        upload(client, fn_id, archive, headers={"Content-Range": f"bytes 0-9/{30_000_001}"}),
        400,
        "storage_invalid_file_size",
    )


def test_parts_larger_than_their_range_are_refused_and_never_kept(
    client: TestClient, fn_id: str, settings: Settings
) -> None:
    """Four parts of 5.5 MiB (under the body cap) declared as 1 MiB chunks of a 29 MB upload;
    then the issue's four 20 MiB parts, which the body cap stops before they are read."""
    statuses = []
    for size, status in ((5 * MiB + MiB // 2, 400), (20 * MiB, 413)):
        part = b"x" * size
        for start in range(0, 4 * MiB, MiB):
            headers = {
                "Content-Range": f"bytes {start}-{start + MiB - 1}/29000000",
                "X-Appwrite-ID": "big",
            }
            response = upload(client, fn_id, part, headers=headers)
            if response.status_code == 400:
                assert_appwrite_error(response, 400, "storage_invalid_content_range", BAD_RANGE)
            statuses.append((size, response.status_code))
        assert statuses[-4:] == [(size, status)] * 4
        assert bytes_kept(settings) == 0
    assert client.get(f"/v1/functions/{fn_id}/deployments").json()["total"] == 0


def test_parts_shorter_than_their_range_or_overlapping_another_are_refused(
    client: TestClient, fn_id: str, settings: Settings
) -> None:
    data = bytes(range(256)) * 40  # 10,240 bytes in chunks of 4,096
    first = upload(
        client, fn_id, data[:4096], headers={"Content-Range": f"bytes 0-4095/{len(data)}"}
    )
    assert first.status_code == 202
    upload_id = first.json()["$id"]
    attempts = {
        "bytes 4096-8191": data[4096:8000],  # shorter than its range
        "bytes 2048-6143": data[2048:6144],  # its length is right, but it overlaps the first
        "bytes 8192-10240": data[8192:],  # the 1.3 SDKs' last part carries END - START bytes
    }
    for declared, part in attempts.items():
        headers = {"Content-Range": f"{declared}/{len(data)}", "X-Appwrite-ID": upload_id}
        assert_appwrite_error(
            upload(client, fn_id, part + b"!", headers=headers),
            400,
            "storage_invalid_content_range",
            BAD_RANGE,
        )
    assert bytes_kept(settings) == 4096
    got = client.get(f"/v1/functions/{fn_id}/deployments/{upload_id}").json()
    assert got["size"] == len(data) and got["buildId"] == ""  # still waiting for its parts


@pytest.mark.parametrize("last_end_is_size", [True, False])
def test_chunked_upload_builds_with_either_last_part_convention(
    client: TestClient, fn_id: str, settings: Settings, last_end_is_size: bool
) -> None:
    archive = pack(fixture("python", "counter"))
    size, step = len(archive), 100
    assert size % step, "the last part must be partial"
    upload_id = ""
    for start in range(0, size, step):
        end = min(start + step - 1, size if last_end_is_size else size - 1)
        headers = {"Content-Range": f"bytes {start}-{end}/{size}"}
        if upload_id:
            headers["X-Appwrite-ID"] = upload_id
        response = upload(client, fn_id, archive[start : start + step], headers=headers)
        assert response.status_code == 202, response.text
        upload_id = response.json()["$id"]
    assert response.json()["size"] == size
    assert wait_built(client, fn_id, upload_id)["status"] == "ready"
    assert bytes_kept(settings) == size


def test_a_single_upload_over_the_limit_is_not_kept(settings: Settings, tmp_path: Path) -> None:
    # 5 MiB: over the 3 MiB deployment limit, under the 6 MiB body cap.
    small = dataclasses.replace(settings, max_deployment_size=3 * MiB)
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        client.headers.update(KEY_HEADERS)
        client.post("/v1/functions", json={"functionId": "f", "name": "F", "runtime": "python-3.9"})
        response = upload(client, "f", b"x" * (5 * MiB))
        assert_appwrite_error(response, 400, "storage_invalid_file_size")
        assert client.get("/v1/functions/f/deployments").json()["total"] == 0
    assert bytes_kept(small) == 0


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
