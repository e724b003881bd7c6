"""The pytest plugin the way a user meets it: a test suite written to a folder and run by pytest in a
subprocess, with the plugin loaded from the installed package's entry point."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.pytest_plugin import RESET_MODES
from tests.support import fixture

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Using the emulator in your tests"

# What a user's conftest might do: check, once the session is over, that the emulator is gone.
CONFTEST = """
import json
import shutil
import socket
import os
import socket
from pathlib import Path

STATE = {}


def descendants(pid):
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def pytest_sessionfinish(session):
    port = int(STATE["endpoint"].split(":")[2].split("/")[0]) if STATE else 0
    with socket.socket() as sock:
        refused = sock.connect_ex(("127.0.0.1", port)) != 0
    Path("after-session.json").write_text(
        json.dumps({"children": descendants(os.getpid()), "refused": refused, **STATE})
    )
"""

USER_TESTS = """
import json
import shutil
import socket
from pathlib import Path

import pytest
from conftest import STATE, descendants
from emulator.testing import AppwriteEmulator

FUNCTIONS = Path(__file__).parent / "functions"


@pytest.fixture(scope="session")
def counter(appwrite_emulator):
    appwrite_emulator.deploy("counter", FUNCTIONS / "counter", "main.py")
    return "counter"


def count(execution):
    return json.loads(execution["response"])["count"]


def test_deploy_and_execute(appwrite_emulator, counter):
    STATE["endpoint"] = appwrite_emulator.endpoint
    assert count(appwrite_emulator.execute(counter)) == 1
    assert appwrite_emulator.functions.list_executions(counter)["total"] == 1
    assert descendants(__import__("os").getpid()), "a warm worker runs"


def test_each_test_starts_without_executions(appwrite_emulator, counter):
    assert appwrite_emulator.endpoint == STATE["endpoint"]  # one emulator for the session
    assert appwrite_emulator.functions.list_executions(counter)["total"] == 0
    assert count(appwrite_emulator.execute(counter)) == 2  # functions and warm workers are kept


def test_async_executions_are_waited_for(appwrite_emulator):
    appwrite_emulator.deploy("sleep", FUNCTIONS / "sleep", "main.py")
    execution = appwrite_emulator.execute("sleep", {"seconds": 0.3}, async_=True)
    assert (execution["status"], execution["response"]) == ("completed", "slept 0.3")


def test_two_emulators_side_by_side(appwrite_emulator, counter):
    with AppwriteEmulator() as other:
        assert other.endpoint != appwrite_emulator.endpoint
        other.deploy("counter", FUNCTIONS / "counter", "main.py")
        assert count(other.execute("counter")) == 1
        assert count(appwrite_emulator.execute(counter)) == 3
        assert other.functions.list()["total"] == 1
        # `sleep`, deployed by the test before, went with it; the session's `counter` stays.
        assert appwrite_emulator.functions.list()["total"] == 1


def test_that_does_not_use_the_emulator():
    pass


@pytest.mark.appwrite_emulator(reset="full")
def test_a_full_reset_on_request(appwrite_emulator):
    assert appwrite_emulator.functions.list()["total"] == 0
"""


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APPWRITE_EMULATOR_PROJECT", raising=False)
    monkeypatch.delenv("APPWRITE_EMULATOR_RESET", raising=False)


def write_functions(pytester: pytest.Pytester, *names: str) -> None:
    for name in names:
        source = fixture("python", name) / "main.py"
        pytester.path.joinpath("functions", name).mkdir(parents=True)
        pytester.path.joinpath("functions", name, "main.py").write_text(source.read_text())


def test_a_user_suite_with_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_user=USER_TESTS)
    write_functions(pytester, "counter", "sleep")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=6)
    after = json.loads(pytester.path.joinpath("after-session.json").read_text())
    assert after["endpoint"].startswith("http://127.0.0.1:")
    assert after["refused"], "the emulator stopped with the session"
    assert after["children"] == [], "no worker outlived the session"


PROJECT_TESTS = """
import pytest


def test_the_project_is_deployed(appwrite_emulator):
    assert appwrite_emulator.project_id == "from-json"
    assert appwrite_emulator.execute("counter")["response"] == '{"count":1}'


def test_without_reset_executions_stay(appwrite_emulator):
    assert appwrite_emulator.functions.list_executions("counter")["total"] == 1


@pytest.mark.appwrite_emulator(reset="executions")
def test_the_marker_wins(appwrite_emulator):
    assert appwrite_emulator.functions.list_executions("counter")["total"] == 0
    assert appwrite_emulator.functions.list()["total"] == 1
"""


def test_a_project_folder_and_reset_modes_from_ini_environment_and_command_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_functions(pytester, "counter")
    pytester.path.joinpath("project").mkdir()
    pytester.path.joinpath("functions").rename(pytester.path / "project" / "functions")
    entry = {
        "$id": "counter",
        "name": "Counter",
        "runtime": "python-3.9",
        "path": "functions/counter",
        "entrypoint": "main.py",
    }
    pytester.path.joinpath("project", "appwrite.json").write_text(
        json.dumps({"projectId": "from-json", "functions": [entry]})
    )
    # A full reset before the first test would remove the project's function: the command
    # line ("none") must win over the environment and the ini file ("full").
    pytester.makeini(
        "[pytest]\nappwrite_emulator_project = project\nappwrite_emulator_reset = full\n"
    )
    monkeypatch.setenv("APPWRITE_EMULATOR_RESET", "full")
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--appwrite-reset", "none", timeout=120
    )
    result.assert_outcomes(passed=3)


def test_the_project_option_resolves_command_line_then_environment_then_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from emulator.pytest_plugin import _project_dir

    pytester.makeini("[pytest]\nappwrite_emulator_project = from-ini\n")
    assert _project_dir(pytester.parseconfig()) == pytester.path / "from-ini"
    monkeypatch.setenv("APPWRITE_EMULATOR_PROJECT", str(pytester.path / "from-env"))
    assert _project_dir(pytester.parseconfig()) == pytester.path / "from-env"
    config = pytester.parseconfig("--appwrite-project", str(pytester.path / "from-cli"))
    assert _project_dir(config) == pytester.path / "from-cli"
    assert pytester.parseconfig("--appwrite-reset", "full").getoption("appwrite_reset") == "full"
    bad = pytester.runpytest_subprocess("--appwrite-reset", "sometimes")
    assert "invalid choice: 'sometimes'" in bad.stderr.str()


def test_the_readme_documents_every_option_and_mode() -> None:
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    for name in (
        "--appwrite-reset",
        "--appwrite-project",
        "--appwrite-debug",
        "appwrite_emulator_reset",
        "appwrite_emulator_project",
        "APPWRITE_EMULATOR_RESET",
        "APPWRITE_EMULATOR_PROJECT",
        "@pytest.mark.appwrite_emulator(reset=",
        *(f"`{mode}`" for mode in RESET_MODES),
    ):
        assert name in section, name


def readme_examples() -> list[str]:
    section = README.read_text(encoding="utf-8").split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_readme_pytest_example_passes_as_written(pytester: pytest.Pytester) -> None:
    example = readme_examples()[0]
    assert example.startswith("# test_hello.py\n")
    pytester.makepyfile(test_hello=example)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=example.count("\ndef test_"))


@pytest.mark.parametrize("index", [1, 2])
def test_the_readme_scripts_run_as_written(index: int, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_examples()[index])
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


DEBUG_TESTS = """
import json
import shutil
import socket
import urllib.request
from pathlib import Path


def test_the_function_runs_under_the_inspector(appwrite_emulator):
    folder = Path("functions/hello")
    folder.mkdir(parents=True)
    (folder / "index.js").write_text("module.exports = async (req, res) => res.send('hi');")
    appwrite_emulator.deploy("hello", folder, "index.js")
    assert appwrite_emulator.execute("hello")["response"] == "hi"
    with urllib.request.urlopen("http://127.0.0.1:{port}/json/list", timeout=5) as answer:
        targets = json.load(answer)
    assert targets and targets[0]["webSocketDebuggerUrl"].startswith("ws://127.0.0.1:{port}/")
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_debug_option_runs_a_function_under_a_debugger(pytester: pytest.Pytester) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    pytester.makepyfile(test_debug=DEBUG_TESTS.replace("{port}", str(port)))
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--appwrite-debug=hello:{port}", timeout=120
    )
    result.assert_outcomes(passed=1)
