"""`GET /v1/functions/runtimes` and the runtime allow-list."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.catalog import CATALOGUE
from emulator.config import Settings
from emulator.executor.discovery import discover, host_arch
from tests.http.conftest import KEY_HEADERS


def test_lists_local_runtimes_with_the_13_fields(client: TestClient) -> None:
    response = client.get("/v1/functions/runtimes")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["total", "runtimes"]
    ids = [r["$id"] for r in body["runtimes"]]
    assert body["total"] == len(ids)
    assert {"python-3.8", "python-3.9", "python-3.10"} <= set(ids)
    if shutil.which("node"):
        assert {"node-14.5", "node-16.0", "node-18.0"} <= set(ids)
    expected = {"php": ["php-8.0", "php-8.1"], "ruby": ["ruby-3.0", "ruby-3.1"]}
    if host_arch() == "x86":  # 1.3 offered Deno on x86 only
        expected["deno"] = ["deno-1.21", "deno-1.24"]
    for language, runtimes in expected.items():
        listed = [i for i in ids if i.startswith(language)]
        assert listed == (runtimes if shutil.which(language) else []), language
    assert not any(i.startswith(("dart", "dotnet", "java")) for i in ids)  # no adapter for these
    catalogue = [r.id for r in CATALOGUE]
    assert ids == sorted(ids, key=catalogue.index)  # 1.3's order
    python = next(r for r in body["runtimes"] if r["$id"] == "python-3.9")
    assert python == {
        "$id": "python-3.9",
        "name": "Python",
        "version": "3.9",
        "base": "python:3.9-alpine",
        "image": "openruntimes/python:v2-3.9",
        "logo": "python.png",
        "supports": ["x86", "arm"],
    }


def test_allow_list_narrows_runtimes_and_creation(settings: Settings) -> None:
    narrowed = discover(("python-3.9",))
    with TestClient(create_app(settings, narrowed)) as client:
        client.headers.update(KEY_HEADERS)
        body = client.get("/v1/functions/runtimes").json()
        assert [r["$id"] for r in body["runtimes"]] == ["python-3.9"]
        response = client.post(
            "/v1/functions", json={"functionId": "unique()", "name": "x", "runtime": "python-3.10"}
        )
        assert response.status_code == 400
        assert response.json()["message"] == "Invalid runtime: Value must be one of (python-3.9)"


def test_python_runtimes_run_the_exact_minor_version_when_installed() -> None:
    pyenv = Path("~/.pyenv/versions").expanduser()
    for runtime_id, local in discover().items():
        if local.language != "python":
            continue
        version = local.runtime.version
        ran = subprocess.run(
            [local.interpreter, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if any(pyenv.glob(f"{version}.*/bin/python{version}")):
            assert ran == version, (runtime_id, local.interpreter)
