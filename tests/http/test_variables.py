"""The variable operations over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import assert_appwrite_error


@pytest.fixture
def fn_id(client: TestClient) -> str:
    response = client.post(
        "/v1/functions", json={"functionId": "unique()", "name": "F", "runtime": "python-3.9"}
    )
    fid: str = response.json()["$id"]
    return fid


def add(client: TestClient, fn_id: str, key: str, value: str = "v") -> dict[str, Any]:
    response = client.post(f"/v1/functions/{fn_id}/variables", json={"key": key, "value": value})
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_get_list(client: TestClient, fn_id: str) -> None:
    var = add(client, fn_id, "API_URL", "https://x/y")
    assert list(var) == ["$id", "$createdAt", "$updatedAt", "key", "value", "functionId"]
    assert var["functionId"] == fn_id and var["value"] == "https://x/y"
    assert client.get(f"/v1/functions/{fn_id}/variables/{var['$id']}").json() == var
    add(client, fn_id, "SECOND", "")
    listed = client.get(f"/v1/functions/{fn_id}/variables").json()
    assert list(listed) == ["total", "variables"]
    assert listed["total"] == 2
    assert [v["key"] for v in listed["variables"]] == ["API_URL", "SECOND"]


def test_duplicate_key_is_409(client: TestClient, fn_id: str) -> None:
    add(client, fn_id, "K")
    response = client.post(f"/v1/functions/{fn_id}/variables", json={"key": "K", "value": "2"})
    assert_appwrite_error(
        response,
        409,
        "variable_already_exists",
        "Variable with the same ID already exists in your project.",
    )


def test_same_key_on_two_functions_is_fine(client: TestClient, fn_id: str) -> None:
    other = client.post(
        "/v1/functions", json={"functionId": "unique()", "name": "G", "runtime": "python-3.9"}
    ).json()["$id"]
    add(client, fn_id, "K")
    add(client, other, "K")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": "v"}, 'Param "key" is not optional.'),
        ({"key": "k"}, 'Param "value" is not optional.'),
        (
            {"key": "k" * 256, "value": "v"},
            "Invalid key: Value must be a valid string and at least 1 chars and no longer than "
            "255 chars",
        ),
        (
            {"key": "k", "value": "v" * 8193},
            "Invalid value: Value must be a valid string and no longer than 8192 chars",
        ),
    ],
)
def test_create_validation(
    client: TestClient, fn_id: str, body: dict[str, Any], message: str
) -> None:
    response = client.post(f"/v1/functions/{fn_id}/variables", json=body)
    assert_appwrite_error(response, 400, "general_argument_invalid", message)


def test_update_keeps_value_when_omitted(client: TestClient, fn_id: str) -> None:
    var = add(client, fn_id, "K", "old")
    response = client.put(f"/v1/functions/{fn_id}/variables/{var['$id']}", json={"key": "K2"})
    assert response.status_code == 200
    assert response.json()["key"] == "K2" and response.json()["value"] == "old"
    response = client.put(
        f"/v1/functions/{fn_id}/variables/{var['$id']}", json={"key": "K2", "value": "new"}
    )
    assert response.json()["value"] == "new"


def test_update_validation_and_clash(client: TestClient, fn_id: str) -> None:
    a = add(client, fn_id, "A")
    add(client, fn_id, "B")
    path = f"/v1/functions/{fn_id}/variables/{a['$id']}"
    assert_appwrite_error(
        client.put(path, json={"value": "only"}),
        400,
        "general_argument_invalid",
        'Param "key" is not optional.',
    )
    assert_appwrite_error(client.put(path, json={"key": "B"}), 409, "variable_already_exists")
    assert client.get(path).json()["key"] == "A"


def test_variable_of_another_function_is_404(client: TestClient, fn_id: str) -> None:
    other = client.post(
        "/v1/functions", json={"functionId": "unique()", "name": "G", "runtime": "python-3.9"}
    ).json()["$id"]
    var = add(client, other, "K")
    assert_appwrite_error(
        client.get(f"/v1/functions/{fn_id}/variables/{var['$id']}"),
        404,
        "variable_not_found",
        "Variable with the requested ID could not be found.",
    )
    assert_appwrite_error(
        client.get(f"/v1/functions/missing/variables/{var['$id']}"), 404, "function_not_found"
    )


def test_delete(client: TestClient, fn_id: str) -> None:
    var = add(client, fn_id, "K")
    path = f"/v1/functions/{fn_id}/variables/{var['$id']}"
    response = client.delete(path)
    assert response.status_code == 204 and response.headers["content-type"]
    assert_appwrite_error(client.get(path), 404, "variable_not_found")
    assert_appwrite_error(client.delete(path), 404, "variable_not_found")
    assert client.get(f"/v1/functions/{fn_id}").json()["vars"] == []
