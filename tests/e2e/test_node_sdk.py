"""The official Node SDK (node-appwrite@9.0.0) against the real server, with a real Node function."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server
from tests.support import fixture, pack

NODE_DIR = Path(__file__).resolve().parent / "node"

pytestmark = pytest.mark.skipif(
    not shutil.which("node") or not (NODE_DIR / "node_modules" / "node-appwrite").is_dir(),
    reason="needs node and `npm install` in tests/e2e/node (done by .ci/run)",
)


def test_node_sdk_deploys_and_executes(server: Server, tmp_path: Path) -> None:
    archive = tmp_path / "code.tar.gz"
    archive.write_bytes(pack(fixture("node", "env_echo")))
    completed = subprocess.run(
        ["node", "drive.js", server.endpoint, server.project_id, server.api_key, str(archive)],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr + server.log()
    seen = json.loads(completed.stdout)
    assert seen["deployment"]["status"] == "ready"
    execution = seen["execution"]
    assert execution["status"] == "completed" and execution["statusCode"] == 200
    body = json.loads(execution["response"])
    assert body["payload"] == "hello from node"
    assert body["variables"]["CUSTOM_VARIABLE"] == "node-variable"
    assert body["variables"]["APPWRITE_FUNCTION_RUNTIME_NAME"] == "Node.js"
    assert body["env"]["APPWRITE_FUNCTION_ID"] == seen["fn"]["$id"]
    assert seen["queued"]["status"] == "waiting"
    assert seen["finished"]["status"] == "completed"
    assert json.loads(seen["finished"]["response"])["payload"] == "queued"
    assert seen["listed"]["total"] == 1
    assert seen["missing"] == {
        "code": 404,
        "type": "function_not_found",
        "message": "Function with the requested ID could not be found.",
    }
