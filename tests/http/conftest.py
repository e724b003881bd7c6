"""HTTP-level tests: the real ASGI app with its lifespan, through Starlette's TestClient."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from tests.conftest import API_KEY, PROJECT_ID

KEY_HEADERS = {"X-Appwrite-Project": PROJECT_ID, "X-Appwrite-Key": API_KEY}
# Sent on top of the client's defaults: no key makes the caller a guest.
AS_GUEST = {"X-Appwrite-Key": ""}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        test_client.headers.update(KEY_HEADERS)
        yield test_client
