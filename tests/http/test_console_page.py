"""The console's page and files: served at /console (/ redirects there), with the API key written
into the page only for a loopback client of a loopback listener, and no CORS on any of it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import API_KEY, PROJECT_ID

LOCAL = ("127.0.0.1", 50000)


def page_key(html: str) -> str:
    match = re.search(r'<meta name="emulator-key" content="([^"]*)">', html)
    assert match, html[:500]
    return match.group(1)


@pytest.fixture
def local(settings: Settings) -> Iterator[TestClient]:
    """A client on 127.0.0.1 talking to an emulator that listens on 127.0.0.1."""
    app = create_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:8800", client=LOCAL) as client:
        yield client


def test_the_root_redirects_to_the_console(local: TestClient) -> None:
    response = local.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console"


def test_a_loopback_client_gets_the_page_with_the_key_and_the_project(local: TestClient) -> None:
    response = local.get("/console")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert page_key(response.text) == API_KEY
    assert f'<meta name="emulator-project" content="{PROJECT_ID}">' in response.text
    assert response.headers["cache-control"].startswith("no-cache")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize(
    "headers",
    [
        {"host": "evil.example:8800"},  # a site rebinding its name to 127.0.0.1
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_no_key_for_requests_another_site_could_make(
    local: TestClient, headers: dict[str, str]
) -> None:
    response = local.get("/console", headers=headers)
    assert response.status_code == 200
    assert page_key(response.text) == ""
    assert API_KEY not in response.text


def test_no_key_for_a_client_on_another_machine(settings: Settings) -> None:
    with TestClient(create_app(settings), client=("192.0.2.7", 40000)) as client:
        response = client.get("/console")
    assert page_key(response.text) == ""
    assert API_KEY not in response.text


def test_no_key_when_the_emulator_listens_on_the_network(settings: Settings) -> None:
    """Even a loopback client: the page may be cached or shared by a proxy in front of it."""
    exposed = replace(settings, host="0.0.0.0")
    with TestClient(create_app(exposed), base_url="http://127.0.0.1:8800", client=LOCAL) as client:
        response = client.get("/console")
    assert response.status_code == 200
    assert page_key(response.text) == ""
    assert API_KEY not in response.text


def test_console_responses_carry_no_cors_headers(local: TestClient) -> None:
    """Another origin's script must not read the page (it may hold the key)."""
    for path in ("/console", "/console/js/app.js", "/console/style.css"):
        response = local.get(path, headers={"origin": "https://evil.example"})
        assert response.status_code == 200, path
        assert "access-control-allow-origin" not in response.headers, path
    # The API keeps its CORS for local web apps.
    api = local.get("/v1/health/version", headers={"origin": "http://localhost:5173"})
    assert api.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_scripts_and_styles_are_served_with_their_types(local: TestClient) -> None:
    script = local.get("/console/js/app.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "import" in script.text
    assert local.get("/console/style.css").headers["content-type"] == "text/css; charset=utf-8"
    assert local.get("/console/js/views/executions.js").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/missing.js",
        "/console/../config.py",
        "/console/%2e%2e/config.py",
        "/console/js/../../app.py",
        "/console/index.py",
    ],
)
def test_nothing_else_is_served(local: TestClient, path: str) -> None:
    response = local.get(path)
    assert response.status_code == 404
    assert "import" not in response.text


def test_the_page_refers_only_to_its_own_files(local: TestClient) -> None:
    """No CDN, nothing from the network: every src/href of the page is under /console/."""
    html = local.get("/console").text
    references = re.findall(r'(?:src|href)="([^"#]+)"', html)
    assert references
    assert all(ref.startswith("/console/") for ref in references), references
