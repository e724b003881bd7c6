"""The function operations over HTTP: models, validation messages, auth, lists, persistence."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import assert_appwrite_error
from tests.http.conftest import AS_GUEST, KEY_HEADERS

DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
FUNCTION_KEYS = [
    "$id",
    "$createdAt",
    "$updatedAt",
    "execute",
    "name",
    "enabled",
    "runtime",
    "deployment",
    "vars",
    "events",
    "schedule",
    "scheduleNext",
    "schedulePrevious",
    "timeout",
]


def create(client: TestClient, **fields: Any) -> dict[str, Any]:
    body = {"functionId": "unique()", "name": "Test", "runtime": "python-3.9", **fields}
    response = client.post("/v1/functions", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_create_returns_the_function_model_in_key_order(client: TestClient) -> None:
    response = client.post(
        "/v1/functions",
        json={
            "functionId": "unique()",
            "name": "Test",
            "runtime": "python-3.9",
            "events": ["users.*.create", "users.*.delete"],
            "schedule": "0 0 1 1 *",
            "timeout": 10,
        },
    )
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=UTF-8"
    fn = response.json()
    assert list(fn) == FUNCTION_KEYS
    assert re.fullmatch(r"[0-9a-f]{20}", fn["$id"])
    assert DATETIME.match(fn["$createdAt"]) and fn["$createdAt"] == fn["$updatedAt"]
    assert fn["execute"] == [] and fn["enabled"] is True and fn["deployment"] == ""
    assert fn["vars"] == []
    assert fn["events"] == ["users.*.create", "users.*.delete"]
    assert fn["schedule"] == "0 0 1 1 *"
    next_year = datetime.now(UTC).year + 1
    assert fn["scheduleNext"] == f"{next_year}-01-01T00:00:00.000+00:00"
    assert fn["schedulePrevious"] == ""
    assert fn["timeout"] == 10


def test_create_defaults_and_custom_id(client: TestClient) -> None:
    fn = create(client, functionId="my-func.1")
    assert fn["$id"] == "my-func.1"
    assert fn["timeout"] == 15 and fn["schedule"] == "" and fn["scheduleNext"] == ""
    assert client.get("/v1/functions/my-func.1").json() == fn


def test_duplicate_id_is_409(client: TestClient) -> None:
    create(client, functionId="dup")
    response = client.post(
        "/v1/functions", json={"functionId": "dup", "name": "Again", "runtime": "python-3.9"}
    )
    assert_appwrite_error(
        response, 409, "function_already_exists", "Function with the requested ID already exists."
    )


def test_unknown_params_are_ignored(client: TestClient) -> None:
    # appwrite-cli@2.0.2 sends an undeclared `vars` on create and update.
    fn = create(client, vars='{"A": "1"}')
    assert fn["vars"] == []
    response = client.put(f"/v1/functions/{fn['$id']}", json={"name": "N", "vars": {"B": "2"}})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "runtime": "python-3.9"}, 'Param "functionId" is not optional.'),
        ({"functionId": "unique()", "runtime": "python-3.9"}, 'Param "name" is not optional.'),
        ({"functionId": "unique()", "name": "x"}, 'Param "runtime" is not optional.'),
        (
            {"functionId": "_bad", "name": "x", "runtime": "python-3.9"},
            "Invalid functionId: Parameter must contain at most 36 chars. Valid chars are a-z, "
            "A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char",
        ),
        (
            {"functionId": "a" * 37, "name": "x", "runtime": "python-3.9"},
            "Invalid functionId: Parameter must contain at most 36 chars. Valid chars are a-z, "
            "A-Z, 0-9, period, hyphen, and underscore. Can't start with a special char",
        ),
        (
            {"functionId": "unique()", "name": "", "runtime": "python-3.9"},
            "Invalid name: Value must be a valid string and at least 1 chars and no longer than "
            "128 chars",
        ),
        (
            {"functionId": "unique()", "name": "n" * 129, "runtime": "python-3.9"},
            "Invalid name: Value must be a valid string and at least 1 chars and no longer than "
            "128 chars",
        ),
        (
            {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "timeout": 901},
            "Invalid timeout: Value must be a valid range between 1 and 900",
        ),
        (
            {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "timeout": 0},
            "Invalid timeout: Value must be a valid range between 1 and 900",
        ),
        (
            {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "enabled": "yes"},
            "Invalid enabled: Value must be a valid boolean",
        ),
        (
            {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "schedule": "* * *"},
            "Invalid schedule: String must be a valid cron expression",
        ),
        (
            {
                "functionId": "unique()",
                "name": "x",
                "runtime": "python-3.9",
                "schedule": "0 0 * * * *",
            },
            "Invalid schedule: String must be a valid cron expression",
        ),
        (
            {
                "functionId": "unique()",
                "name": "x",
                "runtime": "python-3.9",
                "execute": ["some-random-string"],
            },
            'Invalid execute: Role "some-random-string" is not allowed. Must be one of: any, '
            "guests, users, user, team, member.",
        ),
        (
            {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "execute": ["*"]},
            'Invalid execute: Wildcard role "*" has been replaced. Use "any" instead.',
        ),
    ],
)
def test_create_validation_messages(client: TestClient, body: dict[str, Any], message: str) -> None:
    assert_appwrite_error(
        client.post("/v1/functions", json=body), 400, "general_argument_invalid", message
    )


def test_runtime_whitelist_message_lists_local_runtimes(client: TestClient) -> None:
    body = {"functionId": "unique()", "name": "x", "runtime": "cobol-1.0"}
    error = assert_appwrite_error(
        client.post("/v1/functions", json=body), 400, "general_argument_invalid"
    )
    assert error["message"].startswith("Invalid runtime: Value must be one of (")
    assert "python-3.9" in error["message"]


def test_invalid_event_is_rejected(client: TestClient) -> None:
    body = {"functionId": "unique()", "name": "x", "runtime": "python-3.9", "events": ["users"]}
    error = assert_appwrite_error(
        client.post("/v1/functions", json=body), 400, "general_argument_invalid"
    )
    assert error["message"].startswith("Invalid events: ")
    assert error["message"].endswith("Event is not valid.")


def test_timeout_accepts_numeric_strings(client: TestClient) -> None:
    assert create(client, timeout="30")["timeout"] == 30


def test_form_bodies_with_php_arrays(client: TestClient) -> None:
    response = client.post(
        "/v1/functions",
        data={
            "functionId": "form-fn",
            "name": "Form",
            "runtime": "python-3.9",
            "execute[]": ["any", "users"],
            "events[0]": "users.*.create",
            "timeout": "7",
        },
    )
    assert response.status_code == 201, response.text
    fn = response.json()
    assert fn["execute"] == ["any", "users"]
    assert fn["events"] == ["users.*.create"]
    assert fn["timeout"] == 7


def test_invalid_json_body_is_treated_as_empty(client: TestClient) -> None:
    response = client.post(
        "/v1/functions", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_appwrite_error(
        response, 400, "general_argument_invalid", 'Param "functionId" is not optional.'
    )


def test_get_missing_function_is_404(client: TestClient) -> None:
    assert_appwrite_error(
        client.get("/v1/functions/missing"),
        404,
        "function_not_found",
        "Function with the requested ID could not be found.",
    )


def test_invalid_path_id_is_400(client: TestClient) -> None:
    error = assert_appwrite_error(
        client.get("/v1/functions/_nope"), 400, "general_argument_invalid"
    )
    assert error["message"].startswith("Invalid functionId: UID must contain at most 36 chars.")


def test_update_replaces_every_field_and_reenables(client: TestClient) -> None:
    fn = create(
        client,
        execute=["any"],
        events=["users.*.create"],
        schedule="*/5 * * * *",
        timeout=30,
        enabled=False,
    )
    assert fn["enabled"] is False and fn["scheduleNext"] != ""
    response = client.put(f"/v1/functions/{fn['$id']}", json={"name": "Renamed"})
    assert response.status_code == 200
    updated = response.json()
    assert list(updated) == FUNCTION_KEYS
    assert updated["name"] == "Renamed"
    assert updated["execute"] == [] and updated["events"] == []
    assert updated["schedule"] == "" and updated["scheduleNext"] == ""
    assert updated["timeout"] == 15 and updated["enabled"] is True
    assert updated["runtime"] == "python-3.9" and updated["$createdAt"] == fn["$createdAt"]
    assert client.get(f"/v1/functions/{fn['$id']}").json() == updated


def test_each_setting_lands_in_its_own_field_on_create_and_update(client: TestClient) -> None:
    settings = {
        "name": "First",
        "execute": ["users"],
        "events": ["users.*.create"],
        "schedule": "0 0 1 1 *",
        "timeout": 20,
        "enabled": False,
    }
    fn = create(client, **settings)
    assert {key: fn[key] for key in settings} == settings
    changed = {
        "name": "Second",
        "execute": ["any", "guests"],
        "events": ["users.*.delete", "functions.*.create"],
        "schedule": "*/5 * * * *",
        "timeout": 40,
        "enabled": True,
    }
    updated = client.put(f"/v1/functions/{fn['$id']}", json=changed).json()
    assert {key: updated[key] for key in changed} == changed


def test_update_ignores_runtime_and_needs_name(client: TestClient) -> None:
    fn = create(client)
    assert_appwrite_error(
        client.put(f"/v1/functions/{fn['$id']}", json={}),
        400,
        "general_argument_invalid",
        'Param "name" is not optional.',
    )
    response = client.put(f"/v1/functions/{fn['$id']}", json={"name": "n", "runtime": "node-18.0"})
    assert response.json()["runtime"] == "python-3.9"


def test_update_missing_function_checks_params_first(client: TestClient) -> None:
    assert_appwrite_error(
        client.put("/v1/functions/missing", json={}), 400, "general_argument_invalid"
    )
    assert_appwrite_error(
        client.put("/v1/functions/missing", json={"name": "n"}), 404, "function_not_found"
    )


def test_delete_is_204_with_content_type_then_404(client: TestClient) -> None:
    fn = create(client)
    client.post(f"/v1/functions/{fn['$id']}/variables", json={"key": "K", "value": "V"})
    response = client.delete(f"/v1/functions/{fn['$id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["content-type"]
    assert_appwrite_error(client.get(f"/v1/functions/{fn['$id']}"), 404, "function_not_found")
    assert_appwrite_error(client.delete(f"/v1/functions/{fn['$id']}"), 404, "function_not_found")


def test_vars_are_listed_on_the_function(client: TestClient) -> None:
    fn = create(client)
    for i in (1, 2, 3):
        client.post(f"/v1/functions/{fn['$id']}/variables", json={"key": f"k{i}", "value": f"v{i}"})
    got = client.get(f"/v1/functions/{fn['$id']}").json()
    assert [(v["key"], v["value"]) for v in got["vars"]] == [
        ("k1", "v1"),
        ("k2", "v2"),
        ("k3", "v3"),
    ]
    listed = client.get("/v1/functions").json()["functions"][0]
    assert listed["vars"] == got["vars"]


# --- auth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/v1/functions", "functions.read"),
        ("POST", "/v1/functions", "functions.write"),
        ("GET", "/v1/functions/runtimes", "functions.read"),
        ("GET", "/v1/functions/x", "functions.read"),
        ("PUT", "/v1/functions/x", "functions.write"),
        ("DELETE", "/v1/functions/x", "functions.write"),
        ("GET", "/v1/functions/x/variables", "functions.read"),
        ("POST", "/v1/functions/x/variables", "functions.write"),
    ],
)
def test_guests_lack_management_scopes(
    client: TestClient, method: str, path: str, scope: str
) -> None:
    # Auth comes before validation: an empty (invalid) body still gets 401.
    response = client.request(method, path, headers=AS_GUEST, json={})
    assert_appwrite_error(
        response,
        401,
        "general_unauthorized_scope",
        f"User (role: guests) missing scope ({scope})",
    )


def test_wrong_key_is_a_guest(client: TestClient) -> None:
    response = client.get("/v1/functions", headers={"X-Appwrite-Key": "nope"})
    assert_appwrite_error(response, 401, "general_unauthorized_scope")


def test_other_project_is_404(client: TestClient) -> None:
    response = client.get("/v1/functions", headers={"X-Appwrite-Project": "other"})
    error = assert_appwrite_error(response, 404, "project_not_found")
    assert error["message"].startswith("Project with the requested ID could not be found.")


def test_missing_project_header_is_the_console_project(client: TestClient) -> None:
    response = client.get("/v1/functions", headers={"X-Appwrite-Project": ""})
    assert_appwrite_error(response, 401, "general_unauthorized_scope")


def test_project_as_query_param(client: TestClient) -> None:
    response = client.get("/v1/functions?project=test-project", headers={"X-Appwrite-Project": ""})
    assert response.status_code == 200


# --- lists ---------------------------------------------------------------------------------


def list_ids(client: TestClient, *queries: str, search: str | None = None) -> tuple[int, list[str]]:
    params: dict[str, Any] = {"queries[]": list(queries)}
    if search is not None:
        params["search"] = search
    response = client.get("/v1/functions", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["total", "functions"]
    return body["total"], [f["$id"] for f in body["functions"]]


def test_list_order_paging_and_filters(client: TestClient) -> None:
    a = create(client, name="Test", functionId="aaa")["$id"]
    b = create(client, name="Test 2", functionId="bbb", enabled=False, timeout=30)["$id"]
    c = create(client, name="Other", functionId="ccc", runtime="node-18.0")["$id"]
    assert list_ids(client) == (3, [a, b, c])
    assert list_ids(client, "limit(0)") == (3, [])
    assert list_ids(client, "limit(1)", "offset(1)") == (3, [b])
    assert list_ids(client, "offset(5)") == (3, [])
    assert list_ids(client, 'equal("enabled", true)') == (2, [a, c])
    assert list_ids(client, 'equal("enabled", [false])') == (1, [b])
    assert list_ids(client, 'equal("runtime", ["node-18.0"])') == (1, [c])
    assert list_ids(client, 'greaterThan("timeout", 15)') == (1, [b])
    assert list_ids(client, 'startsWith("name", "Test")') == (2, [a, b])
    assert list_ids(client, 'orderDesc("name")') == (3, [b, a, c])
    assert list_ids(client, f'cursorAfter("{a}")') == (3, [b, c])
    assert list_ids(client, f'cursorBefore("{c}")', "limit(1)") == (3, [b])
    assert list_ids(client, f'cursorBefore("{c}")') == (3, [a, b])
    assert list_ids(client, 'orderDesc("name")', f'cursorAfter("{b}")') == (3, [a, c])


def test_list_queries_with_indexed_keys(client: TestClient) -> None:
    a = create(client)["$id"]
    response = client.get("/v1/functions?queries[0]=limit(1)&queries[1]=offset(0)")
    assert [f["$id"] for f in response.json()["functions"]] == [a]


def test_list_search(client: TestClient) -> None:
    a = create(client, name="Test")["$id"]
    b = create(client, name="Mailer", runtime="node-18.0")["$id"]
    assert list_ids(client, search=a) == (1, [a])
    assert list_ids(client, search="Test") == (1, [a])
    assert list_ids(client, search="node-18.0") == (1, [b])
    assert_appwrite_error(
        client.get("/v1/functions", params={"search": ""}), 400, "general_argument_invalid"
    )


def test_list_cursor_not_found(client: TestClient) -> None:
    assert_appwrite_error(
        client.get("/v1/functions", params={"queries[]": 'cursorAfter("unknown")'}),
        400,
        "general_cursor_not_found",
        "Function 'unknown' for the 'cursor' value not found.",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            'equal("nope", "x")',
            "Invalid queries: Query not valid: Attribute not found in schema: nope",
        ),
        ('contains("name", "x")', "Invalid queries: Query method not valid: contains"),
        (
            'equal("timeout", "x")',
            "Invalid queries: Query not valid: Query type does not match expected: integer",
        ),
        ("limit(-1)", None),
        ("nonsense", "Invalid queries: Invalid query: nonsense"),
    ],
)
def test_list_invalid_queries(client: TestClient, query: str, message: str | None) -> None:
    response = client.get("/v1/functions", params={"queries[]": query})
    error = assert_appwrite_error(response, 400, "general_argument_invalid", message)
    assert error["message"].startswith("Invalid queries: ")


# --- transport -------------------------------------------------------------------------------


def test_trailing_slash_and_unknown_routes(client: TestClient) -> None:
    assert client.get("/v1/functions/").status_code == 200
    assert_appwrite_error(client.get("/v1/nothing"), 404, "general_route_not_found")
    assert_appwrite_error(client.patch("/v1/functions"), 404, "general_route_not_found")


def test_cors_and_appwrite_headers(client: TestClient) -> None:
    preflight = client.options(
        "/v1/functions",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "X-Appwrite-Key" in preflight.headers["access-control-allow-headers"]
    response = client.get("/v1/functions", headers={"Origin": "http://example.test"})
    assert response.headers["access-control-allow-origin"] == "http://example.test"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["server"] == "Appwrite"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_health_version_needs_no_auth(client: TestClient) -> None:
    response = client.get(
        "/v1/health/version", headers={"X-Appwrite-Project": "", "X-Appwrite-Key": ""}
    )
    assert response.status_code == 200
    assert response.json() == {"version": "1.3.8"}


def test_unicode_is_kept_raw(client: TestClient) -> None:
    response = client.post(
        "/v1/functions",
        json={"functionId": "unique()", "name": "Fonction êä", "runtime": "python-3.9"},
    )
    assert "Fonction êä".encode() in response.content


def test_everything_survives_a_restart(settings: Settings) -> None:
    with TestClient(create_app(settings)) as first:
        first.headers.update(KEY_HEADERS)
        fn = first.post(
            "/v1/functions",
            json={
                "functionId": "keep",
                "name": "Keep",
                "runtime": "python-3.9",
                "execute": ["any"],
                "schedule": "0 * * * *",
            },
        ).json()
        first.post("/v1/functions/keep/variables", json={"key": "K", "value": "V"})
        before = first.get("/v1/functions/keep").json()
    with TestClient(create_app(settings)) as second:
        second.headers.update(KEY_HEADERS)
        after = second.get("/v1/functions/keep").json()
    assert after == before
    assert after["vars"][0]["value"] == "V" and fn["execute"] == ["any"]


def test_bare_repeated_queries_param_is_a_500_as_in_13(client: TestClient) -> None:
    # `queries=a` (no brackets) reaches 1.3's handler as a string, which it cannot use.
    assert_appwrite_error(
        client.get("/v1/functions?queries=limit(1)"), 500, "general_unknown", "Server Error"
    )


def test_unexpected_errors_are_500_and_logged(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from emulator.backend import functions as backend

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backend, "get_function", broken)
    response = client.get("/v1/functions/anything", headers={"Origin": "http://localhost:3000"})
    assert_appwrite_error(response, 500, "general_unknown", "Server Error")
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "disk on fire" in caplog.text and "Traceback" in caplog.text
