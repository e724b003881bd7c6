"""Schemathesis over 1.3's OpenAPI description of the Functions API (copied beside this file as
`openapi.json`), every operation called with the API key on the in-process ASGI app.

Half the generated IDs are swapped for those of a real function, variable, deployment, build and
execution (made before the run; never for a DELETE), so that the calls reach past the 404s.

No answer may be a 5xx, except the 500 1.3 itself gives for a bare `queries=...` parameter: the
OpenAPI file describes `queries` that way, but 1.3 only reads `queries[]=` and fails on a string,
and the emulator keeps that answer. Every error is Appwrite's error body.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python import asgi
from starlette.types import Receive, Scope, Send

from emulator.app import create_app
from emulator.config import build_settings
from tests.conftest import API_KEY, PROJECT_ID
from tests.support import fixture, pack, wait_for

EXAMPLES = 25
"""Examples per operation: the 20 operations take ~15 s on the 2-core development machine."""
AUTH = {"X-Appwrite-Project": PROJECT_ID, "X-Appwrite-Key": API_KEY}


class Emulator:
    """The emulator's ASGI app, created on first use with a temporary data dir."""

    def __init__(self) -> None:
        self.data_dir: Path | None = None
        self.app: Any = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="emulator-schemathesis-"))
            self.app = create_app(
                build_settings(
                    self.data_dir / "project",
                    data_dir=self.data_dir / "data",
                    project_id=PROJECT_ID,
                    api_key=API_KEY,
                    env={},
                    watch=False,
                )
            )
        await self.app(scope, receive, send)

    def close(self) -> None:
        asgi.shutdown_lifespans()  # schemathesis started the app's lifespan on the first call
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)


EMULATOR = Emulator()
schema = schemathesis.openapi.from_path(Path(__file__).with_name("openapi.json"))
schema.config.update(base_url="http://testserver/v1")
schema.app = EMULATOR


REAL_IDS: dict[str, str] = {}
"""Path parameter -> the ID of a real resource of that kind."""


@pytest.fixture(scope="module", autouse=True)
def _resources() -> Iterator[None]:
    try:
        with asgi.get_client(EMULATOR) as client:
            client.headers.update(AUTH)
            REAL_IDS.update(make_resources(client, "http://testserver/v1"))
        yield
    finally:
        EMULATOR.close()


def make_resources(client: Any, base: str) -> dict[str, str]:
    """A function with a variable, a built and active deployment, and an execution."""

    def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = client.request(method, base + path, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else {}

    call("POST", "/functions", json={"functionId": "fuzz", "name": "F", "runtime": "python-3.9"})
    variable = call("POST", "/functions/fuzz/variables", json={"key": "K", "value": "V"})
    archive = pack(fixture("python", "counter"))
    deployment = call(
        "POST",
        "/functions/fuzz/deployments",
        data={"entrypoint": "main.py", "activate": "true"},
        files={"code": ("code.tar.gz", archive, "application/gzip")},
    )
    path = f"/functions/fuzz/deployments/{deployment['$id']}"
    built = wait_for(lambda: (d := call("GET", path))["status"] == "ready" and d, timeout=60)
    wait_for(lambda: call("GET", "/functions/fuzz")["deployment"] == deployment["$id"])
    execution = call("POST", "/functions/fuzz/executions", json={})
    return {
        "functionId": "fuzz",
        "variableId": variable["$id"],
        "deploymentId": deployment["$id"],
        "buildId": built["buildId"],
        "executionId": execution["$id"],
    }


def is_the_queries_quirk(url: str, body: dict[str, Any]) -> bool:
    """1.3's 500 for `queries=...` without brackets: the handler gets a string, not an array."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    bare = any(name == "queries" and value != "" for name, value in pairs)
    return bare and body.get("type") == "general_unknown" and body.get("message") == "Server Error"


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors(case: Any) -> None:
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "x-appwrite-jwt"}
    case.headers = {**headers, **AUTH}
    if case.method.upper() != "DELETE":
        for name, generated in (case.path_parameters or {}).items():
            if name in REAL_IDS and len(str(generated)) % 2 == 0:
                case.path_parameters[name] = REAL_IDS[name]
    response = case.call()
    request = response.request
    body = response.json() if response.status_code >= 400 else {}
    if response.status_code >= 500:
        assert is_the_queries_quirk(request.url, body), (
            f"{request.method} {request.url} -> {response.status_code} {response.text}"
        )
    if response.status_code >= 400:
        assert list(body) == ["message", "code", "type", "version"], response.text
        assert body["code"] == response.status_code
