"""HTTP-level tests: the real ASGI app with its lifespan, through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import API_KEY, PROJECT_ID
from tests.support import wait_for

KEY_HEADERS = {"X-Appwrite-Project": PROJECT_ID, "X-Appwrite-Key": API_KEY}
# Sent on top of the client's defaults: no key makes the caller a guest.
AS_GUEST = {"X-Appwrite-Key": ""}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers.update(KEY_HEADERS)
        yield test_client


@pytest.fixture
def fn_id(client: TestClient) -> str:
    response = client.post(
        "/v1/functions",
        json={"functionId": "fn", "name": "Fn", "runtime": "python-3.9", "execute": ["any"]},
    )
    assert response.status_code == 201
    return "fn"


def upload(
    client: TestClient,
    fn_id: str,
    archive: bytes,
    *,
    filename: str = "code.tar.gz",
    activate: str = "true",
    entrypoint: str = "main.py",
    headers: dict[str, str] | None = None,
) -> Any:
    return client.post(
        f"/v1/functions/{fn_id}/deployments",
        data={"entrypoint": entrypoint, "activate": activate},
        files={"code": (filename, archive, "application/gzip")},
        headers=headers,
    )


def wait_built(client: TestClient, fn_id: str, deployment_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(
            f"/v1/functions/{fn_id}/deployments/{deployment_id}"
        ).json()
        return body if body["status"] in ("ready", "failed") else None

    return wait_for(finished, timeout=60)
