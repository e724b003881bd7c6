"""The sandbox, tried as hostile function code would try it, through a real server: a function cannot
reach the emulator's database, other functions' builds, the user's home, other processes or the
API key; its orphans are reaped; the memory cap covers shared memory; and an ordinary function that
reads its own files, writes temp files, imports a dependency and calls a local HTTP server works.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appwrite.client import Client
from appwrite.services.functions import Functions

from emulator.executor import sandbox
from tests.e2e.conftest import Server, start_server
from tests.e2e.test_sdk_executions import deploy
from tests.support import wait_for

SECRET_KEY = "sandbox-test-key-7f3a"
SECRET_VARIABLE = "other-functions-secret-51c9"

PROTECTIONS = sandbox.probe()
needs_confinement = pytest.mark.skipif(
    not (PROTECTIONS.confined and PROTECTIONS.mount_namespace),
    reason="this machine offers no Landlock/namespaces: " + "; ".join(PROTECTIONS.missing()),
)

PYTHON_ATTACK = """
import json, os, glob

def attempt(fn):
    try:
        value = fn()
    except Exception as exc:
        return "denied: " + type(exc).__name__
    return "READ: " + repr(value)[:200]

def read(path):
    with open(path, "rb") as handle:
        return handle.read()

def proc_secrets():
    found = []
    for entry in glob.glob("/proc/[0-9]*"):
        for name in ("environ", "cmdline"):
            try:
                found.append(read(entry + "/" + name))
            except OSError:
                pass
    return found

def main(req, res):
    target = json.loads(req.payload)
    results = {
        "db": attempt(lambda: read(target["db"])),
        "db_relative": attempt(lambda: read("../../../emulator.sqlite3")),
        "data_dir": attempt(lambda: os.listdir(target["data_dir"])),
        "other_build": attempt(lambda: os.listdir(target["other_build"])),
        "home": attempt(lambda: os.listdir(target["home"])),
        "pids": sorted(int(p.rsplit("/", 1)[1]) for p in glob.glob("/proc/[0-9]*")),
    }
    blob = b"".join(proc_secrets())
    results["key_in_proc"] = target["key"][::-1].encode() in blob
    res.json(results)
"""

NODE_ATTACK = """
const fs = require('fs');
function attempt(fn) {
  try { return 'READ: ' + String(fn()).slice(0, 200); } catch (e) { return 'denied: ' + e.code; }
}
module.exports = async (req, res) => {
  const target = JSON.parse(req.payload);
  const pids = fs.readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).map(Number);
  let blob = '';
  for (const pid of pids) {
    for (const name of ['environ', 'cmdline']) {
      try { blob += fs.readFileSync(`/proc/${pid}/${name}`, 'latin1'); } catch (e) {}
    }
  }
  res.json({
    db: attempt(() => fs.readFileSync(target.db)),
    db_relative: attempt(() => fs.readFileSync('../../../emulator.sqlite3')),
    data_dir: attempt(() => fs.readdirSync(target.data_dir)),
    other_build: attempt(() => fs.readdirSync(target.other_build)),
    home: attempt(() => fs.readdirSync(target.home)),
    pids: pids.sort((a, b) => a - b),
    key_in_proc: blob.includes(target.key.split('').reverse().join('')),
  });
};
"""

ATTACKS = {
    "python": ("main.py", PYTHON_ATTACK, "python-3.9"),
    "node": ("index.js", NODE_ATTACK, "node-18.0"),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Functions, Path]]:
    """A server started the way a careless user would: the key on the command line and in the
    environment, a secret variable in another function."""
    tmp = tmp_path_factory.mktemp("sandbox")
    project = tmp / "project"
    project.mkdir()
    server = start_server(
        project,
        tmp / "data",
        "--worker-memory",
        "256",
        api_key=SECRET_KEY,
        env={"APPWRITE_EMULATOR_API_KEY": SECRET_KEY},
    )
    functions = Functions(
        Client().set_endpoint(server.endpoint).set_project("emulator").set_key(SECRET_KEY)
    )
    try:
        victim = tmp / "victim"
        victim.mkdir()
        (victim / "main.py").write_text("def main(req, res):\n    res.send('victim')\n")
        functions.create("victim", "Victim", "python-3.9")
        functions.create_variable("victim", "SECRET", SECRET_VARIABLE)
        deploy(functions, "victim", victim, "main.py", tmp)
        yield server, functions, tmp
    finally:
        server.stop()


def deploy_source(
    functions: Functions,
    tmp: Path,
    function_id: str,
    runtime: str,
    entrypoint: str,
    source: str,
    **settings: Any,
) -> None:
    """Create `function_id` with one source file and deploy it (ready and active on return)."""
    folder = tmp / function_id
    folder.mkdir()
    (folder / entrypoint).write_text(source)
    functions.create(function_id, function_id, runtime, **settings)
    deploy(functions, function_id, folder, entrypoint, tmp)


def _other_build(server: Server) -> str:
    """The victim's build folder (the one whose code says 'victim')."""
    builds = server.data_dir / "builds"
    for build in builds.iterdir() if builds.is_dir() else []:
        main = build / "code" / "main.py"
        if main.is_file() and "victim" in main.read_text():
            return str(build)
    raise AssertionError(f"the victim's build is not under {builds}")


@needs_confinement
@pytest.mark.parametrize("language", sorted(ATTACKS))
def test_a_function_cannot_reach_the_emulators_data_other_functions_or_the_key(
    hostile: tuple[Server, Functions, Path], language: str
) -> None:
    server, functions, tmp = hostile
    entrypoint, source, runtime = ATTACKS[language]
    function_id = f"attack-{language}"
    deploy_source(functions, tmp, function_id, runtime, entrypoint, source)
    target = {
        "db": str(server.data_dir / "emulator.sqlite3"),
        "data_dir": str(server.data_dir),
        "other_build": _other_build(server),
        "home": str(Path.home()),
        # Reversed: the payload itself is in the function's environment (APPWRITE_FUNCTION_DATA).
        "key": SECRET_KEY[::-1],
    }
    execution = functions.create_execution(function_id, json.dumps(target))
    assert execution["status"] == "completed", execution["stderr"]
    results: dict[str, Any] = json.loads(execution["response"])
    for attack in ("db", "db_relative", "other_build", "home"):
        assert results[attack].startswith("denied"), (attack, results[attack])
    # Denied; or, when the data dir lies under /tmp (as here), only the empty skeleton of the
    # path to the function's own build shows through the private /tmp.
    assert results["data_dir"] in (
        "denied: PermissionError",
        "denied: EACCES",
        "READ: ['builds']",
        "READ: builds",
    )
    assert results["key_in_proc"] is False
    # A private /proc: the sandbox's init and the worker, nothing of the host.
    assert len(results["pids"]) <= 3 and os.getpid() not in results["pids"], results["pids"]
    assert SECRET_VARIABLE not in json.dumps(execution) and SECRET_KEY not in json.dumps(execution)


def _zombies_under(pid: int) -> int:
    count = 0
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            for child in children:
                try:
                    state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                count += state == "Z"
                stack.append(child)
    return count


@needs_confinement
def test_orphans_of_user_code_are_reaped(hostile: tuple[Server, Functions, Path]) -> None:
    server, functions, tmp = hostile
    source = (
        "import subprocess\n\ndef main(req, res):\n"
        "    for _ in range(20):\n"
        "        subprocess.run(['sh', '-c', 'sleep 0.3 &'])\n"
        "    res.send('forked')\n"
    )
    deploy_source(functions, tmp, "forker", "python-3.9", "main.py", source)
    for _ in range(2):
        assert functions.create_execution("forker")["response"] == "forked"
    time.sleep(1.0)  # every `sleep 0.3` has ended: only an unreaped one would remain
    assert _zombies_under(server.process.pid) == 0


@pytest.mark.skipif(PROTECTIONS.cgroups is None, reason="no writable memory cgroup here")
def test_the_memory_cap_covers_shared_memory(hostile: tuple[Server, Functions, Path]) -> None:
    """1 GB of shared memory written page by page under a 256 MB cap fails that execution only."""
    _, functions, tmp = hostile
    source = (
        "import mmap\n\ndef main(req, res):\n"
        "    area = mmap.mmap(-1, 1 << 30, mmap.MAP_SHARED)\n"
        "    for offset in range(0, 1 << 30, 4096):\n"
        "        area[offset] = 1\n"
        "    res.send('survived')\n"
    )
    deploy_source(functions, tmp, "shared-hog", "python-3.9", "main.py", source, timeout=30)
    execution = functions.create_execution("shared-hog")
    assert execution["status"] == "failed" and execution["response"] != "survived"
    assert "memory" in execution["stderr"], execution["stderr"]
    assert functions.create_execution("victim")["response"] == "victim"


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def local_http() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()


def _wheel(folder: Path) -> Path:
    """A minimal wheel of a module `greeting` (installed offline from a local file)."""
    path = folder / "greeting-1.0-py3-none-any.whl"
    info = "greeting-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr("greeting.py", "WORD = 'hi from a dependency'\n")
        wheel.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: greeting\nVersion: 1.0\n")
        wheel.writestr(
            f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        wheel.writestr(f"{info}/RECORD", "")
    return path


ORDINARY_PYTHON = """
import json, os, tempfile, urllib.request
import greeting

def main(req, res):
    with open("data.txt") as handle:
        own = handle.read().strip()
    with tempfile.NamedTemporaryFile("w+", delete=False) as tmp:
        tmp.write("scratch")
    with open(tmp.name) as handle:
        scratch = handle.read()
    with open("/tmp/plain.txt", "w") as handle:
        handle.write("plain")
    with urllib.request.urlopen(req.payload, timeout=5) as answer:
        fetched = answer.read().decode()
    res.json({"own": own, "scratch": scratch, "dep": greeting.WORD, "fetched": fetched})
"""

ORDINARY_NODE = """
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const greeting = require('greeting');
module.exports = async (req, res) => {
  const own = fs.readFileSync('data.txt', 'utf8').trim();
  const file = path.join(os.tmpdir(), 'scratch.txt');
  fs.writeFileSync(file, 'scratch');
  const fetched = await new Promise((resolve, reject) => {
    http.get(req.payload, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => resolve(b)); }).on('error', reject);
  });
  res.json({ own, scratch: fs.readFileSync(file, 'utf8'), dep: greeting.WORD, fetched });
};
"""


@pytest.mark.parametrize("language", ["python", "node"])
def test_an_ordinary_function_still_works(
    hostile: tuple[Server, Functions, Path], local_http: str, language: str
) -> None:
    _, functions, tmp = hostile
    folder = tmp / f"ordinary-{language}"
    folder.mkdir()
    (folder / "data.txt").write_text("my own file\n")
    if language == "python":
        wheel = _wheel(folder)
        (folder / "requirements.txt").write_text(f"./{wheel.name}\n")
        (folder / "main.py").write_text(ORDINARY_PYTHON)
        entrypoint, runtime = "main.py", "python-3.9"
    else:
        dep = folder / "greeting"
        dep.mkdir()
        (dep / "package.json").write_text('{"name": "greeting", "version": "1.0.0"}')
        (dep / "index.js").write_text("exports.WORD = 'hi from a dependency';\n")
        (folder / "package.json").write_text(
            json.dumps({"name": "ordinary", "dependencies": {"greeting": "file:./greeting"}})
        )
        (folder / "index.js").write_text(ORDINARY_NODE)
        entrypoint, runtime = "index.js", "node-18.0"
    function_id = f"ordinary-{language}"
    functions.create(function_id, "Ordinary", runtime)
    deploy(functions, function_id, folder, entrypoint, tmp)
    execution = wait_for(lambda: functions.create_execution(function_id, local_http), timeout=30)
    assert execution["status"] == "completed", execution["stderr"]
    assert json.loads(execution["response"]) == {
        "own": "my own file",
        "scratch": "scratch",
        "dep": "hi from a dependency",
        "fetched": "hello from the host",
    }


def test_missing_protections_are_named() -> None:
    bare = sandbox.Protections()
    missing = bare.missing()
    assert any("PID namespace" in m for m in missing)
    assert any("Landlock" in m or "init" in m for m in missing)
    assert any("cgroup" in m for m in missing)
    assert sandbox.describe(bare).startswith("sandbox protections off on this machine")
    old_kernel = sandbox.Protections(("unshare",), True, True, 3, "python3", None)
    assert any("listen on TCP" in m for m in old_kernel.missing())


LONE_SURROGATES = {
    "node": (
        "index.js",
        "node-18.0",
        "module.exports = async (req, res) => {\n"
        "  console.log('\\ud800 alone');\n"
        "  console.error('low \\udc00');\n"
        "  res.send(String.fromCodePoint(0x1F600).slice(0, 1) + ' half an emoji');\n"
        "};\n",
    ),
    "python": (
        "main.py",
        "python-3.9",
        "def main(req, res):\n    print('\\ud800 alone')\n    res.send('\\udc00 half')\n",
    ),
}


@pytest.mark.parametrize("language", sorted(LONE_SURROGATES))
@pytest.mark.parametrize("run_async", [False, True])
def test_lone_surrogates_in_output_end_the_execution_normally(
    hostile: tuple[Server, Functions, Path], language: str, run_async: bool
) -> None:
    """Whatever a function prints or returns, its execution ends, completed, never stuck."""
    _, functions, tmp = hostile
    entrypoint, runtime, source = LONE_SURROGATES[language]
    function_id = f"surrogate-{language}-{int(run_async)}"
    deploy_source(functions, tmp, function_id, runtime, entrypoint, source)
    created = functions.create_execution(function_id, "x", run_async)
    execution = wait_for(
        lambda: (
            (e := functions.get_execution(function_id, created["$id"]))["status"]
            in ("completed", "failed")
            and e
        ),
        timeout=30,
    )
    assert execution["status"] == "completed", execution
    assert execution["statusCode"] == 200
    assert execution["response"].endswith("half an emoji" if language == "node" else "half")
    # Node's lone surrogates become U+FFFD; Python's adapter writes them as "?".
    assert execution["response"][0] in "\ufffd?" and "alone" in execution["stdout"]
