"""appwrite-cli@2.0.2 on the folder the emulator serves: `deploy function --all --yes` succeeds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_project import SAMPLES, copy_samples, run, sdk, wait_active
from tests.support import wait_for

CLI = Path(__file__).resolve().parent / "node" / "node_modules" / "appwrite-cli" / "index.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None or not CLI.is_file(),
    reason="needs node and `npm install` in tests/e2e/node (`make node-sdk`)",
)


def appwrite(server: Server, project: Path, home: Path, *args: str) -> str:
    """Run the CLI in `project` with its global config (endpoint, key) kept in `home`."""
    completed = subprocess.run(
        ["node", str(CLI), *args],
        cwd=project,
        env={**os.environ, "HOME": str(home), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr + server.log()
    return completed.stdout


def test_cli_deploys_every_function_of_the_served_folder(tmp_path: Path) -> None:
    project = copy_samples(tmp_path / "project")
    server = start_server(project, tmp_path / "data")
    try:
        functions = sdk(server)
        before = {f: wait_active(functions, f)["deployment"] for f in ("hello-node", "slugify")}
        home = tmp_path / "home"
        home.mkdir()
        # `appwrite client` checks the endpoint (GET /health/version) and keeps it in ~/.appwrite.
        appwrite(
            server, project, home, "client", "--endpoint", server.endpoint, "--key", server.api_key
        )
        prefs = json.loads((home / ".appwrite" / "prefs.json").read_text())
        assert prefs == {"endpoint": server.endpoint, "key": server.api_key}

        out = appwrite(server, project, home, "deploy", "function", "--all", "--yes")
        count = len(json.loads((SAMPLES / "appwrite.json").read_text())["functions"])
        assert f"Deployed {count} functions" in out, out
        assert "Deploying variables for Read variables" in out
        assert not (project / "code.tar.gz").exists()  # the CLI's own archive, removed again

        for fid, old in before.items():
            wait_for(lambda fid=fid, old=old: functions.get(fid)["deployment"] != old, timeout=60)
        assert json.loads(run(functions, "slugify", '{"title": "CLI deploy"}')["response"]) == {
            "slug": "cli-deploy"
        }
        variables = functions.list_variables("read-variables")["variables"]
        assert {v["key"]: v["value"] for v in variables} == {
            "GREETING": "Howdy",
            "AUDIENCE": "developers",
        }
        # The CLI left appwrite.json as it was: the emulator keeps serving the same project.
        assert (project / "appwrite.json").read_text() == (SAMPLES / "appwrite.json").read_text()
    finally:
        server.stop()
