"""The plugin's default isolation, the way a user's suite meets it: each test finds the project as
it was when the test started, whatever the test before it created, changed or deleted, while the
functions of session fixtures and of the served `appwrite.json` stay deployed and warm."""

from __future__ import annotations

import json

import pytest

from tests.plugin.test_pytest_plugin import write_functions

# The tests run in file order; each even-numbered test checks that the one before it left no trace.
USER_TESTS = """
import json
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).parent / "project" / "functions"
SEEN = {}


@pytest.fixture(scope="session")
def counter(appwrite_emulator):
    folder = FUNCTIONS / "counter"
    appwrite_emulator.deploy("counter", folder, "main.py", variables={"KEY": "session"}, timeout=20)
    return "counter"


def count(execution):
    return json.loads(execution["response"])["count"]


def ids(emulator):
    return sorted(f["$id"] for f in emulator.functions.list()["functions"])


def test_01_creates_a_function(appwrite_emulator, counter):
    appwrite_emulator.deploy("created", FUNCTIONS / "counter", "main.py")
    assert ids(appwrite_emulator) == ["counter", "created", "served"]


def test_02_the_created_function_is_gone(appwrite_emulator, counter):
    assert ids(appwrite_emulator) == ["counter", "served"]


def test_03_updates_a_setting(appwrite_emulator, counter):
    appwrite_emulator.functions.update(counter, "Renamed", ["users"], timeout=3)


def test_04_the_settings_are_back(appwrite_emulator, counter):
    fn = appwrite_emulator.functions.get(counter)
    assert (fn["name"], fn["execute"], fn["timeout"]) == ("counter", ["any"], 20)


def test_05_adds_a_variable(appwrite_emulator, counter):
    appwrite_emulator.functions.create_variable(counter, "NEW", "value")


def test_06_the_variable_is_gone(appwrite_emulator, counter):
    variables = appwrite_emulator.functions.list_variables(counter)["variables"]
    assert [(v["key"], v["value"]) for v in variables] == [("KEY", "session")]


def test_07_executes(appwrite_emulator, counter):
    SEEN["counter"] = count(appwrite_emulator.execute(counter))
    SEEN["served"] = count(appwrite_emulator.execute("served"))
    appwrite_emulator.execute(counter, async_=True)
    assert appwrite_emulator.functions.list_executions(counter)["total"] == 2


def test_08_no_executions_and_the_workers_are_still_warm(appwrite_emulator, counter):
    assert appwrite_emulator.functions.list_executions(counter)["total"] == 0
    assert appwrite_emulator.functions.list_executions("served")["total"] == 0
    # The same worker processes as in the test before: their module state went on counting.
    assert count(appwrite_emulator.execute(counter)) == SEEN["counter"] + 2
    assert count(appwrite_emulator.execute("served")) == SEEN["served"] + 1


def test_09_deletes_the_session_and_the_served_functions(appwrite_emulator, counter):
    appwrite_emulator.functions.delete(counter)
    appwrite_emulator.functions.delete("served")
    assert ids(appwrite_emulator) == []


def test_10_they_are_back_and_run(appwrite_emulator, counter):
    assert ids(appwrite_emulator) == ["counter", "served"]
    variables = appwrite_emulator.functions.list_variables(counter)["variables"]
    assert [v["key"] for v in variables] == ["KEY"]
    assert count(appwrite_emulator.execute(counter)) == 1  # a new worker: the old one stopped
    assert count(appwrite_emulator.execute("served")) == 1


@pytest.mark.appwrite_emulator(reset="none")
def test_11_without_isolation(appwrite_emulator, counter):
    appwrite_emulator.functions.create_variable(counter, "LEAKS", "value")


def test_12_what_an_unisolated_test_did_stays(appwrite_emulator, counter):
    variables = appwrite_emulator.functions.list_variables(counter)["variables"]
    assert sorted(v["key"] for v in variables) == ["KEY", "LEAKS"]
"""


def test_each_test_finds_the_project_as_it_was_when_it_started(pytester: pytest.Pytester) -> None:
    write_functions(pytester, "counter")
    project = pytester.path / "project"
    project.mkdir()
    pytester.path.joinpath("functions").rename(project / "functions")
    served = {
        "$id": "served",
        "name": "Served",
        "runtime": "python-3.9",
        "path": "functions/counter",
        "entrypoint": "main.py",
    }
    project.joinpath("appwrite.json").write_text(json.dumps({"functions": [served]}))
    pytester.makepyfile(test_isolation=USER_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--appwrite-project", str(project), timeout=120
    )
    result.assert_outcomes(passed=12)
