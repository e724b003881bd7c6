"""Shared test helpers: settings on a temp data dir and the Appwrite error shape check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.config import Settings, build_settings

PROJECT_ID = "test-project"
API_KEY = "test-key"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return build_settings(
        tmp_path / "project",
        data_dir=tmp_path / "data",
        project_id=PROJECT_ID,
        api_key=API_KEY,
        env={},
        watch=False,
    )


def assert_appwrite_error(
    response: httpx.Response, status: int, error_type: str, message: str | None = None
) -> dict[str, Any]:
    """The response is Appwrite's error body, keys in order, with this status/type (and message)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert list(body) == ["message", "code", "type", "version"], body
    assert body["code"] == status
    assert body["type"] == error_type, body
    assert body["version"] == "1.3.8"
    if message is not None:
        assert body["message"] == message
    return body
