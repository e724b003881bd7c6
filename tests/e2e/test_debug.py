"""`--debug`: a real debugger client attaches to a function served by the real server, through the
VS Code configuration the README documents. A breakpoint in the user's own file pauses an
execution (right file, line and local variable); a paused execution outlives its timeout and
completes when resumed; a detached one past its timeout is stopped; after a hot reload the worker
is back on the same port with the new code.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.executor import TIMEOUT_MESSAGE, sandbox
from emulator.executor.debug import debugger_attached, debugpy_package
from emulator.executor.protocol import worker_arguments
from emulator.testing import AppwriteEmulator
from tests.e2e.conftest import ROOT, Server, free_port, start_server
from tests.e2e.debug_clients import Debugpy, NodeInspector, Pause
from tests.support import wait_for
from tests.unit.executor.worker_client import WorkerClient

TIMEOUT = 1  # the functions' timeout, in seconds
PAUSED = TIMEOUT + 1.0  # how long the tests keep an execution paused

PYTHON_SOURCE = """import time


def main(req, res):
    greeting = "Hello, " + (req.payload or "World")
    if req.payload == "forever":
        rounds = 0
        while True:
            rounds += 1  # loop
            time.sleep(0.01)
    res.json({"greeting": greeting})  # pause here
"""

NODE_SOURCE = """module.exports = async function (req, res) {
  const greeting = 'Hello, ' + (req.payload || 'World');
  if (req.payload === 'forever') {
    let rounds = 0;
    for (;;) {
      rounds += 1; // loop
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  res.json({ greeting }); // pause here
};
"""


@dataclass(frozen=True)
class Language:
    function_id: str
    runtime: str
    entrypoint: str
    source: str
    client: Callable[[int], Debugpy | NodeInspector]


LANGUAGES = {
    "python": Language("hello-python", "python-3.9", "src/index.py", PYTHON_SOURCE, Debugpy),
    "node": Language("hello-node", "node-18.0", "src/index.js", NODE_SOURCE, NodeInspector),
}

needs_debugpy = pytest.mark.skipif(debugpy_package() is None, reason="debugpy is not installed")


def launch_json() -> dict[str, Any]:
    """The `.vscode/launch.json` of the README's "Debugging a function" section."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Debugging a function", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```json\n(.*?)```", section, re.S)
    assert block is not None, "the README shows no launch.json"
    parsed: dict[str, Any] = json.loads(block.group(1))
    return parsed


def path_mapping(language: str, workspace: Path) -> tuple[str, str]:
    """(localRoot, remoteRoot) of the README's configuration for the language's sample function,
    with `${workspaceFolder}` the project folder, as VS Code resolves it."""
    function_id = LANGUAGES[language].function_id
    config = next(
        c for c in launch_json()["configurations"] if c["name"] == f"Attach to {function_id}"
    )
    if language == "node":
        assert config["type"] == "node" and config["request"] == "attach"
        mapping = {"localRoot": config["localRoot"], "remoteRoot": config["remoteRoot"]}
    else:
        assert config["type"] == "debugpy" and config["request"] == "attach"
        (mapping,) = config["pathMappings"]
    local, remote = (
        mapping[key].replace("${workspaceFolder}", str(workspace))
        for key in ("localRoot", "remoteRoot")
    )
    return local, remote


def to_remote(path: Path, mapping: tuple[str, str]) -> str:
    local, remote = mapping
    assert str(path).startswith(local + "/")
    return remote + str(path)[len(local) :]


def to_local(path: str, mapping: tuple[str, str]) -> str:
    local, remote = mapping
    assert path.startswith(remote + "/"), f"{path} is not under {remote}"
    return local + path[len(remote) :]


def line_of(path: Path, marker: str) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if marker in text)


def text(value: str) -> str:
    """A string as a debugger shows it (Python quotes its repr), without the quotes."""
    return value[1:-1] if value[:1] in "'\"" and value[-1:] == value[:1] else value


@dataclass
class Debugged:
    server: Server
    language: str
    port: int
    project: Path
    mapping: tuple[str, str]

    @property
    def spec(self) -> Language:
        return LANGUAGES[self.language]

    @property
    def user_file(self) -> Path:
        return self.project / "functions" / self.spec.function_id / self.spec.entrypoint

    def attach(self) -> Debugpy | NodeInspector:
        return self.spec.client(self.port)

    def execute(self, payload: str) -> dict[str, Any]:
        """A synchronous execution through HTTP (it returns once the execution ended)."""
        answer = httpx.post(
            f"{self.server.endpoint}/functions/{self.spec.function_id}/executions",
            headers={
                "X-Appwrite-Project": "emulator",
                "X-Appwrite-Key": self.server.api_key,
            },
            json={"data": payload},
            timeout=60,
        )
        assert answer.status_code == 201, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def worker_started_after(self, marker: str) -> bool:
        """Whether a debug worker started after the first log line containing `marker`."""
        log = self.server.log()
        at = log.find(marker)
        return at >= 0 and re.search(r"debug worker \d+ started", log[at:]) is not None


@pytest.fixture(scope="module", params=[pytest.param("python", marks=needs_debugpy), "node"])
def debugged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Debugged]:
    """A project with the language's sample function (timeout 1 s), served with hot reload and
    `--debug` on a free port, in the default data dir that the README's mappings name."""
    language: str = request.param
    spec = LANGUAGES[language]
    # Outside /tmp when possible (as a user's project is): the sandbox gives each worker a /tmp of
    # its own, so the stable path is a real symbolic link only elsewhere.
    outside = Path("/var/tmp")
    base = (
        Path(tempfile.mkdtemp(prefix="debug-", dir=outside))
        if outside.is_dir() and os.access(outside, os.W_OK)
        else tmp_path_factory.mktemp(f"debug-{language}")
    )
    project = base / "project"
    folder = project / "functions" / spec.function_id
    (folder / spec.entrypoint).parent.mkdir(parents=True)
    (folder / spec.entrypoint).write_text(spec.source)
    appwrite_json = {
        "projectId": "emulator",
        "functions": [
            {
                "$id": spec.function_id,
                "name": spec.function_id,
                "runtime": spec.runtime,
                "path": f"functions/{spec.function_id}",
                "entrypoint": spec.entrypoint,
                "execute": ["any"],
                "timeout": TIMEOUT,
            }
        ],
    }
    (project / "appwrite.json").write_text(json.dumps(appwrite_json))
    port = free_port()
    server = start_server(
        project,
        project / ".appwrite-emulator",
        "--debug",
        f"{spec.function_id}:{port}",
        "--log-level",
        "info",
        "--host",
        "0.0.0.0",  # the API on every interface; the debugger stays on loopback
        watch=True,
    )
    try:
        yield Debugged(server, language, port, project, path_mapping(language, project))
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on `port` (hex, as /proc/net shows them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, _, hex_port = fields[1].rpartition(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_banner_says_where_to_attach_on_loopback_only(debugged: Debugged) -> None:
    wait_for(lambda: "Press Ctrl-C" in debugged.server.log(), timeout=30)
    assert (
        f"  Debugging:  {debugged.spec.function_id} -> 127.0.0.1:{debugged.port} "
        f"({_debugger(debugged)})" in debugged.server.log()
    )
    debugged.attach().detach()  # once it listens
    assert listening_addresses(debugged.port) == {"0100007F"}  # 127.0.0.1, whatever --host is


def test_a_breakpoint_in_the_users_file_pauses_the_execution_past_its_timeout(
    debugged: Debugged,
) -> None:
    user_file = debugged.user_file
    line = line_of(user_file, "pause here")
    client = debugged.attach()
    try:
        client.set_breakpoint(to_remote(user_file, debugged.mapping), line)
        with ThreadPoolExecutor(1) as pool:
            started = time.monotonic()
            running = pool.submit(debugged.execute, "Ada")
            pause: Pause = client.wait_paused()
            # The debugger names the stable path; the README's mapping leads to the user's file.
            assert to_local(pause.path, debugged.mapping) == str(user_file)
            assert pause.line == line
            assert text(pause.locals["greeting"]) == "Hello, Ada"
            time.sleep(max(0.0, started + PAUSED - time.monotonic()))
            assert not running.done(), "a paused execution was stopped by its timeout"
            assert debugger_attached(debugged.port)
            client.resume()
            execution = running.result(timeout=30)
    finally:
        client.detach()
    assert execution["status"] == "completed", execution
    assert execution["statusCode"] == 200
    assert json.loads(execution["response"]) == {"greeting": "Hello, Ada"}
    assert execution["duration"] >= PAUSED - 0.5  # the real time it took, past the timeout
    terminal = f"{debugged.spec.function_id}: http execution {execution['$id']} -> 200 in "
    line_shown = wait_for(
        lambda: next((x for x in debugged.server.log().splitlines() if terminal in x), None), 10
    )
    assert line_shown.endswith(f"; debugger 127.0.0.1:{debugged.port} ({_debugger(debugged)})")


def test_an_execution_past_its_timeout_stops_once_the_debugger_detaches(
    debugged: Debugged,
) -> None:
    user_file = debugged.user_file
    client = debugged.attach()
    with ThreadPoolExecutor(1) as pool:
        try:
            client.set_breakpoint(
                to_remote(user_file, debugged.mapping), line_of(user_file, "loop")
            )
            running = pool.submit(debugged.execute, "forever")
            pause = client.wait_paused()
            assert text(pause.locals["rounds"]) == "0"  # stopped before the first round
            time.sleep(PAUSED)
            assert not running.done(), "a paused execution was stopped by its timeout"
        finally:
            client.detach()
        detached = time.monotonic()
        execution = running.result(timeout=30)
    assert time.monotonic() - detached < 5, "the timeout did not come back after detaching"
    assert execution["status"] == "failed"
    assert execution["statusCode"] == 500
    assert execution["stderr"] == TIMEOUT_MESSAGE
    assert execution["duration"] >= PAUSED
    # The worker is replaced at once, on the same port: a debugger attaches again and the next
    # execution runs on it.
    again = debugged.attach()
    try:
        again.set_breakpoint(to_remote(user_file, debugged.mapping), line_of(user_file, "pause"))
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(debugged.execute, "Grace")
            assert text(again.wait_paused().locals["greeting"]) == "Hello, Grace"
            again.resume()
            assert running.result(timeout=30)["statusCode"] == 200
    finally:
        again.detach()


def test_after_a_hot_reload_the_worker_is_back_on_the_same_port_with_the_new_code(
    debugged: Debugged,
) -> None:
    user_file = debugged.user_file
    user_file.write_text(debugged.spec.source.replace("Hello, ", "Howdy, "))
    reloaded = f"{debugged.spec.entrypoint} changed -> build ready"
    wait_for(lambda: debugged.worker_started_after(reloaded), timeout=60)
    client = debugged.attach()
    try:
        client.set_breakpoint(to_remote(user_file, debugged.mapping), line_of(user_file, "pause"))
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(debugged.execute, "Ada")
            pause = client.wait_paused()
            assert to_local(pause.path, debugged.mapping) == str(user_file)
            assert text(pause.locals["greeting"]) == "Howdy, Ada"
            client.resume()
            assert json.loads(running.result(timeout=30)["response"]) == {"greeting": "Howdy, Ada"}
    finally:
        client.detach()


def _debugger(debugged: Debugged) -> str:
    return "debugpy" if debugged.language == "python" else "Node inspector"


# -- the test fixture, and what happens without debugpy ----------------------------------------------


def test_the_test_fixture_runs_a_function_under_a_debugger(tmp_path: Path) -> None:
    (tmp_path / "index.js").write_text(NODE_SOURCE)
    port = free_port()
    with AppwriteEmulator(debug=f"greeter:{port}") as emu:
        emu.deploy("greeter", tmp_path, "index.js", timeout=TIMEOUT)
        client = NodeInspector(port)
        try:
            source = emu.data_dir / "debug" / "greeter" / "index.js"
            client.set_breakpoint(str(source), line_of(tmp_path / "index.js", "pause here"))
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(emu.execute, "greeter", "Ada")
                pause = client.wait_paused()
                assert pause.path == str(source)
                time.sleep(PAUSED)
                client.resume()
                execution = running.result(timeout=30)
        finally:
            client.detach()
    assert execution["statusCode"] == 200
    assert execution["duration"] >= PAUSED - 0.1


def test_after_a_restore_the_debug_worker_serves_the_deployment_put_back(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for folder, greeting in ((old, "Hello, "), (new, "Howdy, ")):
        folder.mkdir()
        (folder / "index.js").write_text(NODE_SOURCE.replace("Hello, ", greeting))
    port = free_port()
    with AppwriteEmulator(debug=f"greeter:{port}") as emu:
        first = emu.deploy("greeter", old, "index.js")
        emu.deploy("greeter", new, "index.js")
        emu.snapshot()
        emu.request("PATCH", f"/functions/greeter/deployments/{first['$id']}")
        emu.restore()  # the newer deployment is active again
        client = NodeInspector(port)
        try:
            source = emu.data_dir / "debug" / "greeter" / "index.js"
            client.set_breakpoint(str(source), line_of(new / "index.js", "pause here"))
            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(emu.execute, "greeter", "Ada")
                assert text(client.wait_paused().locals["greeting"]) == "Howdy, Ada"
                client.resume()
                assert json.loads(running.result(timeout=30)["response"]) == {
                    "greeting": "Howdy, Ada"
                }
        finally:
            client.detach()


def test_without_debugpy_a_python_function_fails_saying_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "debugpy", None)  # as if it were not installed
    (tmp_path / "main.py").write_text("def main(req, res):\n    res.send('hi')\n")
    with AppwriteEmulator(debug=f"py:{free_port()}") as emu:
        emu.deploy("py", tmp_path, "main.py", runtime="python-3.9")
        execution = emu.execute("py")
    assert execution["status"] == "failed"
    assert execution["stderr"].strip() == (
        "Debugging Python functions needs debugpy, which is not installed: "
        "pip install 'appwrite-emulator[debug]'"
    )


def test_without_debugpy_the_command_refuses_a_python_function_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "appwrite.json").write_text(
        json.dumps({"functions": [{"$id": "api", "runtime": "python-3.9", "path": "api"}]})
    )
    hide = "import sys; sys.modules['debugpy'] = None; from emulator.cli import main; "
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            hide + f"sys.exit(main(['serve', {str(tmp_path)!r}, '--debug', 'api']))",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "appwrite-emulator: error: --debug api: Debugging Python functions needs debugpy, which "
        "is not installed: pip install 'appwrite-emulator[debug]'"
    ]
    assert not (tmp_path / ".appwrite-emulator").exists()


def test_a_bad_debug_value_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "serve", str(tmp_path), "--debug", "api:99999"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2
    assert "argument --debug: 'api:99999': the port must be a number from 1 to 65535" in done.stderr


# -- the pieces: attach detection and the sandbox's one open port --------------------------------


def test_an_attached_debugger_is_an_established_connection_on_its_port() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert not debugger_attached(port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        assert debugger_attached(port)
        client.close()
        accepted.close()
        assert not debugger_attached(port)


needs_landlock_net = pytest.mark.skipif(
    sandbox.probe().landlock_abi < 4 or not sandbox.probe().confined,
    reason="this machine has no Landlock network rules",
)

BIND = """
import socket, sys
for port in map(int, sys.argv[1:]):
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
        print(port, "bound")
    except OSError as exc:
        print(port, "refused", exc.errno)
"""


@needs_landlock_net
def test_a_sandboxed_worker_may_listen_on_its_debug_port_only(tmp_path: Path) -> None:
    allowed, other = free_port(), free_port()
    protections = sandbox.probe()
    python = os.path.realpath(sys.executable)  # the interpreter itself, not the venv's
    prefix = sandbox.worker_prefix(
        protections,
        interpreter=python,
        adapter=str(tmp_path / "x"),
        build=[str(tmp_path)],
        bind_ports=[allowed],
    )
    done = subprocess.run(
        [*protections.prefix, *prefix, python, "-I", "-S", "-c", BIND, str(allowed), str(other)],
        cwd=tmp_path,  # as a worker's cwd is its build (a checkout under /tmp is hidden)
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.splitlines() == [f"{allowed} bound", f"{other} refused 13"], done.stderr


# -- the Python adapter's --debug-port -------------------------------------------------------------


def _debug_worker(tmp_path: Path, port: int, *python_flags: str) -> WorkerClient:
    (tmp_path / "main.py").write_text("def main(req, res):\n    res.send('hi')\n")
    argv = [sys.executable, *python_flags, str(ROOT / "runtimes" / "python" / "worker.py")]
    argv += worker_arguments(code_dir=str(tmp_path), entrypoint="main.py", debug_port=port)
    return WorkerClient(argv, tmp_path)


def test_the_python_adapter_without_debugpy_answers_with_a_load_error(tmp_path: Path) -> None:
    with _debug_worker(tmp_path, free_port(), "-S") as worker:  # -S: no site-packages, no debugpy
        hello = worker.hello()
        assert hello == {
            "type": "load_error",
            "stderr": "Debugging Python functions needs debugpy, which is not installed: "
            "pip install 'appwrite-emulator[debug]'",
        }
        assert worker.execute("x")["statusCode"] == 500


@needs_debugpy
def test_the_python_adapter_says_when_its_debug_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with _debug_worker(tmp_path, port) as worker:
            hello = worker.hello(timeout=30)
    assert hello == {
        "type": "load_error",
        "stderr": f"The debugger cannot listen on 127.0.0.1:{port}: Address already in use",
    }
