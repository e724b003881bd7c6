"""Hot reload on the real server: edit, save, and the next execution runs the new code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from appwrite.services.functions import Functions

from tests.e2e.conftest import Server, start_server
from tests.e2e.test_project import copy_samples, needs_node, run, sdk, wait_active
from tests.e2e.test_sdk_executions import processes_under, wait_execution
from tests.support import wait_for

SLOW = (
    "import time\n\n\ndef main(req, res):\n"
    "    time.sleep(float(req.payload or 0))\n"
    "    return res.json({'version': %d})\n"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """The samples, plus a `slow` function, served with hot reload on."""
    root = tmp_path_factory.mktemp("reload")
    folder = copy_samples(root / "project")
    (folder / "functions" / "slow").mkdir()
    (folder / "functions" / "slow" / "main.py").write_text(SLOW % 1)
    config = json.loads((folder / "appwrite.json").read_text())
    config["functions"].append(
        {"$id": "slow", "name": "Slow", "runtime": "python-3.9", "path": "functions/slow"}
        | {"entrypoint": "main.py", "execute": ["any"], "timeout": 30}
    )
    (folder / "appwrite.json").write_text(json.dumps(config, indent=4))
    server = start_server(folder, root / "data", watch=True)
    try:
        yield server, folder
    finally:
        server.stop()


def deployments_of(functions: Functions, function_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = functions.list_deployments(function_id)["deployments"]
    return found


def answers(functions: Functions, function_id: str, expected: Any, data: str | None = None) -> None:
    """Execute until the response is `expected` (the reload landed), with a cap."""

    def probe() -> bool:
        response = functions.create_execution(function_id, data)["response"]
        return json.loads(response or "null") == expected

    wait_for(probe, timeout=30, step=0.05)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new))


def test_a_saved_python_file_answers_at_once(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    wait_active(functions, "hello-python")
    edit(folder / "functions/hello-python/src/index.py", '"runtime": "python"', '"runtime": "py2"')
    answers(
        functions, "hello-python", {"message": "Hello, Ada!", "runtime": "py2"}, '{"name":"Ada"}'
    )
    line = "hello-python: src/index.py changed -> build ready (dependencies from cache), active in "
    wait_for(lambda: line in server.log(), timeout=10)


@needs_node
def test_a_saved_node_file_answers_at_once(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    wait_active(functions, "hello-node")
    edit(folder / "functions/hello-node/src/index.js", "runtime: 'node'", "runtime: 'node2'")
    answers(
        functions, "hello-node", {"message": "Hello, Ada!", "runtime": "node2"}, '{"name":"Ada"}'
    )
    wait_for(lambda: "hello-node: src/index.js changed -> build ready" in server.log(), timeout=10)


def test_a_failed_build_keeps_the_old_code_answering(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    before = wait_active(functions, "read-variables")["deployment"]
    source = folder / "functions/read-variables/src/index.py"
    edit(source, 'f"{greeting}, {audience}!"', '"broken"')
    (source.parent.parent / "requirements.txt").write_text("this is not a requirement !!\n")
    failed = "read-variables: requirements.txt, src/index.py changed -> build failed; "
    wait_for(lambda: failed in server.log(), timeout=30)
    assert f"deployment {before} stays active" in server.log()
    assert "Invalid requirement" in server.log()  # the build error, in the terminal
    assert functions.get("read-variables")["deployment"] == before
    execution = run(functions, "read-variables")
    assert json.loads(execution["response"])["greeting"] == "Howdy, developers!"
    # Fixing the manifest deploys the edited code.
    (source.parent.parent / "requirements.txt").write_text("# nothing to install\n")
    wait_for(lambda: functions.get("read-variables")["deployment"] != before, timeout=30)
    assert json.loads(run(functions, "read-variables")["response"])["greeting"] == "broken"


@needs_node
def test_only_a_manifest_change_reinstalls_dependencies(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    wait_active(functions, "slugify")
    code = folder / "functions/slugify/src/index.js"
    edit(
        code,
        "res.json({ slug: slugify(payload.title) })",
        "res.json({ slug: slugify(payload.title), v: 2 })",
    )
    answers(functions, "slugify", {"slug": "a-b", "v": 2}, '{"title": "A B"}')
    latest = deployments_of(functions, "slugify")[-1]
    assert latest["buildStdout"].startswith("Reusing cached dependencies (package.json"), latest

    manifest = folder / "functions/slugify/package.json"
    edit(manifest, '"version": "1.0.0"', '"version": "1.1.0"')
    edit(code, "v: 2", "v: 3")
    answers(functions, "slugify", {"slug": "a-b", "v": 3}, '{"title": "A B"}')
    latest = deployments_of(functions, "slugify")[-1]
    assert (
        "Reusing cached" not in latest["buildStdout"] and "added 1 package" in latest["buildStdout"]
    )
    line = "slugify: package.json, src/index.js changed -> build ready (dependencies installed)"
    wait_for(lambda: line in server.log(), timeout=10)


def test_a_burst_of_saves_makes_one_deployment(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    wait_active(functions, "heartbeat")
    count = len(deployments_of(functions, "heartbeat"))
    src = folder / "functions/heartbeat/src"
    for i in range(4):
        (src / f"helper_{i}.py").write_text(f"VALUE = {i}\n")
    wait_for(lambda: len(deployments_of(functions, "heartbeat")) > count, timeout=10)
    time.sleep(0.5)  # nothing more may come
    assert len(deployments_of(functions, "heartbeat")) == count + 1
    line = "heartbeat: src/helper_0.py, src/helper_1.py, src/helper_2.py and 1 more changed"
    wait_for(lambda: line in server.log(), timeout=10)


def test_temp_files_and_dependency_folders_do_not_reload(project: tuple[Server, Path]) -> None:
    server, folder = project
    functions = sdk(server)
    wait_active(functions, "always-fails")
    count = len(deployments_of(functions, "always-fails"))
    base = folder / "functions/always-fails"
    for name in ("src/.index.py.swp", "src/index.py~", "src/4913", "src/.#index.py"):
        (base / name).write_text("x")
    (base / "node_modules/some-dep").mkdir(parents=True)
    (base / "node_modules/some-dep/index.js").write_text("x")
    (base / "src/__pycache__").mkdir()
    (base / "src/__pycache__/index.cpython-39.pyc").write_bytes(b"x")
    time.sleep(1.0)
    assert len(deployments_of(functions, "always-fails")) == count
    assert "always-fails: src/" not in server.log()


def test_running_executions_finish_on_the_old_code_then_its_workers_stop(
    project: tuple[Server, Path],
) -> None:
    server, folder = project
    functions = sdk(server)
    old = wait_active(functions, "slow")["deployment"]
    assert json.loads(run(functions, "slow", "0")["response"]) == {"version": 1}
    old_build = functions.get_deployment("slow", old)["buildId"]
    running = functions.create_execution("slow", "2", True)  # sleeps 2 s on the old code
    time.sleep(0.3)
    (folder / "functions/slow/main.py").write_text(SLOW % 2)
    answers(functions, "slow", {"version": 2}, "0")
    old_code = server.data_dir / "builds" / old_build
    assert processes_under(old_code), "the busy old worker is still running its execution"
    finished = wait_execution(functions, "slow", running["$id"])
    assert json.loads(finished["response"]) == {"version": 1}
    wait_for(lambda: not processes_under(old_code), timeout=10)
