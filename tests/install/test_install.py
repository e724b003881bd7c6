"""The installed emulator (a wheel in a fresh virtualenv, then the one-file binary), driven as a user
drives it: the command line, and plain HTTP to deploy and run a Python and a Node function, each
with a dependency installed at build time by the machine's own pip and npm.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import __version__
from emulator.executor.discovery import discover
from tests.install.conftest import Served, clean_env, serve

pytestmark = [pytest.mark.install, pytest.mark.timeout(900)]

PYTHON_MAIN = """\
import sys

import greeting


def main(req, res):
    return res.json({"greeting": greeting.greet(req.payload), "interpreter": sys.executable})
"""

NODE_MAIN = """\
const greet = require('greeting');

module.exports = async (req, res) => {
  res.json({ greeting: greet(req.payload), interpreter: process.execPath });
};
"""


def wheel_of(name: str, version: str, module: str) -> tuple[str, bytes]:
    """A pure-Python wheel holding one module `name`: the smallest thing pip installs offline."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": module.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return f"{name}-{version}-py3-none-any.whl", buffer.getvalue()


def python_function() -> dict[str, bytes]:
    wheel_name, wheel = wheel_of(
        "greeting", "1.0", "def greet(name):\n    return f'Hello, {name}!'\n"
    )
    return {
        "main.py": PYTHON_MAIN.encode(),
        "requirements.txt": f"./vendor/{wheel_name}\n".encode(),
        f"vendor/{wheel_name}": wheel,
    }


def node_function() -> dict[str, bytes]:
    package = {"name": "install-test", "version": "1.0.0", "private": True}
    greeting = {"name": "greeting", "version": "1.0.0", "main": "index.js"}
    return {
        "index.js": NODE_MAIN.encode(),
        "package.json": json.dumps(
            {**package, "dependencies": {"greeting": "file:vendor/greeting"}}
        ).encode(),
        "vendor/greeting/package.json": json.dumps(greeting).encode(),
        "vendor/greeting/index.js": b"module.exports = (name) => `Hello, ${name}!`;\n",
    }


FUNCTIONS = {"python": ("main.py", python_function), "node": ("index.js", node_function)}


def tar_gz(files: dict[str, bytes]) -> bytes:
    """A `code.tar.gz` with `files` at its root, as appwrite-cli packs a function folder."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def runtime_of(language: str) -> str:
    """The newest runtime of `language` this machine runs, as the checkout discovers it."""
    ids = [rid for rid in discover() if rid.startswith(f"{language}-")]
    if not ids:
        pytest.skip(f"no local interpreter for {language}")
    return ids[-1]


def deploy(served: Served, function_id: str, runtime: str, entrypoint: str, code: bytes) -> None:
    """Create the function and upload its code; wait until the deployment is built and active."""
    created = served.client.post(
        "/functions",
        json={
            "functionId": function_id,
            "name": function_id,
            "runtime": runtime,
            "execute": ["any"],
        },
    )
    assert created.status_code == 201, created.text
    uploaded = served.client.post(
        f"/functions/{function_id}/deployments",
        data={"entrypoint": entrypoint, "activate": "true"},
        files={"code": ("code.tar.gz", code, "application/gzip")},
    )
    assert uploaded.status_code == 202, uploaded.text
    deployment_id = uploaded.json()["$id"]
    deadline = time.monotonic() + 120
    while True:
        deployment = served.client.get(
            f"/functions/{function_id}/deployments/{deployment_id}"
        ).json()
        if deployment["status"] == "ready":
            break
        assert deployment["status"] != "failed", f"{deployment['buildStderr']}\n{served.log()}"
        assert time.monotonic() < deadline, f"build still {deployment['status']}:\n{served.log()}"
        time.sleep(0.1)
    function = served.client.get(f"/functions/{function_id}").json()
    assert function["deployment"] == deployment_id


def test_version_is_the_packages(emulator_command: Path) -> None:
    done = subprocess.run(
        [emulator_command, "--version"], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        f"appwrite-emulator {__version__}\n",
        "",
    )


def test_a_missing_project_folder_is_refused(emulator_command: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-project"
    done = subprocess.run(
        [emulator_command, "serve", missing],
        capture_output=True,
        text=True,
        env=clean_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert str(missing) in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert not missing.exists()


def test_lists_the_runtimes_the_checkout_discovers(served: Served) -> None:
    response = served.client.get("/functions/runtimes")
    assert response.status_code == 200, response.text
    listed = [runtime["$id"] for runtime in response.json()["runtimes"]]
    assert listed, "no runtime: the adapters or the interpreters were not found"
    assert listed == list(discover())


@pytest.mark.parametrize("language", ["python", "node"])
def test_deploys_and_executes_a_function(served: Served, language: str) -> None:
    runtime = runtime_of(language)
    entrypoint, files = FUNCTIONS[language]
    function_id = f"hello-{language}"
    deploy(served, function_id, runtime, entrypoint, tar_gz(files()))

    response = served.client.post(f"/functions/{function_id}/executions", json={"data": "Ada"})

    assert response.status_code == 201, response.text
    execution: dict[str, Any] = response.json()
    assert (execution["status"], execution["statusCode"]) == ("completed", 200), execution
    result = json.loads(execution["response"])
    assert result["greeting"] == "Hello, Ada!"
    # Users' code runs on the machine's interpreter for that runtime, never on the emulator's own.
    expected = discover()[runtime].interpreter
    assert os.path.realpath(result["interpreter"]) == os.path.realpath(expected)


def test_sigterm_stops_it_cleanly_leaving_nothing_in_tmp(
    emulator_command: Path, tmp_path: Path
) -> None:
    server = serve(emulator_command, tmp_path)
    assert server.client.get("/functions").status_code == 200
    assert server.stop() == 0, server.log()
    assert list(server.tmpdir.iterdir()) == []


def test_ctrl_c_shuts_it_down_cleanly(emulator_command: Path, tmp_path: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to every process of the foreground group: the app's own
    shutdown runs (uvicorn takes a second SIGINT as "quit now" and would skip it)."""
    server = serve(emulator_command, tmp_path, "--log-level", "info")
    try:
        os.killpg(server.process.pid, signal.SIGINT)
        assert server.process.wait(timeout=20) == 0, server.log()
    finally:
        server.stop()
    assert "Application shutdown complete." in server.log()
    assert "Traceback" not in server.log()


def test_the_binary_stops_when_its_launcher_is_killed(binary_command: Path, tmp_path: Path) -> None:
    """`kill -9` of the one-file binary (what `Popen.kill()` sends) must not leave the emulator it
    unpacked running without a parent, holding the port."""
    server = serve(binary_command, tmp_path)
    server.process.kill()
    server.process.wait()
    deadline = time.monotonic() + 15
    while True:
        try:
            server.client.get("/health/version", timeout=1)
        except httpx.HTTPError:
            break  # nothing listens any more
        assert time.monotonic() < deadline, "the emulator still answers after its launcher died"
        time.sleep(0.1)
    server.client.close()


SNOOP = """\
def main(req, res):
    try:
        with open(req.payload, "rb") as handle:
            handle.read(16)
    except OSError as exc:
        return res.send("denied: " + type(exc).__name__)
    return res.send("read it")
"""


def test_functions_run_in_the_sandbox(served: Served) -> None:
    """The installed emulator (wheel or binary) confines functions as the checkout does: the
    sandbox's init ships with it, and a function cannot read the emulator's database."""
    assert "sandbox protections off" not in served.log()
    deploy(served, "snoop", runtime_of("python"), "main.py", tar_gz({"main.py": SNOOP.encode()}))
    database = served.tmpdir.parent / "project" / ".appwrite-emulator" / "emulator.sqlite3"
    assert database.is_file()
    response = served.client.post("/functions/snoop/executions", json={"data": str(database)})
    assert response.status_code == 201, response.text
    assert response.json()["response"].startswith("denied"), response.json()
