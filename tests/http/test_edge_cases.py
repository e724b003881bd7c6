"""Odd but plausible requests get 1.3's answer (never a 500, never a write outside the data dir)."""

from __future__ import annotations

from pathlib import Path

from starlette.testclient import TestClient

from emulator.config import Settings
from tests.conftest import assert_appwrite_error
from tests.http.conftest import AS_GUEST, upload, wait_built
from tests.support import fixture, pack, wait_for


def test_upload_id_cannot_name_a_path(client: TestClient, fn_id: str, tmp_path: Path) -> None:
    archive = pack(fixture("python", "counter"))
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    for upload_id in ["../../../victim", str(victim), "a/b"]:
        response = upload(
            client,
            fn_id,
            archive,
            headers={
                "Content-Range": f"bytes 0-{len(archive) - 1}/{len(archive)}",
                "X-Appwrite-ID": upload_id,
            },
        )
        error = assert_appwrite_error(response, 400, "general_argument_invalid")
        assert error["message"].startswith("Invalid X-Appwrite-ID: UID must contain")
    assert client.delete(f"/v1/functions/{fn_id}").status_code == 204
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


def test_a_file_part_is_not_a_plain_parameter(client: TestClient, fn_id: str) -> None:
    response = client.post(
        f"/v1/functions/{fn_id}/deployments",
        data={"entrypoint": "main.py"},
        files={"code": ("code.tar.gz", b"x"), "activate": ("activate", b"true")},
    )
    assert_appwrite_error(
        response, 400, "general_argument_invalid", 'Param "activate" is not optional.'
    )
    response = client.post(
        "/v1/functions",
        data={"functionId": "unique()", "runtime": "python-3.9"},
        files={"name": ("name.txt", b"Test")},
    )
    assert_appwrite_error(
        response, 400, "general_argument_invalid", 'Param "name" is not optional.'
    )


def test_unparsable_bodies_count_as_empty(client: TestClient, fn_id: str) -> None:
    no_boundary = client.post(
        f"/v1/functions/{fn_id}/deployments",
        content=b"garbage",
        headers={"content-type": "multipart/form-data"},
    )
    assert_appwrite_error(
        no_boundary, 400, "general_argument_invalid", 'Param "entrypoint" is not optional.'
    )
    for body in [b'{"name": "a\\ud800b"}', b"[" * 100_000 + b"]" * 100_000]:
        response = client.post(
            "/v1/functions", content=body, headers={"content-type": "application/json"}
        )
        assert_appwrite_error(
            response, 400, "general_argument_invalid", 'Param "functionId" is not optional.'
        )


def test_query_string_is_not_a_body_parameter(client: TestClient) -> None:
    response = client.post(
        "/v1/functions?functionId=q&name=Q&runtime=python-3.9", json={"name": "x"}
    )
    assert_appwrite_error(
        response, 400, "general_argument_invalid", 'Param "functionId" is not optional.'
    )


def test_empty_and_zero_ids_are_generated(client: TestClient) -> None:
    for given in ["", "0"]:
        response = client.post(
            "/v1/functions", json={"functionId": given, "name": "F", "runtime": "python-3.9"}
        )
        assert response.status_code == 201
        generated = response.json()["$id"]
        assert len(generated) == 20 and client.get(f"/v1/functions/{generated}").status_code == 200


def test_execution_without_a_project_finds_no_function(client: TestClient, fn_id: str) -> None:
    response = client.post(
        f"/v1/functions/{fn_id}/executions",
        json={},
        headers={"X-Appwrite-Project": "", "X-Appwrite-Key": ""},
    )
    assert_appwrite_error(response, 404, "function_not_found")


def test_jwts_never_verify(client: TestClient, fn_id: str) -> None:
    for token, reason in [("garbage", "Incomplete segments"), ("a.b.c", "Signature failed")]:
        response = client.post(
            f"/v1/functions/{fn_id}/executions",
            json={},
            headers={**AS_GUEST, "X-Appwrite-JWT": token},
        )
        assert_appwrite_error(
            response, 401, "user_jwt_invalid", f"Failed to verify JWT. Invalid token: {reason}"
        )


def test_rate_limit_headers_on_errors_too(settings: Settings) -> None:
    from emulator.app import create_app
    from tests.http.conftest import KEY_HEADERS

    limited = Settings(**{**settings.__dict__, "rate_limit": True})
    with TestClient(create_app(limited)) as client:
        client.headers.update(KEY_HEADERS)
        client.post("/v1/functions", json={"functionId": "f", "name": "F", "runtime": "python-3.9"})
        path = "/v1/functions/f/executions"
        for remaining in range(59, -1, -1):
            response = client.post(path, json={}, headers=AS_GUEST)
            assert_appwrite_error(response, 404, "deployment_not_found")
            assert response.headers["x-ratelimit-remaining"] == str(remaining)
        limited_response = client.post(path, json={}, headers=AS_GUEST)
        assert_appwrite_error(limited_response, 429, "general_rate_limit_exceeded")
        assert limited_response.headers["x-ratelimit-limit"] == "60"
        assert limited_response.headers["x-ratelimit-remaining"] == "0"
        # The key is never limited.
        assert client.post(path, json={}).status_code == 404


def test_retry_rebuilds_the_deployment_not_the_build_named(client: TestClient, fn_id: str) -> None:
    bad = upload(client, fn_id, b"not gzip", activate="false").json()
    good = upload(client, fn_id, pack(fixture("python", "counter")), activate="false").json()
    bad_build = wait_built(client, fn_id, bad["$id"])
    assert bad_build["status"] == "failed"
    wait_built(client, fn_id, good["$id"])
    base = f"/v1/functions/{fn_id}/deployments"
    retry = client.post(f"{base}/{good['$id']}/builds/{bad_build['buildId']}")
    assert retry.status_code == 204
    wait_for(lambda: client.get(f"{base}/{good['$id']}").json()["status"] == "ready")
    assert client.get(f"{base}/{bad['$id']}").json()["status"] == "failed"


def test_empty_content_range_is_a_single_upload(client: TestClient, fn_id: str) -> None:
    response = upload(
        client, fn_id, pack(fixture("python", "counter")), headers={"Content-Range": ""}
    )
    assert response.status_code == 202


def test_permission_message_escapes_like_php(client: TestClient, fn_id: str) -> None:
    client.put(f"/v1/functions/{fn_id}", json={"name": "Fn", "execute": ["users/verified"]})
    created = upload(client, fn_id, pack(fixture("python", "counter"))).json()
    wait_built(client, fn_id, created["$id"])
    wait_for(lambda: client.get(f"/v1/functions/{fn_id}").json()["deployment"])
    response = client.post(f"/v1/functions/{fn_id}/executions", json={}, headers=AS_GUEST)
    assert_appwrite_error(
        response,
        401,
        "user_unauthorized",
        'Missing "execute" permission for role "users/verified". Only "["any","guests"]" scopes '
        'are allowed and "["users\\/verified"]" was given.',
    )


def test_usage_is_disabled_as_in_132(client: TestClient, fn_id: str) -> None:
    for path in ["/v1/functions/usage", f"/v1/functions/{fn_id}/usage?range=7d"]:
        error = assert_appwrite_error(client.get(path), 501, "general_usage_disabled")
        assert error["message"].startswith("Usage stats is not configured.")
    bad = client.get("/v1/functions/usage?range=1y")
    assert_appwrite_error(
        bad,
        400,
        "general_argument_invalid",
        "Invalid range: Value must be one of (24h, 7d, 30d, 90d)",
    )


def test_unknown_route_message(client: TestClient) -> None:
    assert_appwrite_error(client.get("/v1/nowhere"), 404, "general_route_not_found", "Not Found")
