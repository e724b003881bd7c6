"""Malformed and hostile requests from any caller: each gets 1.3's 4xx (or a transport-level
413/431), never a 500, a stall or unbounded memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_HEADER_SIZE, Settings
from emulator.testing import AppwriteEmulator
from tests.conftest import assert_appwrite_error
from tests.e2e.conftest import Server
from tests.robustness.conftest import (
    AS_GUEST,
    CORS_ORIGIN,
    KEY_HEADERS,
    raw_exchange,
    status_of,
)
from tests.support import fixture, pack

FORM = {"content-type": "application/x-www-form-urlencoded"}
EXECUTIONS = "/v1/functions/nope/executions"
INVALID_DATA = (
    "Invalid data: Value must be a valid string and at least 1 chars and no longer than 8192 chars"
)


def make_function(client: TestClient, function_id: str = "fn") -> None:
    response = client.post(
        "/v1/functions",
        json={"functionId": function_id, "name": "Fn", "runtime": "python-3.9", "execute": ["any"]},
    )
    assert response.status_code == 201, response.text


# Bracket indexes: a sparse map, never a list as long as the index.


@pytest.mark.parametrize(
    "index", ["30000000", "100000000000", "9223372036854775807", "99999999999999999999"]
)
def test_a_huge_index_in_a_form_body_is_an_ordinary_array(client: TestClient, index: str) -> None:
    response = client.post(
        EXECUTIONS, content=f"data[{index}]=x".encode(), headers={**FORM, **AS_GUEST}
    )
    assert_appwrite_error(response, 400, "general_argument_invalid", INVALID_DATA)


def test_huge_indexes_in_queries_keep_their_order(client: TestClient) -> None:
    make_function(client, "first")
    make_function(client, "second")
    query = "queries[100000000000]=limit(1)&queries[30000000]=orderDesc(%22%24id%22)"
    listed = client.get(f"/v1/functions?{query}")
    assert listed.status_code == 200, listed.text
    assert [f["$id"] for f in listed.json()["functions"]] == ["second"]


# Nesting: PHP drops a variable nested deeper than 64 levels; JSON deeper than 512 is no JSON.


@pytest.mark.parametrize(
    ("depth", "status", "error_type"),
    [
        (1, 400, "general_argument_invalid"),
        (64, 400, "general_argument_invalid"),
        (65, 404, "function_not_found"),
        (500, 404, "function_not_found"),
        (100_000, 404, "function_not_found"),
    ],
)
def test_deep_nesting_in_a_form_body(
    client: TestClient, depth: int, status: int, error_type: str
) -> None:
    key = "data" + "[a]" * depth
    response = client.post(EXECUTIONS, content=f"{key}=1".encode(), headers={**FORM, **AS_GUEST})
    assert_appwrite_error(response, status, error_type)


def test_deep_nesting_in_a_multipart_body_and_a_query_string(client: TestClient) -> None:
    key = "data" + "[a]" * 500
    response = client.post(EXECUTIONS, data={key: "1"}, files={"f": ("f", b"")}, headers=AS_GUEST)
    assert_appwrite_error(response, 404, "function_not_found")
    listed = client.get("/v1/functions?queries" + "[a]" * 500 + "=limit(0)")
    assert listed.status_code == 200 and listed.json()["total"] == 0


@pytest.mark.parametrize(
    ("depth", "status", "error_type"),
    [
        (100, 400, "general_argument_invalid"),
        (511, 400, "general_argument_invalid"),
        (512, 404, "function_not_found"),
        (100_000, 404, "function_not_found"),
    ],
)
def test_deep_nesting_in_a_json_body(
    client: TestClient, depth: int, status: int, error_type: str
) -> None:
    body = '{"data": ' + "[" * depth + "]" * depth + "}"
    response = client.post(
        EXECUTIONS,
        content=body.encode(),
        headers={"content-type": "application/json", **AS_GUEST},
    )
    assert_appwrite_error(response, status, error_type)


# A thousand filter queries on every list (tests/unit/store/test_listing.py: a hundred values each).


@pytest.mark.parametrize("listing", ["functions", "deployments", "executions"])
def test_a_thousand_filter_queries(client: TestClient, listing: str) -> None:
    make_function(client)
    upload = client.post(
        "/v1/functions/fn/deployments",
        data={"entrypoint": "main.py", "activate": "false"},
        files={"code": ("code.tar.gz", pack(fixture("python", "counter")), "application/gzip")},
    )
    assert upload.status_code == 202, upload.text
    path = "/v1/functions" if listing == "functions" else f"/v1/functions/fn/{listing}"
    queries = [f'notEqual("$id", "x{i}")' for i in range(1000)]
    response = client.get(path, params={"queries[]": queries})
    assert response.status_code == 200, response.text
    expected = {"functions": 1, "deployments": 1, "executions": 0}[listing]
    assert response.json()["total"] == expected


def test_an_infinite_bound_is_a_number(client: TestClient) -> None:
    make_function(client)
    response = client.get(
        "/v1/functions/fn/executions",
        params={
            "queries[]": ['lessThan("duration", [1e999, -1e999])', 'equal("duration", [1e999])']
        },
    )
    assert response.status_code == 200, response.text


def test_a_thousand_orders_and_a_cursor(client: TestClient) -> None:
    for function_id in ["a", "b", "c"]:
        make_function(client, function_id)
    queries = ['orderDesc("name")', 'orderAsc("$id")'] * 499 + ['cursorAfter("a")', "limit(5)"]
    response = client.get("/v1/functions", params={"queries[]": queries})
    assert response.status_code == 200, response.text
    assert [f["$id"] for f in response.json()["functions"]] == ["b", "c"]


# Sizes on the wire: headers (431) and bodies (413), answered without reading what is too big.


def test_oversized_headers_get_431_and_others_are_still_served(live: Server) -> None:
    head = (
        b"GET /v1/health/version HTTP/1.1\r\nHost: localhost\r\nX-Big: "
        + b"a" * (2 * 1024 * 1024)
        + b"\r\n\r\n"
    )
    answer = raw_exchange(live, head)
    assert status_of(answer) == 431, answer[:200]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == 431 and body["type"] == "general_request_headers_too_large"
    fits = httpx.get(
        f"{live.endpoint}/health/version", headers={"X-Big": "a" * (DEFAULT_MAX_HEADER_SIZE - 1024)}
    )
    assert fits.status_code == 200


def test_a_long_query_string_counts_as_header(live: Server) -> None:
    head = (
        b"GET /v1/functions?search="
        + b"a" * (DEFAULT_MAX_HEADER_SIZE + 1)
        + b" HTTP/1.1\r\nHost: localhost\r\n\r\n"
    )
    assert status_of(raw_exchange(live, head)) == 431


def test_a_thousand_queries_fit_in_a_url(live: Server) -> None:
    query = "&".join(["queries[]=isNotNull(name)"] * 1000)
    response = httpx.get(
        f"{live.endpoint}/functions?{query}",
        headers={"X-Appwrite-Project": live.project_id, "X-Appwrite-Key": live.api_key},
    )
    assert response.status_code == 200, response.text


def test_a_declared_body_over_the_cap_is_refused_before_it_is_sent(live: Server) -> None:
    head = (
        b"POST /v1/functions/nope/executions HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
    )
    answer = raw_exchange(live, head)
    assert status_of(answer) == 413, answer[:200]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == 413 and body["type"] == "general_request_body_too_large"


def test_a_chunked_body_over_the_cap_is_cut_off(live: Server) -> None:
    head = (
        b"POST /v1/functions/nope/executions HTTP/1.1\r\nHost: localhost\r\n"
        b"X-Appwrite-Project: emulator\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )

    def chunks() -> Iterator[bytes]:
        piece = b" " * (1024 * 1024)
        for _ in range(DEFAULT_MAX_BODY_SIZE // len(piece) + 4):
            yield b"%x\r\n" % len(piece) + piece + b"\r\n"

    assert status_of(raw_exchange(live, head, chunks())) == 413


def test_body_cap_in_process(client: TestClient) -> None:
    oversized = b'{"data": "' + b"x" * DEFAULT_MAX_BODY_SIZE + b'"}'
    response = client.post(
        EXECUTIONS, content=oversized, headers={"content-type": "application/json", **AS_GUEST}
    )
    assert response.status_code == 413
    assert response.json()["type"] == "general_request_body_too_large"
    assert response.headers["server"] == "Appwrite"


def test_a_full_upload_chunk_still_fits(live: Server) -> None:
    headers = {"X-Appwrite-Project": live.project_id, "X-Appwrite-Key": live.api_key}
    created = httpx.post(
        f"{live.endpoint}/functions",
        json={"functionId": "chunky", "name": "Chunky", "runtime": "python-3.9"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    chunk = 5 * 1024 * 1024
    total = 2 * chunk
    response = httpx.post(
        f"{live.endpoint}/functions/chunky/deployments",
        data={"entrypoint": "main.py", "activate": "false"},
        files={"code": ("code.tar.gz", b"\0" * chunk, "application/gzip")},
        headers={**headers, "Content-Range": f"bytes 0-{chunk - 1}/{total}"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


# Response headers: one `Server`, and CORS for loopback origins plus those configured.


def test_one_server_header_from_the_command(live: Server) -> None:
    response = httpx.get(f"{live.endpoint}/health/version")
    assert response.headers.get_list("server") == ["Appwrite"]


def test_one_server_header_from_the_fixture() -> None:
    with AppwriteEmulator() as emu:
        response = httpx.get(f"{emu.endpoint}/health/version")
    assert response.headers.get_list("server") == ["Appwrite"]


@pytest.fixture
def cors_client(settings: Settings) -> Iterator[TestClient]:
    configured = Settings(**{**settings.__dict__, "cors_origins": (CORS_ORIGIN,)})
    with TestClient(create_app(configured), raise_server_exceptions=False) as test_client:
        test_client.headers.update({"X-Appwrite-Project": KEY_HEADERS["X-Appwrite-Project"]})
        yield test_client


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost", True),
        ("http://localhost:3000", True),
        ("https://localhost:8443", True),
        ("http://127.0.0.1:5173", True),
        ("http://[::1]:8080", True),
        (CORS_ORIGIN, True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
        ("http://127.0.0.1.evil.example:80", False),
        ("http://app.example.com", False),  # the configured origin is https
        ("https://app.example.com:8443", False),
        ("ftp://localhost", False),
        ("null", False),
    ],
)
def test_cors_origins(cors_client: TestClient, origin: str, allowed: bool) -> None:
    headers = {"Origin": origin}
    for response in [
        cors_client.get("/v1/health/version", headers=headers),
        cors_client.options(EXECUTIONS, headers=headers),
    ]:
        assert response.headers.get("access-control-allow-origin") == (origin if allowed else None)
    guest = cors_client.post(EXECUTIONS, content=b"data=hi", headers={**FORM, **headers})
    if allowed:
        assert_appwrite_error(guest, 404, "function_not_found")
    else:
        host = httpx.URL(origin).host if "://" in origin else ""
        assert_appwrite_error(
            guest,
            403,
            "general_unknown_origin",
            f"Invalid Origin. Register your new client ({host}) as a new Web platform on your "
            "project console dashboard",
        )
    # With the API key, or without an Origin (not a browser), the origin is not checked.
    keyed = cors_client.post(
        EXECUTIONS, json={}, headers={**headers, "X-Appwrite-Key": KEY_HEADERS["X-Appwrite-Key"]}
    )
    assert_appwrite_error(keyed, 404, "function_not_found")
    assert_appwrite_error(cors_client.post(EXECUTIONS, json={}), 404, "function_not_found")


def test_cors_origin_flag(live: Server) -> None:
    url = f"{live.endpoint}/health/version"
    answers: dict[str, Any] = {
        origin: httpx.get(url, headers={"Origin": origin}).headers.get(
            "access-control-allow-origin"
        )
        for origin in [CORS_ORIGIN, "http://localhost:1234", "https://other.example"]
    }
    assert answers == {
        CORS_ORIGIN: CORS_ORIGIN,
        "http://localhost:1234": "http://localhost:1234",
        "https://other.example": None,
    }
